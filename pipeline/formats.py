"""Import datasets from the usual fine-tuning formats into the YAML schema, and export YAML datasets to them.

    python -m pipeline dataset import FILE --out datasets_yaml/NAME.yaml [--format F]
    python -m pipeline dataset convert DATASET.yaml --to FORMAT --out PATH [--only-approved]

Import formats (`IMPORT_FORMATS`, guessed from the extension and the first example when not given):
- alpaca: a JSON list or JSONL of {instruction, input?, output, system?}
- sharegpt: {"conversations": [{"from": "system" | "human" | "gpt", "value": ...}, ...]}
- messages: the OpenAI chat format, {"messages": [{"role": ..., "content": ...}, ...]}
- csv: a header row with instruction and output, optionally input, system, category, tags (split on ';' or ',');
  ',' ';' or tab separated, as spreadsheets save it
- hf: a folder written by `datasets.Dataset.save_to_disk` (the "train" split of a DatasetDict), or a .parquet or
  .arrow file; rows shaped like alpaca, or with a messages or conversations column

A single-turn conversation becomes instruction/output (+system); a longer one keeps the whole conversation in
`messages`, with its first exchange as instruction/output. Imported examples are drafts with ids NAME-00001, ... in
file order. A bad file raises DatasetError listing every problem, each naming its line ("riga N") or, in a JSON list,
its element ("elemento N"). Importing never writes anything; the caller saves the result.

Export formats (`EXPORT_FORMATS`): alpaca-jsonl, messages-jsonl, parquet (every field, one column each) and hf (a
save_to_disk folder with a `messages` column ready for chat templates; `to_hf_dataset` builds it in memory for
training). Every export is built in memory first and then replaces the target in one step, so a failure leaves an
existing output untouched.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.dataset import (
    MAX_VALUE_CHARS,
    Dataset,
    DatasetError,
    Example,
    Meta,
    to_messages,
    validate,
)
from pipeline.files import atomic_write
from pipeline.i18n import Message

if TYPE_CHECKING:
    import datasets

IMPORT_FORMATS = ("alpaca", "sharegpt", "messages", "csv", "hf")
EXPORT_FORMATS = ("alpaca-jsonl", "messages-jsonl", "parquet", "hf")

# Both vocabularies are accepted in both conversation formats: datasets on the Hub mix them freely.
_ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant"}
_ROLE_HINT = {"sharegpt": Message("fmt_roles_sharegpt"), "messages": Message("fmt_roles_messages")}
_SINGLE_TURN = (["user", "assistant"], ["system", "user", "assistant"])

Record = tuple[Message, Any]  # (where it is, e.g. "riga 3"; the raw value, or an _Unreadable)


@dataclass
class _Unreadable:
    """A line or row that could not even be parsed; kept in place so problems come out in file order."""

    reason: Message


def import_file(path: str | Path, fmt: str | None = None, name: str | None = None) -> Dataset:
    """Read a file in one of IMPORT_FORMATS as a new draft dataset called `name` (default: the file's stem)."""
    path = Path(path)
    if fmt is not None and fmt not in IMPORT_FORMATS:
        raise DatasetError([Message("fmt_unknown_format", format=fmt, choices=", ".join(IMPORT_FORMATS))])
    if not path.exists():
        raise DatasetError([Message("file_missing", path=path)])
    suffix = path.suffix.lower()
    problems: list[Message] = []
    if fmt == "hf" or (fmt is None and (path.is_dir() or suffix in (".parquet", ".arrow"))):
        fmt = "hf"
        columns, records = _hf_records(path)
        kind = _kind(columns)
        if kind is None:
            raise DatasetError([Message("fmt_hf_columns", columns=", ".join(columns))])
    elif fmt == "csv" or (fmt is None and suffix == ".csv"):
        fmt, kind = "csv", "alpaca"
        records = _csv_records(_read_text(path))
    elif fmt is not None or suffix in (".json", ".jsonl"):
        records = _json_records(_read_text(path))
        kind = fmt or _detect(records, problems)
        fmt = kind
    else:
        problem = Message("fmt_extension", suffix=path.suffix, name=path.name, formats=", ".join(IMPORT_FORMATS))
        raise DatasetError([problem])
    rows = [] if kind is None else [_example_fields(raw, where, kind, problems) for where, raw in records]
    if not records:
        problems.append(Message("fmt_no_examples", name=path.name))
    if problems:
        raise DatasetError(problems)

    name = name or path.stem
    prefix = _slug(name)
    imported = Dataset(
        name=name,
        created=date.today().isoformat(),
        provenance={"method": "import", "source": path.name, "format": fmt},
    )
    for i, row in enumerate(rows, start=1):
        meta = Meta(method="import", status="draft", category=row.pop("category"), tags=row.pop("tags"))
        imported.examples.append(Example(id=f"{prefix}-{i:05d}", **row, meta=meta))
    problems = validate(imported)
    if problems:  # every check above should have caught these first, with the line
        raise DatasetError(problems)
    return imported


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise DatasetError([Message("fmt_is_folder", path=path)])
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # spreadsheets often start their UTF-8 files with a BOM
    except UnicodeDecodeError as e:
        raise DatasetError([Message("file_not_utf8", path=path.name, byte=e.start)]) from e
    if not text.strip():
        raise DatasetError([Message("fmt_file_empty", name=path.name)])
    return text


def _json_records(text: str) -> list[Record]:
    """The items of a JSON list, or the lines of a JSONL file."""
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError([Message("fmt_json_invalid", line=e.lineno, column=e.colno, error=e.msg)]) from e
        return [(Message("fmt_element", number=i), item) for i, item in enumerate(items, start=1)]
    records = []
    # Split on '\n' only: str.splitlines() would also break on U+2028 and friends, which JSON leaves unescaped.
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((Message("fmt_line", number=n), json.loads(line)))
        except json.JSONDecodeError as e:
            if n == 1 and _is_single_object(text):
                raise DatasetError([Message("fmt_single_object")]) from e
            reason = Message("fmt_json_line_invalid", error=e.msg)
            records.append((Message("fmt_line", number=n), _Unreadable(reason)))
    return records


def _is_single_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def _detect(records: list[Record], problems: list[Message]) -> str | None:
    """The format of a JSON file, from the fields of its first object."""
    for where, raw in records:
        if isinstance(raw, dict):
            kind = _kind(raw)
            if kind is None:
                fields = ", ".join(raw) or Message("fmt_no_fields")
                problems.append(Message("fmt_unrecognised", where=where, fields=fields))
            return kind
    unreadable = [Message("fmt_at", where=w, problem=raw.reason) for w, raw in records if isinstance(raw, _Unreadable)]
    problems += unreadable or [Message("fmt_no_object", shape="{...}")]
    return None


def _kind(keys: Any) -> str | None:
    # Alpaca first: a file with both instruction and messages (such as our own parquet export) keeps its `input`.
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    return None


def _csv_records(text: str) -> list[Record]:
    """Rows as {column: value}, each named by its row number as a spreadsheet shows it (the header is row 1)."""
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)  # Italian spreadsheets save with ';'
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [column.strip().lower() for column in next(reader)]
    missing = [column for column in ("instruction", "output") if column not in header]
    if missing:
        raise DatasetError([Message("fmt_csv_column_missing", column=c, found=", ".join(header)) for c in missing])
    records = []
    n = 1
    try:
        for n, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) == len(header):
                records.append((Message("fmt_line", number=n), dict(zip(header, row, strict=True))))
            else:
                reason = Message("fmt_csv_row_length", values=len(row), columns=len(header))
                records.append((Message("fmt_line", number=n), _Unreadable(reason)))
    except csv.Error as e:
        reason = Message("fmt_csv_invalid", error=str(e))
        records.append((Message("fmt_line", number=n + 1), _Unreadable(reason)))
    return records


