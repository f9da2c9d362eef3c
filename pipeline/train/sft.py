"""One LoRA/QLoRA SFT run with TRL, as a job (`pipeline.jobs`) that can be watched, stopped and resumed.

    python -m pipeline train --config configs/train/smollm2-cpu.yaml
    python -m pipeline train --resume ~/.cache/bottega/runs/train/smollm2-it
    accelerate launch --config_file configs/accelerate/ddp_cpu.yaml -m pipeline train --config run.yaml

The run folder is the job's folder: config.yaml, status.json (rewritten every step), metrics.jsonl (one line per
log), log.txt (when launched from the app), checkpoints/ (optimizer, scheduler and RNG state included), and at the
end adapter/ with a model card draft. A STOP file makes the run checkpoint and exit; `--resume` continues from the
last checkpoint. Only the main process writes status and metrics, and holds the job and the devices.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pipeline.config import save as save_config
from pipeline.errors import UserError, message_of
from pipeline.i18n import Message
from pipeline.jobs import Job, JobStatus, hold_devices
from pipeline.paths import bottega_home
from pipeline.train import data, samples
from pipeline.train.check import preflight
from pipeline.train.config import TrainConfig
from pipeline.train.setup import common_args, early_stopping, load_model, lora_config


def _callback(job: Job | None, run_dir: Path):
    """Status and metrics after every step and log (main process only: `job` is None on the other ranks); a stop
    request checkpoints and ends the run on every rank."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = time.monotonic()
            self.first_step: int | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.first_step = state.global_step
            if job is not None:
                job.update(state="running", step=state.global_step, max_steps=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            done = state.global_step - (self.first_step or 0)
            rate = (time.monotonic() - self.t0) / max(done, 1)
            if job is not None:
                job.update(
                    step=state.global_step,
                    max_steps=state.max_steps,
                    epoch=state.epoch,
                    eta_s=round(rate * (state.max_steps - state.global_step), 1),
                    tokens=int(state.num_input_tokens_seen),
                )
            if (run_dir / "STOP").exists():
                if job is not None:
                    job.update(state="stopping")
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            if job is not None and logs:
                record = {"step": state.global_step, "epoch": state.epoch, "time": time.time()}
                record.update({k: v for k, v in logs.items() if isinstance(v, int | float)})
                record["tokens"] = int(state.num_input_tokens_seen)
                job.append_metrics(record)
                losses = {k: logs[k] for k in ("loss", "eval_loss") if k in logs}
                if losses:
                    job.update(**losses)

    return Progress()


def train(config: TrainConfig, resume: bool = False, callbacks: tuple[Any, ...] = ()) -> JobStatus:
    """Run (or resume) the training described by `config` in this process; returns the final status. `callbacks`:
    more TrainerCallbacks (a sweep's pruning)."""
    import torch
    from accelerate import PartialState

    # cpu=True makes a CPU multi-process launch use gloo and tell the ranks apart (otherwise both are "main").
    state = PartialState(cpu=not torch.cuda.is_available())
    job = Job(config.run_path)
    if not state.is_main_process:
        _train(config, job.dir, None, resume, callbacks)
        return job.status()
    with hold_devices(), job.running():  # the devices first: a refused run must not touch the job's status
        os.environ.setdefault("TRACKIO_DIR", str(bottega_home() / "trackio"))
        save_config(config, job.config_path)
        try:
            _train(config, job.dir, job, resume, callbacks)
        except Exception as e:
            job.update(state="failed", message=explain(e))
            raise
    return job.status()


def explain(error: BaseException) -> Message:
    """The cause of a failed run, with what to try."""
    import torch

    if isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower():
        return Message("train_oom")
    return Message("train_error", error=message_of(error))


def _train(config: TrainConfig, run_dir: Path, job: Job | None, resume: bool, callbacks: tuple[Any, ...]) -> None:
    import torch
    from transformers.trainer_utils import get_last_checkpoint

    problems = preflight(config)
    if problems:
        raise UserError(*problems, title=Message("train_cannot_title"))
    cuda = torch.cuda.is_available()
    saved = run_dir / "checkpoints"  # a run killed before its first checkpoint has none
    checkpoint = get_last_checkpoint(str(saved)) if resume and saved.is_dir() else None
    if resume and checkpoint is None:
        print("Nessun checkpoint trovato: l'addestramento riparte dall'inizio.")
    if job is not None and checkpoint:
        job.forget_metrics_after(int(Path(checkpoint).name.split("-")[-1]))
    elif job is not None:
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)

    if config.method == "sft":
        trainer, tokenizer, counts = _sft_trainer(config, run_dir, cuda, _callback(job, run_dir))
    else:
        from pipeline.train import preference

        trainer, tokenizer, counts = preference.trainer(config, run_dir, cuda, _callback(job, run_dir))
    # The samples first: a sweep's callback reads their fidelity at the same evaluation.
    if config.samples and not config.accelerate_config:
        trainer.add_callback(samples.callback(config, job, tokenizer))
    evaluating = trainer.eval_dataset is not None  # a dataset too small to hold examples out has no eval split
    for extra in (*(early_stopping(config) if evaluating else []), *callbacks):
        trainer.add_callback(extra)
    if job is not None:
        job.update(
            **counts,
            resumed_from=checkpoint and Path(checkpoint).name,
            world_size=trainer.args.world_size,
            attention=trainer.model.config._attn_implementation,
        )
    trainer.train(resume_from_checkpoint=checkpoint)

    state = trainer.state
    ended_early = state.global_step < state.max_steps
    if ended_early and (run_dir / "STOP").exists():  # a stop request ended it, on every rank
        if job is not None:
            job.update(state="stopped", message=Message("train_stopped"))
        return
    # Otherwise early stopping ended it, and transformers has loaded the best checkpoint back: that is the adapter.
    best = f"{state.best_metric:.4f}" if state.best_metric is not None else "?"
    end = Message("train_early_stopped", step=state.global_step, best=state.best_global_step,
                  loss=best) if ended_early else ""  # fmt: skip
    adapter = run_dir / "adapter"
    model = trainer.accelerator.unwrap_model(trainer.model)
    if "ref" in getattr(model, "peft_config", {}):  # TRL's frozen copy of a starting adapter: the reference only
        model.delete_adapter("ref")
    if trainer.is_fsdp_enabled:  # sharded checkpoints resume fast, but save_model writes weights only in full
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(adapter))
    if job is not None:
        tokenizer.save_pretrained(str(adapter))
        from pipeline.train.card import write_card

        job.update(adapter=str(adapter))
        if ended_early:  # before the card, which says where early stopping left the adapter
            job.update(early_stopped=state.global_step, best_step=state.best_global_step,
                       best_eval_loss=state.best_metric)  # fmt: skip
        write_card(config, adapter, job.status().fields, job.metrics())
        job.update(state="finished", message=end)


