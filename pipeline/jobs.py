"""Jobs: the one model for work that runs in its own process and is followed through its folder.

A job is a folder: `config.yaml` (what to do), `status.json` (state and progress, replaced atomically), `log.txt`
(the process's output when launched detached), `metrics.jsonl` (one record per line, for curves), `pid`, `lock`
(held by the working process for its whole life) and `STOP` (a stop was asked for).

    job = Job(folder)
    job.launch(["train", "--config", str(folder / "config.yaml")])   # detached `python -m pipeline ...`
    job.status()                  # JobStatus: state, message, the job's own fields, last log lines if it died
    job.stop()                    # the job finishes what is in flight, saves, and exits by itself
    with job.running():           # inside the working process, launched by the app or run from a terminal
        job.update(step=3, loss=1.2)

The working process holds `lock`, an flock the OS drops when the process dies, whoever started it. So a job run in
the foreground from the CLI is "running" for the app and `train --list`, can be stopped from the app, cannot be
started twice, and a job whose process died is "interrupted", with its last log lines, wherever it is looked at.
Subprocesses always log to a file, never to a pipe nobody reads (a full pipe blocks the child).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pipeline.errors import UserError, message_of
from pipeline.files import atomic_write, exclusive_lock, try_lock
from pipeline.i18n import Message, from_json
from pipeline.paths import bottega_home

STATES = ("new", "starting", "running", "stopping", "stopped", "finished", "failed", "interrupted")
"""new: never started. starting → running → stopping → stopped, or → finished / failed. interrupted: the process
died without saying so (killed, out of memory, the machine restarted), or was stopped with Ctrl-C."""
ACTIVE = ("starting", "running", "stopping")
LOGGED = "BOTTEGA_JOB_LOGGED"
"""Set in a launched job's environment: its output already goes to log.txt."""
LAUNCH_GRACE_S = 10
"""A job launched this long ago counts as alive while its pid is not on disk yet."""


@dataclass
class JobStatus:
    """What a job's folder says about it, once its process's liveness is taken into account."""

    state: str = "new"
    """One of STATES."""
    message: str = ""
    """Why it failed or stopped, or what it is doing, in the current language."""
    fields: dict[str, Any] = field(default_factory=dict)
    """Everything else the job wrote (step, loss, accepted, ...)."""
    log: str = ""
    """The last lines of the log when the job failed or was interrupted."""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class Job:
    """One job folder. Any process may read it; the working process writes it, inside `running()`."""

    def __init__(self, folder: str | Path):
        self.dir = Path(folder)
        self._written: dict[str, Any] = {}
        self._lock: IO | None = None

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def log_path(self) -> Path:
        return self.dir / "log.txt"

    @property
    def config_path(self) -> Path:
        return self.dir / "config.yaml"

    def status(self) -> JobStatus:
        raw = self._read()
        if raw.get("state") in ACTIVE and not self.alive(raw):
            raw = self._read()  # its process may have written its end and exited since the first read
            if raw.get("state") in ACTIVE:
                raw.update(state="interrupted", message=Message("job_interrupted").to_json())
        fields = {k: from_json(v) for k, v in raw.items()}
        state, message = fields.pop("state", "new"), fields.pop("message", "") or ""
        log = self.log_tail(20) if state in ("failed", "interrupted") else ""
        return JobStatus(state, message, fields, log)

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / "status.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return {}

    @property
    def active(self) -> bool:
        return self.status().active

    def alive(self, raw: dict[str, Any] | None = None) -> bool:
        """Whether a process works on this job: the one holding `lock`, or, between a launch and that process
        taking the lock, the launched one (`raw`: the status as read, default read now)."""
        lock = self.dir / "lock"
        if lock.exists():
            with open(lock) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
        raw = self._read() if raw is None else raw
        if raw.get("state") != "starting":
            return False
        # Launched: alive while its process is, or for a moment after the launch, before its pid is on disk.
        return _pid_alive(self.dir / "pid") or time.time() - raw.get("updated", 0) < LAUNCH_GRACE_S

    def launch(self, args: list[str], prefix: list[str] | None = None, env: dict[str, str] | None = None,
               **fields: Any) -> Path:  # fmt: skip
        """Start `python -m pipeline ARGS` (or `PREFIX pipeline ARGS`, e.g. `accelerate launch ... -m`) detached, in
        its own session (closing the app does not kill it), logging to log.txt. `fields` go into the first status.
        Refused while the job is active."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.dir / "launch.lock"):
            if self.active:
                raise UserError(Message("job_already_running", name=self.name))
            (self.dir / "STOP").unlink(missing_ok=True)
            (self.dir / "pid").unlink(missing_ok=True)  # the previous process's, if any
            now = time.time()
            self._write({**fields, "state": "starting", "message": "", "started": now, "updated": now})
            proc = spawn(["pipeline", *args], self.log_path, prefix=prefix, env={**(env or {}), LOGGED: "1"})
            (self.dir / "pid").write_text(str(proc.pid))
        return self.dir

    def resume(self, args: list[str], **kwargs: Any) -> Path:
        """Launch the job again where it left off; refused unless it was started before and has ended."""
        state = self.status().state
        if state == "new" or not self.config_path.is_file():
            raise UserError(Message("job_nothing_to_resume", name=self.name))
        return self.launch(args, **kwargs)

    def stop(self) -> None:
        """Ask the job to stop; it finishes what is in flight, saves, and exits by itself."""
        if not self.active:
            raise UserError(Message("job_not_running", name=self.name))
        (self.dir / "STOP").touch()

    @property
    def stop_requested(self) -> bool:
        return (self.dir / "STOP").exists()

    @contextmanager
    def running(self) -> Iterator[Job]:
        """Mark this process as the job's worker for the duration of the block.

        Refused if another process works on the job. A stop asked since the launch stands; a stale one (from a
        process that died before reading it) is cleared. An exception marks the job failed (a bug keeps its
        traceback in the log) unless the block recorded its own end, Ctrl-C interrupts it; a block that ends without
        setting a final state finishes it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        # Readers of the status take the lock for an instant to see whether anyone holds it: retry briefly.
        deadline = time.monotonic() + 2
        while (lock := try_lock(self.dir / "lock")) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if lock is None:
            raise UserError(Message("job_already_running", name=self.name))
        self._lock = lock
        try:
            previous = self._read()
            launched = previous.get("state") == "starting"
            if not launched:
                (self.dir / "STOP").unlink(missing_ok=True)
            (self.dir / "pid").write_text(str(os.getpid()))
            # What the launch or an earlier run said (a target, the last step and loss) stays until replaced.
            self._written = {k: v for k, v in previous.items() if k not in ("state", "message", "updated")}
            started = previous.get("started") if launched else time.time()
            self.update(state="running", message="", pid=os.getpid(), started=started)
            with nullcontext() if os.environ.get(LOGGED) else _tee(self.log_path):
                yield self
        except KeyboardInterrupt:
            if self._written.get("state") in ACTIVE:
                self.update(state="interrupted", message=Message("job_ctrl_c"))
            raise
        except UserError as e:
            if self._written.get("state") in ACTIVE:
                self.update(state="failed", message=message_of(e))
            raise
        except BaseException as e:  # a bug: its traceback reaches the log when it propagates
            if self._written.get("state") in ACTIVE:
                self.update(state="failed", message=Message("job_bug", error=message_of(e)))
            raise
        else:
            if self._written.get("state") in ACTIVE:
                self.update(state="finished")
        finally:
            self._lock = None
            lock.close()

    def update(self, **fields: Any) -> None:
        """Merge `fields` into the status and replace status.json (a Message is stored with its key, so each reader
        sees it in its own language)."""
        self._written.update({k: v.to_json() if isinstance(v, Message) else v for k, v in fields.items()})
        self._written["updated"] = time.time()
        self._write(self._written)

    def _write(self, status: dict[str, Any]) -> None:
        atomic_write(self.dir / "status.json", json.dumps(status, ensure_ascii=False).encode("utf-8"))

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # the last line of a killed job may be cut short
                continue
        return records

    def forget_metrics_after(self, step: int) -> None:
        """Drop records logged after `step`: a killed job logged steps that its checkpoint does not have."""
        path = self.dir / "metrics.jsonl"
        if path.exists():
            kept = [json.dumps(r, ensure_ascii=False) for r in self.metrics() if r.get("step", 0) <= step]
            atomic_write(path, "".join(line + "\n" for line in kept).encode("utf-8"))

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


