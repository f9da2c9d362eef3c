"""End to end on CPU: the shipped chained recipe (configs/recipes/smollm2-it.yaml: SFT on the Italian seed set, then
Italian-fidelity pairs from the SFT model's own answers, then DPO on top of the SFT adapter) on the bundled
SmolLM2-135M-Instruct, then each stage evaluated on the seed examples the SFT run held out.

    python bench/e2e_italian.py

The stage configs are the shipped ones; only their folders move to a temporary place. Per stage (base, SFT,
SFT+DPO) it prints the share of answers in Italian, the share of answers that loop (with the evaluation's decoding:
greedy, repetition penalty 1.2; and plain greedy, which shows what the model does by itself), and the perplexity of
the held-out gold answers; then the issue's targets, met or not, and the time of each stage. Exit code 1 if a target
is missed.
"""

import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def held_out_file(sft, folder: Path) -> tuple[Path, int]:
    """The examples the SFT run held out (its seeded split), as a YAML dataset for the evaluation."""
    from pipeline import dataset
    from pipeline.train import data

    loaded = dataset.load(sft.dataset)
    usable = [e for e in loaded.examples if e.meta.status == "approved" and e.meta.desirable is not False]
    _, held = data.split(usable, sft.eval_share, sft.seed)
    loaded.examples = held
    path = folder / "held_out.yaml"
    dataset.save(loaded, path, force=True)
    return path, len(held)


def main() -> int:
    from pipeline import recipe
    from pipeline.evaluate import EvalConfig, evaluate, loop_share

    config = recipe.RecipeConfig.from_dict(recipe.load_config(ROOT / "configs/recipes/smollm2-it.yaml").to_dict())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["BOTTEGA_HOME"] = str(tmp / "home")
        found = recipe.stages(config)
        found.sft.run_dir = str(tmp / "sft")
        found.pairs.run_dir = str(tmp / "sft")
        found.pairs.output = str(tmp / "fedelta.yaml")
        found.preference.run_dir = str(tmp / "dpo")
        found.preference.adapter = str(tmp / "sft")
        found.preference.dataset = str(tmp / "fedelta.yaml")
        recipe.check(found)

        times = {}
        t0 = time.monotonic()

        def say(line: str) -> None:
            now = time.monotonic()
            print(f"[{(now - t0) / 60:5.1f} min] {line}", flush=True)
            times[line] = now

        code = recipe.run(config, say, found)
        trained = time.monotonic() - t0
        if code:
            print("the recipe did not finish")
            return 1
        from pipeline import dataset

        pairs = len(dataset.load(tmp / "fedelta.yaml").examples)
        held, n_held = held_out_file(found.sft, tmp)
        results, raw_loops = {}, {}
        for stage, run in (("SFT", tmp / "sft"), ("SFT+DPO", tmp / "dpo")):
            eval_config = EvalConfig(base_model=found.sft.model, adapter=str(run / "adapter"), dataset=str(held),
                                     max_examples=n_held, output=str(tmp / f"eval-{stage}.yaml"))  # fmt: skip
            results[stage] = evaluate(eval_config)
            greedy = evaluate(dataclasses.replace(eval_config, repetition_penalty=1.0, benchmark=False))
            raw_loops[stage] = {side: loop_share([getattr(e, side) for e in greedy.examples])
                                for side in ("base", "finetuned")}  # fmt: skip
        evaluated = time.monotonic() - t0 - trained

    import torch

    cpu = platform.processor() or platform.machine()
    print(f"\nmachine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, no GPU")
    print(f"recipe: {trained / 60:.1f} min (fidelity pairs built: {pairs}); evaluation: {evaluated / 60:.1f} min")
    print(f"held out: {n_held} seed examples the SFT run did not train on; answers of at most 128 tokens")
    rows = [("base", results["SFT"].base, raw_loops["SFT"]["base"])]
    rows += [(stage, results[stage].finetuned, raw_loops[stage]["finetuned"]) for stage in results]
    print(f"{'stage':10} {'Italian':>8} {'loops':>6} {'loops (plain greedy)':>21} {'gold perplexity':>16}")
    for stage, found_metrics, raw in rows:
        italian, loops, ppl = found_metrics["italian"], found_metrics["loops"], found_metrics["perplexity"]
        print(f"{stage:10} {italian:8.0%} {loops:6.0%} {raw:21.0%} {ppl:16.2f}")
    base, final = rows[0][1], rows[-1][1]
    targets = [
        ("Italian answers >= 95%", final["italian"] >= 0.95),
        ("Italian answers >= base + 15 points", final["italian"] >= base["italian"] + 0.15),
        ("loops <= 10%", final["loops"] <= 0.10),
        ("gold perplexity >= 40% below the base", final["perplexity"] <= 0.6 * base["perplexity"]),
        ("recipe <= 40 min", trained <= 40 * 60),
    ]
    for name, met in targets:
        print(f"target {name}: {'met' if met else 'NOT met'}")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
