"""Jobs and subprocesses: the one job model (launch, status, stop, a foreground run, a killed one, a bug), and waiting
on servers by condition, failing early and loudly."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.jobs import Job, active_jobs, free_port, wait_for_http


def test_a_process_that_dies_fails_the_wait_at_once_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", "print('porta occupata'); raise SystemExit(3)"], stdout=out)
    with pytest.raises(RuntimeError, match="codice 3") as e:
        wait_for_http(f"http://127.0.0.1:{free_port()}/", proc, log, timeout=30)
    assert "porta occupata" in str(e.value)


def test_wait_returns_once_the_server_answers(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
        proc = subprocess.Popen(server, stdout=out, stderr=out)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", proc, log, timeout=30)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait()


# A job as every kind runs one: work inside `running()`, report progress, honour a stop request.
WORKER = """
import os, sys, time
sys.path.insert(0, os.getcwd())  # jobs run from the repository's root
from pipeline.jobs import Job
folder, mode = sys.argv[2], sys.argv[3]
with Job(folder).running() as job:
    for step in range(1, 10_000):
        job.update(step=step)
        if mode == "bug" and step == 3:
            raise KeyError("passo")
        if job.stop_requested:
            job.update(state="stopped")
            break
        time.sleep(0.05)
"""


def _worker(tmp_path: Path) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    return [sys.executable, str(script)]


def _until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_launched_job_runs_stops_and_cannot_run_twice(tmp_path: Path) -> None:
    job = Job(tmp_path / "job")
    assert job.status().state == "new"
    job.launch([str(job.dir), "lavora"], prefix=_worker(tmp_path))
    _until(lambda: job.status().get("step", 0) >= 3)
    assert job.status().state == "running" and job.active
    with pytest.raises(UserError, match="già in corso"):
        job.launch([str(job.dir), "lavora"], prefix=_worker(tmp_path))
    with pytest.raises(UserError, match="già in corso"), job.running():
        pass
    job.stop()
    _until(lambda: not job.alive({"state": "starting"}))
    assert job.status().state == "stopped"
    with pytest.raises(UserError, match="non è in corso"):
        job.stop()


def test_a_job_run_in_the_foreground_is_the_same_job(tmp_path: Path) -> None:
    """What a terminal runs is seen, stopped and guarded exactly like what the app launched."""
    job = Job(tmp_path / "job")
    foreground = subprocess.Popen([*_worker(tmp_path), "pipeline", str(job.dir), "lavora"])
    try:
        _until(lambda: job.status().get("step", 0) >= 2)
        assert job.active and [j.dir for j in active_jobs(tmp_path)] == [job.dir]
        with pytest.raises(UserError, match="già in corso"):
            job.launch([str(job.dir), "lavora"], prefix=_worker(tmp_path))
        job.stop()
        assert foreground.wait(timeout=30) == 0
    finally:
        foreground.kill()
    assert job.status().state == "stopped" and not active_jobs(tmp_path)


def test_a_job_run_in_a_terminal_is_interrupted_with_its_last_log_lines(tmp_path: Path) -> None:
    """A terminal's run writes what it prints to the job's log too, so the app can show it after a kill."""
    job = Job(tmp_path / "job")
    script = tmp_path / "parla.py"
    talking = "job.update(step=step); print(f'passo {step}', flush=True)"
    script.write_text(WORKER.replace("job.update(step=step)", talking), encoding="utf-8")
    terminal = subprocess.Popen([sys.executable, str(script), "pipeline", str(job.dir), "lavora"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    _until(lambda: job.status().get("step", 0) >= 3)
    terminal.kill()
    printed = terminal.communicate(timeout=30)[0].decode()
    status = job.status()
    assert status.state == "interrupted" and "passo 2" in status.log
    assert "passo 2" in printed  # the terminal still saw it


def test_a_killed_job_is_interrupted_with_its_last_log_lines(tmp_path: Path) -> None:
    job = Job(tmp_path / "job")
    job.launch([str(job.dir), "lavora"], prefix=_worker(tmp_path))
    _until(lambda: job.status().get("step", 0) >= 2)
    job.log_path.write_text("ultima riga prima della fine\n", encoding="utf-8")
    os.killpg(int((job.dir / "pid").read_text()), signal.SIGKILL)
    _until(lambda: job.status().state == "interrupted")
    status = job.status()
    assert "ucciso" in status.message and "ultima riga prima della fine" in status.log
    assert not job.active


def test_a_bug_fails_the_job_with_its_traceback_in_the_log(tmp_path: Path) -> None:
    job = Job(tmp_path / "job")
    job.launch([str(job.dir), "bug"], prefix=_worker(tmp_path))
    _until(lambda: not job.alive({"state": "starting"}) and job.status().state != "starting")
    status = job.status()
    assert status.state == "failed" and "KeyError" in status.message
    assert "Traceback" in status.log


def test_a_message_is_read_in_the_readers_language(tmp_path: Path) -> None:
    from pipeline.i18n import Message, use

    job = Job(tmp_path / "job")
    with job.running():
        job.update(state="stopped", message=Message("train_stopped"))
    assert job.status().message.startswith("Fermato")
    with use("en"):
        assert job.status().message.startswith("Stopped")


def test_the_tabs_follow_a_generation_and_an_evaluation_started_in_a_terminal(tmp_path: Path, bottega_home: Path):
    """A page load finds them running, whoever started them, like the Addestra tab finds a training run."""
    from pipeline.ui import compare, generate

    jobs = [
        Job(bottega_home / "runs" / "generate" / "da-terminale"),
        Job(bottega_home / "runs" / "train" / "r" / "eval"),
    ]
    assert generate.attach()[0] is None and compare.attach_eval()[0] is None
    terminals = [subprocess.Popen([*_worker(tmp_path), "pipeline", str(job.dir), "lavora"]) for job in jobs]
    try:
        _until(lambda: all(job.status().get("step", 0) >= 1 for job in jobs))
        followed, timer = generate.attach()
        assert followed == str(jobs[0].dir) and timer.active
        followed, timer = compare.attach_eval()
        assert followed == str(jobs[1].dir) and timer.active
    finally:
        for job, terminal in zip(jobs, terminals, strict=True):
            job.stop()
            terminal.wait(timeout=30)
    assert generate.attach()[0] is None and compare.attach_eval()[0] is None
