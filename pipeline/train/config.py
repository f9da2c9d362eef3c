"""`TrainConfig`: one LoRA/QLoRA SFT run, as a dataclass that is also its YAML schema.

Values are checked in `__post_init__` (all problems at once, each naming its field). Checks that need the machine,
the model or the dataset (QLoRA without CUDA, an unknown target module, no approved examples) live in
`pipeline.train.check.preflight`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import bottega_home, read_mapping, refuse_unknown, safe_name

ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
COMPUTE_DTYPES = ("bfloat16", "float16", "float32")

# Presets fill in the model and the hyperparameters that suit it; anything in the user's YAML wins.
# The GPU presets assume a single 24–80 GB card; Mixtral needs QLoRA to fit at all.
_GPU = {"batch_size": 4, "grad_accum": 4, "gradient_checkpointing": True, "max_length": 2048, "learning_rate": 1e-4}
PRESETS: dict[str, dict[str, Any]] = {
    # Italian seed examples run to ~1000 tokens. On CPU the packed rows of a batch become one sequence whose
    # attention mask is dense (no varlen kernel), so one 1024-token row per step, and accumulation for the batch.
    "smollm2-cpu": {
        "model": "smollm2-135m-instruct",
        "batch_size": 1,
        "grad_accum": 8,
        "max_length": 1024,
        "learning_rate": 2e-4,
        "lora_r": 16,
        "lora_alpha": 32,
    },
    "llama-3.1-8b-instruct": {"model": "meta-llama/Llama-3.1-8B-Instruct", "qlora": True, **_GPU},
    "mistral-7b-instruct": {"model": "mistralai/Mistral-7B-Instruct-v0.3", "qlora": True, **_GPU},
    "qwen2.5-7b-instruct": {"model": "Qwen/Qwen2.5-7B-Instruct", "qlora": True, **_GPU},
    "mixtral-8x7b-instruct": {
        "model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "qlora": True,
        **_GPU,
        "batch_size": 1,
        "grad_accum": 16,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    },
    "minerva-7b-instruct": {"model": "sapienzanlp/Minerva-7B-instruct-v1.0", "qlora": True, **_GPU},
    "llamantino-3-anita-8b": {"model": "swap-uniba/LLaMAntino-3-ANITA-8B-Inst-DPO-ITA", "qlora": True, **_GPU},
}
DEFAULT_PRESET = "smollm2-cpu"


@dataclass
class TrainConfig:
    name: str = "smollm2-it"
    """Run name: the run folder is $BOTTEGA_HOME/runs/train/<name> unless `run_dir` is set."""
    preset: str | None = DEFAULT_PRESET
    """Starting values from `PRESETS`; every field written in the YAML overrides the preset."""
    model: str = "smollm2-135m-instruct"
    """Bundled model name, local folder or Hub id."""
    chat_template: str | None = None
    """"chatml" or a .jinja file, for a model without a chat template (or to replace its own)."""
    dataset: str = "datasets_yaml/seed_it.yaml"
    """A YAML dataset file, a `datasets` folder saved with `save_to_disk`, or a Hub dataset id."""
    split: str = "train"
    """Split of a Hub dataset."""
    only_approved: bool = True
    """Train on approved examples only (YAML datasets)."""
    eval_share: float = 0.1
    """Share of examples held out for evaluation (0 disables it)."""
    eval_steps: int = 20
    """Evaluate every this many optimiser steps."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    """"all-linear" or module names such as [q_proj, v_proj]."""
    use_dora: bool = False
    """Weight-decomposed LoRA (DoRA)."""
    use_rslora: bool = False
    """Rank-stabilised scaling alpha/sqrt(r)."""

    qlora: bool = False
    """Load the base in 4-bit NF4 with bitsandbytes (CUDA only)."""
    qlora_double_quant: bool = True
    compute_dtype: str = "bfloat16"
    """Dtype of the matmuls with QLoRA, and of the weights on a GPU without QLoRA. CPU runs use float32."""
    attention: str = "auto"
    """"auto": flash_attention_2 when installed on CUDA, sdpa otherwise."""

    assistant_only_loss: bool = True
    """Train on the assistant's tokens only (end-of-turn token included); prompts are masked."""
    packing: bool = True
    """Pack examples into rows of `max_length` without padding; attention never crosses examples."""
    group_by_length: bool = False
    """Batch examples of similar length (an alternative to packing)."""
    max_length: int = 1024
    """Tokens per example (and per packed row); longer examples are cut."""
    epochs: float = 3.0
    max_steps: int = -1
    """If > 0, train this many optimiser steps instead of `epochs`."""
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    batch_size: int = 4
    """Rows per device per step (packed rows when `packing`)."""
    grad_accum: int = 4
    gradient_checkpointing: bool = False
    neftune_alpha: float | None = None
    """Noise on the embeddings during training (NEFTune); 5 is the paper's usual value."""
    seed: int = 42
    save_steps: int = 50
    """Checkpoint every this many steps (a stop always checkpoints first)."""
    logging_steps: int = 1
    num_processes: int = 1
    """Processes for `accelerate launch` (DDP); one per GPU."""
    accelerate_config: str | None = None
    """An accelerate YAML (configs/accelerate/...) for DeepSpeed ZeRO-3 or FSDP runs."""
    trackio: bool = True
    """Also record the run with trackio (local, under $BOTTEGA_HOME/trackio)."""
    run_dir: str | None = None

    def __post_init__(self) -> None:
        problems = []

        def positive(name: str) -> None:
            if getattr(self, name) <= 0:
                problems.append(f"`{name}` dev'essere > 0, trovato {getattr(self, name)}")

        for name in ("lora_r", "lora_alpha", "max_length", "learning_rate", "batch_size", "grad_accum"):
            positive(name)
        for name in ("eval_steps", "save_steps", "logging_steps", "num_processes"):
            positive(name)
        if self.max_steps <= 0 and self.epochs <= 0:
            problems.append("imposta `epochs` > 0 oppure `max_steps` > 0")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"`lora_dropout` dev'essere tra 0 e 1, trovato {self.lora_dropout}")
        if not 0 <= self.eval_share < 0.5:
            problems.append(f"`eval_share` dev'essere tra 0 e 0.5, trovato {self.eval_share}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"`warmup_ratio` dev'essere tra 0 e 1, trovato {self.warmup_ratio}")
        if self.neftune_alpha is not None and self.neftune_alpha <= 0:
            problems.append(f"`neftune_alpha` dev'essere > 0 (o vuoto), trovato {self.neftune_alpha}")
        for name, allowed in (
            ("attention", ATTENTION),
            ("lr_scheduler", SCHEDULERS),
            ("compute_dtype", COMPUTE_DTYPES),
        ):
            if getattr(self, name) not in allowed:
                problems.append(f"`{name}`: {getattr(self, name)!r} non è ammesso, usa uno tra {', '.join(allowed)}")
        if self.packing and self.group_by_length:
            problems.append("`packing` e `group_by_length` si escludono: scegline uno")
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            self.target_modules = [self.target_modules]
        if isinstance(self.target_modules, list) and not self.target_modules:
            problems.append('`target_modules` è vuoto: usa "all-linear" o dei nomi come [q_proj, v_proj]')
        try:  # the run folder's name under $BOTTEGA_HOME
            self.name = safe_name(self.name, "name")
        except ValueError as e:
            problems.append(str(e))
        if self.preset is not None and self.preset not in PRESETS:
            problems.append(f"`preset`: {self.preset!r} sconosciuto, usa uno tra {', '.join(PRESETS)}")
        if problems:
            raise ValueError("Configurazione dell'addestramento non valida:\n- " + "\n- ".join(problems))

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) if self.run_dir else bottega_home() / "runs" / "train" / self.name

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """Preset values first, then the user's: a YAML that names only `preset` and `dataset` is a whole run."""
        refuse_unknown(cls, raw)
        preset = raw.get("preset", DEFAULT_PRESET)
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"`preset`: {preset!r} sconosciuto, usa uno tra {', '.join(PRESETS)}")
        return cls(**{**PRESETS.get(preset, {}), **raw})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path) -> TrainConfig:
    return TrainConfig.from_dict(read_mapping(path))


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), allow_unicode=True, sort_keys=False)
