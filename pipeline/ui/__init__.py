"""The Gradio app: a header, the local models panel and one tab per job. Layout and wiring only.

python app.py          # http://127.0.0.1:7860

On a Hugging Face Space (`SPACE_ID` set) the header gets a "Sign in with Hugging Face" button and a line saying what
the visitor may do; see pipeline/space.py for the allow-list.
"""

import os

import gradio as gr

from pipeline.space import Access
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


def access_banner(profile: gr.OAuthProfile | None) -> str:
    return Access.from_env().banner(profile)


def gated_buttons(demo: gr.Blocks) -> list[gr.Button]:
    """The buttons whose click runs a handler behind the login gate (see `common.gated`)."""
    ids = {target[0] for fn in demo.fns.values() if getattr(fn.fn, "gated", False) for target in fn.targets}
    return [demo.blocks[i] for i in sorted(ids) if isinstance(demo.blocks[i], gr.Button)]


def build_app() -> gr.Blocks:
    access = Access.from_env()
    with gr.Blocks(title="Bottega", analytics_enabled=False) as demo:
        with gr.Row(equal_height=True):
            with gr.Column(scale=5):
                gr.Markdown("# Bottega")
                gr.Markdown(t("intro"))
            with gr.Column(scale=1, min_width=220):
                language = gr.Radio(LANGUAGES, value=DEFAULT_LANGUAGE, label=t("language"), elem_id="language")
                # Gradio's OAuth routes need the Space's OAuth app; without it the page stays read-only.
                if access.on_space and access.oauth:
                    gr.LoginButton(elem_id="login")
        banner = gr.Markdown(elem_id="access", visible=access.on_space)
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
        if access.on_space:
            # A visitor who may not act sees those buttons greyed out; the handlers refuse them anyway.
            buttons = gated_buttons(demo)
            demo.load(access_banner, None, banner)

            def interactive(profile: gr.OAuthProfile | None) -> list[gr.Button]:
                return [gr.Button(interactive=Access.from_env().allows(profile))] * len(buttons)

            demo.load(interactive, None, buttons)
    return demo


def launch(demo: gr.Blocks, **kwargs) -> None:
    """Launch with the translations, the language script and the footer's API and settings links.

    Locally the app listens on 127.0.0.1 only and never opens a share link; a Space sets GRADIO_SERVER_NAME to
    0.0.0.0 itself. Uploads above the size limit are refused by Gradio before they reach a handler."""
    from pipeline.config import max_upload_bytes

    options = {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "share": False,
        "max_file_size": max_upload_bytes(),
        **kwargs,
    }
    demo.launch(i18n=I18N, head=HEAD_JS, footer_links=["api", "settings"], **options)
