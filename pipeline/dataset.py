"""The YAML dataset: schema, validation, safe loading, lossless atomic saving, stats.

    python -m pipeline dataset validate datasets_yaml/seed_it.yaml
    python -m pipeline dataset stats datasets_yaml/seed_it.yaml

A dataset file is a header plus a list of examples:

    schema_version: 1
    name: seed_it
    language: it
    ...
    examples:
    - id: it-grammatica-001
      instruction: Quando si usa il congiuntivo?
      output: |-
        Dopo i verbi di opinione...
      meta:
        method: human
        status: approved

Reading uses the safe loader only and refuses what a dataset never needs (custom tags, aliases, merge keys, a single
value over MAX_VALUE_CHARS). Writing puts multi-line text in block scalars, keeps Unicode as is, never sorts keys and
is deterministic: saving the same data twice gives the same bytes. Every write goes to a temporary file that replaces
the old one only once complete, and a save based on an older revision than the file on disk is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.files import MAX_VALUE_CHARS, atomic_write, dump_yaml, exclusive_lock, read_yaml
from pipeline.i18n import Message
from pipeline.paths import bottega_home

SCHEMA_VERSION = 1
STATUSES = ("draft", "approved", "rejected")
METHODS = ("human", "self_instruct", "evol_instruct", "orca", "backtranslation", "magpie", "import", "votes",
           "judge", "fidelity", "feedback")  # fmt: skip
ROLES = ("system", "user", "assistant")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class DatasetError(UserError):
    """A dataset cannot be read or saved. `problems` lists every problem found, each naming where it is."""

    title = Message("dataset_title")

    def __init__(self, problems: list[str | Message]):
        super().__init__(*problems)


class StaleRevisionError(DatasetError):
    """The file changed on disk since it was loaded; saving would overwrite someone else's change."""


@dataclass
class Meta:
    method: str = "human"
    status: str = "draft"
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    parent_id: str | None = None
    evolution_depth: int | None = None
    teacher_model: str | None = None
    tokens: int | None = None
    judge_score: float | None = None
    language: str | None = None
    desirable: bool | None = None
    """For KTO: whether `output` is a good answer (a thumbs up) or a bad one (a thumbs down). An example marked
    `false` is never trained on by SFT."""
    source: str | None = None
    """Where a preference row came from: the vote, the evaluation file and pair, the run that answered; where a
    backtranslated answer was taken from: the document and the character offsets of the passage (`file:start-end`)."""
    license: str | None = None
    """The licence of the document a backtranslated answer was taken from, as the user gave it."""


@dataclass
class Example:
    id: str
    instruction: str
    output: str
    system: str | None = None
    input: str | None = None
    messages: list[dict[str, str]] | None = None  # a whole conversation, for multi-turn examples
    rejected: str | None = None
    """A worse answer to the same prompt: `output` is the chosen one. Examples with one are preference pairs (DPO,
    ORPO, KTO); SFT trains on `output` only."""
    meta: Meta = field(default_factory=Meta)


@dataclass
class Dataset:
    name: str
    language: str = "it"
    description: str = ""
    license: str = ""
    created: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    # Not part of the data: the comment lines at the top of the file (kept on save) and the revision it was read at.
    comment: str = field(default="", compare=False)
    revision: str | None = field(default=None, compare=False)

    def find(self, example_id: str) -> Example:
        for example in self.examples:
            if example.id == example_id:
                return example
        raise DatasetError([Message("example_not_found", id=example_id)])


_HEADER_KEYS = ("schema_version", "name", "language", "description", "license", "created", "provenance", "examples")
_EXAMPLE_KEYS = ("id", "system", "instruction", "input", "output", "rejected", "messages", "meta")
_META_KEYS = tuple(f.name for f in fields(Meta))


