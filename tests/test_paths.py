"""Names and paths a visitor of the app types never leave the data folders, and uploads are size-limited.

Each entry point the tabs use gets the same traversal attempts; every refusal must name the field and leave every
file where it was (the whole tmp tree is compared, so a write next to the data folders would show).
"""

import json
import os
import re
import unicodedata
from pathlib import Path

import pytest

from pipeline import arena, editor, models, paths
from pipeline import dataset as ds_mod
from pipeline.dataset import Dataset, DatasetError, Example
from pipeline.generate.run import GenerationConfig
from pipeline.train import data, runs
from pipeline.train.config import TrainConfig
from pipeline.votes import Vote

# "../../" from the data folders below lands in tmp_path, so the snapshot would see a write there.
ATTEMPTS = [
    "../../etc/passwd",
    "../fuori/segreto",
    "..\\x",
    "..",
    ".",
    "",
    "a/b",
    "nul\x00x",
    "..%2f..%2fetc%2fpasswd",
    ".nascosto",
    "x" * 101,
]
LEGIT = "ricette_città-2"


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under `root`: a file's bytes, a link's target, a folder's presence."""
    found: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            found[key] = os.readlink(path) if path.is_symlink() else (path.read_bytes() if path.is_file() else "dir")
    return found


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Datasets and BOTTEGA_HOME two levels down in tmp_path, each with existing data, and a folder outside both
    with a valid dataset and a run in it (what a traversal would reach) plus symlinks to them from inside."""
    datasets, home, outside = tmp_path / "app" / "datasets", tmp_path / "app" / "home", tmp_path / "fuori"
    monkeypatch.setenv("BOTTEGA_DATASETS", str(datasets))
    monkeypatch.setenv("BOTTEGA_HOME", str(home))
    example = Example("it-001", "Qual è la capitale d'Italia?", "Roma.")
    for folder in (datasets, outside):
        ds_mod.create(folder / "esistente.yaml", Dataset(name="esistente", examples=[example]))
    (outside / "segreto.yaml").write_bytes((outside / "esistente.yaml").read_bytes())
    for run in (runs.runs_dir() / "esistente", outside / "run"):
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("name: esistente\n", encoding="utf-8")
    (datasets / "link.yaml").symlink_to(outside / "segreto.yaml")
    (datasets / "cartella").symlink_to(outside, target_is_directory=True)
    (runs.runs_dir() / "link").symlink_to(outside / "run", target_is_directory=True)
    return {"tmp": tmp_path, "datasets": datasets, "home": home, "outside": outside}


def refused(roots: dict[str, Path], field: str, call, error: type[Exception] = ValueError) -> None:
    """`call()` raises `error` naming `field`, and no file anywhere under tmp_path changed."""
    before = snapshot(roots["tmp"])
    with pytest.raises(error) as e:
        call()
    assert f"`{field}`" in str(e.value)
    assert "\x00" not in str(e.value)  # the message quotes the value escaped
    assert snapshot(roots["tmp"]) == before


def test_safe_name_keeps_italian_names_and_refuses_anything_else() -> None:
    assert paths.safe_name(f"  {LEGIT} ", "nome") == LEGIT
    assert paths.safe_name(unicodedata.normalize("NFD", LEGIT), "nome") == LEGIT  # combining accent: same name
    assert paths.safe_name("perché.v2", "nome") == "perché.v2"
    for bad in [*ATTEMPTS, "/etc/passwd", "con spazi", "a\\b", "a\nb", None, 12]:
        with pytest.raises(ValueError, match="`nome`"):
            paths.safe_name(bad, "nome")


def test_inside_refuses_what_resolves_outside_its_root(roots) -> None:
    datasets = roots["datasets"]
    assert paths.inside(datasets, "esistente.yaml", "dataset") == (datasets / "esistente.yaml").resolve()
    assert paths.inside(datasets, str(datasets / "esistente.yaml"), "dataset").name == "esistente.yaml"
    for bad in ["../fuori/segreto.yaml", str(roots["outside"] / "segreto.yaml"), "link.yaml", "cartella/segreto.yaml",
                "", ".", "sub/../..", "nul\x00.yaml"]:  # fmt: skip
        with pytest.raises(ValueError, match="`dataset`"):
            paths.inside(datasets, bad, "dataset")


def test_dataset_picker_refuses_paths_out_of_the_datasets_folder(roots) -> None:
    """Open, edit, stats and export all go through `dataset_path`; the symlinks inside lead out and are refused."""
    bad = [*ATTEMPTS, "/etc/passwd", str(roots["outside"] / "segreto.yaml"), "../fuori/segreto.yaml", "link.yaml",
           "cartella/segreto.yaml", "esistente.json"]  # fmt: skip
    for name in bad:
        refused(roots, "dataset", lambda name=name: editor.dataset_path(name), DatasetError)
    change = lambda d: editor.add_example(d)  # noqa: E731
    refused(roots, "dataset", lambda: editor.apply(editor.dataset_path("link.yaml"), None, change), DatasetError)
    assert editor.dataset_path("esistente.yaml") == (roots["datasets"] / "esistente.yaml").resolve()


def test_new_dataset_and_generation_names_are_plain_names(roots) -> None:
    """The Dataset tab's "new" box, the Genera tab's dataset name and opening it take one plain name."""
    for name in [*ATTEMPTS, "/etc/passwd", str(roots["outside"] / "nuovo"), "cartella/nuovo", "con spazi"]:
        refused(roots, "name", lambda name=name: editor.new_dataset(name), DatasetError)
        refused(roots, "name", lambda name=name: editor.dataset_file(name), DatasetError)
    refused(roots, "name", lambda: editor.new_dataset("esistente"), DatasetError)  # taken: refused, not replaced
    path = editor.new_dataset(LEGIT)
    assert path == (roots["datasets"] / f"{LEGIT}.yaml").resolve()
    assert ds_mod.load(path).name == LEGIT
    assert editor.dataset_file(f"{LEGIT}.yaml") == path  # a typed extension is not doubled
    generation = GenerationConfig(output=str(editor.dataset_file("generato_perché")))
    assert generation.run_path == roots["home"] / "runs" / "generate" / "generato_perché"


def test_generation_run_folder_stays_in_the_runs_folder(roots) -> None:
    """A config's output name becomes the run folder: '...yaml' would make it runs/generate/.. (runs/ itself)."""
    for output in ("...yaml", "..yaml", str(roots["datasets"] / "a b.yaml")):
        refused(roots, "output", lambda output=output: GenerationConfig(output=output))
    run_dir = str(roots["tmp"] / "mia_run")  # an explicit run folder (a local CLI user's choice) is theirs
    assert GenerationConfig(output="...yaml", run_dir=run_dir).run_path == Path(run_dir)


