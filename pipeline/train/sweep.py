"""Hyperparameter sweeps: an Optuna study (TPE sampler, median pruning) whose trials are ordinary training runs.

    python -m pipeline sweep --config configs/sweeps/smollm2-lr.yaml        # run it; again after a stop or a kill
    python -m pipeline sweep --config configs/sweeps/smollm2-lr.yaml --detach

The sweep is a job (`pipeline.jobs`) in $BOTTEGA_HOME/runs/sweeps/<name>: config.yaml, status.json, log.txt,
`study.db` (Optuna's own SQLite storage), `trials.json` (the table the app and `--list` read) and `best.yaml`, the
best trial's training config, ready for `python -m pipeline train --config`. Each trial trains in this process as
the run `<name>-t003` in the runs table, with the base config's values and the trial's parameters; stopping the sweep
stops the trial in training (it checkpoints). Started again, a sweep continues where it stopped: a trial that was
training resumes from its checkpoint with the same parameters, and the study goes on to `trials`.

The objective, measured on the run's held-out split:
- `eval_loss` (lower is better): the eval loss of the adapter the run saved (the best one with early stopping);
  pruned against the other trials' eval losses at the same step;
- `fidelity` (higher is better): the share of held-out prompts answered in Italian without a loop or a wrong
  register (`pipeline.preferences.answer_problems`), at most `fidelity_prompts` of them; pruned on the samples'
  fidelity at each evaluation;
- `benchmark` (higher is better): acc_norm on the offline Italian benchmark (`pipeline.benchmark`, at most
  `benchmark_limit` items per category); not pruned (nothing comparable is measured during training).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import from_mapping, load, to_mapping
from pipeline.config import save as save_config
from pipeline.errors import Problems, UserError, message_of
from pipeline.files import atomic_write
from pipeline.i18n import Message
from pipeline.jobs import Job
from pipeline.paths import name_problem, safe_name
from pipeline.train.config import TrainConfig, dump_config, load_run_config
from pipeline.train.config import load_config as load_train_config
from pipeline.train.runs import refuse_if_busy, refuse_taken, start_lock, sweeps_dir

OBJECTIVES = {"eval_loss": "minimize", "fidelity": "maximize", "benchmark": "maximize"}
SEARCHABLE = ("learning_rate", "epochs", "max_steps", "lora_r", "lora_alpha", "lora_dropout", "neftune_alpha", "beta",
              "sft_weight", "warmup_ratio")  # fmt: skip
"""The training fields a sweep may search."""
_INTEGER = {f.name for f in dataclasses.fields(TrainConfig) if f.type in ("int", int)}


@dataclass
class SweepConfig:
    name: str = "smollm2-sweep"
    """The sweep's folder name; its trials are the runs <name>-t000, <name>-t001, ..."""
    train: str = "configs/train/smollm2-cpu.yaml"
    """The training config every trial starts from (its `name` and `run_dir` are replaced)."""
    params: dict[str, Any] = field(default_factory=lambda: {"learning_rate": {"low": 2e-4, "high": 2e-3, "log": True}})
    """What to search: a training field (SEARCHABLE) and its range, `{low: 1.0e-4, high: 2.0e-3, log: true}`
    (integers for integer fields), or its values, `{choices: [8, 16, 32]}`."""
    trials: int = 8
    """How many trials the study ends with (pruned and failed ones count)."""
    objective: str = "eval_loss"
    """"eval_loss", "fidelity" or "benchmark" (see the module's docstring)."""
    prune: bool = True
    """Stop a trial whose intermediate objective is worse than the median of earlier trials at the same step."""
    seed: int = 0
    """The sampler's seed."""
    fidelity_prompts: int = 16
    """`fidelity`: held-out prompts answered at the end of each trial."""
    benchmark_limit: int = 8
    """`benchmark`: items per category scored at the end of each trial (32 per category: the whole benchmark)."""
    run_dir: str | None = None
    """The sweep's folder (default $BOTTEGA_HOME/runs/sweeps/<name>)."""

    def __post_init__(self) -> None:
        problems = Problems()
        problem = name_problem(self.name)
        if problem is None:
            self.name = safe_name(self.name, "name")
        problems.check(problem is None, "name", problem)
        problems.check(self.trials > 0, "trials", Message("must_be_positive", value=self.trials))
        for name in ("fidelity_prompts", "benchmark_limit"):
            problems.check(getattr(self, name) > 0, name, Message("must_be_positive", value=getattr(self, name)))
        problems.check(self.objective in OBJECTIVES, "objective", Message(
            "must_be_one_of", value=self.objective, choices=", ".join(OBJECTIVES)))  # fmt: skip
        problems.check(bool(self.params), "params", Message("sweep_no_params"))
        for name, spec in self.params.items():
            where = f"params.{name}"
            if name not in SEARCHABLE:
                problems.add(where, Message("must_be_one_of", value=name, choices=", ".join(SEARCHABLE)))
                continue
            problem = _spec_problem(name, spec)
            problems.check(problem is None, where, problem)
        problems.raise_any()

    @property
    def path(self) -> Path:
        return Path(self.run_dir) if self.run_dir else sweeps_dir() / self.name

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SweepConfig:
        return from_mapping(cls, raw)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)