def _sft_trainer(config: TrainConfig, run_dir: Path, cuda: bool, callback: Any) -> tuple[Any, Any, dict[str, int]]:
    """TRL's SFTTrainer on the run's conversations (pre-tokenized with our label mask), its tokenizer and the counts
    of examples."""
    from trl import SFTConfig, SFTTrainer

    model_dir, tokenizer, eot = data.load_tokenizer(config)
    train_rows, eval_rows = data.split(data.load_conversations(config), config.eval_share, config.seed)
    train_set = data.tokenize(tokenizer, train_rows, eot, config.assistant_only_loss)
    eval_set = data.tokenize(tokenizer, eval_rows, eot, config.assistant_only_loss) if eval_rows else None
    padding_free = config.packing
    args = SFTConfig(
        **common_args(config, run_dir, cuda, eval_set is not None),
        max_length=config.max_length,
        packing=config.packing,
        packing_strategy="bfd",
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        neftune_noise_alpha=config.neftune_alpha,
        include_num_input_tokens_seen="all" if padding_free else "non_padding",
    )
    trainer = (SFTTrainer if cuda else _CpuSFTTrainer())(
        model=load_model(config, model_dir, cuda),
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=[callback],
    )
    return trainer, tokenizer, {"examples": len(train_rows), "eval_examples": len(eval_rows)}


def _CpuSFTTrainer() -> type:  # noqa: N802 (a class, built where trl is imported)
    """SFTTrainer with the model's own causal-LM loss. TRL computes the loss through a fused lm-head that never
    materialises the logits (chunked log-probs, a Triton kernel on GPU); on a CPU it falls back to torch ops, and on
    SmolLM2-135M (49k vocabulary) it took 3.5 s of a 6.9 s step for one 1024-token row (torch profiler, 2-core Xeon
    with AMX), where the model's own lm-head and cross-entropy take a fraction of it. Only the logged entropy and
    token accuracy are lost."""
    from transformers import Trainer
    from trl import SFTTrainer

    class CpuSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return CpuSFTTrainer
