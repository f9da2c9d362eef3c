"""Subprocesses that Bottega starts and watches: servers, generation and training jobs.

Subprocesses always log to a file, never to a pipe nobody reads (a full pipe blocks the child). A job lives in its
run folder: `pid`, `status.json` (rewritten atomically by the job), `log.txt`, and `STOP` when a stop is asked for.
Anyone (the app after a restart, the CLI) can follow a job from those files alone.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A loopback port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Poll until `url` answers 200. Fails early, with the process's log, if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"il processo è terminato con codice {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} non ha risposto entro {timeout:.0f} s:\n{log.read_text()}")


def launch(
    args: list[str],
    log_path: Path,
    cwd: Path | None = None,
    pid_file: Path | None = None,
    prefix: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start `python -m pipeline ARGS` (or `PREFIX pipeline ARGS`, e.g. `accelerate launch ... -m`) as a detached
    process (its own session: closing the app does not kill it) that logs to `log_path`. The caller follows the job
    through the files it writes, not through pipes."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [*(prefix or [sys.executable, "-m"]), "pipeline", *args],
            cwd=cwd or Path(__file__).resolve().parents[1],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    if pid_file is not None:
        pid_file.write_text(str(proc.pid))
    return proc


def write_status(run_dir: Path, status: dict) -> None:
    """Replace the job's status.json in one step: readers never see half a file."""
    from pipeline.files import atomic_write

    atomic_write(run_dir / "status.json", json.dumps(status, ensure_ascii=False).encode("utf-8"))


def request_stop(run_dir: Path) -> None:
    """Ask a running job to stop; it finishes what is in flight, saves, and exits by itself."""
    (run_dir / "STOP").touch()


def read_status(run_dir: Path) -> dict:
    """The job's last status, and whether its process is still alive (a killed job says "running" forever)."""
    try:
        status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    if status.get("state") in ("running", "starting", "stopping") and not alive(run_dir / "pid"):
        status["state"] = "interrupted"
    return status


def alive(pid_file: Path) -> bool:
    """Whether the process whose pid is in `pid_file` still runs."""
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    # A finished child that nobody waited for lingers as a zombie: it counts as dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a job's log (progress bars' carriage returns turned into lines)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])
