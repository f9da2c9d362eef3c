"""Training runs on CPU with the bundled model: learning, stop, SIGKILL and resume, re-attach, one job at a time,
crashes explained, and a two-process DDP run through the same entry point."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import jobs
from pipeline.errors import UserError
from pipeline.train import runs, samples
from pipeline.train.config import TrainConfig, dump_config
from tests.conftest import wait_until

pytestmark = pytest.mark.slow  # every test here trains

ROOT = Path(__file__).resolve().parents[1]
CORTO = Path(__file__).parent / "assets" / "corto_it.yaml"


def _config(tmp_path: Path, name: str, **overrides) -> TrainConfig:
    values = {
        "name": name,
        "dataset": str(CORTO),
        "max_length": 128,
        "batch_size": 2,
        "grad_accum": 1,
        "max_steps": 6,
        "learning_rate": 2e-3,
        "warmup_ratio": 0.0,
        "lr_scheduler": "constant",
        "eval_share": 0.0,
        "save_steps": 2,
        "trackio": False,
        **overrides,
    }
    return TrainConfig.from_dict(values)


_wait = wait_until


def _wait_done(run_dir: Path, timeout: float = 300) -> dict:
    _wait(lambda: not runs.status(run_dir).active, timeout, f"{run_dir.name} to end")
    return runs.status(run_dir)


def _steps(run_dir: Path) -> list[int]:
    return [m["step"] for m in jobs.Job(run_dir).metrics() if "loss" in m]


def test_loss_goes_down_and_lora_weights_change(bundled_model, bottega_home):
    from safetensors.torch import load_file

    from pipeline.train.sft import train

    config = _config(None, "impara", max_steps=12, trackio=True, eval_share=0.2, eval_steps=6, samples=2)
    status = train(config)
    assert status.state == "finished" and status.get("step") == 12
    losses = [m["loss"] for m in jobs.Job(config.run_path).metrics() if "loss" in m]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
    assert any("eval_loss" in m for m in jobs.Job(config.run_path).metrics())
    adapter = config.run_path / "adapter"
    weights = load_file(adapter / "adapter_model.safetensors")
    lora_b = [w for k, w in weights.items() if "lora_B" in k]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)  # lora_B starts at zero: training moved it
    from huggingface_hub import ModelCard

    card = ModelCard.load(adapter / "README.md")
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and card.data.language == ["it"]
    assert "loss di addestramento" in card.text
    # trackio kept the run locally, under BOTTEGA_HOME.
    assert any((bottega_home / "trackio").rglob("*.db"))
    # At each evaluation the model in training answered the two first fixed prompts, each judged.
    records = samples.history(jobs.Job(config.run_path).metrics())
    assert [r["step"] for r in records] == [6, 12]
    for record in records:
        assert [s["prompt"] for s in record["samples"]] == samples.prompts(2)
        assert all(s["answer"] and isinstance(s["italian"], bool) and isinstance(s["loops"], bool)
                   for s in record["samples"])  # fmt: skip
        assert record["sample_fidelity"] == sum(s["ok"] for s in record["samples"]) / 2
    assert status.get("sample_fidelity") == records[-1]["sample_fidelity"]


def test_early_stopping_ends_a_run_whose_eval_loss_rises_and_keeps_the_best_adapter(bundled_model, tmp_path):
    from safetensors.torch import load_file

    from pipeline.train.sft import train

    # 2e-2 is far too high a rate for this model: the eval loss is lowest at the first evaluation, then climbs.
    config = _config(tmp_path, "anticipato", max_steps=16, learning_rate=2e-2, eval_share=0.25, eval_steps=2,
                     early_stopping_patience=2)  # fmt: skip
    status = train(config)
    evals = [(m["step"], m["eval_loss"]) for m in jobs.Job(config.run_path).metrics() if "eval_loss" in m]
    best_step, best = min(evals, key=lambda e: e[1])
    assert status.state == "finished" and status.get("step") < 16, evals
    # It stopped after two evaluations in a row without a new best, no sooner and no later.
    after = [loss for step, loss in evals if step > best_step]
    assert len(after) == 2 and all(loss >= best for loss in after), evals
    assert status.get("early_stopped") == status.get("step") == evals[-1][0]
    assert status.get("best_step") == best_step and status.get("best_eval_loss") == pytest.approx(best)
    assert "Arresto anticipato" in status.message and f"passo {best_step}" in status.message
    # The saved adapter is the best checkpoint's, not the last step's.
    saved = load_file(config.run_path / "adapter" / "adapter_model.safetensors")
    kept = load_file(config.run_path / "checkpoints" / f"checkpoint-{best_step}" / "adapter_model.safetensors")
    assert saved.keys() == kept.keys() and all((saved[k] == kept[k]).all() for k in saved)


def test_early_stopping_needs_an_eval_split():
    with pytest.raises(UserError, match="eval_share"):
        TrainConfig.from_dict({"early_stopping_patience": 2, "eval_share": 0.0})


def test_stop_checkpoints_then_resume_continues_and_a_restarted_app_reattaches(bundled_model, tmp_path):
    config = _config(tmp_path, "ferma", max_steps=20)
    run_dir = runs.start(config)
    _wait(lambda: runs.status(run_dir).get("step", 0) >= 3, what="step 3")
    # A second start is refused while one trains, even under another name.
    with pytest.raises(UserError, match="già un addestramento in corso"):
        runs.start(_config(tmp_path, "seconda"))
    # An app restarted now finds the running job from the files alone: ask a fresh process.
    listed = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", "--list"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert any(line.startswith("ferma\tin corso") for line in listed.stdout.splitlines()), listed.stdout
    assert runs.active_run() == run_dir

    runs.stop(run_dir)
    status = _wait_done(run_dir)
    assert status.state == "stopped", jobs.log_tail(run_dir / "log.txt")
    stopped_at = status.get("step")
    assert 3 <= stopped_at < 20
    assert (run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()
    assert not (run_dir / "adapter").exists()

    runs.resume(run_dir)
    status = _wait_done(run_dir)
    assert status.state == "finished", jobs.log_tail(run_dir / "log.txt")
    assert status.get("resumed_from") == f"checkpoint-{stopped_at}" and status.get("step") == 20
    assert _steps(run_dir) == list(range(1, 21))
    # The runs table and the overlaid curves read the same folders.
    listed = {row["name"]: row for row in runs.list_runs()}
    assert listed["ferma"]["state"] == "finished"
    curves = runs.loss_curves([run_dir])
    assert [p["step"] for p in curves if p["kind"] == "train"] == list(range(1, 21))


def test_sigkill_then_resume_continues_from_the_checkpoint(bundled_model, tmp_path):
    config = _config(tmp_path, "uccidi", max_steps=12, save_steps=4, lr_scheduler="linear")
    run_dir = runs.start(config)
    _wait(lambda: runs.status(run_dir).get("step", 0) >= 5, what="step 5")
    pid = int((run_dir / "pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    _wait(lambda: runs.status(run_dir).state == "interrupted", 30, "interrupted")
    logged = _steps(run_dir)
    assert max(logged) >= 5  # steps after checkpoint-4 were logged, then lost with the process

    runs.resume(run_dir)
    status = _wait_done(run_dir)
    assert status.state == "finished", jobs.log_tail(run_dir / "log.txt")
    assert status.get("resumed_from") == "checkpoint-4"
    assert _steps(run_dir) == list(range(1, 13))  # no step twice, none missing
    trainer_state = json.loads((run_dir / "checkpoints" / "checkpoint-12" / "trainer_state.json").read_text())
    assert trainer_state["global_step"] == 12
    # The scheduler state came back too: a restarted linear schedule would climb back to the initial rate at step 5.
    rates = [m["learning_rate"] for m in jobs.Job(run_dir).metrics() if "loss" in m]
    assert all(later < earlier for earlier, later in zip(rates, rates[1:], strict=False)), rates


def test_a_crash_is_explained_in_italian_with_the_log(bundled_model, tmp_path):
    broken = tmp_path / "modello-rotto"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (broken / name).write_bytes((bundled_model / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"non sono pesi")
    run_dir = runs.start(_config(tmp_path, "rotto", model=str(broken)))
    status = _wait_done(run_dir)
    assert status.state == "failed"
    assert status.message.startswith("L'addestramento si è interrotto per un errore")
    assert "Traceback" in jobs.log_tail(run_dir / "log.txt")


def test_two_process_ddp_on_cpu_through_the_same_entry_point(bundled_model, tmp_path):
    run_dir = runs.start(_config(tmp_path, "ddp", num_processes=2, max_steps=3, save_steps=10))
    status = _wait_done(run_dir)
    log = jobs.log_tail(run_dir / "log.txt", 200)
    assert status.state == "finished", log
    assert status.get("world_size") == 2
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()


def form_values(config: TrainConfig) -> list:
    """The Addestra tab's form filled with `config`, in the order its handlers receive it."""
    from pipeline.ui import train as tab

    values = config.to_dict()
    values["target_modules"] = ", ".join(values["target_modules"]) if isinstance(values["target_modules"], list) \
        else values["target_modules"]  # fmt: skip
    values["chat_template"] = values["chat_template"] or ""
    values["neftune_alpha"] = values["neftune_alpha"] or 0
    values["dataset"] = Path(values["dataset"]).name
    return [values[name] for name in tab.FIELDS]


