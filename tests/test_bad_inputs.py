"""Bad input, as a new user types it, to every command and config kind: exit code 2, a message that names the field
or the argument, no traceback, and nothing written or changed anywhere. The same inputs through the app's handlers
end as a gr.Error (the page shows its message, never a stack trace)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.__main__ import main
from tests.conftest import ROOT

SEED = str(ROOT / "datasets_yaml" / "seed_it.yaml")

# (name, config kind, YAML text, what the message must name)
CONFIGS = [
    ("nested unknown key", "generate", "output: x.yaml\nteacher:\n  preset: openai\n  model: m\n  bogus: 1\n",
     "`teacher.bogus`"),
    ("nested unknown key in filters", "generate", "output: x.yaml\nfilters:\n  parole: 3\n", "`filters.parole`"),
    ("string for a number", "generate", "output: x.yaml\ncount: tre\n", "`count`"),
    ("string for a nested number", "generate", "output: x.yaml\nteacher:\n  max_tokens: molti\n",
     "`teacher.max_tokens`"),
    ("scalar for a section", "generate", "output: x.yaml\nteacher: 5\n", "`teacher`"),
    ("missing required field", "generate", "count: 3\n", "`output`"),
    ("list for the config", "generate", "- a\n- b\n", "--config"),
    ("scalar for the config", "train", "ciao\n", "--config"),
    ("python tag", "generate", "output: !!python/object/apply:os.system ['echo preso']\n", "riga 1"),
    ("custom tag", "train", "dataset: !file seed.yaml\n", "riga 1"),
    ("alias", "generate", "output: &o x.yaml\nseed_dataset: *o\n", "alias"),
    ("merge key", "train", "base: &b {lora_r: 8}\nlora:\n  <<: *b\n", "riga"),
    ("broken YAML", "eval", "run_dir: [aperta\n", "riga"),
    ("unknown key", "train", "lora_rank: 8\n", "`lora_rank`"),
    ("quoted number", "train", "lora_r: '16'\n", "`lora_r`"),
    ("bool for a number", "train", "learning_rate: true\n", "`learning_rate`"),
    ("value out of range", "train", "eval_share: 0.9\n", "`eval_share`"),
    ("unknown preset", "train", "preset: gpt-5\n", "`preset`"),
    ("nested unknown key in eval", "eval", "run_dir: r\nteacher:\n  temperatura: 0\n", "`teacher.temperatura`"),
    ("float for an int", "eval", "run_dir: r\nmax_examples: 2.5\n", "`max_examples`"),
    ("missing run folder", "eval", "run_dir: /nessuna/run\n", "`run_dir`"),
]  # fmt: skip


def _argv(kind: str, path: Path) -> list[str]:
    """The command that reads a config of this kind (training only checks it: nothing would train anyway)."""
    return [kind, "--config", str(path), *(["--check"] if kind == "train" else [])]


def commands(tmp: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, what the message must name) for the command line's own arguments."""
    missing = tmp / "nessuno"
    existing = tmp / "esiste.yaml"
    text = tmp / "note.txt"
    return [
        ("missing config", ["generate", "--config", str(missing / "run.yaml")], "--config"),
        ("folder as config", ["train", "--config", str(tmp)], "--config"),
        ("missing eval config", ["eval", "--config", str(missing / "eval.yaml")], "--config"),
        ("resume a missing run", ["train", "--resume", str(missing)], "--resume"),
        ("stop a missing run", ["train", "--stop", str(missing)], "--stop"),
        ("stop a run that is not running", ["train", "--stop", str(tmp / "ferma")], "ferma"),
        ("check without config", ["train", "--resume", str(missing), "--check"], "--check"),
        ("detach with list", ["train", "--list", "--detach"], "--detach"),
        ("config and list", ["train", "--config", str(existing), "--list"], "--list"),
        ("no action", ["train"], "--config"),
        ("missing adapter", ["chat", "--adapter", str(missing), "Ciao"], "--adapter"),
        ("word for a number", ["chat", "--adapter", str(missing), "--max-new-tokens", "molti", "Ciao"],
         "--max-new-tokens"),
        ("unknown export format", ["dataset", "convert", SEED, "--to", "xml", "--out", str(tmp / "x")], "--to"),
        ("missing file to convert", ["dataset", "convert", str(missing), "--to", "parquet", "--out", str(tmp / "x")],
         "file"),
        ("export into a missing folder",
         ["dataset", "convert", SEED, "--to", "parquet", "--out", str(missing / "x.parquet")], "--out"),
        ("missing file to import", ["dataset", "import", str(missing), "--out", str(tmp / "n.yaml")], "file"),
        ("unknown import format",
         ["dataset", "import", str(existing), "--format", "xml", "--out", str(tmp / "n.yaml")], "--format"),
        ("a file no importer reads", ["dataset", "import", str(text), "--out", str(tmp / "n.yaml")], "note.txt"),
        ("import over an existing file", ["dataset", "import", SEED, "--out", str(existing)], "--out"),
        ("stats of a missing file", ["dataset", "stats", str(missing)], "file"),
        ("votes into a folder", ["votes", "export", "--out", str(tmp)], "--out"),
        ("push a run without adapter", ["hub", "push-adapter", str(missing), "--repo", "utente/modello"], "`run_dir`"),
        ("bad repo id", ["hub", "push-dataset", SEED, "--repo", "../fuori"], "`repo`"),
        ("bad repo id to pull", ["hub", "pull-dataset", "senza-utente", "--out", str(tmp / "p.yaml")], "`repo`"),
        ("bad space id", ["space", "deploy", "--repo", "bottega"], "`repo`"),
        ("unknown model", ["models", "prepare", "modello-inesistente"], "modello-inesistente"),
    ]  # fmt: skip


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under `roots` with its size and modification time."""
    found = {}
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                stat = (Path(folder) / name).stat()
                found[os.path.join(folder, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture
def workspace(tmp_path: Path, bottega_home: Path) -> Path:
    (tmp_path / "esiste.yaml").write_text("schema_version: 1\nname: esiste\nexamples: []\n", encoding="utf-8")
    (tmp_path / "note.txt").write_text("appunti, non un dataset\n", encoding="utf-8")
    (tmp_path / "ferma").mkdir()
    (tmp_path / "ferma" / "config.yaml").write_text("name: ferma\n", encoding="utf-8")
    return tmp_path


def refused(argv: list[str], names: str, roots: list[Path], capsys) -> str:
    """Run the CLI in this process: exit 2 (returned, or argparse's SystemExit), `names` in the message, nothing
    written. Returns the message."""
    before = snapshot(*roots)
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert names in err, (argv, err)
    assert "Traceback" not in err
    assert snapshot(*roots) == before, argv
    return err


@pytest.mark.parametrize("name, kind, text, names", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_every_config_kind_refuses_bad_yaml_cleanly(name, kind, text, names, workspace, bottega_home, capsys):
    path = workspace / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    refused(_argv(kind, path), names, [workspace, bottega_home, ROOT / "datasets_yaml"], capsys)


def test_every_command_refuses_bad_arguments_cleanly(workspace, bottega_home, capsys):
    for name, argv, names in commands(workspace):
        try:
            refused(argv, names, [workspace, bottega_home, ROOT / "datasets_yaml"], capsys)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from e


def test_several_problems_are_listed_together(workspace, capsys):
    path = workspace / "train.yaml"
    path.write_text("lora_r: 0\nseed: x\nbogus: 1\nteacher: {}\n", encoding="utf-8")
    err = refused(["train", "--config", str(path), "--check"], "`lora_r`", [workspace], capsys)
    assert all(name in err for name in ("`seed`", "`bogus`", "`teacher`"))


@pytest.mark.slow
def test_a_real_process_exits_2_without_a_traceback(workspace):
    """The same, as a terminal sees it: a separate interpreter's exit code and its whole stderr."""
    bad = workspace / "generate.yaml"
    bad.write_text("output: x.yaml\nteacher:\n  max_tokens: molti\n", encoding="utf-8")
    for argv, names in [
        (["generate", "--config", str(bad)], "`teacher.max_tokens`"),
        (["train", "--resume", str(workspace / "nessuno")], "--resume"),
        (["dataset", "convert", SEED, "--to", "xml", "--out", str(workspace / "x")], "--to"),
    ]:
        done = subprocess.run([sys.executable, "-m", "pipeline", *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert names in done.stderr and "Traceback" not in done.stderr, done.stderr
