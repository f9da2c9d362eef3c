"""The Genera tab: pick a teacher, set the method mix and the budget, then start, stop or resume a generation job.

The job is `python -m pipeline generate` in its own process (`pipeline.generate.run.start`); this tab only writes its
config and reads the status file the job rewrites after every item.
"""

import html
from pathlib import Path

import gradio as gr
import pandas as pd

from pipeline import editor, models
from pipeline.config import bottega_home, inside
from pipeline.generate.run import GenerationConfig, start
from pipeline.jobs import read_status, request_stop
from pipeline.space import Access
from pipeline.teacher import PRESETS, TeacherConfig, key_status
from pipeline.ui.common import gated, user_errors
from pipeline.ui.i18n import t

STATES = {
    "starting": "⏳ avvio (il teacher locale impiega qualche secondo)",
    "running": "▶️ in corso",
    "finished": "✅ finita",
    "stopped": "⏹️ fermata: premi Riprendi per continuare",
    "budget": "💶 budget esaurito",
    "failed": "❌ errore",
    "interrupted": "⚠️ interrotta: premi Riprendi per continuare da dove si era fermata",
}


def _teacher(
    preset, model, base_url, key_env, concurrency, max_tokens, temperature, budget_tokens, price_in, price_out, budget
) -> TeacherConfig:
    return TeacherConfig(
        preset=preset,
        model=model.strip(),
        base_url=base_url.strip(),
        api_key_env=key_env.strip(),
        max_concurrency=int(concurrency),
        max_tokens=int(max_tokens),
        temperature=float(temperature),
        budget_tokens=int(budget_tokens) if budget_tokens else None,
        price_per_1k_prompt=price_in or None,
        price_per_1k_completion=price_out or None,
        budget_cost=budget or None,
    )


LOCAL_NOTE = (
    "Il modello incluso (SmolLM2-135M) serve a provare il flusso, non a produrre dati buoni: scrive di rado YAML "
    "valido in italiano, e su CPU ogni risposta lunga richiede minuti. Per un dataset vero indica un modello locale "
    "più grande su GPU, oppure usa un'API (openai, hf, custom)."
)


def describe_key(preset: str, key_env: str) -> str:
    """Whether the teacher's key is set, never the key itself."""
    if preset == "hf" and Access.from_env().on_space:
        return "Sullo Space il teacher di Hugging Face usa il token del tuo accesso (Sign in with Hugging Face)."
    try:
        config = TeacherConfig(preset=preset, api_key_env=key_env.strip(), model="-", base_url="http://-")
    except ValueError as e:
        return str(e)
    status = key_status(config)
    return f"{status}\n\n{LOCAL_NOTE}" if preset == "local" else status


def _config(name, local_model, count, si, ev, orca, depth, seed, judge, threshold, *teacher) -> GenerationConfig:
    if not (name or "").strip():
        raise gr.Error("Scegli un nome per il dataset da generare (campo 'nome').")
    try:
        return GenerationConfig(
            output=str(editor.dataset_file(name, "nome")),
            local_model=local_model.strip() or models.DEFAULT_MODEL,
            count=int(count),
            mix={"self_instruct": si, "evol_instruct": ev, "orca": orca},
            max_depth=int(depth),
            seed=int(seed),
            judge=bool(judge),
            judge_threshold=float(threshold),
            teacher=_teacher(*teacher),
        )
    except ValueError as e:
        raise gr.Error(str(e)) from e


def _job_env(config: GenerationConfig, oauth: gr.OAuthToken | None) -> dict[str, str]:
    """On a Space the Hugging Face teacher runs on the logged-in visitor's own token, handed to the job's
    environment only, never to a file."""
    if config.teacher.preset == "hf" and Access.from_env().on_space and oauth is not None:
        return {config.teacher.api_key_env: oauth.token}
    return {}


@user_errors
def start_run(resume: bool, oauth: gr.OAuthToken | None, *values) -> tuple[str, gr.Timer]:
    config = _config(*values)
    journal = config.run_path / "journal.jsonl"
    if journal.exists() and not resume:
        raise gr.Error(f"Esiste già una generazione per '{Path(config.output).name}': premi Riprendi o cambia nome.")
    if resume and not journal.exists():
        raise gr.Error(f"Non c'è una generazione da riprendere per '{Path(config.output).name}': premi Avvia.")
    return str(start(config, env=_job_env(config, oauth))), gr.Timer(active=True)


