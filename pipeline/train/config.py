"""`TrainConfig`: one LoRA/QLoRA SFT run, as a dataclass that is also its YAML schema.

Values are checked in `__post_init__` (all problems at once, each naming its field). Checks that need the machine,
the model or the dataset (QLoRA without CUDA, an unknown target module, no approved examples) live in
`pipeline.train.check.preflight`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import dump, from_mapping, load, save, to_mapping
from pipeline.errors import Problems, UserError
from pipeline.i18n import Message
from pipeline.paths import bottega_home, name_problem, named_or_path, safe_name

METHODS = ("sft", "dpo", "orpo", "kto")
ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
COMPUTE_DTYPES = ("bfloat16", "float16", "float32")

# Presets fill in the model and the hyperparameters that suit it; anything in the user's YAML wins.
# The GPU presets assume a single 24–80 GB card; Mixtral needs QLoRA to fit at all.
_GPU = {"batch_size": 4, "grad_accum": 4, "gradient_checkpointing": True, "max_length": 2048, "learning_rate": 1e-4}
PRESETS: dict[str, dict[str, Any]] = {
    # Italian seed examples run to ~1000 tokens. On CPU the packed rows of a batch become one sequence whose
    # attention mask is dense (no varlen kernel), so one 1024-token row per step. Measured on the first seed set
    # (164 examples, 148 trained on, ~96 packed rows an epoch; held-out loss of the 16 examples it kept out, base
    # 3.22):
    # - 8 rows per optimizer step (12 steps an epoch) learned slowly at 1e-3: held-out loss 2.97 after one epoch;
    #   2 rows per step (48 steps an epoch) reached 2.87 after one epoch and 2.81 after two (perplexity 25 -> 16.6);
    # - r32 costs nothing measurable on CPU next to the base model's own forward and backward;
    # - LoRA dropout costs 0.77 s of a 4.0 s step (random masks on every LoRA input), with no overfitting to
    #   prevent here (train loss stays above the held-out loss for two epochs): off;
    # - no setting moved the held-out loss below ~2.80 there (lr, rank, epochs, NEFTune alpha 5: 2.81), while half
    #   the examples stopped at 2.93: the data was the limit. On today's 327 (295 trained on, ~196 rows an epoch,
    #   held-out 32, base 3.31) the same values reach 2.70 in one epoch and 2.64 in one and a half.
    "smollm2-cpu": {
        "model": "smollm2-135m-instruct",
        "batch_size": 1,
        "grad_accum": 2,
        "max_length": 1024,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.1,
        "lora_r": 32,
        "lora_alpha": 64,
        "lora_dropout": 0.0,
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
    method: str = "sft"
    """"sft" (supervised, on `output`), or a preference method on pairs (`output` chosen, `rejected` refused): "dpo",
    "orpo" (no reference model), "kto" (also takes single answers marked `meta.desirable`)."""
    adapter: str | None = None
    """Start from this adapter (a training run's name or folder, or an adapter folder) instead of a new one: a
    preference stage on top of an SFT run. DPO and KTO then compare against that adapter as it was (a frozen copy of
    the adapter's weights only); without it, against the base with the adapter switched off."""
    beta: float = 0.1
    """Preference methods: how far from the reference the model may move (DPO, KTO), or the weight of the odds-ratio
    term (ORPO)."""
    sft_weight: float = 0.0
    """DPO only: add the SFT loss on the chosen answers with this weight (as RPO does), so that widening the gap
    between chosen and rejected does not make the chosen answers themselves less likely."""
    dataset: str = "datasets_yaml/seed_it.yaml"
    """A YAML dataset file, a `datasets` folder saved with `save_to_disk`, or a Hub dataset id. Preference methods
    take a YAML dataset whose examples carry `rejected` (or, for KTO, `meta.desirable`)."""
    split: str = "train"
    """Split of a Hub dataset."""
    only_approved: bool = True
    """Train on approved examples only (YAML datasets)."""
    eval_share: float = 0.1
    """Share of examples held out for evaluation (0 disables it)."""
    eval_steps: int = 20
    """Evaluate every this many optimiser steps."""
    early_stopping_patience: int = 0
    """Stop when the eval loss has not improved for this many evaluations in a row (0: never). The run then
    checkpoints at every evaluation, and the adapter it saves is the one with the lowest eval loss."""
    samples: int = 4
    """At every evaluation, the model in training answers this many fixed Italian prompts (pipeline/data/
    sample_prompts.yaml, none of them in the seed set): answers, Italian or not, looping or not, and their fidelity
    go to the metrics, trackio and the Addestra tab. 0: none."""

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
    """Dtype of the matmuls with QLoRA, and of the weights on a GPU without QLoRA. On CPU the weights stay float32;
    "bfloat16" autocasts the matmuls when the CPU does bf16 natively (AMX, AVX512-BF16), about 1.9x faster there."""
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
        problems = Problems()
        for name in ("lora_r", "lora_alpha", "max_length", "learning_rate", "batch_size", "grad_accum"):
            value = getattr(self, name)
            problems.check(value > 0, name, Message("must_be_positive", value=value))
        for name in ("early_stopping_patience", "samples"):
            value = getattr(self, name)
            problems.check(value >= 0, name, Message("must_be_at_least", minimum=0, value=value))
        problems.check(self.early_stopping_patience == 0 or self.eval_share > 0, "early_stopping_patience",
                       Message("train_patience_needs_eval"))  # fmt: skip
        for name in ("eval_steps", "save_steps", "logging_steps", "num_processes"):
            value = getattr(self, name)
            problems.check(value > 0, name, Message("must_be_positive", value=value))
        problems.check(self.beta > 0, "beta", Message("must_be_positive", value=self.beta))
        problems.check(self.sft_weight >= 0, "sft_weight", Message("must_be_at_least", minimum=0,
                                                                   value=self.sft_weight))  # fmt: skip
        problems.check(self.sft_weight == 0 or self.method == "dpo", "sft_weight", Message("train_sft_weight_dpo"))
        problems.check(self.max_steps > 0 or self.epochs > 0, "epochs", Message("train_epochs_or_steps"))
        problems.check(
            0 <= self.lora_dropout < 1,
            "lora_dropout",
            Message("must_be_between", low=0, high=1, value=self.lora_dropout),
        )
        problems.check(
            0 <= self.eval_share < 0.5,
            "eval_share",
            Message("must_be_between", low=0, high=0.5, value=self.eval_share),
        )
        problems.check(
            0 <= self.warmup_ratio < 1,
            "warmup_ratio",
            Message("must_be_between", low=0, high=1, value=self.warmup_ratio),
        )
        if self.neftune_alpha is not None:
            problems.check(
                self.neftune_alpha > 0, "neftune_alpha", Message("train_neftune_positive", value=self.neftune_alpha)
            )
        for name, allowed in (
            ("attention", ATTENTION),
            ("lr_scheduler", SCHEDULERS),
            ("compute_dtype", COMPUTE_DTYPES),
            ("method", METHODS),
        ):
            value = getattr(self, name)
            problems.check(value in allowed, name, Message("must_be_one_of", value=value, choices=", ".join(allowed)))
        problems.check(
            not (self.packing and self.group_by_length), "group_by_length", Message("train_packing_or_group")
        )
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            self.target_modules = [self.target_modules]
        problems.check(self.target_modules != [], "target_modules", Message("train_targets_empty"))
        problem = name_problem(self.name)  # the run folder's name under $BOTTEGA_HOME
        if problem is None:
            self.name = safe_name(self.name, "name")
        problems.check(problem is None, "name", problem)
        if self.preset is not None:
            problems.check(self.preset in PRESETS, "preset", Message("must_be_one_of", value=self.preset,
                                                                     choices=", ".join(PRESETS)))  # fmt: skip
        problems.raise_any()

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) if self.run_dir else bottega_home() / "runs" / "train" / self.name

    @property
    def adapter_path(self) -> Path | None:
        """Where `adapter` points: a folder (or a Hub id) as written, or a run's name, next to this run's folder."""
        if self.adapter is None:
            return None
        return named_or_path(self.adapter, self.run_path.parent)

    @classmethod
    def defaults(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """The preset's values (the default preset unless `preset` says otherwise): a YAML that names only `preset`
        and `dataset` is a whole run. An unknown preset gives none, and `__post_init__` names it."""
        preset = raw.get("preset", DEFAULT_PRESET)
        return dict(PRESETS[preset]) if isinstance(preset, str) and preset in PRESETS else {}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        return from_mapping(cls, raw)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)


def load_config(path: str | Path, arg: str = "--config") -> TrainConfig:
    return load(TrainConfig, path, arg)


def dump_config(train_config: TrainConfig) -> str:
    return dump(train_config)


def save_run_config(train_config: TrainConfig) -> Path:
    """The run's config.yaml in its folder (created), the one way a run's config is written."""
    return save(train_config, train_config.run_path / "config.yaml")


def load_run_config(run_dir: str | Path, arg: str = "--resume") -> TrainConfig:
    """The config a run folder holds, its `run_dir` set to that folder; UserError naming `arg` if `run_dir` is not a
    run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(Message("run_folder_missing", arg=arg, path=run_dir))
    train_config = load(TrainConfig, run_dir / "config.yaml", arg)
    train_config.run_dir = str(run_dir)
    return train_config
