"""Small helpers shared by the tabs: turning the pipeline's plain errors into Gradio's."""

import functools
from collections.abc import Callable

import gradio as gr

from pipeline.dataset import DatasetError
from pipeline.models import ModelError


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
