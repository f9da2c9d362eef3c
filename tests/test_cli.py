"""The CLI as a user runs it: `python -m pipeline ...` in a subprocess."""

import io
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


def test_dataset_validate_passes_the_seed_set_and_lists_every_problem_of_a_bad_file(tmp_path: Path) -> None:
    ok = run_cli("dataset", "validate", "datasets_yaml/seed_it.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "valido" in ok.stdout

    bad = tmp_path / "rotto.yaml"
    bad.write_text(
        "schema_version: 1\nname: rotto\nexamples:\n"
        "- id: a-1\n  instruction: Ciao\n  meta: {status: finito}\n"
        "- id: a-1\n  instruction: Ciao\n  output: 'No'\n",
        encoding="utf-8",
    )
    done = run_cli("dataset", "validate", str(bad))
    assert done.returncode == 2
    assert "3 problemi" in done.stderr
    assert "esempio 'a-1', `output`: manca o è vuoto" in done.stderr
    assert "`meta.status`: 'finito' non valido" in done.stderr
    assert "`id`: usato da più esempi" in done.stderr


def test_dataset_stats_counts_the_seed_set() -> None:
    done = run_cli("dataset", "stats", "datasets_yaml/seed_it.yaml")
    assert done.returncode == 0, done.stderr
    assert "esempi: 327" in done.stdout
    assert "approved 327" in done.stdout
    assert "  cucina\t18" in done.stdout


def test_dataset_stats_counts_tokens_with_the_bundled_tokenizer(bundled_model: Path) -> None:
    done = run_cli("dataset", "stats", "datasets_yaml/seed_it.yaml", "--tokens", models.DEFAULT_MODEL)
    assert done.returncode == 0, done.stderr
    assert "token (smollm2-135m-instruct): mediana" in done.stdout


def test_dataset_import_then_convert(tmp_path: Path) -> None:
    source = tmp_path / "alpaca.jsonl"
    source.write_text(
        '{"instruction": "Perché il cielo è blu?", "input": "", "output": "Per la diffusione di Rayleigh."}\n'
        '{"instruction": "Traduci", "input": "Good morning", "output": "Buongiorno"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "importato.yaml"
    done = run_cli("dataset", "import", str(source), "--out", str(out))
    assert done.returncode == 0, done.stderr
    from pipeline import dataset

    imported = dataset.load(out)
    assert [e.instruction for e in imported.examples] == ["Perché il cielo è blu?", "Traduci"]
    assert {e.meta.status for e in imported.examples} == {"draft"}

    again = run_cli("dataset", "import", str(source), "--out", str(out))
    assert again.returncode == 2 and "esiste già" in again.stderr

    jsonl = tmp_path / "seed.jsonl"
    done = run_cli("dataset", "convert", "datasets_yaml/seed_it.yaml", "--to", "messages-jsonl", "--out", str(jsonl))
    assert done.returncode == 0, done.stderr
    assert len(jsonl.read_text(encoding="utf-8").splitlines()) == 327


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_generate_shows_a_progress_bar_on_a_terminal_and_none_in_a_log() -> None:
    from pipeline.__main__ import _generation_bar
    from pipeline.generate.run import Status

    terminal, log = _Terminal(), io.StringIO()
    for out in (terminal, log):
        with _generation_bar(20, file=out) as show:
            show(Status(accepted=3, rejected=2, requests=9, in_flight=4, target=20))
    assert "3/20" in terminal.getvalue()
    assert "scartati=2" in terminal.getvalue() and "in_attesa=4" in terminal.getvalue()
    assert log.getvalue() == ""