def test_import_name_is_a_plain_name_and_writes_nothing_when_refused(roots) -> None:
    upload = roots["tmp"] / "caricato.jsonl"
    row = {"instruction": "Come si dice grazie?", "output": "Grazie."}
    upload.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in [*ATTEMPTS[:5], *ATTEMPTS[6:], "/etc/passwd", "cartella/importato"]:  # "" means the file's name
        refused(roots, "name", lambda name=name: editor.import_upload(upload, None, name), DatasetError)
    refused(roots, "name", lambda: editor.import_upload(upload, None, "esistente"), DatasetError)
    path, imported = editor.import_upload(upload, None, LEGIT)
    assert path == (roots["datasets"] / f"{LEGIT}.yaml").resolve()
    assert ds_mod.load(path).examples[0].output == "Grazie." and imported.name == LEGIT
    path, _ = editor.import_upload(upload, None, "")
    assert path.name == "caricato.yaml"


def test_oversized_upload_is_refused_before_reading_and_writes_nothing(roots, monkeypatch) -> None:
    assert paths.max_upload_bytes() == 50 * 1024 * 1024
    monkeypatch.setenv("BOTTEGA_MAX_UPLOAD_MB", "0.01")  # 10 KiB
    big = roots["tmp"] / "grande.jsonl"
    row = json.dumps({"instruction": "Ripeti.", "output": "ciao " * 50})
    big.write_text("\n".join([row] * 100) + "\n", encoding="utf-8")
    before = snapshot(roots["tmp"])
    with pytest.raises(DatasetError) as e:
        editor.import_upload(big, None, "grande")
    assert re.search(r"`file`: 'grande\.jsonl' pesa \d+,\d KB, oltre il limite di 10,2 KB", str(e.value))
    assert snapshot(roots["tmp"]) == before
    monkeypatch.setenv("BOTTEGA_MAX_UPLOAD_MB", "mille")
    with pytest.raises(ValueError, match="BOTTEGA_MAX_UPLOAD_MB"):
        paths.max_upload_bytes()


