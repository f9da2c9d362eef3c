"""Editing a dataset file one action at a time, as the Dataset tab does."""

from pathlib import Path

import pytest

from pipeline import dataset as ds_mod
from pipeline import editor
from pipeline.dataset import Dataset, DatasetError, Example, Meta, StaleRevisionError


@pytest.fixture
def datasets(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("BOTTEGA_DATASETS", str(tmp_path))
    examples = [
        Example("it-cucina-001", "Come si fa il ragù?", "Si rosola il soffritto...", meta=Meta(category="cucina")),
        Example(
            "it-storia-001",
            "Chi fondò Roma?",
            "Secondo la leggenda, Romolo.",
            meta=Meta(category="storia", status="approved", method="orca", language="it"),
        ),
        Example("it-cucina-002", "Perché la carbonara non vuole la panna?", "Perché...", meta=Meta(category="cucina")),
    ]
    ds_mod.create(tmp_path / "prova.yaml", Dataset(name="prova", examples=examples))
    return tmp_path


def test_datasets_are_listed_and_paths_cannot_escape_the_folder(datasets: Path) -> None:
    editor.new_dataset("vuoto")
    assert editor.list_datasets() == ["prova.yaml", "vuoto.yaml"]
    assert ds_mod.load(datasets / "vuoto.yaml").examples == []
    for bad in ("../fuori.yaml", "/etc/passwd", "prova.json"):
        with pytest.raises(DatasetError):
            editor.dataset_path(bad)
    with pytest.raises(DatasetError, match="nome"):
        editor.new_dataset("con spazi")
    with pytest.raises(DatasetError, match="esiste già"):
        editor.new_dataset("vuoto")


def test_filters_combine_and_search_ignores_case_but_not_accents(datasets: Path) -> None:
    dataset = ds_mod.load(datasets / "prova.yaml")
    ids = lambda **f: [e.id for e in editor.filter_examples(dataset, **f)]  # noqa: E731
    assert ids(category="cucina") == ["it-cucina-001", "it-cucina-002"]
    assert ids(category="cucina", query="CARBONARA") == ["it-cucina-002"]
    assert ids(query="perché") == ["it-cucina-002"]
    assert ids(status="approved", method="orca", language="it") == ["it-storia-001"]
    assert ids(status="rejected") == []


def test_every_action_lands_in_the_file(datasets: Path) -> None:
    path = datasets / "prova.yaml"
    rev = ds_mod.load(path).revision

    saved = editor.apply(
        path,
        rev,
        lambda d: editor.update_example(d, "it-cucina-001", output="Nuova risposta, più lunga.", tags=["sugo"]),
    )
    on_disk = ds_mod.load(path)
    assert on_disk.find("it-cucina-001").output == "Nuova risposta, più lunga."
    assert on_disk.find("it-cucina-001").meta.tags == ["sugo"]

    created = []
    saved = editor.apply(path, saved.revision, lambda d: created.append(editor.add_example(d, "cucina")))
    assert created[0].id == "prova-cucina-001" and created[0].meta.status == "draft"
    saved = editor.apply(path, saved.revision, lambda d: created.append(editor.duplicate_example(d, "it-storia-001")))
    assert created[1].meta.status == "draft" and created[1].instruction == "Chi fondò Roma?"
    saved = editor.apply(path, saved.revision, lambda d: editor.delete_example(d, "it-cucina-002"))
    saved = editor.apply(
        path, saved.revision, lambda d: editor.set_status(d, ["it-cucina-001", created[0].id], "approved")
    )

    on_disk = ds_mod.load(path)
    assert [e.id for e in on_disk.examples] == [
        "it-cucina-001",
        "it-storia-001",
        "prova-storia-001",
        "prova-cucina-001",
    ]
    assert [e.meta.status for e in on_disk.examples] == ["approved", "approved", "draft", "approved"]


def test_an_edit_based_on_an_old_revision_is_refused_and_changes_nothing(datasets: Path) -> None:
    path = datasets / "prova.yaml"
    old = ds_mod.load(path).revision
    editor.apply(path, old, lambda d: editor.update_example(d, "it-cucina-001", output="Prima modifica."))
    before = path.read_bytes()
    with pytest.raises(StaleRevisionError, match="ricarica"):
        editor.apply(path, old, lambda d: editor.update_example(d, "it-cucina-001", output="Seconda modifica."))
    assert path.read_bytes() == before


def test_an_invalid_edit_is_refused_with_the_field_and_changes_nothing(datasets: Path) -> None:
    path = datasets / "prova.yaml"
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="esempio 'it-cucina-001', `output`"):
        editor.apply(path, ds_mod.load(path).revision, lambda d: editor.update_example(d, "it-cucina-001", output=" "))
    assert path.read_bytes() == before


def test_tags_and_one_example_yaml() -> None:
    assert editor.parse_tags("congiuntivo, verbi; ") == ["congiuntivo", "verbi"]
    example = Example("x-1", "Istruzione", "Riga uno\nRiga due", meta=Meta(status="approved"))
    text = editor.example_yaml(example)
    assert text.startswith("- id: x-1\n")
    assert "output: |-\n    Riga uno\n    Riga due\n" in text
