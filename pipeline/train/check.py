"""Checks before a run starts: impossible combinations refused with the fields named, and the pre-launch reports
(template and label mask, tokenizer cost in Italian, memory estimate)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import dataset, models
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


def preflight(config: TrainConfig) -> list[str]:
    """Every reason the run cannot start, each naming the field and the fix. Empty when it can."""
    from transformers import AutoConfig, AutoTokenizer

    problems = []
    cuda = _cuda()
    if config.qlora and not cuda:
        problems.append("`qlora`: QLoRA a 4 bit richiede una GPU CUDA; su questa macchina usa `qlora: false` (LoRA)")
    if config.qlora and importlib.util.find_spec("bitsandbytes") is None:
        problems.append("`qlora`: manca il pacchetto bitsandbytes (pip install -r spaces/requirements-gpu.txt)")
    if config.attention == "flash_attention_2" and not (cuda and importlib.util.find_spec("flash_attn")):
        problems.append('`attention`: flash_attention_2 richiede CUDA e flash-attn installato; usa "auto" o "sdpa"')
    if config.num_processes > 1 and cuda:
        import torch

        if torch.cuda.device_count() < config.num_processes:
            problems.append(
                f"`num_processes`: {config.num_processes} processi ma solo {torch.cuda.device_count()} GPU visibili"
            )
    try:
        model_dir = models.resolve(config.model)
    except models.ModelError as e:
        return [*problems, f"`model`: {e}"]
    model_config = AutoConfig.from_pretrained(model_dir)
    if isinstance(config.target_modules, list):
        available = linear_modules(model_config) - {"lm_head"}
        unknown = [m for m in config.target_modules if m not in available]
        if unknown:
            problems.append(
                f"`target_modules`: {', '.join(unknown)} non esiste in questo modello; "
                f'moduli lineari disponibili: {", ".join(sorted(available))} (oppure "all-linear")'
            )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    try:
        data.apply_template(tokenizer, config.chat_template, config.model)
    except data.TemplateError as e:
        problems.append(str(e))
    try:
        conversations = data.load_conversations(config)
    except dataset.DatasetError as e:
        problems += [f"`dataset`: {p}" for p in e.problems]
    except (ValueError, OSError) as e:
        problems.append(f"`dataset`: {e}")
    else:
        train_rows, _ = data.split(conversations, config.eval_share, config.seed)
        if not train_rows:
            problems.append(f"`dataset`: {config.dataset} non ha esempi da addestrare")
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
