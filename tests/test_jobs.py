"""Waiting on subprocesses: by condition, failing early and loudly."""

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.jobs import free_port, wait_for_http


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
