"""Generation throughput: accepted examples per minute at concurrency 16 vs 1, behind a proxy adding 300 ms latency.

    python bench/generation.py [--items 32] [--latency-ms 300]

Two teachers, side by side in one run, both behind the fault-injecting proxy that adds the latency:
- scripted: the proxy answers every request at once with a good Italian reply (a remote API, where the network and
  the provider's queue dominate); this is the issue's target, >= 8x;
- local: the bundled model in a real `transformers serve` on this CPU, which generates one request at a time, so
  concurrency can only hide the latency, not the generation (the ratio printed is honest, not a target).
The local model's replies are rarely valid Italian YAML, so for it the bench counts finished candidates per minute.
Then it runs `bench/generation_dedup.py` (part b: MinHash LSH vs all-pairs ROUGE-L), unless --skip-dedup.
"""

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.generate.run import GenerationConfig, generate  # noqa: E402
from tests.fault_proxy import FaultProxy  # noqa: E402


def scripted_teacher():
    """Good-looking replies at once: tasks and answers made of random words of the seed set, so that every candidate
    is Italian and no two are near-duplicates (the bench measures throughput, not prose)."""
    from pipeline import dataset
    from pipeline.generate.dedup import words as split_words

    seed = dataset.load(ROOT / "datasets_yaml" / "seed_it.yaml")
    vocabulary = sorted({w for e in seed.examples for w in split_words(e.output) if len(w) > 5})
    rng = random.Random(0)

    def respond(body: dict) -> str:
        words = " ".join(rng.sample(vocabulary, 12))
        if "risposta: |" in body["messages"][-1]["content"]:
            return f"ragionamento: |\n  Parto dai fatti.\nrisposta: |\n  Ecco la risposta: {words}."
        return f"idea: |\n  Un compito nuovo.\nistruzione: |\n  Spiega con parole semplici: {words}.\ninput: ''\n"

    return respond


def per_minute(proxy: FaultProxy, model: str, concurrency: int, items: int, scripted: bool, latency_ms: int):
    """Items per minute of one run, and how many items it finished."""
    with tempfile.TemporaryDirectory() as tmp:
        proxy.reset()
        proxy.latency_ms = latency_ms
        if scripted:
            proxy.responder = scripted_teacher()
        config = GenerationConfig.from_dict(
            {
                "output": str(Path(tmp) / "bench.yaml"),
                "count": items,
                "max_items": items,
                "mix": {"self_instruct": 1.0},
                "run_dir": str(Path(tmp) / "run"),
                "teacher": {"preset": "custom", "base_url": proxy.base_url, "model": model, "max_tokens": 16,
                            "max_concurrency": concurrency},
            }
        )  # fmt: skip
        start = time.perf_counter()
        status = generate(config)
        minutes = (time.perf_counter() - start) / 60
        done = status.accepted if scripted else status.accepted + status.rejected
        return done / minutes, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--local-items", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--skip-dedup", action="store_true", help="do not run bench/generation_dedup.py after")
    args = parser.parse_args()

    from pipeline import models
    from pipeline.serve import start_local_server

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; latency added by the proxy: {args.latency_ms} ms")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_local_server(models.resolve(models.DEFAULT_MODEL), Path(tmp) / "serve.log", device="cpu")
        try:
            with FaultProxy(server.base_url) as proxy:
                rows = []
                for label, scripted, items in (("scripted", True, args.items), ("local", False, args.local_items)):
                    one, n1 = per_minute(proxy, server.model, 1, items, scripted, args.latency_ms)
                    many, n16 = per_minute(proxy, server.model, 16, items, scripted, args.latency_ms)
                    rows.append((label, one, many, n1, n16))
        finally:
            server.stop()
    print(f"{'teacher':<10}{'c=1 /min':>12}{'c=16 /min':>12}{'ratio':>8}   (items per run)")
    for label, one, many, n1, n16 in rows:
        print(f"{label:<10}{one:>12.1f}{many:>12.1f}{many / one:>8.1f}   ({n1}, {n16})")
    print("target: scripted ratio >= 8")
    if not args.skip_dedup:
        print()
        subprocess.run([sys.executable, str(ROOT / "bench" / "generation_dedup.py")], check=True)


if __name__ == "__main__":
    main()
