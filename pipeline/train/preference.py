"""Preference training (DPO, KTO, ORPO) with TRL's trainers, in the same run model as SFT (`pipeline.train.sft`):
the same job, callback, checkpoints, resume, trackio and model card; only the trainer differs.

    method: dpo                       # or kto, orpo
    adapter: smollm2-it               # optional: on top of an SFT run's adapter
    dataset: datasets_yaml/fedelta.yaml

The data is a YAML dataset whose examples carry `rejected` (a pair: `output` is the chosen answer) or, for KTO,
`meta.desirable` (a single answer marked good or bad); `pipeline.preferences` builds them from votes, judge verdicts
and the model's own non-Italian answers. KTO takes pairs too, as one good and one bad answer.

One copy of the weights: the reference of DPO and KTO is the policy itself with its adapter switched off (a new
adapter: the reference is the base), or a frozen copy of the starting adapter's LoRA weights when `adapter` is set
(TRL names it "ref"; it is dropped before the adapter is saved). ORPO needs no reference at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.i18n import Message
from pipeline.train import data
from pipeline.train.config import TrainConfig


def usable(config: TrainConfig, rows: list[data.Preference]) -> list[data.Preference]:
    """The rows the method can train on: pairs, and for KTO single labelled answers too."""
    return [r for r in rows if r.rejected is not None or (config.method == "kto" and r.desirable is not None)]


def to_records(config: TrainConfig, rows: list[data.Preference]) -> list[dict[str, Any]]:
    """Rows in TRL's conversational formats: prompt/chosen/rejected (DPO, ORPO), prompt/completion/label (KTO, a pair
    giving one good and one bad answer)."""

    def turn(text: str) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": text}]

    records: list[dict[str, Any]] = []
    for row in usable(config, rows):
        if config.method != "kto":
            records.append({"prompt": row.prompt, "chosen": turn(row.chosen), "rejected": turn(row.rejected)})
        elif row.rejected is not None:
            records.append({"prompt": row.prompt, "completion": turn(row.chosen), "label": True})
            records.append({"prompt": row.prompt, "completion": turn(row.rejected), "label": False})
        else:
            records.append({"prompt": row.prompt, "completion": turn(row.chosen), "label": bool(row.desirable)})
    return records


def starting_model(config: TrainConfig, model_dir: Path, cuda: bool) -> tuple[Any, Any]:
    """The model to train and the LoRA config for a new adapter (None when starting from `config.adapter`, whose
    weights are loaded trainable)."""
    from peft import PeftModel

    from pipeline.models import adapter_folder
    from pipeline.train.setup import load_model, lora_config

    model = load_model(config, model_dir, cuda)
    if config.adapter is None:
        return model, lora_config(config)
    return PeftModel.from_pretrained(model, str(adapter_folder(config.adapter_path)), is_trainable=True), None


def compact_lm_head_on_cpu() -> None:
    """Make TRL's fused lm-head score only the positions that carry a label on a CPU too, as it does on Triton
    devices. Elsewhere it scores every position of the padded batch (fixed tile shapes, for compilers such as
    Neuron's); a CPU compiles nothing, and a DPO row pads a ~130-token rejected answer to its ~500-token chosen one,
    prompt positions included. Only the choice of positions changes: the kernel stays TRL's torch path. Measured on
    the recipe's DPO stage (4 pairs a step, 2-core Xeon with AMX): 31.6 s for two steps against 43.9 s, the same
    losses to four digits at the first two steps."""
    import trl.trainer.utils as trl_utils

    original = trl_utils._use_triton
    if getattr(original, "compact_on_cpu", False):
        return

    def use_compact(device) -> bool:
        return original(device) or device.type == "cpu"

    use_compact.compact_on_cpu = True
    trl_utils._use_triton = use_compact


def trainer(config: TrainConfig, run_dir: Path, cuda: bool, callback: Any) -> tuple[Any, Any, dict[str, int]]:
    """TRL's trainer for `config.method` on the run's preference data, its tokenizer and the counts of rows."""
    import datasets

    from pipeline.train.setup import common_args

    model_dir, tokenizer, _ = data.load_tokenizer(config)
    rows = usable(config, data.load_preferences(config))
    if not rows:
        problem = Message("data_no_preferences", dataset=config.dataset, method=config.method)
        raise UserError(Message("field_problem", field="dataset", problem=problem))
    train_rows, eval_rows = data.split(rows, config.eval_share, config.seed)
    train_set = datasets.Dataset.from_list(to_records(config, train_rows))
    eval_set = datasets.Dataset.from_list(to_records(config, eval_rows)) if eval_rows else None
    model, peft_config = starting_model(config, model_dir, cuda)
    if not cuda and os.environ.get("BOTTEGA_CPU_FULL_LM_HEAD") != "1":  # set to 1: TRL's own choice, to compare
        compact_lm_head_on_cpu()
    common = common_args(config, run_dir, cuda, eval_set is not None)
    if config.method == "dpo":
        from trl import DPOConfig as Args
        from trl import DPOTrainer as Trainer
    elif config.method == "kto":
        from trl import KTOConfig as Args
        from trl import KTOTrainer as Trainer
    else:
        from trl.experimental.orpo import ORPOConfig as Args
        from trl.experimental.orpo import ORPOTrainer as Trainer
    extra = {}
    if config.method == "dpo" and config.sft_weight:
        extra = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, config.sft_weight]}
    args = Args(**common, beta=config.beta, max_length=config.max_length, **extra)
    built = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback],
    )
    return built, tokenizer, {"examples": len(train_set), "eval_examples": len(eval_set or [])}
