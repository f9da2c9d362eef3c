"""End to end on CPU: fine-tune the bundled SmolLM2-135M-Instruct with LoRA on the Italian seed set, then evaluate
base vs fine-tuned on the held-out split.

    python bench/e2e_italian.py [--epochs 1] [--max-examples 16]

Training uses the smollm2-cpu preset (packed 1024-token rows, assistant-only loss, LoRA r16 on all linear layers)
with 10% of the seed set held out (seeded), one epoch at learning rate 1e-3; the whole run is meant to stay under
20 minutes on 2 cores. Evaluation (`pipeline.evaluate`) then prints, for both models, the share of answers lingua
detects as Italian and the perplexity of the held-out gold answers (assistant tokens only). Exit code 1 if the
fine-tuned model's held-out perplexity is not lower than the base model's.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-examples", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()

    from pipeline.evaluate import EvalConfig, evaluate, table_headers
    from pipeline.train.config import TrainConfig
    from pipeline.train.sft import train

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "e2e"
        config = TrainConfig.from_dict(
            {"name": "e2e-italian", "dataset": str(ROOT / "datasets_yaml" / "seed_it.yaml"), "epochs": args.epochs,
             "learning_rate": 1e-3, "warmup_ratio": 0.1, "eval_share": 0.1, "eval_steps": 10_000,
             "save_steps": 10_000, "trackio": False, "run_dir": str(run_dir)}
        )  # fmt: skip
        t0 = time.monotonic()
        status = train(config)
        trained = time.monotonic() - t0
        result = evaluate(
            EvalConfig(run_dir=str(run_dir), max_examples=args.max_examples, max_new_tokens=args.max_new_tokens)
        )
        evaluated = time.monotonic() - t0 - trained

    import torch

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, no GPU")
    print(
        f"training: {status.get('examples')} examples, {status.get('step')} optimizer steps, {trained / 60:.1f} min; "
        f"evaluation: {evaluated / 60:.1f} min"
    )
    print(result.held_out)
    rows = [table_headers(), *result.table()]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    better = result.finetuned["perplexity"] < result.base["perplexity"]
    print(f"held-out perplexity lower after fine-tuning: {'yes' if better else 'NO'}")
    return 0 if better else 1


if __name__ == "__main__":
    sys.exit(main())