def active_jobs(root: Path) -> list[Job]:
    """The jobs directly under `root` that a process is working on now."""
    if not root.is_dir():
        return []
    return [job for job in (Job(p) for p in sorted(root.iterdir()) if p.is_dir()) if job.active]


@contextmanager
def _tee(log_path: Path) -> Iterator[None]:
    """Copy what this process writes on its stdout and stderr (Python's, C libraries', its children's) into
    `log_path` as well, so a job run in a terminal leaves the same log as a launched one."""
    sys.stdout.flush()
    sys.stderr.flush()
    log = open(log_path, "ab")  # noqa: SIM115 - closed below, after the pumps
    lock = threading.Lock()
    pumps, saved = [], []
    for fd in (1, 2):
        saved.append(os.dup(fd))
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)

        def pump(read_end: int = read_end, terminal: int = saved[-1]) -> None:
            while chunk := os.read(read_end, 65536):
                os.write(terminal, chunk)
                with lock:
                    log.write(chunk)
                    log.flush()
            os.close(read_end)

        pumps.append(threading.Thread(target=pump, name=f"bottega-tee-{fd}", daemon=True))
        pumps[-1].start()
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, terminal in zip((1, 2), saved, strict=True):
            os.dup2(terminal, fd)  # closes the pipe's last write end: its pump reads the rest, then stops
        for thread in pumps:
            thread.join(timeout=5)
        for terminal in saved:
            os.close(terminal)
        log.close()


def hold_devices() -> IO:
    """Called by a process that trains: hold this machine's accelerators (the GPUs in CUDA_VISIBLE_DEVICES, or the
    CPU) for its whole life (the OS drops the lock if it dies), so a second training started from anywhere, under any
    name, is refused. Close the returned file, or exit, to let go."""
    deadline = time.monotonic() + 2  # `train.runs` probes the lock for an instant before it launches
    while (lock := try_lock(device_lock_path())) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if lock is None:
        raise UserError(Message("devices_busy"))
    return lock


def device_lock_path() -> Path:
    devices = os.environ.get("CUDA_VISIBLE_DEVICES", "all").replace(",", "-") or "none"
    return bottega_home() / "locks" / f"train-{devices}.lock"


def spawn(args: list[str], log_path: Path, prefix: list[str] | None = None, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:  # fmt: skip
    """`PREFIX ARGS` (default prefix: `python -m`) as a detached process that logs to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [*(prefix or [sys.executable, "-m"]), *args],
            cwd=cwd or Path(__file__).resolve().parents[1],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, NotADirectoryError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    # A finished child that nobody waited for lingers as a zombie: it counts as dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log (progress bars' carriage returns turned into lines)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


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
