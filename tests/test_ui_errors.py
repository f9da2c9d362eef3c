"""The app's one error path: every handler, as the page calls it (wrapped by `ui.common.speak`), turns a bad input
into a gr.Error in the page's language, and leaves anything else (a bug) alone, with its traceback for the log."""

from pathlib import Path

import gradio as gr
import pytest

from pipeline.ui import build_app

BINARY = Path(__file__).parent / "assets" / "non_testo.md"

# The Addestra form (pipeline.ui.train.FIELDS), filled with the defaults.
TRAIN_FORM = dict(
    name="prova", preset="smollm2-cpu", model="smollm2-135m-instruct", dataset="seed_it.yaml", chat_template="",
    lora_r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", use_dora=False, use_rslora=False,
    qlora=False, attention="auto", assistant_only_loss=True, packing=True, group_by_length=False, max_length=1024,
    epochs=3.0, max_steps=-1, learning_rate=2e-4, lr_scheduler="cosine", warmup_ratio=0.03, batch_size=1,
    grad_accum=8, gradient_checkpointing=False, neftune_alpha=0, seed=42, eval_share=0.1, eval_steps=20,
    save_steps=50, num_processes=1, method="sft", adapter="", beta=0.1, early_stopping_patience=0, samples=4,
)  # fmt: skip
# The sweep panel: name, trials, objective, prune, the parameters' YAML; then the Addestra form.
SWEEP = ["ricerca", 4, "eval_loss", True, "learning_rate: {low: 1.0e-4, high: 1.0e-3, log: true}"]
# The Genera form: name, local model, count, mix (backtranslation and Magpie last), documents, licence, depth, seed,
# judge, threshold, tasks per request, then the teacher's fields.
GENERATE_FORM = ["generato", "smollm2-135m-instruct", 20.0, 0.4, 0.4, 0.2, 0.0, 0.0, None, "", 3, 0.0, False, 6, 1,
                 "local", "", "", "", 4, 512.0, 0.7, "auto", 0.0, 0, 0, 0]  # fmt: skip


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> gr.Blocks:
    return build_app()


def handler(app: gr.Blocks, name: str, page: str = ""):
    """The function the page's event runs, as the server calls it."""
    return next(f.fn for f in app.fns.values() if f.name == name and f.page == page)


def train_form(**changes) -> list:
    from pipeline.ui.train import FIELDS

    return [{**TRAIN_FORM, **changes}[name] for name in FIELDS]


def shown(error: gr.Error) -> str:
    return f"{error.title}: {error.message}"


def drain(result):
    """A generator handler raises on its first step."""
    return list(result) if hasattr(result, "__next__") else result