def _number(value: Any) -> float | None:
    """A number from YAML, where `1e-4` (no dot) is a string."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _spec_problem(name: str, spec: Any) -> Message | None:
    """What is wrong with one parameter's range or values, if anything (numbers written as strings are converted)."""
    if not isinstance(spec, dict):
        return Message("sweep_param_form")
    if "choices" in spec:
        ok = isinstance(spec["choices"], list) and spec["choices"] and set(spec) == {"choices"}
        return None if ok else Message("sweep_param_form")
    if not {"low", "high"} <= set(spec) <= {"low", "high", "log"}:
        return Message("sweep_param_form")
    low, high = _number(spec["low"]), _number(spec["high"])
    if low is None or high is None or not low < high:
        return Message("sweep_param_range", low=spec["low"], high=spec["high"])
    if spec.get("log") and low <= 0:
        return Message("sweep_param_log", low=spec["low"])
    if name in _INTEGER and not (low.is_integer() and high.is_integer()):
        return Message("sweep_param_integer")
    spec["low"], spec["high"] = (int(low), int(high)) if name in _INTEGER else (low, high)
    return None


def load_config(path: str | Path, arg: str = "--config") -> SweepConfig:
    return load(SweepConfig, path, arg)


def base_config(config: SweepConfig) -> TrainConfig:
    """The training config the trials start from, refused (with the fix) where a sweep cannot run it; each
    parameter's ends and choices must make a valid training config."""
    base = load_train_config(config.train, "`train`")
    problems = Problems()
    problems.check(base.num_processes == 1 and not base.accelerate_config, "train", Message("sweep_one_process"))
    if config.objective in ("eval_loss", "fidelity"):
        problems.check(base.eval_share > 0, "train", Message("sweep_needs_eval", objective=config.objective))
    problems.check(config.objective != "fidelity" or base.samples > 0, "train", Message("sweep_fidelity_samples"))
    for name, spec in config.params.items():
        for value in spec.get("choices") or (spec["low"], spec["high"]):
            try:
                TrainConfig.from_dict({**base.to_dict(), name: value, "preset": None})
            except UserError as e:
                problems.add(f"params.{name}", e.items[0])
                break
    problems.raise_any()
    return base


def devices_free() -> bool:
    """Whether no other process holds this machine's training devices now."""
    from pipeline.files import try_lock
    from pipeline.jobs import device_lock_path

    probe = try_lock(device_lock_path())
    if probe is None:
        return False
    probe.close()
    return True


