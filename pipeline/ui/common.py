"""Small helpers shared by the tabs: turning the pipeline's plain errors into Gradio's, and the Space's login gate."""

import functools
import inspect
import typing
from collections.abc import Callable

import gradio as gr

from pipeline.dataset import DatasetError
from pipeline.models import ModelError
from pipeline.space import Access, AccessError


def user_errors(fn: Callable) -> Callable:
    """Show the pipeline's actionable errors as a Gradio error popup instead of a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatasetError as e:
            raise gr.Error("<br>".join(e.problems), title="Dataset") from e
        except ModelError as e:
            raise gr.Error(str(e)) from e
        except KeyError as e:
            raise gr.Error(f"Esempio {e} non trovato: ricarica il dataset.") from e

    return wrapper


def gated(fn: Callable) -> Callable:
    """Run `fn` only if the visitor may spend the owner's resources (always locally; on a Space, a login in the
    allow-list). The check runs on the server for every call, from the page or through the API.

    Gradio injects the OAuth profile into a parameter annotated `gr.OAuthProfile | None`, and only into positional
    ones, so the wrapper puts that parameter first and keeps `fn`'s own (with their resolved annotations, so that
    `fn`'s injected parameters such as `gr.OAuthToken` or `gr.SelectData` still work)."""

    def check(profile: gr.OAuthProfile | None) -> None:
        try:
            Access.from_env().check(profile)
        except AccessError as e:
            raise gr.Error(str(e), title="Accesso") from e

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def wrapper(_profile, *args, **kwargs):
            check(_profile)
            yield from fn(*args, **kwargs)
    else:

        @functools.wraps(fn)
        def wrapper(_profile, *args, **kwargs):
            check(_profile)
            return fn(*args, **kwargs)

    signature = inspect.signature(fn)
    profile = inspect.Parameter("_profile", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.OAuthProfile | None)
    wrapper.__signature__ = signature.replace(parameters=[profile, *signature.parameters.values()])
    wrapper.__annotations__ = {"_profile": gr.OAuthProfile | None, **typing.get_type_hints(fn)}
    del wrapper.__wrapped__  # Gradio must read the new signature, not fn's
    wrapper.gated = True  # build_app greys out the buttons that trigger it for a visitor who may not act
    return wrapper
