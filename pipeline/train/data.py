"""What the model is trained on: conversations from a dataset, rendered with the model's chat template, and the
label mask that decides which tokens carry loss.

The mask is found by rendering prefixes of each conversation: the tokens an assistant turn adds after the
generation prompt (`<|im_start|>assistant\\n` for ChatML) up to its end-of-turn token are trained; system, user and
template tokens are not. This works for any prefix-preserving template, which TRL's `{% generation %}` markers do
not (SmolLM2's template has none, and TRL cannot patch it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import dataset as yaml_dataset
from pipeline import formats
from pipeline.errors import UserError
from pipeline.i18n import Message
from pipeline.models import TemplateError
from pipeline.paths import is_repo_id

if TYPE_CHECKING:
    import datasets

    from pipeline.train.config import TrainConfig

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def trained(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def load_conversations(config: TrainConfig) -> list[list[dict[str, str]]]:
    """The dataset as chat conversations: a YAML file (approved examples only when `only_approved`), a folder saved
    with `save_to_disk`, or a Hub dataset id."""
    source = Path(config.dataset)
    if source.suffix in (".yaml", ".yml"):
        loaded = yaml_dataset.load(source)
        # A thumbs-down answer (KTO) is an example of what not to say: never a target.
        loaded = replace(loaded, examples=[e for e in loaded.examples if e.meta.desirable is not False])
        rows = formats.to_hf_dataset(loaded, only_approved=config.only_approved)
        return [list(r["messages"]) for r in rows]
    if source.exists():
        imported = formats.import_file(source, "hf", name=source.stem)
    else:
        imported = formats.import_file(_download(config.dataset, config.split), "hf", name="hub")
    return [yaml_dataset.to_messages(e) for e in imported.examples]


@dataclass
class Preference:
    """One row of preference data: the conversation up to the answer, and either a pair (`chosen` better than
    `rejected`) or a single answer `chosen` with `desirable` saying whether it is good (KTO)."""

    prompt: list[dict[str, str]]
    chosen: str
    rejected: str | None = None
    desirable: bool | None = None


def load_preferences(config: TrainConfig) -> list[Preference]:
    """The preference rows of a YAML dataset (approved only when `only_approved`): examples with `rejected` are
    pairs, examples with `meta.desirable` single answers; other examples are not preference data and are left out."""
    source = Path(config.dataset)
    if source.suffix not in (".yaml", ".yml"):
        problem = Message("data_preferences_yaml", method=config.method)
        raise UserError(Message("field_problem", field="dataset", problem=problem))
    rows = []
    for example in yaml_dataset.load(source).examples:
        if config.only_approved and example.meta.status != "approved":
            continue
        messages = yaml_dataset.to_messages(example)
        if example.rejected is not None:
            rows.append(Preference(messages[:-1], example.output, example.rejected))
        elif example.meta.desirable is not None:
            rows.append(Preference(messages[:-1], example.output, desirable=example.meta.desirable))
    return rows


def _download(repo_id: str, split: str) -> Path:
    """A Hub dataset's split, as a local parquet file that the `hf` importer reads."""
    import datasets
    from huggingface_hub import constants

    try:
        loaded = datasets.load_dataset(repo_id, split=split)
    except Exception as e:  # datasets raises many kinds when offline or on a bad id
        offline = Message("data_offline") if constants.HF_HUB_OFFLINE else ""
        problem = Message("data_hub_failed", repo=repo_id, split=split, offline=offline, error=str(e))
        raise UserError(Message("field_problem", field="dataset", problem=problem)) from e
    from pipeline.paths import bottega_home

    path = bottega_home() / "cache" / "hub-datasets" / f"{repo_id.replace('/', '--')}-{split}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    loaded.to_parquet(str(path))
    return path


def split(conversations: list, eval_share: float, seed: int) -> tuple[list, list]:
    """A seeded train/eval split; no eval set when the share would leave it empty."""
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    n_eval = int(len(order) * eval_share)
    if eval_share > 0 and n_eval == 0 and len(order) >= 10:
        n_eval = 1
    held = set(order[:n_eval])
    return [c for i, c in enumerate(conversations) if i not in held], [conversations[i] for i in sorted(held)]


