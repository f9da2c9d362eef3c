"""Where Bottega keeps its files, and the checks on the names, paths and Hub ids that users give it.

Every name a visitor of the app types (a dataset, a run) becomes a path only through `safe_name` (one plain file or
folder name) and `inside` (refuses anything that resolves outside its root, symlinks included). `check_repo_id` and
`is_repo_id` are the one test of "is this a Hub id?".
"""

import os
import re
import unicodedata
from pathlib import Path

from pipeline.errors import UserError
from pipeline.i18n import Message

MAX_NAME_CHARS = 100
# `\w` is Unicode-aware: accented letters (città, perché) are letters. No '/', '\\', spaces or control characters.
_NAME = re.compile(r"[\w.-]+")


def bottega_home() -> Path:
    """The folder for models, runs and caches: `$BOTTEGA_HOME`, default `~/.cache/bottega`.

    Read on every call, not at import time, so tests and the CLI can point it elsewhere.
    """
    return Path(os.environ.get("BOTTEGA_HOME") or Path.home() / ".cache" / "bottega").expanduser()


def datasets_dir() -> Path:
    """Where the app lists and creates datasets: `$BOTTEGA_DATASETS`, default the repository's `datasets_yaml/`."""
    default = Path(__file__).resolve().parents[1] / "datasets_yaml"
    return Path(os.environ.get("BOTTEGA_DATASETS") or default).expanduser()


def named_or_path(value: str, folder: Path) -> Path:
    """A run named by its folder (as written) or by its name alone (then inside `folder`)."""
    path = Path(value).expanduser()
    return path if path.is_dir() or len(path.parts) > 1 else folder / value


def max_upload_bytes() -> int:
    """The largest file a visitor may upload to import: `$BOTTEGA_MAX_UPLOAD_MB` megabytes (MiB), default 50."""
    raw = os.environ.get("BOTTEGA_MAX_UPLOAD_MB") or "50"
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1
    if not megabytes > 0:
        raise UserError(Message("upload_limit_bad", value=raw))
    return int(megabytes * 1024 * 1024)


def safe_name(value: str, field: str) -> str:
    """`value` as a single file or folder name a user may choose (a dataset, a run): letters, accented ones too,
    digits, '.', '_' and '-', not starting with a dot, at most MAX_NAME_CHARS. Returns it without surrounding spaces
    and in NFC form (a name typed with combining accents is the same name); UserError naming `field` otherwise."""
    problem = name_problem(value)
    if problem is not None:
        raise UserError(Message("field_problem", field=field, problem=problem))
    return unicodedata.normalize("NFC", value.strip())


def name_problem(value: object) -> Message | None:
    """What is wrong with `value` as a name (see `safe_name`), or None."""
    if value is not None and not isinstance(value, str):
        return Message("name_not_text", value=value)
    text = unicodedata.normalize("NFC", (value or "").strip())
    if not text:
        return Message("name_missing")
    if len(text) > MAX_NAME_CHARS:
        return Message("name_too_long", length=len(text), limit=MAX_NAME_CHARS)
    if text.startswith(".") or not _NAME.fullmatch(text):
        return Message("name_invalid", value=shown(text))
    return None


def inside(root: str | Path, path: str | Path, field: str) -> Path:
    """`path` (taken from `root` when relative) resolved, symlinks followed, if it lies strictly inside `root`;
    UserError naming `field` otherwise (an absolute path elsewhere, '..', a link that leads out)."""
    text = str(path)
    root = Path(root).resolve()
    if "\0" in text:
        raise UserError(Message("field_problem", field=field, problem=Message("path_null", value=shown(text))))
    try:
        resolved = (root / text).resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        problem = Message("path_unreadable", value=shown(text), error=str(e))
        raise UserError(Message("field_problem", field=field, problem=problem)) from e
    if root not in resolved.parents:
        raise UserError(Message("field_problem", field=field, problem=Message("path_outside", value=shown(text))))
    return resolved


def shown(text: str) -> str:
    """A user's value quoted for an error message: control characters escaped, long values cut."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_repo_id(value: str, field: str = "repo") -> str:
    """A Hub repo id as a user typed it, trimmed; UserError naming `field` unless it is `owner/name` as the Hub
    accepts it (no '..', no spaces, at most 96 characters)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    text = (value or "").strip()
    try:
        if text.count("/") != 1:
            raise HFValidationError("serve UTENTE/NOME")
        validate_repo_id(text)
    except HFValidationError as e:
        problem = Message("repo_id_invalid", value=shown(text))
        raise UserError(Message("field_problem", field=field, problem=problem)) from e
    return text


def is_repo_id(value: str) -> bool:
    """Whether `value` is a Hub repo id (`owner/name`, see `check_repo_id`). It may still name a local path too: the
    caller decides which one wins."""
    try:
        check_repo_id(value)
    except UserError:
        return False
    return True