def _hf_records(path: Path) -> tuple[list[str], list[Record]]:
    """The column names and rows of a save_to_disk folder, or of a .parquet or .arrow file."""
    import pyarrow as pa

    if path.is_dir():
        import datasets

        try:
            loaded = datasets.load_from_disk(str(path))
        except FileNotFoundError as e:
            raise DatasetError([Message("fmt_not_saved", name=path.name)]) from e
        if isinstance(loaded, datasets.DatasetDict):
            if "train" not in loaded:
                first = next(iter(loaded))
                problem = Message("fmt_no_train_split", name=path.name, splits=", ".join(loaded), example=path / first)
                raise DatasetError([problem])
            loaded = loaded["train"]
        columns, rows = loaded.column_names, loaded.to_list()
    elif path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except pa.ArrowException as e:
            raise DatasetError([Message("fmt_bad_parquet", name=path.name, error=str(e))]) from e
        columns, rows = table.column_names, table.to_pylist()
    elif path.suffix.lower() == ".arrow":
        table = _read_arrow(path)
        columns, rows = table.column_names, table.to_pylist()
    else:
        raise DatasetError([Message("fmt_hf_needs", name=path.name)])
    if not rows:
        raise DatasetError([Message("fmt_no_rows", name=path.name)])
    return columns, [(Message("fmt_line", number=i), row) for i, row in enumerate(rows, start=1)]


