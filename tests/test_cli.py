"""The CLI as a user runs it: `python -m pipeline ...` in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

from pipeline import models
from tests.conftest import ROOT


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs
    )


def test_help_lists_the_commands() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    assert "models" in done.stdout


def test_models_list_shows_whether_the_bundled_model_is_ready(bundled_model: Path, tmp_path: Path) -> None:
    ready = run_cli("models", "list")
    assert ready.returncode == 0
    name, state, path, _ = ready.stdout.strip().split("\t")
    assert (name, state, Path(path)) == (models.DEFAULT_MODEL, "pronto", bundled_model)

    fresh = run_cli("models", "list", env={**os.environ, "BOTTEGA_HOME": str(tmp_path)})
    assert fresh.stdout.split("\t")[1] == "da preparare"


def test_models_prepare_prints_the_folder_of_a_ready_model(bundled_model: Path) -> None:
    done = run_cli("models", "prepare")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == bundled_model


def test_a_bad_name_is_one_clear_line_and_exit_2() -> None:
    done = run_cli("models", "prepare", "modello-inventato")
    assert done.returncode == 2
    assert done.stderr.startswith("Errore: Modello 'modello-inventato' non trovato")
    assert "Traceback" not in done.stderr
