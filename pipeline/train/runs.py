"""Training jobs as the app sees them: start, stop, resume, follow, list. One job at a time per set of devices.

The app never trains in its own process: it writes the run's config.yaml and launches `python -m pipeline train`
(or `accelerate launch ... -m pipeline train` for several processes) detached, then reads the run folder. A page
reload or an app restart finds the job again from its folder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO

from pipeline import jobs
from pipeline.config import bottega_home, inside
from pipeline.files import atomic_write, exclusive_lock, try_lock
from pipeline.train.config import TrainConfig, dump_config, load_config

ACTIVE = ("starting", "running", "stopping")


def runs_dir() -> Path:
    return bottega_home() / "runs" / "train"


def run_folder(choice: str, field: str = "run") -> Path:
    """The folder of the run a user picked, by name or by its folder's path: only an existing folder directly in
    `runs_dir()`, once resolved (no '..', no other folder, no symlink that leads out)."""
    root = runs_dir().resolve()
    path = inside(root, (choice or "").strip(), field)
    if path.parent != root or not path.is_dir():
        raise ValueError(f"campo '{field}': {choice!r} non è una run di addestramento: scegline una dall'elenco")
    return path


def _device_lock_path() -> Path:
    devices = os.environ.get("CUDA_VISIBLE_DEVICES", "all").replace(",", "-") or "none"
    return bottega_home() / "locks" / f"train-{devices}.lock"


def hold_devices() -> IO:
    """Called by the training process itself: hold the devices' lock for the whole run (the OS drops it if the
    process dies), so a second run started from anywhere, CLI included, is refused."""
    lock = try_lock(_device_lock_path())
    if lock is None:
        raise ValueError(
            "Un altro addestramento sta già usando questa GPU (o questa CPU): fermalo o aspetta che finisca."
        )
    return lock


def status(run_dir: Path) -> dict:
    return jobs.read_status(run_dir)


def active_run() -> Path | None:
    """The run folder of the job that is running now, if any."""
    if not runs_dir().exists():
        return None
    for run_dir in sorted(runs_dir().iterdir()):
        if status(run_dir).get("state") in ACTIVE:
            return run_dir
    return None


def list_runs() -> list[dict]:
    """Every run, newest first: name, state, step, losses, folder."""
    rows = []
    if runs_dir().exists():
        for run_dir in runs_dir().iterdir():
            if (run_dir / "config.yaml").exists():
                rows.append({"name": run_dir.name, "dir": str(run_dir), **status(run_dir)})
    return sorted(rows, key=lambda r: r.get("started", 0), reverse=True)


def finished() -> list[dict]:
    """The runs that have an adapter to load or push, newest first (rows as `list_runs` gives them)."""
    return [row for row in list_runs() if (Path(row["dir"]) / "adapter").is_dir()]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _command(config: TrainConfig) -> list[str] | None:
    """The launcher prefix for several processes (DDP, DeepSpeed, FSDP): `accelerate launch ... -m`."""
    if config.num_processes <= 1 and not config.accelerate_config:
        return None
    prefix = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(config.num_processes)]
    if config.accelerate_config:
        prefix += ["--config_file", config.accelerate_config]
    else:
        # On CPU too: accelerate's MULTI_CPU needs mpirun, while "multi_gpu" with use_cpu in the training arguments
        # runs torch DDP over gloo.
        prefix += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return [*prefix, "--main_process_port", str(jobs.free_port()), "-m"]


def _launch(config: TrainConfig, args: list[str]) -> Path:
    run_dir = config.run_path
    with exclusive_lock(bottega_home() / "locks" / "train-start.lock"):
        running = active_run()
        if running is not None:
            raise ValueError(
                f"C'è già un addestramento in corso ('{running.name}'): fermalo o aspetta che finisca prima di "
                "avviarne un altro (un addestramento per GPU)."
            )
        # A run that just ended may still be exiting (and freeing its memory): give it a few seconds.
        deadline = time.monotonic() + 20
        while (probe := try_lock(_device_lock_path())) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if probe is None:
            raise ValueError("Un altro processo sta già addestrando su questa macchina: aspetta che finisca.")
        probe.close()
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "STOP").unlink(missing_ok=True)
        atomic_write(run_dir / "status.json", json.dumps({"state": "starting", "message": ""}).encode())
        # Several processes on few cores: one thread each, or they fight over the cores.
        env = {"OMP_NUM_THREADS": "1"} if config.num_processes > 1 and not _cuda() else None
        jobs.launch(args, run_dir / "log.txt", pid_file=run_dir / "pid", prefix=_command(config), env=env)
    return run_dir


def start(config: TrainConfig) -> Path:
    """Write the run's config and launch it; refused while another run trains or if the name is taken."""
    run_dir = config.run_path
    if (run_dir / "status.json").exists():
        raise ValueError(
            f"`name`: esiste già una run '{config.name}' ({status(run_dir).get('state', '?')}): "
            "scegli un altro nome, oppure riprendila."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.yaml"
    atomic_write(config_path, dump_config(config).encode("utf-8"))
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    return _launch(config, ["train", "--config", str(config_path)])


def resume(run_dir: Path) -> Path:
    """Continue a stopped, interrupted or failed run from its last checkpoint."""
    config = load_config(run_dir / "config.yaml")
    config.run_dir = str(run_dir)
    return _launch(config, ["train", "--resume", str(run_dir)])


def stop(run_dir: Path) -> None:
    """Ask the run to checkpoint and exit at the end of the current step."""
    jobs.request_stop(run_dir)


def loss_curves(run_dirs: list[Path]) -> list[dict]:
    """Loss points of several runs, for one overlaid plot: run, step, loss, and which loss (train or eval)."""
    from pipeline.train.run import read_metrics

    points = []
    for run_dir in run_dirs:
        for m in read_metrics(run_dir):
            for key, kind in (("loss", "train"), ("eval_loss", "eval")):
                if key in m:
                    points.append({"run": run_dir.name, "step": m["step"], "loss": m[key], "kind": kind})
    return points
