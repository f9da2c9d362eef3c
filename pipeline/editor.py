"""Editing a dataset file one action at a time, as the Dataset tab does.

Each action loads the file, checks that it is still at the revision the editor last saw, applies one change and saves
atomically: two browser tabs (or a tab and a text editor) never silently overwrite each other's work.

Names come from visitors of the app: a dataset picked from the list must resolve inside the datasets folder
(`dataset_path`), a new one is a single plain name (`dataset_file`), and an upload is size-checked before it is read.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

from pipeline import dataset as ds_mod
from pipeline import formats
from pipeline.dataset import Dataset, DatasetError, Example, Meta
from pipeline.errors import UserError
from pipeline.i18n import Message
from pipeline.paths import datasets_dir, inside, max_upload_bytes, safe_name

ALL = ""  # the "any value" choice of a filter


def list_datasets() -> list[str]:
    """Dataset files under the datasets folder, as paths relative to it (not symlinks that lead out of it)."""
    root = datasets_dir()
    real = root.resolve()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml") if real in p.resolve().parents)


def dataset_name(path: Path) -> str:
    """A dataset file inside the datasets folder, named as `list_datasets` names it (the pickers' value)."""
    return str(path.relative_to(datasets_dir().resolve()))


def dataset_path(name: str, field: str = "dataset") -> Path:
    """The file of a dataset named as `list_datasets` names it (subfolders allowed); refuses anything that is not a
    .yaml file inside the datasets folder once resolved: '..', absolute paths, symlinks that lead out."""
    try:
        path = inside(datasets_dir(), name or "", field)
    except UserError as e:
        raise DatasetError(e.items) from e
    if path.suffix != ".yaml":
        raise DatasetError([Message("field_problem", field=field, problem=Message("editor_not_yaml", name=name))])
    return path


def dataset_file(name: str, field: str = "name") -> Path:
    """The file `<name>.yaml` in the datasets folder for a dataset the user names: one plain name, no folders (a
    typed '.yaml' is not doubled)."""
    try:
        name = safe_name(name, field).removesuffix(".yaml")
    except UserError as e:
        raise DatasetError(e.items) from e
    return dataset_path(f"{name}.yaml", field)


def _new_file(name: str, field: str) -> Path:
    path = dataset_file(name, field)
    if path.exists():
        problem = Message("editor_dataset_exists", name=path.name)
        raise DatasetError([Message("field_problem", field=field, problem=problem)])
    return path


def new_dataset(name: str) -> Path:
    """Create an empty dataset file `<name>.yaml` in the datasets folder."""
    path = _new_file(name, "name")
    ds_mod.create(path, Dataset(name=path.stem, provenance={"method": "human"}))
    return path


def import_upload(upload: str | Path, fmt: str | None, name: str | None) -> tuple[Path, Dataset]:
    """Import a file a visitor uploaded as the new draft dataset `<name>.yaml` (default name: the file's) in the
    datasets folder. A file over `max_upload_bytes()` is refused before it is read; nothing is written on error."""
    upload = Path(upload)
    path = _new_file((name or "").strip() or upload.stem, "name")
    if not upload.is_file():
        problem = Message("editor_not_uploaded", name=upload.name)
        raise DatasetError([Message("field_problem", field="file", problem=problem)])
    size, limit = upload.stat().st_size, max_upload_bytes()
    if size > limit:
        problem = Message("editor_upload_too_big", name=upload.name, size=_size(size), limit=_size(limit))
        raise DatasetError([Message("field_problem", field="file", problem=problem)])
    imported = formats.import_file(upload, fmt or None, name=path.stem)
    ds_mod.create(path, imported)
    return path, imported


def _size(size: int) -> str:
    """A size as people read it, with the Italian decimal comma: '12,3 MB', '10,2 KB'."""
    text = f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.1f} KB"
    return text.replace(".", ",")


