"""The Gradio app: a header, the local models panel and one tab per job. Layout and wiring only.

python app.py          # http://127.0.0.1:7860
"""

import gradio as gr

from pipeline.ui import compare, dataset, generate, models, train
from pipeline.ui.i18n import (
    DEFAULT_LANGUAGE,
    HEAD_JS,
    I18N,
    LANGUAGES,
    SAVE_LANGUAGE_JS,
    SHOW_SAVED_LANGUAGE_JS,
    t,
)


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Bottega", analytics_enabled=False) as demo:
        with gr.Row(equal_height=True):
            with gr.Column(scale=5):
                gr.Markdown("# Bottega")
                gr.Markdown(t("intro"))
            language = gr.Radio(LANGUAGES, value=DEFAULT_LANGUAGE, label=t("language"), scale=1, elem_id="language")
        table = models.render()
        with gr.Tabs() as tabs:
            with gr.Tab(t("tab_generate"), id="generate"):
                open_generated, generated_name = generate.render()
            with gr.Tab(t("tab_dataset"), id="dataset"):
                dataset_picker = dataset.render(demo)
            with gr.Tab(t("tab_train"), id="train"):
                train.render(demo)
            with gr.Tab(t("tab_compare"), id="compare"):
                compare.render(demo)
        open_generated.click(dataset.open_named, generated_name, dataset_picker).success(
            lambda: gr.Tabs(selected="dataset"), None, tabs
        )
        demo.load(None, None, language, js=SHOW_SAVED_LANGUAGE_JS)
        # `input`, not `change`: only a user's click saves and reloads, not the value set on load.
        language.input(None, language, None, js=SAVE_LANGUAGE_JS)
        demo.load(models.models_table, None, table, api_name="models_list")
    return demo


def launch(demo: gr.Blocks, **kwargs) -> None:
    """Launch with the translations, the language script and the footer's API and settings links."""
    demo.launch(i18n=I18N, head=HEAD_JS, footer_links=["api", "settings"], **kwargs)
