"""Shared fixtures: an isolated BOTTEGA_HOME, the bundled model prepared once, the app served on a free port."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.jobs import free_port, wait_for_http

# No test may reach the Hub or phone home. huggingface_hub reads the offline flag when it is imported, so set it
# before anything imports it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# Training in the test process shares the cores with servers and jobs: see pipeline/__main__.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]


def wait_until(condition, timeout: float = 240, what: str = "") -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timeout waiting for {what}")


@pytest.fixture(scope="session", autouse=True)
def bottega_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test runs against a throwaway BOTTEGA_HOME, never the user's cache."""
    home = tmp_path_factory.mktemp("bottega-home")
    os.environ["BOTTEGA_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def bundled_model(bottega_home: Path) -> Path:
    """The default model, materialised once for the whole session."""
    from pipeline import models

    return models.prepare(models.DEFAULT_MODEL)


@pytest.fixture(scope="session")
def app_datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's datasets folder: a copy of the seed set, so browser tests can edit it freely."""
    folder = tmp_path_factory.mktemp("datasets")
    shutil.copy(ROOT / "datasets_yaml" / "seed_it.yaml", folder / "seed_it.yaml")
    # A dozen short examples, for training runs that finish in seconds.
    (folder / "test").mkdir()
    shutil.copy(ROOT / "tests" / "assets" / "corto_it.yaml", folder / "test" / "corto_it.yaml")
    return folder


@pytest.fixture(scope="session")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app") / "app.log"


@pytest.fixture(scope="session")
def app_url(bundled_model: Path, app_datasets: Path, app_log: Path):
    """`python app.py` on a free loopback port, as a user starts it (no GRADIO_SERVER_NAME: the app picks its own
    address); stopped at the end of the session."""
    port = free_port()
    log = app_log
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "BOTTEGA_DATASETS": str(app_datasets)}
    for name in ("GRADIO_SERVER_NAME", "SYSTEM", "SPACE_ID"):
        env.pop(name, None)
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def serve_teacher(bundled_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """`transformers serve` with the bundled model on a free loopback port (CPU), started once for the session."""
    from pipeline.serve import start_local_server

    server = start_local_server(bundled_model, tmp_path_factory.mktemp("teacher") / "serve.log", device="cpu")
    try:
        yield server
    finally:
        server.stop()


def noise_adapter(model_dir: Path, out: Path, seed: int = 0, scale: float = 0.05) -> Path:
    """A real peft LoRA (r=8, every linear layer) whose B matrices hold seeded noise instead of zeros, so it really
    changes the answers without minutes of training."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lora = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    noise = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, weight in lora.named_parameters():
            if "lora_B" in name:  # zero at creation: the adapter would change nothing
                weight.copy_(torch.randn(weight.shape, generator=noise) * scale)
    lora.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def adapter_run(bundled_model: Path, bottega_home: Path) -> Path:
    """A finished training run in the app's runs folder, as the Addestra tab leaves one (config, status, adapter)."""
    from pipeline.jobs import Job
    from pipeline.train.config import TrainConfig, dump_config

    run = bottega_home / "runs" / "train" / "rumore"
    run.mkdir(parents=True, exist_ok=True)
    config = TrainConfig.from_dict({"name": "rumore", "dataset": str(ROOT / "tests" / "assets" / "corto_it.yaml"),
                                    "eval_share": 0.25, "seed": 0})  # fmt: skip
    (run / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    noise_adapter(bundled_model, run / "adapter")
    Job(run).update(state="finished", step=1, max_steps=1, message="", started=0)
    return run