@gated
def start_new(oauth: gr.OAuthToken | None, *values) -> tuple[str, gr.Timer]:
    return start_run(False, oauth, *values)


@gated
def resume(oauth: gr.OAuthToken | None, *values) -> tuple[str, gr.Timer]:
    return start_run(True, oauth, *values)


@gated
def stop_run(run_dir: str | None) -> None:
    if run_dir:
        try:
            folder = inside(bottega_home() / "runs" / "generate", run_dir, "run")
        except ValueError as e:
            raise gr.Error(str(e)) from e
        request_stop(folder)
        gr.Info("Richiesta inviata: la generazione si ferma dopo gli esempi in corso.")


REASON_COLUMNS = ["motivo", "scartati"]
LATEST_COLUMNS = ["id", "istruzione", "risposta"]


def poll(run_dir: str | None) -> tuple:
    """Everything the tab shows about the job, from its status file."""
    status = read_status(Path(run_dir)) if run_dir else {}
    if not status:
        no_reasons, no_latest = pd.DataFrame(columns=REASON_COLUMNS), pd.DataFrame(columns=LATEST_COLUMNS)
        return "", no_reasons, "", no_latest, gr.Timer(active=bool(run_dir))
    accepted, target = status["accepted"], max(status["target"], 1)
    state = status["state"]
    progress = (
        f"<div id='gen-progress'><progress value='{accepted}' max='{target}' style='width:100%'></progress>"
        f"<p><b>{STATES.get(state, state)}</b>, accettati <b id='gen-accepted'>{accepted}</b> / {target}, "
        f"scartati <b id='gen-rejected'>{status['rejected']}</b></p>"
        + (
            f"<p>risposte del teacher ricevute <b id='gen-requests'>{status.get('requests', 0)}</b>, "
            f"in attesa <b id='gen-waiting'>{status.get('in_flight', 0)}</b></p>"
            if state == "running"
            else ""
        )
        + (f"<p>{html.escape(status['message'])}</p>" if status.get("message") else "")
        + "</div>"
    )
    reasons = pd.DataFrame(sorted(status["reasons"].items(), key=lambda kv: -kv[1]), columns=REASON_COLUMNS)
    cost = f", costo {status['cost']:.4f}" if status.get("cost") is not None else ""
    usage = f"token usati: **{status['tokens']:,}**{cost}" + (
        f" · dataset: `{Path(status['output']).name}`" if accepted else ""
    )
    latest = pd.DataFrame(
        [[e["id"], e["instruction"][:120], e["output"][:200]] for e in reversed(status["latest"])],
        columns=LATEST_COLUMNS,
    )
    running = state in ("starting", "running")
    return progress, reasons, usage, latest, gr.Timer(active=running)


def render() -> tuple[gr.Button, gr.Textbox]:
    """Lay out the tab. Returns the "open in the Dataset tab" button and the dataset name, for the app to wire."""
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
                self_instruct = gr.Slider(0, 1, value=0.4, step=0.05, label="Self-Instruct")
                evol = gr.Slider(0, 1, value=0.4, step=0.05, label="Evol-Instruct", elem_id="gen-evol")
                orca = gr.Slider(0, 1, value=0.2, step=0.05, label="ORCA", elem_id="gen-orca")
            with gr.Row():
                depth = gr.Slider(1, 5, value=3, step=1, label=t("gen_depth"))
                seed = gr.Number(0, precision=0, label=t("gen_seed"))
            with gr.Row():
                judge = gr.Checkbox(False, label=t("gen_judge"))
                threshold = gr.Slider(1, 10, value=6, step=0.5, label=t("gen_threshold"))
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
            headers=REASON_COLUMNS, label=t("gen_reasons"), interactive=False, elem_id="gen-reasons"
        )
        latest = gr.Dataframe(
            headers=LATEST_COLUMNS, label=t("gen_latest"), interactive=False, wrap=True, elem_id="gen-latest"
        )

    teacher = [preset, model, base_url, key_env, concurrency, max_tokens, temperature, budget_tokens]
    teacher += [price_in, price_out, budget_cost]
    values = [name, local_model, count, self_instruct, evol, orca, depth, seed, judge, threshold, *teacher]
    gr.on([preset.change, key_env.change], describe_key, [preset, key_env], key_info)
    start_btn.click(start_new, values, [run_dir, timer])
    resume_btn.click(resume, values, [run_dir, timer])
    stop_btn.click(stop_run, run_dir, None)
    timer.tick(poll, run_dir, [progress, reasons, usage, latest, timer])
    return open_btn, name
