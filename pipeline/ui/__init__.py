"""The Gradio app: a header, the local models panel and one tab per job. Layout and wiring only.

python app.py          # http://127.0.0.1:7860 (Italian), http://127.0.0.1:7860/en (English)

The app is built once per language, as two pages of one Blocks (`demo.route`): `/` in Italian, `/en` in English.
Every word is rendered on the server from the one catalogue (`pipeline.catalogue`): the labels when the page is
built, and at run time, through `ui.common.speak`, the status lines, table headers and error messages of the
handlers, which run in their page's language. The language switch in the header goes to the other page and the
browser remembers the choice; no script reaches into Gradio's own files.

On a Hugging Face Space (`SPACE_ID` set) the header gets a "Sign in with Hugging Face" button and a line saying what
the visitor may do; see pipeline/space.py for the allow-list.
"""

import os

import gradio as gr

from pipeline import i18n
from pipeline.i18n import t
from pipeline.space import Access
from pipeline.ui import compare, dataset, generate, models, train
from pipeline.ui.common import speak

PAGES = {"": "it", "en": "en"}
"""Page path → language."""
_STORAGE_KEY = "bottega-lang"
# In <head>, before anything is drawn: a visitor who chose English and opens the Italian page goes to the English one.
HEAD_JS = f"""<script>
(() => {{
  const english = /\\/en\\/?$/.test(location.pathname);
  if (localStorage.getItem("{_STORAGE_KEY}") === "en" && !english) {{
    location.replace(location.pathname.replace(/\\/?$/, "/en") + location.search);
  }}
}})();
</script>"""
# The language switch: remember the choice, then open the page in that language.
SWITCH_JS = f"""(lang) => {{
  localStorage.setItem("{_STORAGE_KEY}", lang);
  const base = location.pathname.replace(/en\\/?$/, "");
  location.assign(base + (lang === "en" ? "en" : "") + location.search);
}}"""


def access_banner(profile: gr.OAuthProfile | None) -> str:
    return Access.from_env().banner(profile)


def gated_buttons(demo: gr.Blocks, page: str) -> list[gr.Button]:
    """The buttons of `page` whose click runs a handler behind the login gate (see `common.gated`)."""
    ids = {target[0] for fn in demo.fns.values() if getattr(fn.fn, "gated", False) and fn.page == page
           for target in fn.targets}  # fmt: skip
    return [demo.blocks[i] for i in sorted(ids) if isinstance(demo.blocks[i], gr.Button)]


def _page(demo: gr.Blocks, lang: str, access: Access) -> None:
    """One page of the app, in `lang`."""
    gr.Navbar(visible="hidden")  # the pages are languages: the switch below moves between them
    with gr.Row(equal_height=True):
        with gr.Column(scale=5):
            gr.Markdown("# Bottega")
            gr.Markdown(t("intro"))
        with gr.Column(scale=1, min_width=220):
            language = gr.Radio([("Italiano", "it"), ("English", "en")], value=lang, label=t("language"),
                                elem_id="language")  # fmt: skip
            # Gradio's OAuth routes need the Space's OAuth app; without it the page stays read-only.
            if access.on_space and access.oauth:
                gr.LoginButton(elem_id="login")
    banner = gr.Markdown(elem_id="access", visible=access.on_space)
    table = models.render()
    with gr.Tabs() as tabs:
        with gr.Tab(t("tab_generate"), id="generate"):
            open_generated, generated_name = generate.render(demo)
        with gr.Tab(t("tab_dataset"), id="dataset"):
            dataset_picker = dataset.render(demo)
        with gr.Tab(t("tab_train"), id="train"):
            train.render(demo)
        with gr.Tab(t("tab_compare"), id="compare"):
            compare.render(demo)
    open_generated.click(dataset.open_named, generated_name, dataset_picker).success(
        lambda: gr.Tabs(selected="dataset"), None, tabs
    )
    # `input`, not `change`: only a user's click switches, not the value the page was built with.
    language.input(None, language, None, js=SWITCH_JS)
    demo.load(models.models_table, None, table, api_name="models_list")
    if access.on_space:
        demo.load(access_banner, None, banner)
        # A visitor who may not act sees those buttons greyed out; the handlers refuse them anyway.
        buttons = gated_buttons(demo, demo.current_page)

        def interactive(profile: gr.OAuthProfile | None) -> list[gr.Button]:
            return [gr.Button(interactive=Access.from_env().allows(profile))] * len(buttons)

        demo.load(interactive, None, buttons)


def build_app() -> gr.Blocks:
    access = Access.from_env()
    with gr.Blocks(title="Bottega", analytics_enabled=False) as demo, i18n.use(PAGES[""]):
        _page(demo, PAGES[""], access)
    for path, lang in PAGES.items():
        if path:
            with demo.route(lang, f"/{path}", show_in_navbar=False), i18n.use(lang):
                _page(demo, lang, access)
    for fn in demo.fns.values():  # the API lists each endpoint once: the Italian page's
        if fn.page:
            fn.api_visibility = "undocumented"
    speak(demo, PAGES)
    return demo


def launch(demo: gr.Blocks, **kwargs) -> None:
    """Launch with the language script and the footer's API and settings links.

    Locally the app listens on 127.0.0.1 only and never opens a share link; a Space sets GRADIO_SERVER_NAME to
    0.0.0.0 itself. Uploads above the size limit are refused by Gradio before they reach a handler."""
    from pipeline.paths import max_upload_bytes

    options = {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "share": False,
        "max_file_size": max_upload_bytes(),
        **kwargs,
    }
    demo.launch(head=HEAD_JS, footer_links=["api", "settings"], **options)