def test_training_run_names_and_run_pickers_stay_in_the_runs_folder(roots) -> None:
    """Run names become folders under BOTTEGA_HOME; resume, the loss overlay, the evaluation and the hub panel pick
    runs with `run_folder`."""
    for name in [*ATTEMPTS, "/etc/passwd", str(roots["outside"] / "run")]:
        refused(roots, "name", lambda name=name: TrainConfig(name=name))
    assert TrainConfig(name=LEGIT).run_path == runs.runs_dir() / LEGIT
    existing = runs.runs_dir() / "esistente"
    assert runs.run_folder("esistente") == existing.resolve()
    assert runs.run_folder(str(existing)) == existing.resolve()  # the Confronta tab's picker gives the folder
    for choice in [*ATTEMPTS, "/etc/passwd", str(roots["outside"] / "run"), "link", "esistente/adapter"]:
        refused(roots, "run", lambda choice=choice: runs.run_folder(choice))


def test_compare_adapter_is_a_run_or_a_hub_id(roots, monkeypatch) -> None:
    """The Confronta tab's adapter box takes free text: only runs of the runs folder and Hub ids get through (an id
    that names a local folder too would be loaded from that folder)."""
    monkeypatch.chdir(roots["tmp"])
    assert arena.adapter_source("esistente") == str((runs.runs_dir() / "esistente").resolve())
    assert arena.adapter_source("utente/adapter-italiano") == "utente/adapter-italiano"
    paths = [a for a in ATTEMPTS if a not in ("", "a/b")]  # no adapter at all, and a well-formed Hub id
    for choice in [*paths, "/etc/passwd", str(roots["outside"] / "run"), "link", "fuori/run"]:
        refused(roots, "adapter", lambda choice=choice: arena.adapter_source(choice))
        refused(
            roots,
            "adapter",
            lambda c=choice: next(arena.answer(arena.Conversation(), models.DEFAULT_MODEL, c, None, None)),
        )


def test_training_dataset_and_template_pickers_refuse_local_files(roots, monkeypatch) -> None:
    monkeypatch.chdir(roots["tmp"])
    assert "link.yaml" not in editor.list_datasets() and "esistente.yaml" in editor.list_datasets()
    refused(roots, "dataset", lambda: data.dataset_source("link.yaml"), DatasetError)  # a symlink that leads out
    refused(roots, "dataset", lambda: data.dataset_source("fuori/run"), DatasetError)  # a local folder, not an id
    assert data.dataset_source("esistente.yaml") == str((roots["datasets"] / "esistente.yaml").resolve())
    for choice in ("/etc/passwd", "../fuori/segreto.yaml", "x.jinja"):
        refused(roots, "chat_template", lambda choice=choice: data.template_source(choice))
    assert data.template_source("chatml") == "chatml" and data.template_source("") is None


def test_vote_files_are_named_by_a_checked_id(roots) -> None:
    for bad_id in ("../../etc/passwd", "a" * 31 + "/"):
        with pytest.raises(ValueError, match="`id`"):
            Vote(
                id=bad_id,
                verdict="a",
                turns=[{"role": "user", "content": "Ciao"}],
                answer_a="Ciao!",
                answer_b="Salve.",
                sides={"A": "base", "B": "finetuned"},
                models={"base": "b", "finetuned": "f"},
            )
