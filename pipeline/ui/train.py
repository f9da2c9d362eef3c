"""The Addestra tab: pick a model and a dataset, set the hyperparameters, check template, tokens and memory, then
start, stop or resume a training job and watch its loss.

The job is `python -m pipeline train` in its own process (`pipeline.train.runs`); this tab writes its config and
reads the run folder, so a page reload or an app restart finds a running job again.
"""

import html

import gradio as gr
import pandas as pd

from pipeline import editor
from pipeline.errors import UserError
from pipeline.i18n import Message, t
from pipeline.jobs import Job
from pipeline.train import runs, samples
from pipeline.train.config import ATTENTION, METHODS, PRESETS, SCHEDULERS, TrainConfig
from pipeline.train.data import dataset_source, template_source
from pipeline.ui import hub as hub_panels
from pipeline.ui import sweep as sweep_panel
from pipeline.ui.common import gated, state_label, status_box, whole

# The form's fields, in the order the handlers receive them; each is a TrainConfig field.
FIELDS = (
    "name", "preset", "model", "dataset", "chat_template", "lora_r", "lora_alpha", "lora_dropout", "target_modules",
    "use_dora", "use_rslora", "qlora", "attention", "assistant_only_loss", "packing", "group_by_length",
    "max_length", "epochs", "max_steps", "learning_rate", "lr_scheduler", "warmup_ratio", "batch_size", "grad_accum",
    "gradient_checkpointing", "neftune_alpha", "seed", "eval_share", "eval_steps", "save_steps", "num_processes",
    "method", "adapter", "beta", "early_stopping_patience", "samples",
)  # fmt: skip
_KEEP_ON_PRESET = ("dataset", "method", "adapter", "beta")  # what a preset does not reset


def config_from_form(*values) -> TrainConfig:
    raw = dict(zip(FIELDS, values, strict=True))
    raw["dataset"] = dataset_source(raw["dataset"])
    raw["target_modules"] = [m.strip() for m in raw["target_modules"].split(",")] if "," in raw[
        "target_modules"] else raw["target_modules"].strip()  # fmt: skip
    raw["neftune_alpha"] = raw["neftune_alpha"] or None
    raw = {name: whole(value) for name, value in raw.items()}
    raw["chat_template"] = template_source(raw["chat_template"])
    raw["adapter"] = runs.adapter_source(raw["adapter"])
    return TrainConfig.from_dict(raw)


def preset_values(preset: str) -> list:
    """The form filled from a preset (the dataset and the run name stay as the user set them)."""
    config = TrainConfig.from_dict({"preset": preset}).to_dict()
    values = []
    for name in FIELDS[2:]:
        value = config[name]
        if name in _KEEP_ON_PRESET:
            value = gr.update()
        elif name == "target_modules" and isinstance(value, list):
            value = ", ".join(value)
        values.append(value if value is not None else ("" if name == "chat_template" else 0))
    return values


def check(*values) -> tuple:
    """Template and label mask, tokenizer report, memory estimate; the problems that would stop the run."""
    from pipeline.train.check import inspect, preflight

    config = config_from_form(*values)
    problems = preflight(config)
    if problems:
        raise UserError(*problems, title=Message("train_cannot_title"))
    found = inspect(config)
    trained = t("train_mask_trained")
    mask = []
    for i, preview in enumerate(found.previews, 1):
        mask.append((t("train_mask_example", number=i) + "\n", None))
        mask += [(text, trained if is_trained else None) for text, is_trained in preview.segments]
        mask.append(("\n\n", None))
    eot = all(p.eot_trained for p in found.previews)
    mask_note = t("train_mask_counts", train=found.train_examples, eval=found.eval_examples) + " " + (
        t("train_eot_trained") if eot else t("train_eot_not_trained"))  # fmt: skip
    memory = pd.DataFrame(found.memory.table(), columns=[t("train_memory_part"), t("train_memory_size")])
    advice = "\n".join(f"- {a}" for a in found.memory.advice) or t("train_memory_fits")
    mask = gr.HighlightedText(mask, color_map={trained: "green"})
    return mask, mask_note, found.tokenizer.summary(), memory, advice


@gated
def start(*values) -> tuple[str, gr.Timer]:
    return str(runs.start(config_from_form(*values))), gr.Timer(active=True)


@gated
def build_pairs(model: str, dataset: str, adapter: str | None) -> tuple[str, gr.Timer]:
    """Start building Italian-fidelity pairs: from the chosen run (its adapter, dataset and training split), or from
    the model and dataset of the form when no run is chosen."""
    from pipeline.preferences import FidelityConfig, start

    run = runs.adapter_source(adapter)
    if run:
        config = FidelityConfig(run_dir=run)
    else:
        config = FidelityConfig(model=(model or "").strip() or None, dataset=dataset_source(dataset))
    return str(start(config)), gr.Timer(active=True)


