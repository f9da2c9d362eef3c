"""Subprocesses that Bottega starts and watches: servers now; training runs and generation jobs later.

Subprocesses always log to a file, never to a pipe nobody reads (a full pipe blocks the child).
"""

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


def launch(args: list[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start a CLI command as a detached process (its own session: closing the app does not kill it) that logs to
    `log_path`. The caller follows the job through the files it writes, not through pipes."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args],
            cwd=cwd or Path(__file__).resolve().parents[1],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
