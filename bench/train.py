"""Training throughput: our default config against plain TRL SFT defaults, side by side in one run.

    python bench/train.py [--steps 3] [--dataset datasets_yaml/seed_it.yaml]

Same model (the bundled SmolLM2-135M-Instruct), same data (the seed set's approved examples, as chat messages),
same LoRA adapter (r 16, alpha 32, all linear layers), same number of optimizer steps. Printed: non-padding tokens
per second for

- ours: `pipeline.train.sft.train` with the smollm2-cpu preset: examples packed best-fit into 1024-token rows with
  no padding and position ids that restart per example (attention never crosses examples), assistant-only loss;
- baseline: `trl.SFTTrainer` with `SFTConfig` defaults (batches of 8 padded to their longest example, no packing,
  gradient checkpointing on, as TRL ships it), CPU;
- baseline without gradient checkpointing, to show how much of the gain is packing alone (on a 24 GiB CPU machine
  it runs out of memory: eight padded Italian examples of ~1000 tokens keep too many activations).

The first optimizer step of each run is warm-up and is left out; throughput is tokens seen between the end of step 1
and the end of the last step, over that time. Target on CPU: ours >= 1.3x the baseline. On a GPU the same script
also prints peak memory (target: baseline / ours >= 2x).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def _peak_reset() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def _rate(points: list[tuple[float, int]]) -> float:
    """Tokens per second between the first and the last point (each point: end of an optimizer step)."""
    (t0, n0), (t1, n1) = points[0], points[-1]
    return (n1 - n0) / (t1 - t0)


def ours(dataset: str, steps: int, home: Path) -> tuple[float, float | None]:
    from pipeline.jobs import Job
    from pipeline.train.config import TrainConfig
    from pipeline.train.sft import train

    config = TrainConfig.from_dict(
        {"name": "bench-ours", "dataset": dataset, "max_steps": steps, "eval_share": 0.0, "trackio": False,
         "save_steps": 10_000, "run_dir": str(home / "ours")}
    )  # fmt: skip
    _peak_reset()
    train(config)
    points = [(m["time"], m["tokens"]) for m in Job(config.run_path).metrics() if "loss" in m]
    return _rate(points), _peak()


def baseline(dataset: str, steps: int, home: Path, checkpointing: bool) -> tuple[float, float | None]:
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from pipeline import dataset as yaml_dataset
    from pipeline import formats, models

    folder = models.resolve(models.DEFAULT_MODEL)
    rows = formats.to_hf_dataset(yaml_dataset.load(dataset), only_approved=True).select_columns(["messages"])
    points: list[tuple[float, int]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            points.append((time.time(), int(state.num_input_tokens_seen)))

    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(home / f"baseline-{checkpointing}"),
        max_steps=steps,
        gradient_checkpointing=checkpointing,
        report_to="none",
        save_strategy="no",
        use_cpu=not cuda,
        bf16=cuda,
        include_num_input_tokens_seen="non_padding",
    )
    _peak_reset()
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16 if cuda else torch.float32),
        args=args,
        train_dataset=rows,
        processing_class=AutoTokenizer.from_pretrained(folder),
        peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear"),
        callbacks=[Clock()],
    )
    trainer.train()
    return _rate(points), _peak()


VARIANTS = {
    "ours": "ours (packed, no padding)",
    "trl": "TRL SFT defaults (padded, checkpointing)",
    "trl-nockpt": "TRL SFT defaults, no checkpointing",
}


def run_variant(variant: str, dataset: str, steps: int) -> None:
    """One variant in this process; prints one RESULT line for the parent."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if variant == "ours":
            rate, peak = ours(dataset, steps, home)
        else:
            rate, peak = baseline(dataset, steps, home, checkpointing=variant == "trl")
    print("RESULT " + json.dumps({"rate": rate, "peak": peak}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--dataset", default=str(ROOT / "datasets_yaml" / "seed_it.yaml"))
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.dataset, args.steps)
        return
    print(f"machine: {_machine()}")
    print(f"model: SmolLM2-135M-Instruct + LoRA r16 all-linear; {args.steps} optimizer steps each, step 1 left out")
    # Each variant in its own process: a fresh allocator, and an out-of-memory kill ends only that variant.
    results = {}
    for variant, name in VARIANTS.items():
        cmd = [sys.executable, __file__, "--variant", variant, "--steps", str(args.steps), "--dataset", args.dataset]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            killed = proc.returncode in (-9, 137)
            why = "killed, out of memory" if killed else f"exit {proc.returncode}: {proc.stderr[-300:]}"
            print(f"{name:45s} did not finish ({why})", flush=True)
            continue
        results[name] = json.loads(lines[-1][len("RESULT ") :])
        peak = results[name]["peak"]
        memory = f", peak GPU memory {peak:.2f} GiB" if peak is not None else ""
        print(f"{name:45s} {results[name]['rate']:8.1f} non-padding tokens/s{memory}", flush=True)
    mine = results.get(VARIANTS["ours"])
    for name, result in results.items():
        if mine is None or name == VARIANTS["ours"]:
            continue
        line = f"ours / {name}: {mine['rate'] / result['rate']:.2f}x throughput"
        if result["peak"] is not None and mine["peak"]:
            line += f", {result['peak'] / mine['peak']:.2f}x less peak memory"
        print(line)
    print("target: >= 1.3x throughput on CPU against the defaults; on a GPU also >= 2x less peak memory")


if __name__ == "__main__":
    main()
