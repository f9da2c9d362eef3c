"""The app shell: starts light, serves the page and answers on its API."""

import subprocess
import sys
from pathlib import Path

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
    assert modules_loaded_by("import pipeline, pipeline.models, pipeline.config", [*HEAVY, "gradio"]) == []


def test_models_list_endpoint_reports_the_prepared_model(app_url: str, bundled_model: Path) -> None:
    from gradio_client import Client

    table = Client(app_url, verbose=False).predict(api_name="/models_list")
    assert table["data"] == [[models.DEFAULT_MODEL, True, str(bundled_model)]]
