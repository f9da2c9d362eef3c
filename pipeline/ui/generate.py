"""The Genera tab: pick a teacher, set the method mix and the budget, then start, stop or resume a generation job.

The job is `python -m pipeline generate` in its own process (`pipeline.generate.run.start`); this tab only writes its
config and reads the status file the job rewrites after every item.
"""

from pathlib import Path

import gradio as gr
import pandas as pd

from pipeline import editor, models
from pipeline.catalogue import CATALOGUE
from pipeline.errors import UserError
from pipeline.generate.run import GenerationConfig, keep_documents, start
from pipeline.i18n import Message, t
from pipeline.jobs import Job, active_jobs
from pipeline.paths import bottega_home, inside
from pipeline.space import Access
from pipeline.teacher import PRESETS, TeacherConfig, key_status
from pipeline.ui.common import gated, status_box, whole

CONSTRAINED = {"auto": None, "on": True, "off": False}  # the form's choice -> the config's `constrained`


def _teacher(preset, model, base_url, key_env, concurrency, max_tokens, temperature, constrained, budget_tokens,
             price_in, price_out, budget) -> dict:  # fmt: skip
    """The teacher section of the config, as the form holds it (the config loader checks it)."""
    return {
        "preset": preset,
        "model": (model or "").strip(),
        "base_url": (base_url or "").strip(),
        "api_key_env": (key_env or "").strip(),
        "max_concurrency": whole(concurrency),
        "max_tokens": whole(max_tokens),
        "temperature": temperature,
        "constrained": CONSTRAINED.get(constrained),
        "budget_tokens": whole(budget_tokens) or None,
        "price_per_1k_prompt": price_in or None,
        "price_per_1k_completion": price_out or None,
        "budget_cost": budget or None,
    }


def describe_key(preset: str, key_env: str) -> str:
    """Whether the teacher's key is set, never the key itself."""
    if preset == "hf" and Access.from_env().on_space:
        return t("gen_space_hf_key")
    try:
        config = TeacherConfig(preset=preset, api_key_env=(key_env or "").strip(), model="-", base_url="http://-")
    except UserError as e:
        return str(e)
    status = key_status(config)
    return f"{status}\n\n{t('gen_local_note')}" if preset == "local" else status


def _config(name, local_model, count, si, ev, orca, bt, magpie, documents, license, depth, seed, judge, threshold,
            tasks, *teacher) -> GenerationConfig:  # fmt: skip
    if not (name or "").strip():
        raise UserError(Message("gen_name_missing"))
    output = str(editor.dataset_file(name, "name"))
    return GenerationConfig.from_dict(
        {
            "output": output,
            "local_model": (local_model or "").strip() or models.DEFAULT_MODEL,
            "count": whole(count),
            "mix": {"self_instruct": si, "evol_instruct": ev, "orca": orca, "backtranslation": bt, "magpie": magpie},
            "documents": keep_documents(output, documents or []) if bt else [],
            "license": (license or "").strip(),
            "max_depth": whole(depth),
            "seed": whole(seed),
            "judge": bool(judge),
            "judge_threshold": threshold,
            "tasks_per_request": whole(tasks),
            "teacher": _teacher(*teacher),
        }
    )


def _job_env(config: GenerationConfig, oauth: gr.OAuthToken | None) -> dict[str, str]:
    """On a Space the Hugging Face teacher runs on the logged-in visitor's own token, handed to the job's
    environment only, never to a file."""
    if config.teacher.preset == "hf" and Access.from_env().on_space and oauth is not None:
        return {config.teacher.api_key_env: oauth.token}
    return {}


def start_run(resume: bool, oauth: gr.OAuthToken | None, *values) -> tuple[str, gr.Timer]:
    config = _config(*values)
    journal = config.run_path / "journal.jsonl"
    if journal.exists() and not resume:
        raise UserError(Message("gen_exists", name=Path(config.output).name))
    if resume and not journal.exists():
        raise UserError(Message("gen_nothing_to_resume", name=Path(config.output).name))
    return str(start(config, env=_job_env(config, oauth))), gr.Timer(active=True)


@gated
def start_new(oauth: gr.OAuthToken | None, *values) -> tuple[str, gr.Timer]:
    return start_run(False, oauth, *values)


