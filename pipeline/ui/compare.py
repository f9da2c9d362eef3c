"""The Confronta tab: the base model and the fine-tuned one answer the same Italian prompt side by side, on sides
drawn at random and hidden until the vote; the votes' statistics; the automatic evaluation of a run.

Layout and wiring only: the engine and the conversations live in `pipeline.arena`, votes in `pipeline.votes`,
the evaluation job in `pipeline.evaluate` (launched as `python -m pipeline eval`).
"""

import threading

import gradio as gr
import pandas as pd

from pipeline import arena, evaluate, models, preferences, votes
from pipeline.chat import Sampling
from pipeline.errors import UserError
from pipeline.i18n import Message, t
from pipeline.jobs import Job
from pipeline.paths import datasets_dir
from pipeline.train import runs
from pipeline.ui.common import gated, status_box

VERDICT_BUTTONS = (("a", "vote_a"), ("b", "vote_b"), ("tie", "vote_tie"), ("both_bad", "vote_bad"))


def adapters() -> list[str]:
    """Finished training runs, by run folder (their adapter/ subfolder is loaded)."""
    return [row["dir"] for row in runs.finished()]


def _sampling(temperature, top_p, max_new_tokens, seed, repetition_penalty, system) -> Sampling:
    numbers = (temperature, top_p, max_new_tokens, seed, repetition_penalty)
    if any(not isinstance(n, int | float) for n in numbers):
        raise UserError(Message("cmp_numbers_missing"))
    return Sampling(temperature=float(temperature), top_p=float(top_p), max_new_tokens=int(max_new_tokens),
                    seed=int(seed), repetition_penalty=float(repetition_penalty),
                    system=(system or "").strip() or None)  # fmt: skip


def _chats(conversation: arena.Conversation) -> tuple[list, list]:
    return conversation.side("A"), conversation.side("B")


@gated
def send(message, conversation, stop, base, adapter, *sampling_values):
    """Both answers stream at once in this one event: every yield updates both chats."""
    yield from _send(message, conversation, base, adapter, *sampling_values)


@gated
def regenerate(conversation, stop, base, adapter, *sampling_values):
    if not conversation or not conversation.history["base"]:
        raise UserError(Message("cmp_nothing_to_regenerate"))
    conversation.drop_answers()
    question = conversation.history["base"][-1]["content"]
    for turns in conversation.history.values():
        turns.pop()
    yield from _send(question, conversation, base, adapter, *sampling_values)


def _send(message, conversation, base, adapter, *sampling_values):
    if not (message or "").strip():
        raise UserError(Message("cmp_write_question"))
    if not adapter:
        raise UserError(Message("cmp_pick_adapter"))
    sampling = _sampling(*sampling_values)
    base = (base or "").strip() or models.DEFAULT_MODEL
    adapter = arena.adapter_source(adapter)  # refused before the question joins the conversation
    conversation = conversation or arena.Conversation()
    conversation.ask(message.strip())
    answers = arena.answer(conversation, base, adapter, sampling, stop := threading.Event())
    yield "", conversation, stop, *_chats(conversation), ""
    for _ in answers:
        yield gr.skip(), conversation, stop, *_chats(conversation), gr.skip()
    yield gr.skip(), conversation, stop, *_chats(conversation), t("vote_now")


def stop_generation(stop: threading.Event | None) -> None:
    if stop is not None:
        stop.set()


def new_conversation():
    return arena.Conversation(), [], [], ""


@gated
def vote(verdict, conversation, tags, comment, base, adapter, *sampling_values):
    if conversation is None:
        raise UserError(Message("vote_nothing_yet"))
    sampling = _sampling(*sampling_values)
    model_ids = {"base": (base or "").strip() or models.DEFAULT_MODEL, "finetuned": (adapter or "").strip()}
    arena.record_vote(conversation, verdict, tags or [], comment or "", model_ids, vars(sampling))
    sides = conversation.sides
    reveal = f"A: **{votes.MODEL_LABELS[sides['A']]}** · B: **{votes.MODEL_LABELS[sides['B']]}** — {t('vote_saved')}"
    return reveal, [], "", *statistics()