def to_messages(example: Example) -> list[dict[str, str]]:
    """The example as chat messages: its own conversation, or system + instruction (+ input) + output."""
    if example.messages:
        return [dict(m) for m in example.messages]
    messages = [{"role": "system", "content": example.system}] if example.system else []
    user = example.instruction if not example.input else f"{example.instruction}\n\n{example.input}"
    return [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": example.output}]


def _problem(where: str | Message, field: str, problem: Message) -> Message:
    """A problem naming where it is (the header, an example) and the field: "esempio 'x', `output`: ..."."""
    return Message("ds_field", where=where, field=field, problem=problem)


def validate(dataset: Dataset) -> list[Message]:
    """Every problem in the dataset, each naming the example id (or its position) and the field."""
    problems = [] if dataset.name.strip() else [_problem(Message("ds_header"), "name", Message("ds_empty"))]
    seen: set[str] = set()
    for index, example in enumerate(dataset.examples):
        problems += validate_example(example, index)
        if example.id in seen:
            problems.append(_problem(Message("ds_example", id=example.id), "id", Message("ds_id_duplicate")))
        seen.add(example.id)
    return problems


def validate_example(example: Example, index: int | None = None) -> list[Message]:
    where = Message("ds_example", id=example.id)
    if not example.id and index is not None:
        where = Message("ds_example_number", number=index + 1)
    problems = []
    if not example.id:
        problems.append(_problem(where, "id", Message("ds_id_missing")))
    elif not _ID.fullmatch(example.id):
        problems.append(_problem(where, "id", Message("ds_id_invalid")))
    for name in ("instruction", "output"):
        if not getattr(example, name).strip():
            problems.append(_problem(where, name, Message("ds_empty")))
    if example.rejected is not None and not example.rejected.strip():
        problems.append(_problem(where, "rejected", Message("ds_empty")))
    texts = {name: getattr(example, name) for name in ("system", "instruction", "input", "output", "rejected")}
    texts.update({f"messages[{i}].content": m.get("content") for i, m in enumerate(example.messages or [])})
    for name, text in texts.items():
        if isinstance(text, str) and len(text) > MAX_VALUE_CHARS:
            problems.append(_problem(where, name, Message("ds_too_long", chars=len(text), limit=MAX_VALUE_CHARS)))
    meta = example.meta
    for name, value, allowed in (("status", meta.status, STATUSES), ("method", meta.method, METHODS)):
        if value not in allowed:
            problem = Message("ds_not_one_of", value=value, choices=", ".join(allowed))
            problems.append(_problem(where, f"meta.{name}", problem))
    if meta.judge_score is not None and not 1 <= meta.judge_score <= 10:
        problem = Message("must_be_between", low=1, high=10, value=meta.judge_score)
        problems.append(_problem(where, "meta.judge_score", problem))
    for name in ("evolution_depth", "tokens"):
        value = getattr(meta, name)
        if value is not None and value < 0:
            problems.append(_problem(where, f"meta.{name}", Message("ds_negative", value=value)))
    for i, message in enumerate(example.messages or []):
        if message.get("role") not in ROLES:
            role = Message("ds_not_one_of", value=message.get("role"), choices=", ".join(ROLES))
            problems.append(_problem(where, f"messages[{i}].role", role))
    if example.messages and example.messages[-1].get("role") != "assistant":
        problems.append(_problem(where, "messages", Message("ds_last_not_assistant")))
    return problems


def from_dict(raw: Any) -> Dataset:
    """Build a Dataset from loaded YAML, reporting every type problem at once; then validate it."""
    problems: list[Message] = []
    if not isinstance(raw, dict):
        raise DatasetError([Message("ds_not_mapping")])
    header = Message("ds_header")
    _unknown_keys(raw, _HEADER_KEYS, header, problems)
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        problems.append(
            _problem(header, "schema_version", Message("ds_expected", expected=SCHEMA_VERSION, value=version))
        )
    if isinstance(raw.get("created"), date | datetime):  # an unquoted date in a hand-written file
        raw = {**raw, "created": raw["created"].isoformat()}
    provenance = raw.get("provenance") or {}
    if not isinstance(provenance, dict):
        problems.append(_problem(header, "provenance", Message("ds_must_be", what=Message("type_mapping"))))
        provenance = {}
    dataset = Dataset(
        name=_text(raw, "name", header, problems, required=True),
        language=_text(raw, "language", header, problems) or "it",
        description=_text(raw, "description", header, problems) or "",
        license=_text(raw, "license", header, problems) or "",
        created=_text(raw, "created", header, problems) or "",
        provenance=provenance,
    )
    examples = raw.get("examples")
    if not isinstance(examples, list):
        problems.append(_problem(header, "examples", Message("ds_examples_not_list")))
        examples = []
    for i, item in enumerate(examples):
        example = _example_from_dict(item, i, problems)
        if example is not None:
            dataset.examples.append(example)
    problems += validate(dataset)
    if problems:
        raise DatasetError(problems)
    return dataset


def _example_from_dict(item: Any, index: int, problems: list[Message]) -> Example | None:
    where = Message("ds_example_number", number=index + 1)
    if not isinstance(item, dict):
        problems.append(Message("ds_example_not_mapping", where=where))
        return None
    if isinstance(item.get("id"), str):
        where = Message("ds_example", id=item["id"])
    _unknown_keys(item, _EXAMPLE_KEYS, where, problems)
    raw_meta = item.get("meta") or {}
    if not isinstance(raw_meta, dict):
        problems.append(_problem(where, "meta", Message("ds_meta_not_mapping")))
        raw_meta = {}
    _unknown_keys(raw_meta, _META_KEYS, Message("ds_in_field", where=where, field="meta"), problems)
    tags = raw_meta.get("tags") or []
    if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        problems.append(_problem(where, "meta.tags", Message("ds_tags_not_texts")))
        tags = []
    meta = Meta(
        method=_text(raw_meta, "method", where, problems, prefix="meta.") or "human",
        status=_text(raw_meta, "status", where, problems, prefix="meta.") or "draft",
        category=_text(raw_meta, "category", where, problems, prefix="meta."),
        tags=tags,
        parent_id=_text(raw_meta, "parent_id", where, problems, prefix="meta."),
        evolution_depth=_number(raw_meta, "evolution_depth", where, problems, int),
        teacher_model=_text(raw_meta, "teacher_model", where, problems, prefix="meta."),
        tokens=_number(raw_meta, "tokens", where, problems, int),
        judge_score=_number(raw_meta, "judge_score", where, problems, float),
        language=_text(raw_meta, "language", where, problems, prefix="meta."),
        desirable=_flag(raw_meta, "desirable", where, problems),
        source=_text(raw_meta, "source", where, problems, prefix="meta."),
        license=_text(raw_meta, "license", where, problems, prefix="meta."),
    )
    messages = item.get("messages")
    if messages is not None and not (
        isinstance(messages, list)
        and all(
            isinstance(m, dict) and set(m) == {"role", "content"} and isinstance(m["content"], str) for m in messages
        )
    ):
        problems.append(_problem(where, "messages", Message("ds_messages_invalid", shape="{role, content}")))
        messages = None
    return Example(
        id=_text(item, "id", where, problems, required=True),
        instruction=_text(item, "instruction", where, problems, required=True),
        output=_text(item, "output", where, problems, required=True),
        system=_text(item, "system", where, problems),
        input=_text(item, "input", where, problems),
        rejected=_text(item, "rejected", where, problems),
        messages=messages,
        meta=meta,
    )


def _unknown_keys(raw: dict, known: tuple[str, ...], where: Message, problems: list[Message]) -> None:
    for key in raw:
        if key not in known:
            problems.append(Message("ds_unknown_key", where=where, name=key, allowed=", ".join(known)))


def _text(
    raw: dict, key: str, where: Message, problems: list[Message], required: bool = False, prefix: str = ""
) -> Any:
    value = raw.get(key)
    if value is None:  # a missing required field is reported by validate(), which also sees edited examples
        return "" if required else None
    if not isinstance(value, str):
        hint = Message("ds_yaml_hint") if isinstance(value, bool | int) else ""
        problems.append(_problem(where, f"{prefix}{key}", Message("ds_not_text", value=value, hint=hint)))
        return str(value)
    return value


def _flag(raw: dict, key: str, where: Message, problems: list[Message]) -> bool | None:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return value
    problems.append(_problem(where, f"meta.{key}", Message("ds_must_be", what=Message("type_bool"))))
    return None


def _number(raw: dict, key: str, where: Message, problems: list[Message], kind: type) -> Any:
    value = raw.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and kind(value) == value):
        return value if value is None else kind(value)
    what = Message("type_int" if kind is int else "type_float")
    problems.append(_problem(where, f"meta.{key}", Message("ds_must_be", what=what)))
    return None