def method_changed(method: str, dataset: str) -> gr.Dropdown:
    """Preference methods train on pair datasets: offer those (built pairs, exported votes) first."""
    names = editor.list_datasets()
    if method == "sft":
        return gr.Dropdown(choices=names)
    pairs = [n for n in names if _has_pairs(n)]
    return gr.Dropdown(choices=pairs + [n for n in names if n not in pairs],
                       value=dataset if dataset in pairs or not pairs else pairs[0])  # fmt: skip


def _has_pairs(name: str) -> bool:
    from pipeline import dataset as yaml_dataset

    try:
        return any(e.rejected is not None for e in yaml_dataset.load(editor.dataset_path(name)).examples)
    except UserError:
        return False


def refresh_choices() -> tuple[gr.Dropdown, gr.Dropdown]:
    """The datasets (new pair files included) and the finished runs a preference stage can start from."""
    finished = [""] + [r["name"] for r in runs.finished()]
    return gr.Dropdown(choices=editor.list_datasets()), gr.Dropdown(choices=finished)


@gated
def resume(run_dir: str | None, selected: list[str] | None) -> tuple[str, gr.Timer]:
    if not (selected or run_dir):
        raise UserError(Message("train_pick_resume"))
    return str(runs.resume(runs.run_folder(selected[0] if selected else run_dir))), gr.Timer(active=True)


@gated
def stop(run_dir: str | None) -> None:
    folder = runs.job_folder(run_dir) if run_dir else None  # a run, or the building of its fidelity pairs
    if folder is None or not Job(folder).active:
        gr.Warning(t("train_nothing_to_stop"))
        return
    Job(folder).stop()
    gr.Info(t("train_stop_sent"))


def attach() -> tuple[str | None, gr.Timer]:
    """On page load: follow the job that is running, if any (after a reload or an app restart)."""
    active = runs.active_run()
    return (str(active) if active else None), gr.Timer(active=active is not None)


def _eta(seconds: float | None) -> str:
    if not seconds:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return t("train_eta_min", minutes=minutes, seconds=secs) if minutes else t("train_eta_s", seconds=secs)


def poll(run_dir: str | None) -> tuple:
    """Progress, live loss and log tail of the followed job."""
    if not run_dir:
        return "", pd.DataFrame(columns=["step", "loss", "kind"]), "", gr.skip(), gr.Timer(active=False)
    job = Job(run_dir)
    status = job.status()
    step, total = status.get("step", 0), status.get("max_steps") or 0
    eta = _eta(status.get("eta_s")) if status.state == "running" else ""
    details = (
        f"<code>{html.escape(job.name)}</code> · {html.escape(t('train_step'))} "
        f"<b id='train-step'>{step}</b> / {total or '?'}{eta}"
        + (f" · loss {status.get('loss'):.4f}" if isinstance(status.get("loss"), float) else "")
    )
    progress = status_box(status, "train", step, total, details)
    curve = pd.DataFrame(runs.loss_curves([job.dir]), columns=["run", "step", "loss", "kind"])
    return progress, curve, job.log_tail(30), runs_table()[0], gr.Timer(active=status.active)


