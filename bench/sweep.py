"""How long a hyperparameter sweep takes here, and what the bundled model scores on the offline Italian benchmark.

    python bench/sweep.py                                   # the shipped sweep, 4 trials, then the benchmark
    python bench/sweep.py --config my-sweep.yaml --trials 6 --keep /tmp/sweep
    python bench/sweep.py --no-benchmark

The sweep (default configs/sweeps/smollm2-lr.yaml, its trials configs/train/smollm2-short.yaml on the Italian seed
set) runs as `python -m pipeline sweep` would, in a temporary $BOTTEGA_HOME: every trial a training run of the bundled
SmolLM2-135M-Instruct. It prints each trial (parameters, state, objective, minutes), the whole sweep's time and the
time per trial, and the best trial. Then the bundled model on the whole offline benchmark (pipeline/data/mc_it,
acc_norm with its 95% Wilson interval), as `python -m pipeline benchmark` scores it. The shipped recipe's result on the
same benchmark is in bench/e2e_italian.py's table.
"""

import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "sweeps" / "smollm2-lr.yaml")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="copy the sweep's folder and its runs here")
    parser.add_argument("--no-benchmark", action="store_true")
    args = parser.parse_args()

    import torch

    from pipeline.jobs import Job
    from pipeline.train import sweep

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    own_home = os.environ.get("BOTTEGA_HOME")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["BOTTEGA_HOME"] = str(home)
        models_home = Path.home() / ".cache" / "bottega" / "models"
        if models_home.is_dir():  # the bundled model, already materialised: not part of the sweep's time
            home.mkdir(parents=True)
            (home / "models").symlink_to(models_home)
        config = sweep.load_config(args.config)
        config.trials = args.trials
        t0 = time.monotonic()
        code = sweep.run(config)
        elapsed = time.monotonic() - t0
        rows = sweep.trials(config.path)
        print(f"\nsweep {config.name}: {len(rows)} trials, objective {config.objective} ({config.direction})")
        for row in rows:
            status = Job(home / "runs" / "train" / row["run"]).status()
            minutes = (status.get("updated", 0) - status.get("started", 0)) / 60
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row["params"].items())  # fmt: skip
            value = f"{row['value']:.4f}" if row["value"] is not None else "-"
            print(f"  trial {row['number']}: {params:40} {row['state']:9} {value:>8}  {minutes:5.1f} min"
                  f"  (step {row['step']}/{row['max_steps']})")  # fmt: skip
        print(f"sweep time: {elapsed / 60:.1f} min, {elapsed / 60 / max(len(rows), 1):.1f} min per trial")
        best = Job(config.path).status()
        print(f"best: {best.get('best_run')} {best.get('best_params')} {config.objective} {best.get('best_value')}")
        if args.keep:
            shutil.copytree(config.path, args.keep / "sweep", dirs_exist_ok=True)
            for row in rows:
                shutil.copytree(home / "runs" / "train" / row["run"], args.keep / row["run"], dirs_exist_ok=True)

    if own_home is None:  # the benchmark loads the bundled model from where it always is
        del os.environ["BOTTEGA_HOME"]
    else:
        os.environ["BOTTEGA_HOME"] = own_home
    if not args.no_benchmark:
        from pipeline import benchmark, models

        t0 = time.monotonic()
        loaded = models.load(models.DEFAULT_MODEL)
        result = benchmark.score(loaded.model, loaded.tokenizer, benchmark.load_items())
        every = result.acc_norm["tutte"]
        low, high = every.interval
        seconds = time.monotonic() - t0
        print(f"\noffline Italian benchmark, bundled {models.DEFAULT_MODEL}: acc_norm {every.accuracy:.1%} "
              f"[{low:.1%}, {high:.1%}] on {every.total} items (chance 25%), {seconds:.0f} s")  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(main())