@contextmanager
def _own_log() -> Iterator[None]:
    """A trial's output also goes to its run's own log.txt (the sweep's job, launched, logs only to its own)."""
    from pipeline.jobs import LOGGED

    saved = os.environ.pop(LOGGED, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[LOGGED] = saved


def trial_config(config: SweepConfig, base: TrainConfig, trial: Any, resume: bool = False) -> TrainConfig:
    """The trial's training config: the base with the trial's parameters (suggested now), as the run
    <sweep>-t<number>; a stopped trial resumes with the config its run saved, whatever the base says now."""
    from pipeline.train.runs import runs_dir

    saved = runs_dir() / f"{config.name}-t{trial.number:03d}"
    if resume and (saved / "config.yaml").is_file():
        return load_run_config(saved)
    values = base.to_dict()
    for name, spec in config.params.items():
        if "choices" in spec:
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif name in _INTEGER:
            values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=bool(spec.get("log")))
        else:
            values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=bool(spec.get("log")))
    values.update(name=f"{config.name}-t{trial.number:03d}", run_dir=None, preset=None)
    return TrainConfig.from_dict(values)


def _study(config: SweepConfig) -> Any:
    """The sweep's Optuna study, created or loaded from its SQLite storage."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{config.path / 'study.db'}"
    # The sampler's state is not stored: seeded by how many trials there are, a restarted sweep does not draw
    # the first trials' parameters again.
    stored = (config.path / "study.db").is_file()
    known = len(optuna.load_study(study_name=config.name, storage=storage).trials) if stored else 0
    sampler = optuna.samplers.TPESampler(seed=config.seed + known, n_startup_trials=min(4, config.trials))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2) if config.prune else optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=config.name, storage=storage, sampler=sampler, pruner=pruner,
                                direction=config.direction, load_if_exists=True)  # fmt: skip
    if study.direction.name.lower() != config.direction:
        raise UserError(Message("field_problem", field="objective", problem=Message(
            "sweep_objective_changed", name=config.name)))  # fmt: skip
    return study


def _objective_callback(config: SweepConfig, trial: Any, train_config: TrainConfig, sweep_dir: Path) -> Any:
    """Reports the intermediate objective to the trial at every evaluation and prunes it (a stop, so the run
    checkpoints); passes on a stop of the sweep to the run; measures the final objective at the end."""
    from transformers import TrainerCallback

    from pipeline.train import samples

    run_dir = train_config.run_path

    class Objective(TrainerCallback):
        def __init__(self) -> None:
            self.value: float | None = None
            self.pruned = False

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            value = (metrics or {}).get("eval_loss") if config.objective == "eval_loss" else None
            if config.objective == "fidelity":
                found = samples.history(Job(run_dir).metrics())
                value = found[-1]["sample_fidelity"] if found and found[-1]["step"] == state.global_step else None
            if value is None:
                return
            trial.report(value, state.global_step)
            if config.prune and trial.should_prune():
                self.pruned = True
                (run_dir / "STOP").touch()

        def on_step_end(self, args, state, control, **kwargs):
            if (sweep_dir / "STOP").exists():
                (run_dir / "STOP").touch()

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            if ((run_dir / "STOP").exists() and state.global_step < state.max_steps) or model is None:
                return
            if config.objective == "eval_loss":
                losses = [log["eval_loss"] for log in state.log_history if "eval_loss" in log]
                self.value = state.best_metric if train_config.early_stopping_patience else (losses or [None])[-1]
            elif config.objective == "fidelity":
                self.value = samples.fidelity(samples.answer(model, processing_class, held_out_prompts(
                    train_config, config.fidelity_prompts)))  # fmt: skip
            else:
                self.value = benchmark_accuracy(model, processing_class, config.benchmark_limit)

    return Objective()


def held_out_prompts(train_config: TrainConfig, limit: int) -> list[str]:
    """The first user turns of the run's held-out examples (its seeded split), at most `limit`."""
    from pipeline.train import data

    _, held = data.split(data.load_conversations(train_config), train_config.eval_share, train_config.seed)
    firsts = [next((m["content"] for m in c if m["role"] == "user"), None) for c in held]
    return [p for p in firsts if p][:limit]


