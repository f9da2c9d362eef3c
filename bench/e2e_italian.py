"""End to end on CPU: the shipped chained recipe (configs/recipes/smollm2-it.yaml: SFT on the Italian seed set, then
Italian-fidelity pairs from the SFT model's own answers, then DPO on top of the SFT adapter) on the bundled
SmolLM2-135M-Instruct, then each stage evaluated on the seed examples the SFT run held out.

    python bench/e2e_italian.py [--keep FOLDER]            # the recipe, then the evaluation
    python bench/e2e_italian.py --evaluate FOLDER           # only the evaluation, of a kept run

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
    import argparse
    import shutil

    from pipeline import recipe
    from pipeline.evaluate import EvalConfig, evaluate, loop_share

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="copy the SFT and DPO run folders (adapters included) here")
    parser.add_argument("--evaluate", type=Path, help="skip the recipe: evaluate the runs kept in this folder")
    args = parser.parse_args()

    config = recipe.load_config(ROOT / "configs/recipes/smollm2-it.yaml")
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

        t0 = time.monotonic()

        def say(line: str) -> None:
            print(f"[{(time.monotonic() - t0) / 60:5.1f} min] {line}", flush=True)

        from pipeline import dataset

        if args.evaluate:
            for name in ("sft", "dpo", "fedelta.yaml"):
                (shutil.copytree if name != "fedelta.yaml" else shutil.copy)(args.evaluate / name, tmp / name)
            trained = None
        else:
            if recipe.run(config, say, found):
                print("the recipe did not finish")
                return 1
            trained = time.monotonic() - t0
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for name in ("sft", "dpo"):
                    shutil.copytree(tmp / name, args.keep / name, dirs_exist_ok=True)
                shutil.copy(tmp / "fedelta.yaml", args.keep / "fedelta.yaml")
        t0 = time.monotonic()
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
        evaluated = time.monotonic() - t0

    import torch

    cpu = platform.processor() or platform.machine()
    print(f"\nmachine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, no GPU")
    recipe_time = f"{trained / 60:.1f} min" if trained is not None else f"not run here (runs of {args.evaluate})"
    print(f"recipe: {recipe_time} (fidelity pairs built: {pairs}); evaluation: {evaluated / 60:.1f} min")
    print(f"held out: {n_held} seed examples the SFT run did not train on; answers of at most 128 tokens")

    def mc(result, side: str) -> str:
        scored = (result.benchmark or {}).get(side, {}).get("acc_norm", {}).get("tutte")
        if not scored:
            return "-"
        low, high = scored["ci95"]
        return f"{scored['accuracy']:.1%} [{low:.1%}, {high:.1%}]"

    rows = [("base", results["SFT"].base, raw_loops["SFT"]["base"], mc(results["SFT"], "base"))]
    rows += [(stage, results[stage].finetuned, raw_loops[stage]["finetuned"], mc(results[stage], "finetuned"))
             for stage in results]  # fmt: skip
    print("Italian: share of the answers whose language can be judged (not bare code), their number in brackets")
    header = f"{'stage':10} {'Italian':>10} {'loops':>6} {'loops (plain greedy)':>21} {'gold perplexity':>16}"
    print(header + "  Italian benchmark (acc_norm, 95% CI)")
    for stage, found_metrics, raw, scored in rows:
        italian = f"{found_metrics['italian']:.0%} ({found_metrics['italian_judged']})"
        loops, ppl = found_metrics["loops"], found_metrics["perplexity"]
        print(f"{stage:10} {italian:>10} {loops:6.0%} {raw:21.0%} {ppl:16.2f}  {scored}")
    base, final = rows[0][1], rows[-1][1]
    targets = [
        ("Italian answers >= 95%", final["italian"] >= 0.95),
        ("Italian answers >= base + 15 points", final["italian"] >= base["italian"] + 0.15),
        ("loops <= 10%", final["loops"] <= 0.10),
        ("gold perplexity >= 40% below the base", final["perplexity"] <= 0.6 * base["perplexity"]),
    ]
    if trained is not None:
        targets.append(("recipe <= 40 min", trained <= 40 * 60))
    for name, met in targets:
        print(f"target {name}: {'met' if met else 'NOT met'}")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