def to_dict(dataset: Dataset) -> dict[str, Any]:
    """The dataset as plain data in schema order, leaving out empty optional fields."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "name": dataset.name, "language": dataset.language}
    for key in ("description", "license", "created", "provenance"):
        if getattr(dataset, key):
            out[key] = getattr(dataset, key)
    out["examples"] = [_example_to_dict(e) for e in dataset.examples]
    return out


def _example_to_dict(example: Example) -> dict[str, Any]:
    out: dict[str, Any] = {"id": example.id}
    if example.system is not None:
        out["system"] = example.system
    out["instruction"] = example.instruction
    if example.input is not None:
        out["input"] = example.input
    out["output"] = example.output
    if example.rejected is not None:
        out["rejected"] = example.rejected
    if example.messages is not None:
        out["messages"] = example.messages
    meta = {k: getattr(example.meta, k) for k in _META_KEYS}
    out["meta"] = {k: v for k, v in meta.items() if v is not None and (k != "tags" or v)}
    return out


def load(path: str | Path) -> Dataset:
    """Read and validate a dataset file. Raises DatasetError listing every problem."""
    try:
        data, text, raw = read_yaml(Path(path))
    except UserError as e:
        raise DatasetError(e.items) from e
    dataset = from_dict(raw)
    dataset.comment = _leading_comment(text)
    dataset.revision = _revision(data)
    return dataset


def dumps(dataset: Dataset) -> str:
    """The YAML text of a dataset: block scalars for multi-line text, Unicode kept, schema key order."""
    body = dump_yaml(to_dict(dataset))
    comment = "".join(line if line.startswith("#") else f"# {line}" for line in dataset.comment.splitlines(True))
    if comment and not comment.endswith("\n"):
        comment += "\n"
    return comment + body


def save(dataset: Dataset, path: str | Path, *, force: bool = False) -> str:
    """Validate, then write atomically. Refuses if the file changed since `dataset` was loaded (unless `force`).

    Returns the new revision, also stored in `dataset.revision`.
    """
    problems = validate(dataset)
    if problems:
        raise DatasetError(problems)
    path = Path(path)
    data = dumps(dataset).encode("utf-8")
    with _locked(path):
        current = _revision(path.read_bytes()) if path.exists() else None
        if not force and current != dataset.revision:
            raise StaleRevisionError([Message("ds_stale", path=path)])
        atomic_write(path, data)
    dataset.revision = _revision(data)
    return dataset.revision


def create(path: str | Path, dataset: Dataset) -> str:
    """Write a new dataset file; refuses to replace an existing one."""
    if Path(path).exists():
        raise DatasetError([Message("ds_file_exists", path=path)])
    dataset.revision = None
    return save(dataset, path)


def revision(path: str | Path) -> str | None:
    """The revision of the file now on disk, or None if there is no file."""
    path = Path(path)
    return _revision(path.read_bytes()) if path.exists() else None


def _revision(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _locked(path: Path):
    """Serialise check-and-write between processes saving the same file. The lock lives under BOTTEGA_HOME, not
    next to the dataset, and not on the file itself, which each save replaces with a new one."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    return exclusive_lock(bottega_home() / "locks" / f"{key}.lock")


def _leading_comment(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


@dataclass
class Stats:
    examples: int
    by_category: Counter
    by_method: Counter
    by_status: Counter
    by_language: Counter
    instruction_words: list[int]
    output_words: list[int]


def stats(dataset: Dataset) -> Stats:
    """Counts per category, method, status and language, and word lengths (Unicode-aware: accents are letters)."""
    examples = dataset.examples
    return Stats(
        examples=len(examples),
        by_category=Counter(e.meta.category or "-" for e in examples),
        by_method=Counter(e.meta.method for e in examples),
        by_status=Counter(e.meta.status for e in examples),
        by_language=Counter(e.meta.language or "-" for e in examples),
        instruction_words=[count_words(e.instruction + " " + (e.input or "")) for e in examples],
        output_words=[count_words(e.output) for e in examples],
    )


_WORD = re.compile(r"\w+(?:['’]\w+)*")


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def token_counts(dataset: Dataset, model_dir: str | Path) -> list[int]:
    """Tokens per example with the model's chat template, as training would see them."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return [len(tokenizer.apply_chat_template(to_messages(e), tokenize=True)["input_ids"]) for e in dataset.examples]