def benchmark_accuracy(model: Any, tokenizer: Any, limit: int) -> float:
    """acc_norm over the first `limit` items of each category of the offline Italian benchmark."""
    from collections import Counter

    from pipeline import benchmark

    seen: Counter = Counter()
    items = []
    for item in benchmark.load_items():
        seen[item.category] += 1
        if seen[item.category] <= limit:
            items.append(item)
    was_training = model.training
    model.eval()
    try:
        return benchmark.score(model, tokenizer, items, batch_size=8).acc_norm["tutte"].accuracy
    finally:
        model.train(was_training)


def run(config: SweepConfig) -> int:
    """Run (or continue) the sweep in this process, as its job; 0 when it has all its trials, 1 when stopped."""
    import optuna

    from pipeline.train.sft import train

    base = base_config(config)
    refuse_if_busy(config.path)  # a trial must not find the devices taken: that would fail it, not the sweep
    job = Job(config.path)
    with job.running():
        save_config(config, job.config_path)
        study = _study(config)
        job.update(trials=config.trials, objective=config.objective, direction=config.direction)
        running = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
        pending = [optuna.trial.Trial(study, t._trial_id) for t in running]  # stopped or killed: they resume
        while not job.stop_requested:
            if pending:
                trial, resume = pending.pop(0), True
            elif _counted(study) < config.trials:
                trial, resume = study.ask(), False
            else:
                break
            if not devices_free():  # another job took the devices between two trials: stop, do not fail trials
                (config.path / "STOP").touch()
                break
            try:  # a trial that cannot train (a bad combination, a taken name, out of memory) fails alone
                train_config = trial_config(config, base, trial, resume)
                trial.set_user_attr("run", train_config.name)
                job.update(current=train_config.name, message=Message("sweep_trial", number=trial.number + 1,
                                                                        total=config.trials))  # fmt: skip
                write_trials(config, study, job)
                if not resume:
                    refuse_taken(train_config)
                objective = _objective_callback(config, trial, train_config, config.path)
                with _own_log():
                    status = train(train_config, resume=resume, callbacks=(objective,))
            except Exception as e:
                trial.set_user_attr("error", str(message_of(e)))
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                write_trials(config, study, job)
                continue
            if objective.pruned:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            elif status.state == "stopped":  # stopped (the sweep, or its trial from the tab): it resumes later
                (config.path / "STOP").touch()
                break
            elif objective.value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, objective.value)
            write_trials(config, study, job)
            write_best(config, study, base)
        write_trials(config, study, job)
        job.update(current=None)
        if job.stop_requested:
            job.update(state="stopped", message=Message("sweep_stopped"))
            return 1
        best = config.path / "best.yaml"
        end = Message("sweep_finished", total=config.trials, path=best) if best.is_file() else Message(
            "sweep_finished_none", total=config.trials)  # fmt: skip
        job.update(state="finished", message=end)
    return 0


def _counted(study: Any) -> int:
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    return len(study.get_trials(deepcopy=False, states=done))


def write_trials(config: SweepConfig, study: Any, job: Job) -> None:
    """The trials as the app shows them (number, run, state, objective, parameters, the run's step), into
    trials.json, and the best so far into the sweep's status."""
    rows = []
    for frozen in study.get_trials(deepcopy=False):
        rows.append({"number": frozen.number, "run": frozen.user_attrs.get("run"), "state": frozen.state.name.lower(),
                     "value": frozen.value, "params": frozen.params, "intermediate": frozen.intermediate_values,
                     "error": frozen.user_attrs.get("error")})  # fmt: skip
    atomic_write(config.path / "trials.json", json.dumps(rows, ensure_ascii=False).encode("utf-8"))
    best = _best(study)
    job.update(done=_counted(study), best_value=best and best.value, best_run=best and best.user_attrs.get("run"),
               best_params=best and best.params)  # fmt: skip


def _best(study: Any) -> Any:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    pick = min if study.direction == optuna.study.StudyDirection.MINIMIZE else max
    return pick(complete, key=lambda t: t.value)


