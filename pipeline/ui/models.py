"""The local models panel: which bundled models are ready, and a button that prepares one."""

import gradio as gr

from pipeline import models
from pipeline.i18n import t


def models_table() -> list[list]:
    return [[m.name, m.ready, str(m.path)] for m in models.list_models()]


def prepare_model(name: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> list[list]:
    models.prepare(name)
    return models_table()


def render() -> gr.Dataframe:
    """Lay out the panel; the caller fills the table on page load."""
    with gr.Accordion(t("models_title"), open=False):
        table = gr.Dataframe(
            headers=[t("col_model"), t("col_ready"), t("col_folder")],
            datatype=["str", "bool", "str"],
            interactive=False,
            label=t("models_table"),
        )
        with gr.Row():
            name = gr.Dropdown(choices=list(models.BUNDLED), value=models.DEFAULT_MODEL, label=t("models_name"))
            prepare = gr.Button(t("models_prepare"), variant="primary")
    prepare.click(prepare_model, name, table, api_name="models_prepare")
    return table
