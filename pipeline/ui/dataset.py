"""The Dataset tab. A later issue fills it; for now it says what is coming."""

import gradio as gr

from pipeline.ui.i18n import t


def render() -> None:
    gr.Markdown(t("dataset_coming"))
