"""Shared settings: where Bottega keeps its files.

Per-stage config dataclasses (generation, training, ...) live next to the stage that reads them.
"""

import os
from pathlib import Path


def bottega_home() -> Path:
    """The folder for models, runs and caches: `$BOTTEGA_HOME`, default `~/.cache/bottega`.

    Read on every call, not at import time, so tests and the CLI can point it elsewhere.
    """
    return Path(os.environ.get("BOTTEGA_HOME") or Path.home() / ".cache" / "bottega").expanduser()


def datasets_dir() -> Path:
    """Where the app lists and creates datasets: `$BOTTEGA_DATASETS`, default the repository's `datasets_yaml/`."""
    default = Path(__file__).resolve().parents[1] / "datasets_yaml"
    return Path(os.environ.get("BOTTEGA_DATASETS") or default).expanduser()