def write_best(config: SweepConfig, study: Any, base: TrainConfig) -> Path | None:
    """best.yaml: the best trial's training config under the name <sweep>-best, ready to train."""
    best = _best(study)
    if best is None:
        return None
    values = {**base.to_dict(), **best.params, "name": f"{config.name}-best", "run_dir": None, "preset": None}
    path = config.path / "best.yaml"
    header = (
        f"# The best of sweep {config.name} so far: trial {best.number} (run {best.user_attrs.get('run')}), "
        f"{config.objective} {best.value:.4f}.\n#   python -m pipeline train --config {path}\n"
    )
    atomic_write(path, (header + dump_config(TrainConfig.from_dict(values))).encode("utf-8"))
    return path


def trials(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """The rows write_trials left, with each running trial's progress (step, eval loss) from its run."""
    from pipeline.train.runs import runs_dir

    try:
        rows = json.loads((Path(sweep_dir) / "trials.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    for row in rows:
        run_dir = runs_dir() / (row["run"] or "")
        found = Job(run_dir).status() if row["run"] else None
        row["step"] = found.get("step") if found else None
        row["max_steps"] = found.get("max_steps") if found else None
        row["eval_loss"] = found.get("eval_loss") if found else None
    return rows


def start(config: SweepConfig, base: TrainConfig | None = None) -> Path:
    """Write the sweep's config and launch it detached (or continue it: same name, same study, more trials if
    `trials` grew); refused while a training or a sweep runs. `base`: the trials' training config, written next to
    the sweep as train.yaml (the Addestra form's), instead of the file `train` names."""
    job = Job(config.path)
    config.train = str(Path(config.train).expanduser().resolve())  # the detached job runs from the repository
    with start_lock():
        refuse_if_busy()
        if base is not None:
            config.train = str(save_config(base, config.path / "train.yaml"))
        base_config(config)
        save_config(config, job.config_path)
        return job.launch(["sweep", "--config", str(job.config_path)])


def parse_params(text: str) -> dict[str, Any]:
    """The search space as the tab's YAML box gives it (checked by SweepConfig)."""
    try:
        params = yaml.safe_load(text or "")
    except yaml.YAMLError as e:
        raise UserError(Message("field_problem", field="params", problem=Message("sweep_params_yaml",
                                                                                  error=str(e)))) from e  # fmt: skip
    if not isinstance(params, dict):
        raise UserError(Message("field_problem", field="params", problem=Message("sweep_param_form")))
    return params


def points(rows: list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    """The finished trials' objective against one parameter, for a scatter plot."""
    return [{"trial": r["number"], "param_value": r["params"].get(param), "objective": r["value"]}
            for r in rows if r["value"] is not None and param in r["params"]]  # fmt: skip


def best_so_far(rows: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """After each finished trial, the trial's objective and the best one until then."""
    pick = min if direction == "minimize" else max
    out, best = [], None
    for r in sorted(rows, key=lambda r: r["number"]):
        if r["value"] is None:
            continue
        best = r["value"] if best is None else pick(best, r["value"])
        out += [{"trial": r["number"], "objective": r["value"], "series": "trial"},
                {"trial": r["number"], "objective": best, "series": "best"}]  # fmt: skip
    return out


def active() -> Path | None:
    """The folder of the sweep running now, if any."""
    from pipeline.jobs import active_jobs

    found = active_jobs(sweeps_dir())
    return found[0].dir if found else None


def list_sweeps() -> list[dict[str, Any]]:
    """Every sweep, newest first: name, folder, state and its status's fields."""
    rows = []
    if sweeps_dir().is_dir():
        for folder in sweeps_dir().iterdir():
            if (folder / "config.yaml").is_file():
                found = Job(folder).status()
                rows.append({**found.fields, "name": folder.name, "dir": str(folder), "state": found.state,
                             "message": found.message})  # fmt: skip
    return sorted(rows, key=lambda r: r.get("started") or 0, reverse=True)
