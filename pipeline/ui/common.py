"""What every tab shares: the one error path, the page's language around each handler, the Space's login gate, and
the one status box of a job.

`speak(demo)` wraps every handler of the app once, after the tabs are built: the handler runs in its page's
language (`pipeline.i18n.use`), and a `UserError` it raises, from the pipeline or from the handler itself, becomes a
`gr.Error` in that language. Nothing else is turned into a message: a bug keeps its traceback in the app's log, and
the page shows Gradio's plain "Error".
"""

import functools
import html
import inspect
import typing
from collections.abc import Callable

import gradio as gr

from pipeline import i18n
from pipeline.errors import UserError
from pipeline.i18n import t
from pipeline.jobs import JobStatus
from pipeline.space import Access


def speak(demo: gr.Blocks, languages: dict[str, str]) -> None:
    """Wrap every handler of `demo` with its page's language (`languages`: page path → language) and the error path."""
    for block_fn in demo.fns.values():
        if block_fn.fn is not None:
            block_fn.fn = _in_language(block_fn.fn, languages.get(block_fn.page, i18n.DEFAULT))


def as_gr_error(e: UserError) -> gr.Error:
    lines = [html.escape(p, quote=False).replace("\n", "<br>") for p in e.problems]
    return gr.Error("<br>".join(lines), title=i18n.render(e.title))


def _in_language(fn: Callable, lang: str) -> Callable:
    if inspect.isasyncgenfunction(fn):

        async def wrapper(*args, **kwargs):
            with i18n.use(lang):
                try:
                    async for value in fn(*args, **kwargs):
                        yield value
                except UserError as e:
                    raise as_gr_error(e) from e

    elif inspect.iscoroutinefunction(fn):

        async def wrapper(*args, **kwargs):
            with i18n.use(lang):
                try:
                    return await fn(*args, **kwargs)
                except UserError as e:
                    raise as_gr_error(e) from e

    elif inspect.isgeneratorfunction(fn):
        # Gradio runs each step of a generator in a worker thread with a copy of the context: set the language
        # around every step, not once.
        def wrapper(*args, **kwargs):
            with i18n.use(lang):
                steps = fn(*args, **kwargs)
            while True:
                with i18n.use(lang):
                    try:
                        value = next(steps)
                    except StopIteration:
                        return
                    except UserError as e:
                        raise as_gr_error(e) from e
                yield value

    else:

        def wrapper(*args, **kwargs):
            with i18n.use(lang):
                try:
                    return fn(*args, **kwargs)
                except UserError as e:
                    raise as_gr_error(e) from e

    return _same_signature(wrapper, fn)


def _same_signature(wrapper: Callable, fn: Callable) -> Callable:
    """Give `wrapper` the signature and resolved annotations of `fn`, which Gradio reads to inject gr.Request,
    gr.OAuthProfile, gr.SelectData and gr.Progress, but not `__wrapped__`, which would make it read `fn`'s instead."""
    functools.update_wrapper(wrapper, fn)
    wrapper.__signature__ = inspect.signature(fn)
    wrapper.__annotations__ = typing.get_type_hints(fn)
    del wrapper.__wrapped__
    return wrapper


def whole(value):
    """A number from the form as the config loader wants it: a whole float (Gradio's numbers and sliders give floats)
    as an int; anything else (2.5, None from an empty field) as it is, for the loader to name."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def gated(fn: Callable) -> Callable:
    """Run `fn` only if the visitor may spend the owner's resources (always locally; on a Space, a login in the
    allow-list). The check runs on the server for every call, from the page or through the API.

    Gradio injects the OAuth profile into a parameter annotated `gr.OAuthProfile | None`, and only into positional
    ones, so the wrapper puts that parameter first and keeps `fn`'s own (with their resolved annotations, so that
    `fn`'s injected parameters such as `gr.OAuthToken` or `gr.SelectData` still work)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def wrapper(_profile, *args, **kwargs):
            Access.from_env().check(_profile)
            yield from fn(*args, **kwargs)
    else:

        @functools.wraps(fn)
        def wrapper(_profile, *args, **kwargs):
            Access.from_env().check(_profile)
            return fn(*args, **kwargs)

    signature = inspect.signature(fn)
    profile = inspect.Parameter("_profile", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.OAuthProfile | None)
    wrapper.__signature__ = signature.replace(parameters=[profile, *signature.parameters.values()])
    wrapper.__annotations__ = {"_profile": gr.OAuthProfile | None, **typing.get_type_hints(fn)}
    del wrapper.__wrapped__  # Gradio must read the new signature, not fn's
    wrapper.gated = True  # build_app greys out the buttons that trigger it for a visitor who may not act
    return wrapper


STATE_ICONS = {"starting": "⏳", "running": "▶️", "stopping": "⏸️", "stopped": "⏹️", "finished": "✅", "failed": "❌",
               "interrupted": "⚠️"}  # fmt: skip


def state_label(state: str) -> str:
    """A job's state in words, with its icon: what every table and status box shows."""
    return f"{STATE_ICONS.get(state, '')} {t('state_' + state)}".strip()


def status_box(status: JobStatus, prefix: str, done: int = 0, total: int = 0, details: str = "") -> str:
    """The one way a tab shows a job: a progress bar (when `total` is known), the state in words, `details` (HTML
    the tab composes: counters, ETA), the job's message, what to do when it stopped or died, and the log's last lines
    when it failed or was interrupted. Elements get ids under `prefix` for tests and styles."""
    bar = f"<progress value='{done}' max='{max(total, 1)}' style='width:100%'></progress>" if total else ""
    state = f"<b id='{prefix}-state'>{html.escape(state_label(status.state))}</b>"
    if status.state in ("stopped", "interrupted"):
        state += f" · {html.escape(t('state_hint_' + status.state))}"
    message = f"<p id='{prefix}-message'>{html.escape(status.message)}</p>" if status.message else ""
    log = (
        f"<details open><summary>{html.escape(t('job_log_tail'))}</summary>"
        f"<pre id='{prefix}-log'>{html.escape(status.log)}</pre></details>"
        if status.log
        else ""
    )
    sep = " · " if details else ""
    return f"<div id='{prefix}-progress'>{bar}<p>{state}{sep}{details}</p>{message}{log}</div>"