def _read_arrow(path: Path) -> Any:
    # save_to_disk writes the Arrow stream format; other tools write the file format. Accept both.
    import pyarrow as pa

    data = pa.py_buffer(path.read_bytes())
    try:
        return pa.ipc.open_stream(data).read_all()
    except pa.ArrowInvalid:
        pass
    try:
        return pa.ipc.open_file(data).read_all()
    except pa.ArrowInvalid as e:
        raise DatasetError([Message("fmt_bad_arrow", name=path.name, error=str(e))]) from e


def _example_fields(raw: Any, where: Message, kind: str, problems: list[Message]) -> dict[str, Any]:
    """The Example fields of one record (alpaca-shaped, or a sharegpt or messages conversation); adds any problems."""
    if isinstance(raw, _Unreadable):
        problems.append(Message("fmt_at", where=where, problem=raw.reason))
        return {}
    if not isinstance(raw, dict):
        problems.append(Message("fmt_not_object", where=where, value=_short(raw)))
        return {}
    meta = {"category": _field(raw, "category", where, problems), "tags": _tags(raw.get("tags"), where, problems)}
    if kind == "alpaca":
        fields = {
            "system": _field(raw, "system", where, problems),
            "instruction": _field(raw, "instruction", where, problems, required=True),
            "input": _field(raw, "input", where, problems),
            "output": _field(raw, "output", where, problems, required=True),
            "messages": None,
        }
        if raw.get("messages"):  # a row of our own parquet export: keep a multi-turn conversation whole
            conversation = _conversation(raw["messages"], where, "messages", problems)
            fields["messages"] = conversation and conversation["messages"]
        return fields | meta
    key = "conversations" if kind == "sharegpt" else "messages"
    if key not in raw:
        problems.append(Message("fmt_field_missing", where=where, field=key))
        return {}
    return (_conversation(raw[key], where, kind, problems) or {}) | meta


def _conversation(turns: Any, where: Message, kind: str, problems: list[Message]) -> dict[str, Any] | None:
    """A conversation as Example fields: instruction/output/system, plus the whole list when it is multi-turn."""
    if not isinstance(turns, list) or not turns:
        problems.append(Message("fmt_conversation_not_list", where=where))
        return None
    messages = []
    before = len(problems)
    for i, turn in enumerate(turns, start=1):
        at = Message("fmt_turn", where=where, number=i)
        role_key, text_key = ("from", "value") if isinstance(turn, dict) and "from" in turn else ("role", "content")
        if not isinstance(turn, dict) or role_key not in turn or text_key not in turn:
            keys = ("from", "value") if kind == "sharegpt" else ("role", "content")
            problems.append(Message("fmt_turn_not_object", where=at, role=keys[0], text=keys[1]))
            continue
        role = _ROLES.get(turn[role_key]) if isinstance(turn[role_key], str) else None
        if role is None:
            problems.append(Message("fmt_unknown_role", where=at, role=turn[role_key], hint=_ROLE_HINT[kind]))
            continue
        if role == "system" and turn[text_key] in ("", None):
            continue  # ShareGPT dumps often carry an empty system turn; it says nothing
        content = _text(turn[text_key], Message("fmt_content", where=at), problems, required=True)
        if content is not None:
            messages.append({"role": role, "content": content})
    if len(problems) > before:
        return None
    roles = [m["role"] for m in messages]
    if "user" not in roles:
        problems.append(Message("fmt_no_user", where=where))
        return None
    first_user = roles.index("user")
    if "assistant" not in roles[first_user:]:
        problems.append(Message("fmt_no_answer", where=where))
        return None
    if roles[-1] != "assistant":
        problems.append(Message("fmt_last_not_assistant", where=where))
        return None
    return {
        "system": next((m["content"] for m in messages if m["role"] == "system"), None),
        "instruction": messages[first_user]["content"],
        "input": None,
        "output": messages[roles.index("assistant", first_user)]["content"],
        "messages": None if roles in _SINGLE_TURN else messages,
    }


def _field(raw: dict, key: str, where: Message, problems: list[Message], required: bool = False) -> str | None:
    if raw.get(key) is None:
        if required:
            problems.append(Message("fmt_field_missing", where=where, field=key))
        return None
    return _text(raw[key], Message("fmt_field", where=where, field=key), problems, required)


def _text(value: Any, what: Message, problems: list[Message], required: bool) -> str | None:
    """`value` if it is usable text; None (and a problem when required) if it is empty or not text."""
    if not isinstance(value, str):
        problems.append(Message("fmt_not_text", what=what, value=_short(value)))
        return None
    if len(value) > MAX_VALUE_CHARS:
        problems.append(Message("fmt_too_long", what=what, chars=len(value), limit=MAX_VALUE_CHARS))
        return None
    if not value.strip():
        if required:
            problems.append(Message("fmt_empty", what=what))
        return None
    return value


