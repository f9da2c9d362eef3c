"""Shared settings: where Bottega keeps its files.

Per-stage config dataclasses (generation, training, ...) live next to the stage that reads them.
"""

import dataclasses
import os
from pathlib import Path
from typing import Any


def bottega_home() -> Path:
    """The folder for models, runs and caches: `$BOTTEGA_HOME`, default `~/.cache/bottega`.

    Read on every call, not at import time, so tests and the CLI can point it elsewhere.
    """
    return Path(os.environ.get("BOTTEGA_HOME") or Path.home() / ".cache" / "bottega").expanduser()


def datasets_dir() -> Path:
    """Where the app lists and creates datasets: `$BOTTEGA_DATASETS`, default the repository's `datasets_yaml/`."""
    default = Path(__file__).resolve().parents[1] / "datasets_yaml"
    return Path(os.environ.get("BOTTEGA_DATASETS") or default).expanduser()


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