@gated
def resume(oauth: gr.OAuthToken | None, *values) -> tuple[str, gr.Timer]:
    return start_run(True, oauth, *values)


@gated
def stop_run(run_dir: str | None) -> None:
    job = Job(inside(bottega_home() / "runs" / "generate", run_dir, "run")) if run_dir else None
    if job is None or not job.active:
        gr.Warning(t("gen_nothing_to_stop"))
        return
    job.stop()
    gr.Info(t("gen_stop_sent"))


def attach() -> tuple[str | None, gr.Timer]:
    """On page load: follow the generation that is running, if any (started before a reload, or in a terminal)."""
    running = active_jobs(bottega_home() / "runs" / "generate")
    return (str(running[0].dir) if running else None), gr.Timer(active=bool(running))


def _reason_columns() -> list[str]:
    return [t("col_reason"), t("col_rejected")]


def _reason(key: str) -> str:
    """A rejection reason in words, its key after it (the key is what rejects.yaml and the CLI count)."""
    return f"{t('reason_' + key)} ({key})" if f"reason_{key}" in CATALOGUE else key


def _latest_columns() -> list[str]:
    return ["id", t("col_instruction"), t("col_answer")]


def poll(run_dir: str | None) -> tuple:
    """Everything the tab shows about the job, from its folder."""
    status = Job(run_dir).status() if run_dir else None
    if status is None or status.state == "new":
        no_reasons, no_latest = pd.DataFrame(columns=_reason_columns()), pd.DataFrame(columns=_latest_columns())
        return "", no_reasons, "", no_latest, gr.Timer(active=bool(run_dir))
    accepted, target = status.get("accepted", 0), max(status.get("target", 0), 1)
    details = t("gen_counts", accepted=accepted, target=target, rejected=status.get("rejected", 0))
    if status.state == "running":
        details += "<br>" + t(
            "gen_teacher_live", requests=status.get("requests", 0), waiting=status.get("in_flight", 0)
        )
    progress = status_box(status, "gen", accepted, target, details)
    counted = sorted(status.get("reasons", {}).items(), key=lambda kv: -kv[1])
    reasons = pd.DataFrame([(_reason(key), n) for key, n in counted], columns=_reason_columns())
    usage = t("gen_usage", tokens=status.get("tokens", 0))
    if status.get("cost") is not None:
        usage += t("gen_cost", cost=status.get("cost"))
    if accepted:
        usage += t("gen_usage_dataset", name=Path(status.get("output", "")).name)
    latest = pd.DataFrame(
        [[e["id"], e["instruction"][:120], e["output"][:200]] for e in reversed(status.get("latest", []))],
        columns=_latest_columns(),
    )
    return progress, reasons, usage, latest, gr.Timer(active=status.active)