def filter_examples(
    dataset: Dataset,
    query: str | None = "",
    status: str = ALL,
    method: str = ALL,
    category: str = ALL,
    language: str = ALL,
) -> list[Example]:
    """Examples matching every filter; `query` looks in id and texts, ignoring case (casefold, accents kept)."""
    needle = (query or "").casefold().strip()
    wanted = {"status": status, "method": method, "category": category, "language": language}
    out = []
    for e in dataset.examples:
        if any(value and (getattr(e.meta, key) or "") != value for key, value in wanted.items()):
            continue
        texts = (e.id, e.instruction, e.input or "", e.output, e.system or "")
        if needle and needle not in "\n".join(texts).casefold():
            continue
        out.append(e)
    return out


def apply(path: Path, revision: str | None, change: Callable[[Dataset], object]) -> Dataset:
    """Load, apply `change`, save. `save` refuses (StaleRevisionError) if the file moved on from `revision`, the one
    the editor last saw. Returns the saved dataset."""
    dataset = ds_mod.load(path)
    dataset.revision = revision
    change(dataset)
    ds_mod.save(dataset, path)
    return dataset


def update_example(dataset: Dataset, example_id: str, **changes) -> Example:
    """Replace fields of one example; `status`, `category` and `tags` go to its meta. Empty optional text -> None."""
    example = dataset.find(example_id)
    for key in ("status", "category", "tags"):
        if key in changes:
            setattr(example.meta, key, changes.pop(key))
    for key, value in changes.items():
        if key in ("system", "input") and not (value or "").strip():
            value = None
        setattr(example, key, value)
    if not example.meta.category:
        example.meta.category = None
    return example


def add_example(dataset: Dataset, category: str | None = None) -> Example:
    """A new draft example with placeholder texts the user then edits."""
    example = Example(
        id=next_id(dataset, category),
        instruction="Scrivi qui l'istruzione.",
        output="Scrivi qui la risposta.",
        meta=Meta(method="human", status="draft", category=category or None, language="it"),
    )
    dataset.examples.append(example)
    return example


def duplicate_example(dataset: Dataset, example_id: str) -> Example:
    source = dataset.find(example_id)
    copy_ = copy.deepcopy(source)
    copy_.id = next_id(dataset, source.meta.category)
    copy_.meta.status = "draft"
    dataset.examples.insert(dataset.examples.index(source) + 1, copy_)
    return copy_


def delete_example(dataset: Dataset, example_id: str) -> None:
    dataset.examples.remove(dataset.find(example_id))


def set_status(dataset: Dataset, example_ids: list[str], status: str) -> int:
    """Set the status of several examples (a bulk approve). Returns how many changed."""
    if status not in ds_mod.STATUSES:
        problem = Message("ds_not_one_of", value=status, choices=", ".join(ds_mod.STATUSES))
        raise DatasetError([Message("field_problem", field="status", problem=problem)])
    wanted = set(example_ids)
    changed = 0
    for e in dataset.examples:
        if e.id in wanted and e.meta.status != status:
            e.meta.status = status
            changed += 1
    return changed


def next_id(dataset: Dataset, category: str | None = None) -> str:
    """The first free `<name>-<category>-NNN` id, numbering after the highest one in use."""
    prefix = f"{dataset.name}-{category}" if category else dataset.name
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", prefix)
    used = {e.id for e in dataset.examples}
    numbers = [int(m.group(1)) for i in used if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", i))]
    n = max(numbers, default=0) + 1
    while f"{prefix}-{n:03d}" in used:
        n += 1
    return f"{prefix}-{n:03d}"


def parse_tags(text: str) -> list[str]:
    """Tags typed as `a, b; c` -> ['a', 'b', 'c']."""
    return [t.strip() for t in re.split(r"[,;]", text or "") if t.strip()]


def example_yaml(example: Example) -> str:
    """The YAML of one example exactly as it will be written to the file."""
    return ds_mod.dumps(Dataset(name="anteprima", examples=[example])).split("examples:\n", 1)[1]