def _thumb(letter: str):
    """The like/dislike handler of side `letter`'s chat: a thumbs up or down on one answer, stored for KTO."""

    @gated
    def thumb(conversation, base, adapter, temperature, top_p, max_new_tokens, seed, repetition, system,
              like: gr.LikeData) -> str:  # fmt: skip
        if conversation is None:
            raise UserError(Message("vote_nothing_yet"))
        index = like.index[0] if isinstance(like.index, list | tuple) else like.index
        sampling = _sampling(temperature, top_p, max_new_tokens, seed, repetition, system)
        model_ids = {"base": (base or "").strip() or models.DEFAULT_MODEL, "finetuned": (adapter or "").strip()}
        arena.record_thumb(conversation, letter, int(index), like.liked is True, model_ids, vars(sampling))
        return t("thumb_saved_up" if like.liked is True else "thumb_saved_down", side=letter)

    return thumb


def statistics() -> tuple[pd.DataFrame, gr.BarPlot]:
    found = votes.stats(votes.VoteStore().all())
    table = pd.DataFrame(found.table(), columns=[t("col_measure"), t("col_value")])
    tag, count = t("col_tag"), t("col_votes")
    tags = pd.DataFrame([(name, found.tags[name]) for name in votes.TAGS], columns=[tag, count])
    # With no tags yet an open-ended y axis collapses onto 0 and reads "0.000000": give it a range of at least 1.
    return table, gr.BarPlot(tags, y_lim=[0, max(1, int(tags[count].max()))])


def export() -> str:
    """The decisive votes, and the thumbs for KTO, as a preference dataset: saved as preferenze-voti.yaml in the
    datasets folder (the Dataset tab lists it, the Addestra tab trains on it) and offered for download."""
    path = datasets_dir() / "preferenze-voti.yaml"
    if not preferences.export_votes(votes.VoteStore().all(), path, votes.VoteStore(record=votes.Thumb).all()):
        gr.Warning(t("vote_nothing_to_export"))
    return str(path)


@gated
def evaluate_run(adapter: str | None):
    if not adapter:
        raise UserError(Message("cmp_eval_needs_run"))
    run_dir = runs.run_folder(adapter, "adapter")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(Message("cmp_eval_needs_run"))
    return str(evaluate.start(run_dir)), gr.Timer(active=True)


def attach_eval() -> tuple[str | None, gr.Timer]:
    """On page load: follow the evaluation that is running, if any (started before a reload, or in a terminal)."""
    running = evaluate.active_job()
    return (str(running) if running else None), gr.Timer(active=running is not None)


def poll_eval(eval_dir: str | None):
    if not eval_dir:
        return gr.skip(), gr.skip(), gr.Timer(active=False)
    job = Job(eval_dir)
    status = job.status()
    table = pd.DataFrame(evaluate.result_rows(job.dir), columns=evaluate.table_headers())
    return status_box(status, "eval"), table, gr.Timer(active=status.active)


