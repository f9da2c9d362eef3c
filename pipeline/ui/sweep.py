"""The sweep panel of the Addestra tab: start and stop an Optuna sweep whose trials start from the form above, and
watch its trials fill a table, the objective against each parameter, and the best so far.

The sweep is `python -m pipeline sweep` in its own process (`pipeline.train.sweep`); this panel writes its config
and reads its folder, so a page reload finds a running sweep again.
"""

import html
from collections.abc import Callable

import gradio as gr
import pandas as pd

from pipeline.i18n import t
from pipeline.jobs import Job
from pipeline.train import sweep
from pipeline.train.config import TrainConfig
from pipeline.ui.common import STATE_ICONS, gated, status_box, whole

DEFAULT_PARAMS = """learning_rate: {low: 2.0e-4, high: 3.0e-3, log: true}
lora_r: {choices: [8, 16, 32]}
"""


def start(name: str, trials: float | None, objective: str, prune: bool, params: str, base: TrainConfig) -> tuple:
    """Start (or continue, under the same name) a sweep whose trials start from `base`, the form's config."""
    raw = {"name": (name or "").strip(), "trials": whole(trials), "objective": objective, "prune": prune,
           "params": sweep.parse_params(params)}  # fmt: skip
    config = sweep.SweepConfig.from_dict(raw)
    folder = sweep.start(config, base=base)
    names = list(config.params)
    return str(folder), gr.Timer(active=True), gr.Dropdown(choices=names, value=names[0])


def stop_sweep(folder: str | None) -> None:
    if not folder or not Job(folder).active:
        gr.Warning(t("sweep_nothing_to_stop"))
        return
    Job(folder).stop()
    gr.Info(t("sweep_stop_sent"))


def attach_sweep() -> tuple:
    """On page load: follow the sweep that is running, if any."""
    active = sweep.active()
    if active is None:
        return None, gr.Timer(active=False), gr.Dropdown()
    params = list(sweep.load_config(active / "config.yaml").params)
    return str(active), gr.Timer(active=True), gr.Dropdown(choices=params, value=params[0])


def poll_sweep(folder: str | None, param: str | None) -> tuple:
    """The sweep's status, its trials table, the objective against `param`, and the best so far."""
    empty = pd.DataFrame(columns=["trial", "objective", "series"])
    if not folder:
        return "", pd.DataFrame(), plot(None, None), empty, gr.Timer(active=False)
    status = Job(folder).status()
    rows = sweep.trials(folder)
    done, total = status.get("done", 0), status.get("trials", 0)
    best = status.get("best_value")
    details = f"<code>{html.escape(Job(folder).name)}</code> · {done} / {total}"
    if isinstance(best, float):
        run = html.escape(status.get("best_run") or "")
        details += f" · {html.escape(t('sweep_best'))} <b id='sweep-best-value'>{best:.4f}</b> ({run})"
    box = status_box(status, "sweep", done, total, details)
    params = sorted({p for r in rows for p in r["params"]})
    table = pd.DataFrame(
        [
            [
                r["number"],
                r["run"],
                _trial_state(r),
                _step(r),
                r["value"],
                *[r["params"].get(p) for p in params],
            ]
            for r in rows
        ],  # fmt: skip
        columns=[
            t("sweep_trial_col"),
            "run",
            t("col_state"),
            t("col_steps"),
            status.get("objective") or "objective",
            *params,
        ],  # fmt: skip
    )
    best_curve = pd.DataFrame(sweep.best_so_far(rows, status.get("direction") or "minimize"), columns=empty.columns)
    return box, table, plot(folder, param), best_curve, gr.Timer(active=status.active)


def _trial_state(row: dict) -> str:
    """A trial's state in words (Optuna's running, complete, pruned, fail), with the icon of the matching job state."""
    job_state = {"running": "running", "complete": "finished", "pruned": "stopped", "fail": "failed"}[row["state"]]
    return f"{STATE_ICONS[job_state]} {t('trial_' + row['state'])}"


def _step(row: dict) -> str:
    return f"{row['step'] or 0}/{row['max_steps'] or '?'}"


def plot(folder: str | None, param: str | None) -> gr.ScatterPlot:
    """The finished trials' objective against `param`."""
    rows = sweep.trials(folder) if folder else []
    frame = pd.DataFrame(sweep.points(rows, param) if param else [], columns=["trial", "param_value", "objective"])
    return gr.ScatterPlot(frame, x_title=param or "")


def render(demo: gr.Blocks, form: list, config_from_form: Callable) -> None:
    with gr.Accordion(t("sweep_title"), open=False):
        gr.Markdown(t("sweep_intro"))
        with gr.Row():
            with gr.Column(scale=1):
                name = gr.Textbox("ricerca-1", label=t("sweep_name"), elem_id="sweep-name")
                trials = gr.Number(6, precision=0, minimum=1, label=t("sweep_trials"), elem_id="sweep-trials")
                objective = gr.Dropdown(list(sweep.OBJECTIVES), value="eval_loss", label=t("sweep_objective"),
                                        info=t("sweep_objective_info"))  # fmt: skip
                prune = gr.Checkbox(True, label=t("sweep_prune"))
            with gr.Column(scale=2):
                params = gr.Code(DEFAULT_PARAMS, language="yaml", label=t("sweep_params"), lines=6,
                                 elem_id="sweep-params")  # fmt: skip
                gr.Markdown(t("sweep_params_info", fields=", ".join(sweep.SEARCHABLE)))
        with gr.Row():
            start_btn = gr.Button(t("sweep_start"), variant="primary", elem_id="sweep-start")
            stop_btn = gr.Button(t("sweep_stop"), variant="stop", elem_id="sweep-stop")
        folder = gr.State(None)
        timer = gr.Timer(2.0, active=False)
        progress = gr.HTML()
        table = gr.Dataframe(interactive=False, elem_id="sweep-trials-table")
        with gr.Row():
            with gr.Column():
                param = gr.Dropdown([], label=t("sweep_param_axis"), elem_id="sweep-param")
                scatter = gr.ScatterPlot(
                    x="param_value", y="objective", title=t("sweep_scatter"), elem_id="sweep-scatter"
                )
            best = gr.LinePlot(x="trial", y="objective", color="series", title=t("sweep_best_curve"),
                               elem_id="sweep-best")  # fmt: skip

    @gated
    def start_from_form(name, trials, objective, prune, params, *values):
        return start(name, trials, objective, prune, params, config_from_form(*values))

    start_btn.click(start_from_form, [name, trials, objective, prune, params, *form], [folder, timer, param])
    stop_btn.click(gated(stop_sweep), folder, None)
    timer.tick(poll_sweep, [folder, param], [progress, table, scatter, best, timer], show_progress="hidden")
    param.change(plot, [folder, param], scatter)
    demo.load(attach_sweep, None, [folder, timer, param])