def _tags(value: Any, where: Message, problems: list[Message]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[;,]", value)
    if not (isinstance(value, list) and all(isinstance(tag, str) for tag in value)):
        problems.append(Message("fmt_tags", where=where))
        return []
    return [tag.strip() for tag in value if tag.strip()]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _slug(name: str) -> str:
    """`name` reduced to what an example id allows: 'Domande perché' -> 'Domande-perche'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-._") or "import"


def export(dataset: Dataset, path: str | Path, fmt: str, *, only_approved: bool = False) -> Path:
    """Write the dataset (only its approved examples, if asked) to `path` in one of EXPORT_FORMATS; returns `path`."""
    if fmt not in EXPORT_FORMATS:
        raise DatasetError([Message("fmt_unknown_format", format=fmt, choices=", ".join(EXPORT_FORMATS))])
    path = Path(path)
    if fmt == "hf":
        _replace_folder(to_hf_dataset(dataset, only_approved), path)
        return path
    if path.is_dir():
        raise DatasetError([Message("fmt_export_is_folder", path=path, example=f"{path / dataset.name}.jsonl")])
    examples = _selected(dataset, only_approved)
    if fmt == "alpaca-jsonl":
        data = _jsonl(_alpaca_record(e) for e in examples)
    elif fmt == "messages-jsonl":
        data = _jsonl({"messages": to_messages(e)} for e in examples)
    else:
        data = _parquet(examples)
    atomic_write(path, data)
    return path


def to_hf_dataset(dataset: Dataset, only_approved: bool = False) -> datasets.Dataset:
    """The examples as a `datasets.Dataset`: id, messages (ready for a chat template), category, status."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "messages": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
            "category": datasets.Value("string"),
            "status": datasets.Value("string"),
        }
    )
    rows = [
        {"id": e.id, "messages": to_messages(e), "category": e.meta.category, "status": e.meta.status}
        for e in _selected(dataset, only_approved)
    ]
    return datasets.Dataset.from_list(rows, features=features)


def _selected(dataset: Dataset, only_approved: bool) -> list[Example]:
    """The examples to export, after checking the dataset is valid and something is left."""
    problems = validate(dataset)
    if problems:
        raise DatasetError(problems)
    examples = [e for e in dataset.examples if e.meta.status == "approved" or not only_approved]
    if not dataset.examples:
        raise DatasetError([Message("fmt_nothing_to_export", name=dataset.name)])
    if not examples:
        raise DatasetError([Message("fmt_none_approved", name=dataset.name, total=len(dataset.examples))])
    return examples


def _alpaca_record(example: Example) -> dict[str, str]:
    if example.messages is None:
        system, instruction, input_, output = example.system, example.instruction, example.input, example.output
    else:
        roles = [m["role"] for m in example.messages]
        if roles not in _SINGLE_TURN:
            raise DatasetError([Message("fmt_multi_turn", id=example.id)])
        texts = {m["role"]: m["content"] for m in example.messages}
        system, instruction, input_, output = texts.get("system"), texts["user"], None, texts["assistant"]
    return {"instruction": instruction, "input": input_ or "", "output": output, "system": system or ""}


def _jsonl(records: Any) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")


def _parquet(examples: list[Example]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = pa.string()
    message = pa.struct([("role", text), ("content", text)])
    schema = pa.schema(
        [
            *((column, text) for column in ("id", "system", "instruction", "input", "output")),
            ("messages", pa.list_(message)),
            *((column, text) for column in ("category", "status", "method")),
            ("tags", pa.list_(text)),
            ("parent_id", text),
            ("evolution_depth", pa.int64()),
            ("teacher_model", text),
            ("tokens", pa.int64()),
            ("judge_score", pa.float64()),
            ("language", text),
        ]
    )
    rows = [
        {
            "id": e.id,
            "system": e.system,
            "instruction": e.instruction,
            "input": e.input,
            "output": e.output,
            "messages": to_messages(e),
            **vars(e.meta),
        }
        for e in examples
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    return buffer.getvalue()


def _replace_folder(hf_dataset: datasets.Dataset, path: Path) -> None:
    """save_to_disk into a hidden sibling folder, then swap it in for `path`, which is replaced only if it holds a
    saved dataset (or nothing): a mistyped --out must never delete someone's folder."""
    if path.exists() and not (
        path.is_dir()
        and ((path / "state.json").exists() or (path / "dataset_dict.json").exists() or not any(path.iterdir()))
    ):
        raise DatasetError([Message("fmt_folder_not_dataset", path=path)])
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp, old = path.parent / f".{path.name}.{tag}.tmp", path.parent / f".{path.name}.{tag}.old"
    try:
        hf_dataset.save_to_disk(str(tmp))
        if path.exists():
            os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
