"""The app shell: starts light, serves the page and answers on its API."""

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import models
from tests.conftest import ROOT

HEAVY = ["torch", "transformers"]


def modules_loaded_by(statement: str, watched: list[str]) -> list[str]:
    """Run an import in a fresh interpreter; return which of the watched modules it pulled in."""
    code = f"import sys\n{statement}\nprint(*[m for m in {watched!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_building_the_app_imports_neither_torch_nor_transformers() -> None:
    assert modules_loaded_by("import app", HEAVY) == []


def test_importing_the_package_is_light() -> None:
    light = "import pipeline, pipeline.models, pipeline.paths, pipeline.config, pipeline.jobs"
    assert modules_loaded_by(light, [*HEAVY, "gradio"]) == []


def test_models_list_endpoint_reports_the_prepared_model(app_url: str, bundled_model: Path) -> None:
    from gradio_client import Client

    table = Client(app_url, verbose=False).predict(api_name="/models_list")
    assert table["data"] == [[models.DEFAULT_MODEL, True, str(bundled_model)]]


def test_dataset_tab_imports_exports_and_counts(app_url: str, app_datasets: Path, tmp_path: Path) -> None:
    import json

    from gradio_client import Client, handle_file

    from pipeline import dataset

    client = Client(app_url, verbose=False)
    source = tmp_path / "domande.jsonl"
    rows = [{"messages": [{"role": "user", "content": "Perché?"}, {"role": "assistant", "content": "Perché sì."}]}]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    client.predict(handle_file(str(source)), "", "domande_importate", api_name="/import_dataset")
    imported = dataset.load(app_datasets / "domande_importate.yaml")
    (example,) = imported.examples
    assert (example.instruction, example.output, example.meta.status) == ("Perché?", "Perché sì.", "draft")

    exported = client.predict("seed_it.yaml", "alpaca-jsonl", True, api_name="/export_dataset")
    lines = Path(exported).read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(dataset.load(app_datasets / "seed_it.yaml").examples)
    assert json.loads(lines[0])["instruction"].startswith("Quando si usa il congiuntivo")

    by_category, by_method, by_status, lengths = client.predict("seed_it.yaml", api_name="/dataset_stats")
    assert {row[0]: row[1] for row in by_category["data"]}["cucina"] == 18
    assert by_status["data"] == [["approved", 327]]


def test_hub_panels_check_names_and_explain_an_unreachable_hub(app_url: str) -> None:
    """The Hub cannot be reached here (HF_HUB_OFFLINE): a push gets as far as the Hub call and says why it failed;
    a bad repo id or a run outside the runs folder never gets that far."""
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    with pytest.raises(Exception, match="`repo`"):
        client.predict("seed_it.yaml", "../fuori", True, api_name="/push_dataset")
    with pytest.raises(Exception, match="Caricamento sull.Hub non riuscito"):
        client.predict("seed_it.yaml", "utente/seed-it", True, api_name="/push_dataset")
    with pytest.raises(Exception, match="`run`|not in the list of choices"):  # Gradio's own check comes first
        client.predict("../../..", "utente/adapter", False, True, api_name="/push_adapter")
    with pytest.raises(Exception, match="`name`"):
        client.predict("utente/seed-it", "../fuori", api_name="/pull_dataset")