@pytest.mark.slow
def test_a_run_started_in_a_terminal_is_seen_stopped_and_guarded_by_the_app(bundled_model, tmp_path, monkeypatch):
    """`python -m pipeline train --config ...` in the foreground, as the README says: the app sees it running, stops
    it, and refuses a second start, from its form or from another terminal."""
    from pipeline.ui import train as tab

    monkeypatch.setenv("BOTTEGA_DATASETS", str(CORTO.parent))  # the form picks datasets from the app's folder

    config = _config(tmp_path, "terminale", max_steps=400, save_steps=1000)
    path = tmp_path / "terminale.yaml"
    path.write_text(dump_config(config), encoding="utf-8")
    log = open(tmp_path / "terminale.log", "w")  # noqa: SIM115 - closed below
    terminal = subprocess.Popen([sys.executable, "-m", "pipeline", "train", "--config", str(path)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    run_dir = config.run_path
    try:
        _wait(lambda: runs.status(run_dir).get("step", 0) >= 2, what="the terminal's run to train")
        followed, timer = tab.attach()  # a page load finds it
        assert followed == str(run_dir) and timer.active
        progress, *_ = tab.poll(followed)
        assert "train-state'>▶️ in corso" in progress
        assert runs.list_runs()[0]["state"] == "running"

        with pytest.raises(UserError, match="già"):  # the form's Avvia, same name
            tab.start(None, *form_values(config))
        with pytest.raises(UserError, match="già un addestramento in corso"):  # another name: one run per device
            tab.start(None, *form_values(_config(tmp_path, "un-altra")))
        twice = subprocess.run([sys.executable, "-m", "pipeline", "train", "--config", str(path)], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        assert twice.returncode == 2 and "già" in twice.stderr and "Traceback" not in twice.stderr

        tab.stop(None, str(run_dir))  # the tab's Ferma
        assert terminal.wait(timeout=120) == 0
    finally:
        if terminal.poll() is None:
            terminal.kill()
        log.close()
    status = runs.status(run_dir)
    assert status.state == "stopped", (tmp_path / "terminale.log").read_text()
    assert (run_dir / "checkpoints" / f"checkpoint-{status.get('step')}").is_dir()
    assert not (runs.runs_dir() / "un-altra").exists()  # the refused start wrote nothing