def render(demo: gr.Blocks) -> tuple[gr.Button, gr.Textbox]:
    """Lay out the tab; `demo` is the app, whose page load follows a running generation. Returns the "open in the
    Dataset tab" button and the dataset name, for the app to wire."""
    with gr.Row():
        with gr.Column():
            gr.Markdown(t("gen_teacher"))
            preset = gr.Radio(list(PRESETS), value="local", label=t("gen_preset"), elem_id="gen-preset")
            local_model = gr.Textbox(models.DEFAULT_MODEL, label=t("gen_local_model"))
            model = gr.Textbox(label=t("gen_model"), placeholder="gpt-4o-mini · meta-llama/Llama-3.1-8B-Instruct")
            base_url = gr.Textbox(label=t("gen_base_url"), placeholder="http://localhost:11434/v1", elem_id="gen-url")
            key_env = gr.Textbox(label=t("gen_key_env"), placeholder="OPENAI_API_KEY")
            key_info = gr.Markdown(describe_key("local", ""))
            with gr.Row():
                concurrency = gr.Slider(
                    1, 32, value=4, step=1, label=t("gen_concurrency"), info=t("gen_concurrency_info"), scale=2,
                    elem_id="gen-concurrency",
                )  # fmt: skip
                max_tokens = gr.Number(512, precision=0, minimum=8, label=t("gen_max_tokens"), elem_id="gen-tokens")
                temperature = gr.Slider(0, 2, value=0.7, step=0.05, label=t("gen_temperature"))
            constrained = gr.Radio([(t(f"gen_constrained_{choice}"), choice) for choice in CONSTRAINED], value="auto",
                                   label=t("gen_constrained"), info=t("gen_constrained_info"),
                                   elem_id="gen-constrained")  # fmt: skip
            with gr.Row():
                budget_tokens = gr.Number(0, precision=0, minimum=0, label=t("gen_budget"))
                price_in = gr.Number(0, minimum=0, label=t("gen_price_in"))
                price_out = gr.Number(0, minimum=0, label=t("gen_price_out"))
                budget_cost = gr.Number(0, minimum=0, label=t("gen_budget_cost"))
        with gr.Column():
            gr.Markdown(t("gen_run"))
            name = gr.Textbox("generato_it", label=t("gen_name"), elem_id="gen-name")
            count = gr.Number(20, precision=0, minimum=1, label=t("gen_count"), elem_id="gen-count")
            with gr.Row():
                self_instruct = gr.Slider(0, 1, value=0.4, step=0.05, label="Self-Instruct",
                                          elem_id="gen-self-instruct")  # fmt: skip
                evol = gr.Slider(0, 1, value=0.4, step=0.05, label="Evol-Instruct", elem_id="gen-evol")
                orca = gr.Slider(0, 1, value=0.2, step=0.05, label="ORCA", elem_id="gen-orca")
                backtranslation = gr.Slider(0, 1, value=0, step=0.05, label=t("gen_backtranslation"),
                                            info=t("gen_backtranslation_info"),
                                            elem_id="gen-backtranslation")  # fmt: skip
                magpie = gr.Slider(0, 1, value=0, step=0.05, label="Magpie", info=t("gen_magpie_info"),
                                   elem_id="gen-magpie")  # fmt: skip
            with gr.Row():
                documents = gr.File(label=t("gen_documents"), file_count="multiple",
                                    file_types=[".txt", ".md", ".markdown", ".yaml", ".yml", ".jsonl"],
                                    elem_id="gen-documents")  # fmt: skip
                license = gr.Textbox(label=t("gen_license"), placeholder="CC BY 4.0", elem_id="gen-license")
            with gr.Row():
                depth = gr.Slider(1, 5, value=3, step=1, label=t("gen_depth"))
                seed = gr.Number(0, precision=0, label=t("gen_seed"))
            with gr.Row():
                judge = gr.Checkbox(False, label=t("gen_judge"))
                threshold = gr.Slider(1, 10, value=6, step=0.5, label=t("gen_threshold"))
            tasks = gr.Number(GenerationConfig.__dataclass_fields__["tasks_per_request"].default, precision=0,
                              minimum=1, maximum=50, label=t("gen_tasks_per_request"),
                              info=t("gen_tasks_per_request_info"), elem_id="gen-tasks")  # fmt: skip
            with gr.Row():
                start_btn = gr.Button(t("gen_start"), variant="primary", elem_id="gen-start")
                stop_btn = gr.Button(t("gen_stop"), variant="stop", elem_id="gen-stop")
                resume_btn = gr.Button(t("gen_resume"), elem_id="gen-resume")
    run_dir = gr.State(None)
    timer = gr.Timer(1.0, active=False)
    progress = gr.HTML()
    usage = gr.Markdown()
    open_btn = gr.Button(t("gen_open"), size="sm", elem_id="gen-open")
    with gr.Row():
        reasons = gr.Dataframe(
            headers=_reason_columns(), label=t("gen_reasons"), interactive=False, elem_id="gen-reasons"
        )
        latest = gr.Dataframe(
            headers=_latest_columns(), label=t("gen_latest"), interactive=False, wrap=True, elem_id="gen-latest"
        )

    teacher = [preset, model, base_url, key_env, concurrency, max_tokens, temperature, constrained, budget_tokens]
    teacher += [price_in, price_out, budget_cost]
    values = [name, local_model, count, self_instruct, evol, orca, backtranslation, magpie, documents, license, depth]
    values += [seed]
    values += [judge, threshold, tasks, *teacher]
    gr.on([preset.change, key_env.change], describe_key, [preset, key_env], key_info)
    start_btn.click(start_new, values, [run_dir, timer])
    resume_btn.click(resume, values, [run_dir, timer])
    stop_btn.click(stop_run, run_dir, None)
    timer.tick(poll, run_dir, [progress, reasons, usage, latest, timer])
    demo.load(attach, None, [run_dir, timer])
    return open_btn, name
