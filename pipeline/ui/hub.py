"""The Hub panels: push the open dataset or pull one (Dataset tab); push a run's adapter or merged model (Addestra).

Layout and wiring over pipeline/hub.py. On a Space pushes use the visitor's own OAuth token; locally HF_TOKEN or
`hf auth login`.
"""

import gradio as gr

from pipeline import editor, hub
from pipeline.i18n import t
from pipeline.paths import check_repo_id
from pipeline.space import Access, hub_token
from pipeline.train import runs
from pipeline.ui.common import gated


def _token(oauth: gr.OAuthToken | None) -> str | None:
    return hub_token(Access.from_env(), oauth.token if oauth else None)


@gated
def push_dataset(oauth: gr.OAuthToken | None, name: str, repo: str, private: bool) -> str:
    path = editor.dataset_path(name)
    repo = check_repo_id(repo)
    url = hub.push_dataset(path, repo, token=_token(oauth), private=private)
    return t("hub_published", repo=repo, url=f"https://huggingface.co/datasets/{repo}", commit=url)


@gated
def pull_dataset(oauth: gr.OAuthToken | None, repo: str, new_name: str) -> gr.Dropdown:
    out = editor.dataset_file(new_name)
    repo = check_repo_id(repo)
    path = hub.pull_dataset(repo, out, token=_token(oauth))
    name = editor.dataset_name(path)
    gr.Info(t("hub_pulled", repo=repo, name=name))
    return gr.Dropdown(choices=editor.list_datasets(), value=name)


def finished_runs() -> gr.Dropdown:
    names = [row["name"] for row in runs.finished()]
    return gr.Dropdown(choices=names, value=names[0] if names else None)


@gated
def push_adapter(oauth: gr.OAuthToken | None, run: str, repo: str, merged: bool, private: bool) -> str:
    run_dir = runs.run_folder(run, "run")
    repo = check_repo_id(repo)
    push = hub.push_merged if merged else hub.push_adapter
    url = push(run_dir, repo, token=_token(oauth), private=private)
    return t("hub_published", repo=repo, url=f"https://huggingface.co/{repo}", commit=url)


def dataset_panel(picker: gr.Dropdown) -> None:
    """Push the dataset open in `picker`, or pull a dataset repo into a new file and open it."""
    with gr.Accordion(t("hub_dataset"), open=False):
        with gr.Row():
            repo = gr.Textbox(label=t("hub_repo"), placeholder="utente/nome", scale=3)
            private = gr.Checkbox(label=t("hub_private"), value=True, scale=1)
            push = gr.Button(t("hub_push_dataset"), scale=1)
        with gr.Row():
            pull_repo = gr.Textbox(label=t("hub_pull_repo"), placeholder="utente/nome", scale=3)
            pull_name = gr.Textbox(label=t("hub_pull_name"), scale=2)
            pull = gr.Button(t("hub_pull"), scale=1)
        result = gr.Markdown()
    push.click(push_dataset, [picker, repo, private], result)
    pull.click(pull_dataset, [pull_repo, pull_name], picker)


def adapter_panel(demo: gr.Blocks) -> None:
    """Push a finished run's adapter (or the base model with it merged) as a model repo with its card."""
    with gr.Accordion(t("hub_adapter"), open=False):
        with gr.Row():
            run = gr.Dropdown(label=t("hub_run"), choices=[], scale=2)
            repo = gr.Textbox(label=t("hub_repo"), placeholder="utente/nome", scale=3)
        with gr.Row():
            merged = gr.Checkbox(label=t("hub_merged"), value=False)
            private = gr.Checkbox(label=t("hub_private"), value=True)
            push = gr.Button(t("hub_push_adapter"))
        result = gr.Markdown()
    demo.load(finished_runs, None, run)
    push.click(push_adapter, [run, repo, merged, private], result)