BAD = [
    # (handler, arguments, what the message must say)
    ("start", [None, *train_form(name="a/b")], "`name`"),
    ("start", [None, *train_form(lora_r=None)], "`lora_r`"),
    ("start", [None, *train_form(learning_rate="molto")], "`learning_rate`"),
    ("start", [None, *train_form(dataset="../../etc/passwd")], "`dataset`"),
    ("start", [None, *train_form(chat_template="/etc/passwd")], "`chat_template`"),
    ("check", train_form(eval_share=0.9), "`eval_share`"),
    ("start", [None, *train_form(adapter="../../etc")], "`adapter`"),
    ("start", [None, *train_form(method="ppo")], "`method`"),
    ("start", [None, *train_form(early_stopping_patience=2, eval_share=0.0)], "`early_stopping_patience`"),
    ("start_from_form", [None, "a/b", *SWEEP[1:], *train_form()], "`name`"),
    ("start_from_form", [None, SWEEP[0], 0, *SWEEP[2:], *train_form()], "`trials`"),
    ("start_from_form", [None, *SWEEP[:4], "learning_rate: [", *train_form()], "YAML"),
    ("start_from_form", [None, *SWEEP[:4], "lora_rank: {choices: [8]}", *train_form()], "`params.lora_rank`"),
    ("start_from_form", [None, *SWEEP, *train_form(eval_share=0.0)], "eval_share"),
    ("start_from_form", [None, *SWEEP, *train_form(lora_r=None)], "`lora_r`"),
    ("build_pairs", [None, "smollm2-135m-instruct", "../../etc/passwd", ""], "`dataset`"),
    ("build_pairs", [None, "smollm2-135m-instruct", "seed_it.yaml", "non-esiste"], "`adapter`"),
    ("resume", [None, None, ["non-esiste"]], "`run`"),
    ("resume", [None, None, None], "run"),
    ("stop", [None, "../../etc"], "`run`"),
    ("start_new", [None, None, *GENERATE_FORM[:2], None, *GENERATE_FORM[3:]], "`count`"),
    ("start_new", [None, None, "../fuori", *GENERATE_FORM[1:]], "`name`"),
    ("start_new", [None, None, *GENERATE_FORM[:14], 0, *GENERATE_FORM[15:]], "`tasks_per_request`"),
    ("start_new", [None, None, *GENERATE_FORM[:6], 1.0, 0.0, None, *GENERATE_FORM[9:]], "`documents`"),
    ("start_new", [None, None, "e2e_binario", *GENERATE_FORM[1:6], 1.0, 0.0, [str(BINARY)], *GENERATE_FORM[9:]],
     "file binario"),
    ("start_new", [None, None, *GENERATE_FORM[:7], 1.0, *GENERATE_FORM[8:15], "openai", "gpt-4o-mini",
                   *GENERATE_FORM[17:]], "/v1/completions"),
    ("start_new", [None, None, *GENERATE_FORM[:15], "custom", "", "", "", *GENERATE_FORM[19:]], "`teacher.base_url`"),
    ("resume", [None, None, "mai-avviato", *GENERATE_FORM[1:]], "mai-avviato"),
    ("send", [None, "Ciao", None, None, "smollm2-135m-instruct", "../../etc", 0.0, 0.9, 64, 42, 1.2, ""], "`adapter`"),
    ("send", [None, "Ciao", None, None, "smollm2-135m-instruct", "x", 0.0, 0.9, None, 42, 1.2, ""], "numeri"),
    ("send", [None, "Ciao", None, None, "smollm2-135m-instruct", "x", 0.0, 0.9, 64, 42, 0.0, ""], "repetition"),
    ("evaluate_run", [None, "non-esiste"], "`adapter`"),
    ("open_dataset", ["../../etc/passwd", "", "", "", "", ""], "`dataset`"),
    ("create_dataset", [None, "a b"], "`name`"),
    ("import_dataset", [None, None, "", "nuovo"], "Carica"),
    ("save_example", [None, "seed_it.yaml", None, "", "", "", "", "", "", "draft", "", "", "", "", "", ""],
     "Seleziona"),
    ("push_dataset", [None, None, "seed_it.yaml", "../fuori", True], "`repo`"),
    ("push_adapter", [None, None, "../../etc", "utente/modello", False, True], "`run`"),
]  # fmt: skip


@pytest.mark.parametrize("name, args, says", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_bad_input_is_a_gr_error_naming_the_field(app, name, args, says, app_datasets: Path, monkeypatch):
    monkeypatch.setenv("BOTTEGA_DATASETS", str(app_datasets))
    fns = [f.fn for f in app.fns.values() if f.name == name and f.page == ""]
    errors = []
    for fn in fns:  # a name may serve two buttons (resume in Genera and in Addestra): one of them fits the args
        try:
            drain(fn(*args))
        except gr.Error as e:
            errors.append(shown(e))
        except TypeError:  # not this handler's arguments
            continue
    assert errors and says in errors[0], errors


def test_the_english_page_says_it_in_english(app, app_datasets: Path, monkeypatch):
    monkeypatch.setenv("BOTTEGA_DATASETS", str(app_datasets))
    with pytest.raises(gr.Error) as italian:
        handler(app, "start")(None, *train_form(name="a/b"))
    with pytest.raises(gr.Error) as english:
        handler(app, "start", "en")(None, *train_form(name="a/b"))
    assert "non è un nome valido" in italian.value.message
    assert "is not a valid name" in english.value.message and "non è" not in english.value.message
    assert english.value.title == "Invalid configuration"


def test_a_bug_is_not_dressed_as_a_user_error(app, monkeypatch):
    """A KeyError from a bug stays a KeyError: Gradio logs its traceback and the page shows a bare "Error"."""
    from pipeline.ui import train

    def broken() -> list:
        raise KeyError("step")

    monkeypatch.setattr(train.runs, "list_runs", broken)
    with pytest.raises(KeyError):
        handler(app, "runs_table")()
