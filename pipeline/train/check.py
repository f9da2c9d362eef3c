"""Checks before a run starts: impossible combinations refused with the fields named, and the pre-launch reports
(template and label mask, tokenizer cost in Italian, memory estimate)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import dataset, models
from pipeline.errors import UserError, message_of
from pipeline.i18n import Message
from pipeline.train import data
from pipeline.train.config import TrainConfig


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def linear_modules(model_config: Any) -> set[str]:
    """Names (last component) of the model's Linear layers, found on the meta device: no weights are loaded."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    return {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def _problem(field: str, problem: str | Message) -> Message:
    return Message("field_problem", field=field, problem=problem)


def preflight(config: TrainConfig) -> list[str | Message]:
    """Every reason the run cannot start, each naming the field and the fix (a `Message`, shown with `str()`). Empty
    when it can."""
    from transformers import AutoConfig, AutoTokenizer

    problems: list[str | Message] = []
    cuda = _cuda()
    if config.qlora and not cuda:
        problems.append(_problem("qlora", Message("check_qlora_needs_cuda")))
    if config.qlora and importlib.util.find_spec("bitsandbytes") is None:
        problems.append(_problem("qlora", Message("check_no_bitsandbytes")))
    if config.attention == "flash_attention_2" and not (cuda and importlib.util.find_spec("flash_attn")):
        problems.append(_problem("attention", Message("check_flash_attention")))
    if config.num_processes > 1 and cuda:
        import torch

        if torch.cuda.device_count() < config.num_processes:
            gpus = Message("check_gpus", processes=config.num_processes, gpus=torch.cuda.device_count())
            problems.append(_problem("num_processes", gpus))
    try:
        model_dir = models.resolve(config.model)
    except models.ModelError as e:
        return [*problems, _problem("model", message_of(e))]
    model_config = AutoConfig.from_pretrained(model_dir)
    if isinstance(config.target_modules, list):
        available = linear_modules(model_config) - {"lm_head"}
        unknown = [m for m in config.target_modules if m not in available]
        if unknown:
            modules = Message(
                "check_unknown_modules", unknown=", ".join(unknown), available=", ".join(sorted(available))
            )
            problems.append(_problem("target_modules", modules))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    try:
        models.apply_template(tokenizer, config.chat_template, config.model)
    except models.TemplateError as e:
        problems += e.items
    if config.adapter is not None:
        try:
            models.adapter_folder(config.adapter_path)
        except models.AdapterError as e:
            problems.append(_problem("adapter", message_of(e)))
    try:
        if config.method == "sft":
            rows = data.load_conversations(config)
        else:
            from pipeline.train.preference import usable

            rows = usable(config, data.load_preferences(config))
    except dataset.DatasetError as e:
        problems += [_problem("dataset", p) for p in e.items]
    except UserError as e:  # it names `dataset` itself
        problems += e.items
    else:
        train_rows, _ = data.split(rows, config.eval_share, config.seed)
        if config.method != "sft" and not rows:
            problem = Message("data_no_preferences", dataset=config.dataset, method=config.method)
            problems.append(_problem("dataset", problem))
        elif not train_rows:
            problems.append(_problem("dataset", Message("check_no_examples", dataset=config.dataset)))
    return problems


@dataclass
class Inspection:
    """What the Addestra tab shows before launch."""

    model_dir: Path
    previews: list[data.Preview]
    tokenizer: Any
    memory: Any
    train_examples: int
    eval_examples: int


def inspect(config: TrainConfig, examples: int = 2) -> Inspection:
    """Template and label-mask preview of the first examples, tokenizer report and memory estimate."""
    from transformers import AutoConfig

    from pipeline.train import report

    model_dir, tokenizer, eot = data.load_tokenizer(config)
    conversations = data.load_conversations(config)
    train_rows, eval_rows = data.split(conversations, config.eval_share, config.seed)
    previews = [data.preview(tokenizer, c, eot, config.assistant_only_loss) for c in train_rows[:examples]]
    cuda = _cuda()
    available = report.visible_gpu_bytes() if cuda else report.system_ram_bytes()
    model_config = AutoConfig.from_pretrained(model_dir)
    memory = report.memory_estimate(config, model_config, available, "cuda" if cuda else "cpu")
    return Inspection(model_dir, previews, report.tokenizer_report(tokenizer), memory, len(train_rows), len(eval_rows))