def render(demo: gr.Blocks) -> None:
    with gr.Row():
        base = gr.Textbox(models.DEFAULT_MODEL, label=t("cmp_base"), scale=2)
        adapter = gr.Dropdown([], allow_custom_value=True, label=t("cmp_adapter"), scale=3, elem_id="cmp-adapter")
        refresh = gr.Button(t("train_refresh"), size="sm", scale=0)
    with gr.Accordion(t("cmp_sampling"), open=False):
        with gr.Row():
            temperature = gr.Slider(0, 1.5, value=0.0, step=0.05, label=t("gen_temperature"))
            top_p = gr.Slider(0.05, 1, value=0.9, step=0.05, label="top_p")
            max_new_tokens = gr.Number(128, precision=0, minimum=1, label=t("cmp_max_tokens"), elem_id="cmp-tokens")
            seed = gr.Number(42, precision=0, label=t("train_seed"))
            repetition = gr.Slider(1.0, 2.0, value=models.REPETITION_PENALTY, step=0.05,
                                   label=t("cmp_repetition"), info=t("cmp_repetition_info"))  # fmt: skip
        system = gr.Textbox(label=t("cmp_system"), lines=2)
    sampling = [temperature, top_p, max_new_tokens, seed, repetition, system]
    conversation = gr.State(None)
    stop = gr.State(None)
    with gr.Row():
        chat_a = gr.Chatbot(label="A", height=360, elem_id="cmp-chat-a")
        chat_b = gr.Chatbot(label="B", height=360, elem_id="cmp-chat-b")
    message = gr.Textbox(label=t("cmp_message"), placeholder=t("cmp_placeholder"), elem_id="cmp-message")
    with gr.Row():
        send_btn = gr.Button(t("cmp_send"), variant="primary", elem_id="cmp-send")
        stop_btn = gr.Button(t("gen_stop"), variant="stop")
        regen_btn = gr.Button(t("cmp_regenerate"))
        new_btn = gr.Button(t("cmp_new"))
    hint = gr.Markdown(elem_id="cmp-hint")
    with gr.Row():
        vote_btns = {v: gr.Button(t(key), elem_id=f"cmp-vote-{v}") for v, key in VERDICT_BUTTONS}
    with gr.Row():
        tags = gr.CheckboxGroup(list(votes.TAGS), label=t("cmp_tags"), elem_id="cmp-tags")
        comment = gr.Textbox(label=t("cmp_comment"))
    with gr.Row():
        with gr.Column(scale=3):
            stats_table = gr.Dataframe(
                interactive=False, label=t("cmp_stats"), elem_id="cmp-stats", wrap=True, column_widths=["45%", "55%"]
            )
        with gr.Column(scale=2):
            tag_plot = gr.BarPlot(x=t("col_tag"), y=t("col_votes"), title=t("cmp_tag_plot"))  # y range: statistics()
            export_btn = gr.Button(t("cmp_export"), size="sm")
            export_file = gr.File(label=t("cmp_export_file"))
    gr.Markdown(t("cmp_eval"))
    eval_btn = gr.Button(t("cmp_eval_start"), elem_id="cmp-eval")
    eval_dir = gr.State(None)
    eval_timer = gr.Timer(2.0, active=False)
    eval_note = gr.HTML()
    eval_table = gr.Dataframe(headers=evaluate.table_headers(), interactive=False, elem_id="cmp-eval-table")

    models_in = [base, adapter, *sampling]
    outputs = [message, conversation, stop, chat_a, chat_b, hint]
    gr.on(
        [send_btn.click, message.submit], send, [message, conversation, stop, *models_in], outputs,
        api_name="compare_send",
    )  # fmt: skip
    regen_btn.click(regenerate, [conversation, stop, *models_in], outputs)
    stop_btn.click(stop_generation, stop, None)
    new_btn.click(new_conversation, None, [conversation, chat_a, chat_b, hint])
    for verdict, button in vote_btns.items():
        button.click(
            vote,
            [gr.State(verdict), conversation, tags, comment, *models_in],
            [hint, tags, comment, stats_table, tag_plot],
        )
    export_btn.click(export, None, export_file)
    chat_a.like(_thumb("A"), [conversation, *models_in], hint)
    chat_b.like(_thumb("B"), [conversation, *models_in], hint)
    gr.on([demo.load, refresh.click], lambda: gr.Dropdown(choices=adapters()), None, adapter)
    demo.load(statistics, None, [stats_table, tag_plot])
    eval_btn.click(evaluate_run, adapter, [eval_dir, eval_timer])
    eval_timer.tick(poll_eval, eval_dir, [eval_note, eval_table, eval_timer])
    demo.load(attach_eval, None, [eval_dir, eval_timer])
