"""What every training method builds the same way: the base model as training loads it, the LoRA config, and the
`TrainingArguments` they share (schedule, batches, checkpoints, logging, precision). `pipeline.train.sft` and
`pipeline.train.preference` build their trainers from these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import models
from pipeline.train.config import TrainConfig


def model_kwargs(config: TrainConfig, cuda: bool) -> dict[str, Any]:
    """`from_pretrained` arguments: fp32 on CPU; `compute_dtype` on CUDA; 4-bit NF4 with QLoRA."""
    import torch
    from transformers import BitsAndBytesConfig

    dtype = getattr(torch, config.compute_dtype) if cuda else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attention(config, cuda)}
    if config.qlora:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=config.qlora_double_quant,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=dtype,
        )
    return kwargs


def load_model(config: TrainConfig, model_dir: Path, cuda: bool) -> Any:
    """The base model for training, without a KV cache."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, **model_kwargs(config, cuda))
    # With a KV cache the causal mask ignores packed position_ids, and attention would leak across packed examples.
    model.config.use_cache = False
    return model


def attention(config: TrainConfig, cuda: bool) -> str:
    if config.attention != "auto":
        return config.attention
    from transformers.utils import is_flash_attn_2_available

    return "flash_attention_2" if cuda and is_flash_attn_2_available() else "sdpa"


def common_args(config: TrainConfig, run_dir: Path, cuda: bool, evaluate: bool) -> dict[str, Any]:
    """The `TrainingArguments` every method shares: schedule, batches, checkpoints, logging, precision."""
    args = {
        "output_dir": str(run_dir / "checkpoints"),
        "run_name": config.name,
        "project": "bottega",
        "report_to": ["trackio"] if config.trackio else "none",
        "trackio_static_space_id": False,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": config.lr_scheduler,
        "warmup_steps": config.warmup_ratio,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "gradient_checkpointing": config.gradient_checkpointing,
        "seed": config.seed,
        "data_seed": config.seed,
        "eval_strategy": "steps" if evaluate else "no",
        "eval_steps": config.eval_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "logging_steps": config.logging_steps,
        "bf16": config.compute_dtype == "bfloat16" and (cuda or models.cpu_bf16()),
        "fp16": cuda and config.compute_dtype == "float16",
        "use_cpu": not cuda,
        "disable_tqdm": False,
        "ddp_find_unused_parameters": False,
        "dataloader_num_workers": 0,
    }
    if config.early_stopping_patience and evaluate:
        # transformers keeps the best checkpoint and loads it at the end only among checkpoints saved at evaluations.
        # The patience counter comes back with a resumed run's checkpoint.
        args.update(save_steps=config.eval_steps, load_best_model_at_end=True, metric_for_best_model="eval_loss",
                    greater_is_better=False, restore_callback_states_from_checkpoint=True)  # fmt: skip
    return args


def early_stopping(config: TrainConfig) -> list[Any]:
    """transformers' early stopping on the eval loss, when the config asks for it."""
    from transformers import EarlyStoppingCallback

    return [EarlyStoppingCallback(config.early_stopping_patience)] if config.early_stopping_patience else []


def lora_config(config: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        use_dora=config.use_dora,
        use_rslora=config.use_rslora,
        task_type="CAUSAL_LM",
    )