def sample_views(run_dir: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fidelity of the fixed prompts' answers at each evaluation, and the answers themselves, newest first."""
    records = samples.history(Job(run_dir).metrics()) if run_dir else []
    curve = pd.DataFrame([{"step": r["step"], "fidelity": r["sample_fidelity"]} for r in records],
                         columns=["step", "fidelity"])  # fmt: skip
    yes, no = t("yes"), t("no")
    rows = [[r["step"], s["prompt"], s["answer"], yes if s["italian"] else no, yes if s["loops"] else no]
            for r in reversed(records) for s in r["samples"]]  # fmt: skip
    columns = [t("train_step"), "prompt", t("col_answer"), t("col_italian"), t("col_loops")]
    return curve, pd.DataFrame(rows, columns=columns)


def runs_table() -> tuple[pd.DataFrame, gr.CheckboxGroup]:
    rows = runs.list_runs()
    table = pd.DataFrame(
        [
            [
                r["name"],
                state_label(r["state"]),
                f"{r.get('step', 0)}/{r.get('max_steps', '?')}",
                round(r["loss"], 4) if isinstance(r.get("loss"), float) else None,
                round(r["eval_loss"], 4) if isinstance(r.get("eval_loss"), float) else None,
            ]
            for r in rows
        ],
        columns=["run", t("col_state"), t("col_steps"), "loss", "eval loss"],
    )
    return table, gr.CheckboxGroup(choices=[r["name"] for r in rows])


def overlay(names: list[str] | None) -> pd.DataFrame:
    points = runs.loss_curves([runs.run_folder(n) for n in names or []])
    frame = pd.DataFrame(points, columns=["run", "step", "loss", "kind"])
    frame[t("col_series")] = frame["run"] + " · " + frame["kind"]
    return frame


def render(demo: gr.Blocks) -> None:
    defaults = TrainConfig.from_dict({})
    with gr.Row():
        with gr.Column():
            gr.Markdown(t("train_model_data"))
            name = gr.Textbox(defaults.name, label=t("train_name"), elem_id="train-name")
            preset = gr.Dropdown(list(PRESETS), value=defaults.preset, label=t("train_preset"))
            model = gr.Textbox(defaults.model, label=t("train_model"))
            datasets = editor.list_datasets()
            dataset = gr.Dropdown(
                datasets,
                value="seed_it.yaml" if "seed_it.yaml" in datasets else None,
                allow_custom_value=True,
                label=t("train_dataset"),
                elem_id="train-dataset",
            )
            chat_template = gr.Dropdown(["", "chatml"], value="", label=t("train_template"))
            with gr.Row():
                method = gr.Dropdown(list(METHODS), value=defaults.method, label=t("train_method"),
                                     info=t("train_method_info"), elem_id="train-method")  # fmt: skip
                adapter = gr.Dropdown([""] + [r["name"] for r in runs.finished()], value="", label=t("train_from"),
                                      info=t("train_from_info"), elem_id="train-from")  # fmt: skip
                beta = gr.Number(defaults.beta, minimum=0, label="beta", info=t("train_beta_info"))
            pairs_btn = gr.Button(t("train_pairs"), size="sm", elem_id="train-pairs")
            with gr.Row():
                assistant_only = gr.Checkbox(defaults.assistant_only_loss, label=t("train_assistant_only"))
                packing = gr.Checkbox(defaults.packing, label=t("train_packing"))
                group_by_length = gr.Checkbox(defaults.group_by_length, label=t("train_group"))
            with gr.Row():
                eval_share = gr.Slider(0, 0.4, value=defaults.eval_share, step=0.05, label=t("train_eval_share"))
                eval_steps = gr.Number(defaults.eval_steps, precision=0, minimum=1, label=t("train_eval_steps"),
                                       elem_id="train-eval-steps")  # fmt: skip
                save_steps = gr.Number(defaults.save_steps, precision=0, minimum=1, label=t("train_save_steps"))
        with gr.Column():
            gr.Markdown(t("train_lora"))
            with gr.Row():
                lora_r = gr.Slider(1, 256, value=defaults.lora_r, step=1, label="r")
                lora_alpha = gr.Slider(1, 512, value=defaults.lora_alpha, step=1, label="alpha")
                lora_dropout = gr.Slider(0, 0.5, value=defaults.lora_dropout, step=0.01, label="dropout")
            target_modules = gr.Textbox(defaults.target_modules, label=t("train_targets"))
            with gr.Row():  # two per row: four in the narrow column cut "gradient checkpointing" off
                use_dora = gr.Checkbox(defaults.use_dora, label="DoRA")
                use_rslora = gr.Checkbox(defaults.use_rslora, label="rsLoRA")
            with gr.Row():
                qlora = gr.Checkbox(defaults.qlora, label=t("train_qlora"))
                checkpointing = gr.Checkbox(defaults.gradient_checkpointing, label="gradient checkpointing")
            attention = gr.Dropdown(list(ATTENTION), value=defaults.attention, label=t("train_attention"))
        with gr.Column():
            gr.Markdown(t("train_optim"))
            with gr.Row():
                epochs = gr.Number(defaults.epochs, minimum=0, label=t("train_epochs"))
                max_steps = gr.Number(
                    defaults.max_steps, precision=0, label=t("train_max_steps"), elem_id="train-steps"
                )
            with gr.Row():
                learning_rate = gr.Number(defaults.learning_rate, minimum=0, label="learning rate")
                scheduler = gr.Dropdown(list(SCHEDULERS), value=defaults.lr_scheduler, label=t("train_scheduler"))
                warmup = gr.Slider(0, 0.5, value=defaults.warmup_ratio, step=0.01, label=t("train_warmup"))
            with gr.Row():
                max_length = gr.Number(defaults.max_length, precision=0, minimum=16, label=t("train_max_length"),
                                       elem_id="train-max-length")  # fmt: skip
                batch_size = gr.Slider(1, 64, value=defaults.batch_size, step=1, label=t("train_batch"))
                grad_accum = gr.Slider(1, 64, value=defaults.grad_accum, step=1, label=t("train_accum"))
            with gr.Row():
                neftune = gr.Number(0, minimum=0, label=t("train_neftune"))
                seed = gr.Number(defaults.seed, precision=0, label=t("train_seed"))
                processes = gr.Number(1, precision=0, minimum=1, label=t("train_processes"))
            with gr.Row():
                patience = gr.Number(defaults.early_stopping_patience, precision=0, minimum=0,
                                     label=t("train_patience"), info=t("train_patience_info"),
                                     elem_id="train-patience")  # fmt: skip
                n_samples = gr.Number(defaults.samples, precision=0, minimum=0, maximum=len(samples.prompts(99)),
                                      label=t("train_samples"), info=t("train_samples_info"),
                                      elem_id="train-samples-count")  # fmt: skip
    form = [name, preset, model, dataset, chat_template, lora_r, lora_alpha, lora_dropout, target_modules, use_dora]
    form += [use_rslora, qlora, attention, assistant_only, packing, group_by_length, max_length, epochs, max_steps]
    form += [learning_rate, scheduler, warmup, batch_size, grad_accum, checkpointing, neftune, seed, eval_share]
    form += [eval_steps, save_steps, processes, method, adapter, beta, patience, n_samples]

    with gr.Row():
        check_btn = gr.Button(t("train_check"), elem_id="train-check")
        start_btn = gr.Button(t("train_start"), variant="primary", elem_id="train-start")
        stop_btn = gr.Button(t("train_stop"), variant="stop", elem_id="train-stop")
        resume_btn = gr.Button(t("train_resume"), elem_id="train-resume")
    with gr.Accordion(t("train_before"), open=False) as before:
        with gr.Row():
            with gr.Column(scale=3):
                mask = gr.HighlightedText(label=t("train_mask"), color_map={t("train_mask_trained"): "green"},
                                          show_legend=True, elem_id="train-mask")  # fmt: skip
                mask_note = gr.Markdown()
            with gr.Column(scale=2):
                tokenizer_note = gr.Markdown(elem_id="train-tokenizer")
                memory = gr.Dataframe(label=t("train_memory"), interactive=False)
                advice = gr.Markdown()
    run_dir = gr.State(None)
    timer = gr.Timer(1.0, active=False)
    progress = gr.HTML()
    with gr.Row():
        live = gr.LinePlot(x="step", y="loss", color="kind", title=t("train_live"), y_lim=[0, None],
                           elem_id="train-live")  # fmt: skip
        log = gr.Code(label=t("train_log"), language=None, lines=14, elem_id="train-log")
    with gr.Row():
        fidelity = gr.LinePlot(x="step", y="fidelity", title=t("train_fidelity"), y_lim=[0, 1],
                               elem_id="train-fidelity")  # fmt: skip
        answers = gr.Dataframe(label=t("train_samples_table"), interactive=False, wrap=True, max_height=360,
                               elem_id="train-samples")  # fmt: skip
    gr.Markdown(t("train_runs"))
    with gr.Row():
        with gr.Column(scale=3):
            table = gr.Dataframe(interactive=False, elem_id="train-runs")
        with gr.Column(scale=2):
            chosen = gr.CheckboxGroup(label=t("train_overlay"), elem_id="train-chosen")
            refresh = gr.Button(t("train_refresh"), size="sm")
    curves = gr.LinePlot(x="step", y="loss", color=t("col_series"), title=t("train_compare"), y_lim=[0, None])
    sweep_panel.render(demo, form, config_from_form)
    hub_panels.adapter_panel(demo)

    preset.input(preset_values, preset, form[2:])
    check_btn.click(lambda: gr.Accordion(open=True), None, before).then(
        check, form, [mask, mask_note, tokenizer_note, memory, advice]
    )
    start_btn.click(start, form, [run_dir, timer]).success(runs_table, None, [table, chosen])
    stop_btn.click(stop, run_dir, None)
    pairs_btn.click(build_pairs, [model, dataset, adapter], [run_dir, timer])
    method.input(method_changed, [method, dataset], dataset)
    resume_btn.click(resume, [run_dir, chosen], [run_dir, timer])
    timer.tick(poll, run_dir, [progress, live, log, table, timer]).then(
        sample_views, run_dir, [fidelity, answers], show_progress="hidden"
    )
    gr.on([demo.load, refresh.click], runs_table, None, [table, chosen])
    gr.on([demo.load, refresh.click], refresh_choices, None, [dataset, adapter], show_progress="hidden")
    demo.load(attach, None, [run_dir, timer])
    chosen.change(overlay, chosen, curves)
