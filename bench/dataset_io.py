"""Dataset I/O benchmark: our load + validate + save of a 20,000-example dataset against plain PyYAML.

    python bench/dataset_io.py [--examples 20000] [--runs 3]

Ours is `dataset.load` (safe loader with the alias and size checks, schema checks) + `dataset.validate` +
`dataset.save` (atomic, fsynced, revision-checked). The named baseline is what the conventions would otherwise
write by hand: `yaml.safe_load` of the same file + `yaml.safe_dump(allow_unicode=True, sort_keys=False)` of the
same data to a file. Target: ours takes no more than 1.5x the baseline. `yaml.safe_load` is PyYAML's pure-Python
parser, so a second row compares with the same calls on libyaml (CSafeLoader / CSafeDumper) as well: that ratio
is the cost of our checks and our atomic write alone. Each figure is the median of several runs; the whole run
takes 2 to 3 minutes, most of it in the pure-Python baseline.
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import dataset  # noqa: E402
from pipeline.dataset import Dataset, Example, Meta  # noqa: E402

TARGET_RATIO = 1.5
SEED = 0

SUBJECTS = [
    "Il congiuntivo",
    "La carbonara",
    "Il Rinascimento",
    "La raccolta differenziata",
    "Il contratto d'affitto",
    "La fotosintesi",
    "Il Risorgimento",
    "La pasta madre",
    "L'IVA agevolata",
    "Il codice della strada",
]
VERBS = [
    "si spiega così",
    "è più semplice di quanto sembri",
    "cambia da regione a regione",
    "ha una storia lunga",
    "si impara con la pratica",
    "è spesso frainteso",
    "richiede un po' di pazienza",
    "è cambiato negli anni",
]
DETAILS = [
    "perché la regola vale quasi sempre",
    "anche se ci sono eccezioni importanti",
    "come spiega l'Accademia della Crusca",
    "e conviene verificarlo sul sito ufficiale",
    "ma la città fa la differenza",
    "soprattutto d'estate, quando è già tutto più lento",
    "cioè né troppo né troppo poco",
]
CATEGORIES = ["grammatica", "cucina", "storia", "burocrazia", "scienza", "lavoro", "viaggi", "salute", "tecnologia"]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)}, {rng.choice(DETAILS)}."


def build(n: int) -> Dataset:
    """A realistic dataset: multi-line answers with lists, every meta field filled, a system prompt now and then."""
    rng = random.Random(SEED)
    examples = []
    for i in range(n):
        lines = [" ".join(sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(2, 5))]
        output = "\n\n".join(lines) + "\n\n" + "\n".join(f"- {sentence(rng)}" for _ in range(rng.randint(1, 4)))
        examples.append(
            Example(
                id=f"it-bench-{i:05d}",
                system="Rispondi in italiano, con frasi brevi." if i % 5 == 0 else None,
                instruction=f"Spiegami perché {sentence(rng).lower()} Fammi un esempio.",
                input=sentence(rng) if i % 7 == 0 else None,
                output=output,
                meta=Meta(
                    method="evol_instruct",
                    status=rng.choice(["draft", "approved", "rejected"]),
                    category=rng.choice(CATEGORIES),
                    tags=[rng.choice(CATEGORIES), "sì"],
                    parent_id=f"it-bench-{max(i - 1, 0):05d}",
                    evolution_depth=rng.randint(1, 4),
                    teacher_model="Qwen/Qwen2.5-72B-Instruct",
                    tokens=rng.randint(50, 600),
                    judge_score=rng.randint(10, 100) / 10,
                    language="it",
                ),
            )
        )
    return Dataset(name="bench", description="Dataset sintetico per il benchmark.", examples=examples)


def ours(src: Path, out: Path) -> None:
    loaded = dataset.load(src)
    assert dataset.validate(loaded) == []
    dataset.save(loaded, out, force=True)


def plain_pyyaml(src: Path, out: Path) -> None:
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def libyaml(src: Path, out: Path) -> None:
    data = yaml.load(src.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    out.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False), encoding="utf-8")


def seconds(job: Callable[[Path, Path], None], src: Path, out: Path) -> float:
    start = time.perf_counter()
    job(src, out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "bench.yaml"
        dataset.create(src, build(args.examples))
        size_mb = src.stat().st_size / 1e6
        jobs = {"ours": ours, "plain": plain_pyyaml, "libyaml": libyaml}
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.runs):  # interleaved, so a slow patch of the machine hits every contender alike
            for name, job in jobs.items():
                times[name].append(seconds(job, src, Path(tmp) / f"{name}.yaml"))
        results = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.examples:,} examples, {size_mb:.1f} MB, median of {args.runs} runs")
    print(f"{'load + validate + save':<52}{'median':>9}{'ratio':>9}")
    print(f"{'ours: dataset.load + validate + save':<52}{results['ours']:>8.2f}s")
    for name, label in [("plain", "baseline: yaml.safe_load + yaml.safe_dump"), ("libyaml", "same on libyaml (C)")]:
        ratio = results["ours"] / results[name]
        print(f"{label:<52}{results[name]:>8.2f}s{ratio:>9.2f}")
    verdict = "meets" if results["ours"] <= TARGET_RATIO * results["plain"] else "MISSES"
    print(f"ours/baseline {verdict} the target of {TARGET_RATIO}x")


if __name__ == "__main__":
    main()
