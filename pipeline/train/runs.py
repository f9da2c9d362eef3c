"""Training runs as the app and the CLI see them: start, stop, resume, follow, list. One run at a time per set of
devices.

The app never trains in its own process: it writes the run's config.yaml and launches `python -m pipeline train`
(or `accelerate launch ... -m pipeline train` for several processes) detached, as a job (`pipeline.jobs`), then
reads the run folder. A page reload or an app restart finds the job again from its folder, and a run started in a
terminal is seen the same way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipeline.errors import UserError
from pipeline.files import exclusive_lock, try_lock
from pipeline.i18n import Message, t
from pipeline.jobs import Job, JobStatus, active_jobs, device_lock_path, free_port
from pipeline.paths import bottega_home, inside
from pipeline.train.config import TrainConfig, load_run_config, save_run_config


def runs_dir() -> Path:
    return bottega_home() / "runs" / "train"


def run_folder(choice: str, field: str = "run") -> Path:
    """The folder of the run a user picked, by name or by its folder's path: only an existing folder directly in
    `runs_dir()`, once resolved (no '..', no other folder, no symlink that leads out)."""
    root = runs_dir().resolve()
    path = inside(root, (choice or "").strip(), field)
    if path.parent != root or not path.is_dir():
        raise UserError(Message("field_problem", field=field, problem=Message("run_not_found", value=choice)))
    return path


def job_folder(choice: str, field: str = "run") -> Path:
    """A job folder the app follows (a run, or a job inside one such as its fidelity pairs): an existing folder under
    $BOTTEGA_HOME/runs, once resolved."""
    root = (bottega_home() / "runs").resolve()
    path = inside(root, (choice or "").strip(), field)
    if not path.is_dir() or path == root:
        raise UserError(Message("field_problem", field=field, problem=Message("run_not_found", value=choice)))
    return path


def adapter_source(choice: str | None) -> str | None:
    """What the app's "start from" picker may name: nothing (a new adapter) or a finished run, as its folder."""
    if not (choice or "").strip():
        return None
    folder = run_folder(choice, "adapter")
    if not (folder / "adapter" / "adapter_config.json").is_file():
        raise UserError(Message("field_problem", field="adapter", problem=Message("run_no_adapter", name=choice)))
    return str(folder)


def status(run_dir: Path) -> JobStatus:
    return Job(run_dir).status()


def active_run() -> Path | None:
    """The folder of the run that is training now, if any, however it was started."""
    running = active_jobs(runs_dir())
    return running[0].dir if running else None


def list_runs() -> list[dict]:
    """Every run, newest first: name, folder, state, and what its status says (step, losses, ...)."""
    rows = []
    if runs_dir().exists():
        for run_dir in runs_dir().iterdir():
            if (run_dir / "config.yaml").exists():
                found = status(run_dir)
                rows.append({**found.fields, "name": run_dir.name, "dir": str(run_dir), "state": found.state,
                             "message": found.message})  # fmt: skip
    return sorted(rows, key=lambda r: r.get("started") or 0, reverse=True)


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
    return [*prefix, "--main_process_port", str(free_port()), "-m"]


def sweeps_dir() -> Path:
    return bottega_home() / "runs" / "sweeps"


def refuse_if_busy(sweep: Path | None = None) -> None:
    """Refuse to start training while a run or a sweep (other than `sweep`) is active, or the devices are held."""
    running = active_run()
    if running is not None:
        raise UserError(Message("train_already_running", name=running.name))
    sweeping = [job.dir for job in active_jobs(sweeps_dir()) if job.dir != sweep]
    if sweeping:
        raise UserError(Message("sweep_already_running", name=sweeping[0].name))
    # A run that just ended may still be exiting (and freeing its memory): give it a few seconds.
    deadline = time.monotonic() + 20
    while (probe := try_lock(device_lock_path())) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if probe is None:
        raise UserError(Message("devices_busy"))
    probe.close()


def refuse_taken(config: TrainConfig) -> None:
    """A new run needs a name no run has used: one that exists is resumed, not overwritten."""
    found = status(config.run_path)
    if found.state != "new":
        raise UserError(Message("train_name_taken", name=config.name, state=t("state_" + found.state)))


def _launch(config: TrainConfig, args: list[str], resume: bool) -> Path:
    """Launch the run's job; the caller holds the start lock and has checked the devices are free."""
    # Several processes on few cores: one thread each, or they fight over the cores.
    env = {"OMP_NUM_THREADS": "1"} if config.num_processes > 1 and not _cuda() else None
    job = Job(config.run_path)
    launch = job.resume if resume else job.launch
    return launch(args, prefix=_command(config), env=env)


def start_lock():
    return exclusive_lock(bottega_home() / "locks" / "train-start.lock")


def start(config: TrainConfig) -> Path:
    """Write the run's config and launch it; refused, with nothing written, while another run trains or if the name
    is taken."""
    with start_lock():
        refuse_if_busy()
        refuse_taken(config)
        config_path = save_run_config(config)
        (config.run_path / "metrics.jsonl").unlink(missing_ok=True)
        return _launch(config, ["train", "--config", str(config_path)], resume=False)


def resume(run_dir: Path) -> Path:
    """Continue a stopped, interrupted or failed run from its last checkpoint, as a detached job."""
    config = load_run_config(run_dir)
    with start_lock():
        refuse_if_busy()
        return _launch(config, ["train", "--resume", str(run_dir)], resume=True)


def stop(run_dir: Path) -> None:
    """Ask the run to checkpoint and exit at the end of the current step."""
    Job(run_dir).stop()


def loss_curves(run_dirs: list[Path]) -> list[dict]:
    """Loss points of several runs, for one overlaid plot: run, step, loss, and which loss (train or eval)."""
    points = []
    for run_dir in run_dirs:
        for m in Job(run_dir).metrics():
            for key, kind in (("loss", "train"), ("eval_loss", "eval")):
                if key in m:
                    points.append({"run": run_dir.name, "step": m["step"], "loss": m[key], "kind": kind})
    return points