def load_tokenizer(config: TrainConfig) -> tuple[Path, Any, set[int]]:
    """The model's folder, its tokenizer with the run's chat template (refused if it has none), and the ids that end
    an assistant turn."""
    from pipeline import models

    model_dir = models.resolve(config.model)
    return model_dir, *models.load_tokenizer(model_dir, config.model, config.chat_template, require_template=True)


def _render(tokenizer: Any, messages: list[dict], generation_prompt: bool = False) -> list[int]:
    return list(
        tokenizer.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=generation_prompt, return_dict=True
        )["input_ids"]
    )


def encode(tokenizer: Any, messages: list[dict], eot_ids: set[int], assistant_only: bool = True) -> Encoded:
    """Token ids and labels for one conversation; with `assistant_only`, only assistant turns (up to and including
    their end-of-turn token) are trained."""
    ids = _render(tokenizer, messages)
    if not assistant_only:
        return Encoded(ids, list(ids))
    labels = [IGNORE] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:i], generation_prompt=True)) if i else 0
        upto = _render(tokenizer, messages[: i + 1])
        if ids[: len(upto)] != upto or start > len(upto):
            raise TemplateError(Message("data_template_not_incremental"))
        end = len(upto)
        # Keep the end-of-turn token, drop what the template adds after it (a newline, usually).
        eot = [j for j in range(start, end) if ids[j] in eot_ids]
        if eot:
            end = eot[-1] + 1
        labels[start:end] = ids[start:end]
    return Encoded(ids, labels)


def tokenize(tokenizer: Any, conversations: list, eot_ids: set[int], assistant_only: bool) -> datasets.Dataset:
    """Pre-tokenized rows (`input_ids`, `labels`) as TRL's SFTTrainer takes them: it truncates and packs them."""
    import datasets

    rows = [encode(tokenizer, c, eot_ids, assistant_only) for c in conversations]
    return datasets.Dataset.from_dict({"input_ids": [r.input_ids for r in rows], "labels": [r.labels for r in rows]})


@dataclass
class Preview:
    """One rendered example, cut into runs of tokens that are trained or not."""

    segments: list[tuple[str, bool]]
    tokens: int
    trained: int
    eot_trained: bool
    """Whether an end-of-turn token carries loss: without it the model never learns to stop."""


def preview(tokenizer: Any, messages: list[dict], eot_ids: set[int], assistant_only: bool = True) -> Preview:
    encoded = encode(tokenizer, messages, eot_ids, assistant_only)
    segments: list[tuple[str, bool]] = []
    run: list[int] = []
    state = None
    for token, label in zip(encoded.input_ids, encoded.labels, strict=True):
        trained = label != IGNORE
        if state is not None and trained != state:
            segments.append((tokenizer.decode(run), state))
            run = []
        run.append(token)
        state = trained
    if run:
        segments.append((tokenizer.decode(run), bool(state)))
    eot = any(t in eot_ids and label != IGNORE for t, label in zip(encoded.input_ids, encoded.labels, strict=True))
    return Preview(segments, len(encoded.input_ids), encoded.trained, eot)


def dataset_source(choice: str) -> str:
    """What the app's dataset picker may name: a dataset of the datasets folder (its file) or a Hub id. Nothing
    else: a path typed by a visitor must not reach files outside the datasets folder."""
    from pipeline import editor

    choice = (choice or "").strip()
    if choice in editor.list_datasets():
        return str(editor.dataset_path(choice))
    if is_repo_id(choice) and not choice.endswith((".yaml", ".yml")):
        # Training reads an id that names an existing path as that local path (see load_conversations).
        if any((base / choice).exists() for base in (Path.cwd(), Path(__file__).resolve().parents[2])):
            problem = Message("data_local_path", value=choice)
            raise yaml_dataset.DatasetError([Message("field_problem", field="dataset", problem=problem)])
        return choice
    problem = Message("data_bad_source", value=choice)
    raise yaml_dataset.DatasetError([Message("field_problem", field="dataset", problem=problem)])


def template_source(choice: str | None) -> str | None:
    """What the app's template picker may name: nothing (the model's own template) or "chatml". A .jinja file is for
    configs written by hand: a visitor must not make the app read a file of the server as a template."""
    if not choice:
        return None
    if choice != "chatml":
        problem = Message("data_template_not_allowed", value=choice)
        raise TemplateError(Message("field_problem", field="chat_template", problem=problem))
    return choice
