"""Shared settings: where Bottega keeps its files, and the limits on the names and uploads that users give it.

Every name a visitor of the app types (a dataset, a run) becomes a path only through `safe_name` (one plain file or
folder name) and `inside` (refuses anything that resolves outside its root, symlinks included).

Per-stage config dataclasses (generation, training, ...) live next to the stage that reads them.
"""

import dataclasses
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

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


def max_upload_bytes() -> int:
    """The largest file a visitor may upload to import: `$BOTTEGA_MAX_UPLOAD_MB` megabytes (MiB), default 50."""
    raw = os.environ.get("BOTTEGA_MAX_UPLOAD_MB") or "50"
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1
    if not megabytes > 0:
        raise ValueError(f"BOTTEGA_MAX_UPLOAD_MB dev'essere un numero di megabyte > 0, trovato {raw!r}")
    return int(megabytes * 1024 * 1024)


def safe_name(value: str, field: str) -> str:
    """`value` as a single file or folder name a user may choose (a dataset, a run): letters, accented ones too,
    digits, '.', '_' and '-', not starting with a dot, at most MAX_NAME_CHARS. Returns it without surrounding spaces
    and in NFC form (a name typed with combining accents is the same name); ValueError naming `field` otherwise."""
    if value is not None and not isinstance(value, str):
        raise ValueError(f"campo '{field}': dev'essere un testo, trovato {value!r}")
    text = unicodedata.normalize("NFC", (value or "").strip())
    if not text:
        raise ValueError(f"campo '{field}': manca il nome: scrivine uno con lettere, cifre, '-' e '_' (es. cucina_it)")
    if len(text) > MAX_NAME_CHARS:
        raise ValueError(f"campo '{field}': il nome ha {len(text)} caratteri, al massimo {MAX_NAME_CHARS}: accorcialo")
    if text.startswith(".") or not _NAME.fullmatch(text):
        raise ValueError(
            f"campo '{field}': {_shown(text)} non è un nome valido: usa lettere, cifre, '-' e '_' "
            "(niente '/', '\\', '..', spazi o punto iniziale)"
        )
    return text


def inside(root: str | Path, path: str | Path, field: str) -> Path:
    """`path` (taken from `root` when relative) resolved, symlinks followed, if it lies strictly inside `root`;
    ValueError naming `field` otherwise (an absolute path elsewhere, '..', a link that leads out)."""
    text = str(path)
    root = Path(root).resolve()
    if "\0" in text:
        raise ValueError(f"campo '{field}': {_shown(text)} contiene un carattere nullo: scegli un nome dall'elenco")
    try:
        resolved = (root / text).resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise ValueError(f"campo '{field}': {_shown(text)} non si può aprire ({e}): scegli un nome dall'elenco") from e
    if root not in resolved.parents:
        raise ValueError(
            f"campo '{field}': {_shown(text)} porta fuori dalla cartella consentita: scegli un nome dall'elenco, "
            "senza '..' né percorsi assoluti"
        )
    return resolved


def _shown(text: str) -> str:
    """A user's value quoted for an error message: control characters escaped, long values cut."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A config file's YAML mapping (empty file: empty mapping)."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: la configurazione dev'essere una mappa YAML")
    return raw


def refuse_unknown(cls: type, raw: dict[str, Any]) -> None:
    """A typo in a config key is an error that lists the keys the dataclass `cls` accepts, not a silent default."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"Campi sconosciuti nella configurazione: {sorted(unknown)}; ammessi: {sorted(known)}")
