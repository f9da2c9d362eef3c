"""The chained recipe: configs that disagree are refused before anything runs; a tiny chain runs SFT, builds fidelity
pairs from the SFT model's answers, trains DPO on top of the SFT adapter, and a second run skips what finished."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import dataset, recipe

ROOT = Path(__file__).resolve().parents[1]
CORTO = Path(__file__).parent / "assets" / "corto_it.yaml"


def _write(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def _recipe(tmp_path: Path, sft=None, pairs=None, preference=None) -> Path:
    fast = {"max_length": 128, "batch_size": 2, "grad_accum": 1, "warmup_ratio": 0.0, "lr_scheduler": "constant",
            "learning_rate": 1e-3, "eval_share": 0.0, "save_steps": 50, "trackio": False}  # fmt: skip
    sft = {"name": "ricetta-sft", "dataset": str(CORTO), "max_steps": 2, **fast, **(sft or {})}
    pairs = {"run_dir": "ricetta-sft", "output": str(tmp_path / "coppie.yaml"), "max_new_tokens": 48, **(pairs or {})}
    preference = {"name": "ricetta-dpo", "method": "dpo", "adapter": "ricetta-sft",
                  "dataset": str(tmp_path / "coppie.yaml"), "max_steps": 2, **fast, **(preference or {})}  # fmt: skip
    return Path(_write(tmp_path / "ricetta.yaml", {
        "sft": _write(tmp_path / "sft.yaml", sft),
        "pairs": _write(tmp_path / "coppie-config.yaml", pairs),
        "preference": _write(tmp_path / "dpo.yaml", preference),
    }))  # fmt: skip


def test_stages_that_do_not_agree_are_refused_with_the_fix(tmp_path):
    other = {"adapter": "altra-run", "dataset": str(tmp_path / "altre.yaml"), "method": "sft"}
    path = _recipe(tmp_path, pairs={"run_dir": "altra-run"}, preference=other)
    done = subprocess.run([sys.executable, "-m", "pipeline", "recipe", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    for expected in ("`run_dir: ricetta-sft`", "`method: dpo`", "`adapter: ricetta-sft`", "`dataset: "):
        assert expected in done.stderr, done.stderr
    # A stage's own bad field is named with its file.
    path = _recipe(tmp_path, sft={"learning_rate": "alto"})
    with pytest.raises(Exception, match="learning_rate"):
        recipe.load_config(path)


@pytest.mark.slow
def test_a_tiny_chain_runs_every_stage_and_a_second_run_skips_them(tmp_path, bundled_model, bottega_home):
    # An SFT stage that barely moves the model: the bundled model answers half of the short prompts badly, so there
    # are pairs for DPO (two steps at 1e-3 already fix them all).
    path = _recipe(tmp_path, sft={"learning_rate": 1e-6})
    done = subprocess.run([sys.executable, "-m", "pipeline", "recipe", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    runs = bottega_home / "runs" / "train"
    assert (runs / "ricetta-sft" / "adapter" / "adapter_config.json").is_file()
    pairs = dataset.load(tmp_path / "coppie.yaml").examples
    assert pairs and all(p.meta.method == "fidelity" and "ricetta-sft" in p.meta.source for p in pairs)
    card = (runs / "ricetta-dpo" / "adapter" / "README.md").read_text(encoding="utf-8")
    assert "1. SFT su" in card and "2. DPO su" in card and "coppie.yaml" in card
    again = subprocess.run([sys.executable, "-m", "pipeline", "recipe", "--config", str(path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0 and again.stdout.count("già finito") == 3, again.stdout
