"""Sweeps: the config refuses what cannot be searched, a two-trial sweep writes two runs, survives a SIGKILL and a
restart (the trial in training resumes from its checkpoint with the same parameters), prunes nothing it should not,
and writes a best config that trains."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import jobs
from pipeline.errors import UserError
from pipeline.train import runs, sweep
from pipeline.train.config import load_config as load_train_config
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[1]
CORTO = Path(__file__).parent / "assets" / "corto_it.yaml"


def _base(tmp_path: Path, **overrides) -> Path:
    values = {"dataset": str(CORTO), "max_length": 128, "batch_size": 2, "grad_accum": 1, "max_steps": 6,
              "warmup_ratio": 0.0, "lr_scheduler": "constant", "eval_share": 0.25, "eval_steps": 2, "save_steps": 2,
              "samples": 0, "trackio": False, **overrides}  # fmt: skip
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def _sweep(tmp_path: Path, name: str, **overrides) -> sweep.SweepConfig:
    values = {"name": name, "trials": 2, "seed": 0,
              "params": {"learning_rate": {"low": "1e-4", "high": 3e-3, "log": True}}, **overrides}  # fmt: skip
    if "train" not in values:  # not setdefault: that would write the default base over the one given
        values["train"] = str(_base(tmp_path))
    return sweep.SweepConfig.from_dict(values)


def _wait(condition, timeout: float = 300, what: str = "") -> None:
    wait_until(condition, timeout, what)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"lora_rank": {"low": 8, "high": 16}}, "params.lora_rank", "learning_rate"),
        ({"learning_rate": {"low": 1e-3, "high": 1e-4}}, "params.learning_rate", "`low` < `high`"),
        ({"learning_rate": {"low": 0, "high": 1e-3, "log": True}}, "params.learning_rate", "low` > 0"),
        ({"lora_r": {"low": 4, "high": 8.5}}, "params.lora_r", "interi"),
        ({"lora_r": [8, 16]}, "params.lora_r", "choices"),
        ({}, "params", "almeno un parametro"),
    ],
)
def test_what_cannot_be_searched_is_refused_naming_the_field(params, field, words):
    with pytest.raises(UserError) as refused:
        sweep.SweepConfig.from_dict({"params": params})
    assert f"`{field}`" in str(refused.value) and words in str(refused.value)


def test_a_sweep_on_a_config_without_held_out_examples_is_refused(tmp_path):
    config = sweep.SweepConfig.from_dict({"train": str(_base(tmp_path, eval_share=0.0))})
    with pytest.raises(UserError, match="eval_share"):
        sweep.base_config(config)


def test_a_range_that_would_make_an_invalid_run_is_refused_before_any_trial(tmp_path):
    params = {"lora_dropout": {"low": 0.5, "high": 1.5}, "lora_r": {"choices": [0, 8]}}
    config = _sweep(tmp_path, "rotta", params=params)
    with pytest.raises(UserError) as refused:
        sweep.base_config(config)
    assert "`params.lora_dropout`" in str(refused.value) and "`params.lora_r`" in str(refused.value)


def test_the_cli_refuses_a_bad_sweep_with_exit_code_2(tmp_path):
    bad = tmp_path / "sweep.yaml"
    bad.write_text("trials: 0\nobjective: perplessità\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pipeline", "sweep", "--config", str(bad)], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "`trials`" in done.stderr and "`objective`" in done.stderr


def test_every_shipped_sweep_config_loads():
    shipped = sorted((ROOT / "configs" / "sweeps").glob("*.yaml"))
    assert shipped
    for path in shipped:
        config = sweep.load_config(path)
        sweep.base_config(config)


@pytest.mark.slow
def test_two_trials_survive_a_kill_and_the_best_config_trains(bundled_model, tmp_path):
    from pipeline.train.sft import train

    config = _sweep(tmp_path, "cerca")
    folder = sweep.start(config)
    first = runs.runs_dir() / "cerca-t000"
    _wait(lambda: jobs.Job(first).status().get("step", 0) >= 3, what="the first trial's step 3")
    rate = load_train_config(first / "config.yaml").learning_rate
    os.killpg(int((folder / "pid").read_text()), signal.SIGKILL)
    _wait(lambda: jobs.Job(folder).status().state == "interrupted", 30, "the sweep to be seen interrupted")
    assert [row["state"] for row in sweep.trials(folder)] == ["running"]

    sweep.start(config)  # again: it continues
    _wait(lambda: not jobs.Job(folder).active, what="the sweep to end")
    status = jobs.Job(folder).status()
    assert status.state == "finished", jobs.log_tail(folder / "log.txt")
    rows = sweep.trials(folder)
    assert [(r["number"], r["run"], r["state"]) for r in rows] == [(0, "cerca-t000", "complete"),
                                                                   (1, "cerca-t001", "complete")]  # fmt: skip
    # The killed trial resumed from its checkpoint with the parameters it had; both trials are runs in the table.
    resumed = jobs.Job(first).status()
    assert resumed.state == "finished" and (resumed.get("resumed_from") or "").startswith("checkpoint-")
    assert load_train_config(first / "config.yaml").learning_rate == rows[0]["params"]["learning_rate"] == rate
    assert {"cerca-t000", "cerca-t001"} <= {r["name"] for r in runs.list_runs()}
    # Each objective is the eval loss of the run's adapter: its last evaluation.
    for row in rows:
        evals = [m["eval_loss"] for m in jobs.Job(runs.runs_dir() / row["run"]).metrics() if "eval_loss" in m]
        assert row["value"] == pytest.approx(evals[-1])
    best = min(rows, key=lambda r: r["value"])
    assert status.get("best_run") == best["run"] and status.get("done") == 2

    best_config = load_train_config(folder / "best.yaml")
    assert best_config.name == "cerca-best" and best_config.learning_rate == best["params"]["learning_rate"]
    assert train(best_config).state == "finished"
    assert json.loads((folder / "trials.json").read_text())[0]["intermediate"]  # evaluations were reported


@pytest.mark.slow
def test_stopping_a_sweep_stops_its_trial_which_resumes_when_it_starts_again(bundled_model, tmp_path):
    config = _sweep(tmp_path, "ferma-ricerca", trials=1, train=str(_base(tmp_path, max_steps=30)))
    folder = sweep.start(config)
    trial = runs.runs_dir() / "ferma-ricerca-t000"
    _wait(lambda: jobs.Job(trial).status().get("step", 0) >= 2, what="the trial's step 2")
    with pytest.raises(UserError, match="in corso"):  # nothing else trains meanwhile
        runs.start(load_train_config(_base(tmp_path)))
    jobs.Job(folder).stop()
    _wait(lambda: not jobs.Job(folder).active, what="the sweep to stop")
    assert jobs.Job(folder).status().state == "stopped"
    assert jobs.Job(trial).status().state == "stopped"
    assert [r["state"] for r in sweep.trials(folder)] == ["running"]
    stopped_at = jobs.Job(trial).status().get("step")
    assert stopped_at < 30
    listed = subprocess.run([sys.executable, "-m", "pipeline", "sweep", "--list"], cwd=ROOT, capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert "ferma-ricerca\tfermato\t0/1" in listed.stdout, listed.stdout


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["fidelity", "benchmark"])
def test_the_fidelity_and_benchmark_objectives_score_a_trial(bundled_model, tmp_path, objective):
    base = _base(tmp_path, max_steps=2, samples=1)
    config = _sweep(tmp_path, f"obiettivo-{objective}", trials=1, train=str(base), objective=objective,
                    fidelity_prompts=2, benchmark_limit=1)  # fmt: skip
    assert sweep.run(config) == 0
    [row] = sweep.trials(config.path)
    assert row["state"] == "complete" and 0 <= row["value"] <= 1
    if objective == "fidelity":  # a share of two held-out prompts, and its samples were reported at each evaluation
        assert row["value"] in (0, 0.5, 1) and row["intermediate"]
    else:  # acc_norm over one question per category
        assert row["value"] * 10 == pytest.approx(round(row["value"] * 10))
