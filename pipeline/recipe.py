"""A chained recipe: SFT, then Italian-fidelity pairs from the SFT model's own answers, then a preference stage (DPO)
on top of the SFT adapter, as one command:

    python -m pipeline recipe --config configs/recipes/smollm2-it.yaml

Each stage is the ordinary job with its own config file (a training run, the pairs job, a training run), so each is
watched, stopped and resumed as usual, and the Addestra tab sees it. Run again, the recipe skips the stages that
finished and resumes the one that stopped. The three configs must agree: the pairs come from the SFT run, and the
preference stage starts from the SFT run's adapter and trains on the pairs file; a mismatch is refused before
anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import from_mapping, load, to_mapping
from pipeline.errors import Problems, UserError
from pipeline.i18n import Message
from pipeline.jobs import Job


@dataclass
class RecipeConfig:
    sft: str = "configs/train/smollm2-cpu.yaml"
    """The SFT stage's training config."""
    pairs: str = "configs/preferences/fidelity.yaml"
    """The fidelity-pairs config; its `run_dir` is the SFT run."""
    preference: str = "configs/train/smollm2-dpo.yaml"
    """The preference stage's training config; its `adapter` is the SFT run and its `dataset` the pairs' `output`."""

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RecipeConfig:
        return from_mapping(cls, raw)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)


@dataclass
class Stages:
    sft: Any
    pairs: Any
    preference: Any


def stages(config: RecipeConfig) -> Stages:
    """The three stage configs, loaded (each problem named with its file) and checked to agree."""
    from pipeline.preferences import load_config as load_pairs
    from pipeline.train.config import load_config as load_train

    sft = load_train(config.sft, "`sft`")
    pairs = load_pairs(config.pairs, "`pairs`")
    preference = load_train(config.preference, "`preference`")
    found = Stages(sft, pairs, preference)
    check(found)
    return found


def check(found: Stages) -> None:
    problems = Problems()
    sft_run = found.sft.run_path.resolve()
    problems.check(found.sft.method == "sft", "sft", Message("recipe_sft_method", method=found.sft.method))
    problems.check(found.pairs.run_path is not None and found.pairs.run_path.resolve() == sft_run, "pairs",
                   Message("recipe_pairs_run", run=found.sft.name))  # fmt: skip
    problems.check(found.preference.method != "sft", "preference", Message("recipe_preference_method"))
    adapter = found.preference.adapter_path
    from_sft = adapter is not None and adapter.resolve() == sft_run
    problems.check(from_sft, "preference", Message("recipe_preference_adapter", run=found.sft.name))
    same_pairs = Path(found.preference.dataset).expanduser().resolve() == found.pairs.output_path.resolve()
    problems.check(same_pairs, "preference", Message("recipe_preference_dataset", pairs=found.pairs.output_path))
    problems.raise_any()


def _train_stage(config: Any, say: Callable[[str], None]) -> str:
    """Run a training stage unless it finished; resume it if it stopped. Its final state."""
    from pipeline.train.sft import train

    status = Job(config.run_path).status()
    if status.state == "finished" and (config.run_path / "adapter").is_dir():
        say(str(Message("recipe_skip", name=config.name)))
        return "finished"
    resume = (config.run_path / "checkpoints").is_dir() and status.state in ("stopped", "interrupted", "failed")
    say(str(Message("recipe_stage", name=config.name, method=config.method.upper())))
    return train(config, resume=resume).state


def run(config: RecipeConfig, say: Callable[[str], None] = print, found: Stages | None = None) -> int:
    """The three stages in order; 0 when all finished, 2 when one stopped or failed (run again to continue)."""
    from pipeline import preferences

    found = found or stages(config)
    if _train_stage(found.sft, say) != "finished":
        return 2
    pairs_job = Job(found.pairs.job_path)
    if pairs_job.status().state == "finished" and found.pairs.output_path.is_file():
        say(str(Message("recipe_skip", name=found.pairs.output_path.name)))
    else:
        say(str(Message("recipe_stage", name=found.pairs.output_path.name, method="fidelity")))
        preferences.main(found.pairs)
        if pairs_job.status().state != "finished":
            return 2
    from pipeline import dataset

    if not any(e.rejected is not None for e in dataset.load(found.pairs.output_path).examples):
        say(str(Message("recipe_no_pairs", run=found.sft.name)))
        return 0
    return 0 if _train_stage(found.preference, say) == "finished" else 2


def load_config(path: str | Path, arg: str = "--config") -> RecipeConfig:
    config = load(RecipeConfig, path, arg)
    try:
        stages(config)
    except UserError as e:
        raise UserError(*e.items, title=Message("recipe_title", path=path)) from e
    return config
