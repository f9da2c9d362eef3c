"""The Dataset tab: pick a YAML dataset, filter it, edit one example at a time, see its stats, import and export.

Every change goes through `pipeline.editor`, which reloads the file, refuses it if the file moved on since this page
last saw it, and saves atomically. The page keeps only the revision it last saw.
"""

import shutil
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from pipeline import dataset as ds_mod
from pipeline import editor, formats, models
from pipeline.errors import UserError
from pipeline.i18n import Message, t
from pipeline.ui import hub as hub_panels
from pipeline.ui.common import gated

ANY = [("*", editor.ALL)]
FORM_FIELDS = ("instruction", "input", "output", "system", "tags", "status", "category", "rejected")


def _table(examples: list[ds_mod.Example]) -> pd.DataFrame:
    rows = [
        [e.id, e.meta.status, e.meta.category or "", e.meta.method, e.instruction.replace("\n", " ")[:100]]
        for e in examples
    ]
    return pd.DataFrame(rows, columns=["id", t("col_state"), t("col_category"), t("col_method"), t("col_instruction")])


def _form(example: ds_mod.Example | None) -> tuple:
    if example is None:
        return ("", "", "", "", "", "", "draft", "", "")
    return (
        example.id,
        example.instruction,
        example.input or "",
        example.output,
        example.system or "",
        ", ".join(example.meta.tags),
        example.meta.status,
        example.meta.category or "",
        example.rejected or "",
    )


def _form_changes(instruction, input_, output, system, tags, status, category, rejected="") -> dict:
    return {
        "instruction": instruction,
        "input": input_,
        "output": output,
        "system": system,
        "tags": editor.parse_tags(tags),
        "status": status,
        "category": (category or "").strip() or None,
        "rejected": (rejected or "").strip() or None,  # a preference pair's refused answer; empty: not a pair
    }


def _view(dataset: ds_mod.Dataset, *filters) -> tuple:
    """What every action refreshes: the revision, the filtered table and the filters' choices."""

    def values(attr: str) -> list[str]:
        return sorted({getattr(e.meta, attr) or "" for e in dataset.examples} - {""})

    return (
        dataset.revision,
        _table(editor.filter_examples(dataset, *filters)),
        gr.Dropdown(choices=ANY + values("category")),
        gr.Dropdown(choices=ANY + values("method")),
        gr.Dropdown(choices=ANY + values("language")),
    )


def open_dataset(name: str, *filters) -> tuple:
    if not name:
        return (None, _table([]), gr.Dropdown(), gr.Dropdown(), gr.Dropdown(), *_form(None))
    dataset = ds_mod.load(editor.dataset_path(name))
    return (*_view(dataset, *filters), *_form(None))


def refilter(name: str, *filters) -> pd.DataFrame:
    if not name:
        return _table([])
    return _table(editor.filter_examples(ds_mod.load(editor.dataset_path(name)), *filters))


def select_example(name: str, table: pd.DataFrame, event: gr.SelectData) -> tuple:
    example_id = table.iloc[event.index[0], 0]
    return _form(ds_mod.load(editor.dataset_path(name)).find(example_id))


def preview(example_id: str, *fields) -> tuple[str, str]:
    """Live validation and the YAML the example will have, from the form as it is now."""
    if not example_id:
        return "", ""
    example = ds_mod.Example(id=example_id, instruction="", output="")
    editor.update_example(ds_mod.Dataset(name="anteprima", examples=[example]), example_id, **_form_changes(*fields))
    problems = ds_mod.validate_example(example)
    message = "\n".join(f"- ⚠️ {p}" for p in problems) if problems else "✅"
    return message, editor.example_yaml(example)


def _act(name: str, revision: str | None, change, filters: tuple, select=None) -> tuple:
    dataset = editor.apply(editor.dataset_path(name), revision, change)
    selected = dataset.find(select) if select else None
    return (*_view(dataset, *filters), *_form(selected))


@gated
def save_example(name, revision, example_id, *rest) -> tuple:
    fields, filters = rest[: len(FORM_FIELDS)], rest[len(FORM_FIELDS) :]
    if not example_id:
        raise UserError(Message("ds_pick_example"))
    result = _act(
        name, revision, lambda d: editor.update_example(d, example_id, **_form_changes(*fields)), filters, example_id
    )
    gr.Info(t("ds_saved", id=example_id))
    return result


@gated
def add(name, revision, category, *filters) -> tuple:
    dataset = editor.apply(editor.dataset_path(name), revision, lambda d: editor.add_example(d, category or None))
    return (*_view(dataset, *filters), *_form(dataset.examples[-1]))  # a new example goes last


@gated
def duplicate(name, revision, example_id, *filters) -> tuple:
    dataset = editor.apply(editor.dataset_path(name), revision, lambda d: editor.duplicate_example(d, example_id))
    source = next(i for i, e in enumerate(dataset.examples) if e.id == example_id)
    return (*_view(dataset, *filters), *_form(dataset.examples[source + 1]))  # the copy follows its source


@gated
def delete(name, revision, example_id, *filters) -> tuple:
    result = _act(name, revision, lambda d: editor.delete_example(d, example_id), filters)
    gr.Info(t("ds_deleted", id=example_id))
    return result


def _set_status(status: str):
    @gated
    def handler(name, revision, example_id, *filters) -> tuple:
        return _act(name, revision, lambda d: editor.set_status(d, [example_id], status), filters, example_id)

    return handler


@gated
def approve_filtered(name, revision, *filters) -> tuple:
    changed = []

    def change(d: ds_mod.Dataset) -> None:
        ids = [e.id for e in editor.filter_examples(d, *filters)]
        changed.append(editor.set_status(d, ids, "approved"))

    dataset = editor.apply(editor.dataset_path(name), revision, change)
    gr.Info(t("ds_approved", count=changed[0]))
    return (*_view(dataset, *filters), *_form(None))


@gated
def create_dataset(new_name: str) -> gr.Dropdown:
    path = editor.new_dataset(new_name.strip())
    return gr.Dropdown(choices=editor.list_datasets(), value=editor.dataset_name(path))


@gated
def import_dataset(upload: str | None, fmt: str, new_name: str) -> gr.Dropdown:
    if not upload:
        raise UserError(Message("ds_upload_first"))
    path, imported = editor.import_upload(upload, fmt or None, new_name)
    gr.Info(t("ds_imported", count=len(imported.examples), name=path.name))
    return gr.Dropdown(choices=editor.list_datasets(), value=editor.dataset_name(path))


def export_dataset(name: str, fmt: str, only_approved: bool) -> str:
    dataset = ds_mod.load(editor.dataset_path(name))
    out_dir = Path(tempfile.mkdtemp(prefix="bottega-export-"))
    suffix = {"alpaca-jsonl": ".jsonl", "messages-jsonl": ".jsonl", "parquet": ".parquet", "hf": ""}[fmt]
    out = formats.export(dataset, out_dir / f"{Path(name).stem}{suffix}", fmt, only_approved=only_approved)
    if out.is_dir():  # a datasets folder downloads as one zip
        return shutil.make_archive(str(out), "zip", out)
    return str(out)


def _counts(counter) -> pd.DataFrame:
    return pd.DataFrame(counter.most_common(), columns=[t("col_value"), t("col_examples")])


def _histogram(series: dict[str, list[int]]) -> gr.BarPlot:
    """One bar chart of several value lists over shared bins, bins in numeric order."""
    values = [v for vs in series.values() for v in vs]
    columns = (t("col_range"), t("col_examples"), t("col_field"))
    if not values:
        return gr.BarPlot(pd.DataFrame({c: [] for c in columns}))
    edges = np.histogram_bin_edges(values, bins=min(12, len(set(values))))
    bins = [f"{int(a)}–{int(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    frames = [
        pd.DataFrame(dict(zip(columns, (bins, np.histogram(vs, bins=edges)[0], label), strict=True)))
        for label, vs in series.items()
    ]
    return gr.BarPlot(pd.concat(frames, ignore_index=True), sort=bins)


def dataset_stats(name: str) -> tuple:
    if not name:
        return (None,) * 4
    s = ds_mod.stats(ds_mod.load(editor.dataset_path(name)))
    lengths = _histogram({t("col_instruction"): s.instruction_words, t("col_answer"): s.output_words})
    return _counts(s.by_category), _counts(s.by_method), _counts(s.by_status), lengths


def dataset_tokens(name: str, progress: gr.Progress = gr.Progress()) -> gr.BarPlot:
    progress(0, desc="tokenizer")
    counts = ds_mod.token_counts(ds_mod.load(editor.dataset_path(name)), models.resolve(models.DEFAULT_MODEL))
    return _histogram({models.DEFAULT_MODEL: counts})


def open_named(name: str) -> gr.Dropdown:
    """Select `<name>.yaml` in the dataset list (after a generation wrote it)."""
    path = editor.dataset_file(name, "name")
    if not path.exists():
        raise UserError(Message("ds_not_yet", name=path.name))
    return gr.Dropdown(choices=editor.list_datasets(), value=path.name)


def render(demo: gr.Blocks) -> gr.Dropdown:
    """Lay out the tab; `demo` is the app, whose page load opens the default dataset. Returns the dataset picker."""
    names = editor.list_datasets()
    default = "seed_it.yaml" if "seed_it.yaml" in names else next(iter(names), None)
    with gr.Row():
        name = gr.Dropdown(names, value=default, label=t("ds_pick"), scale=3, elem_id="ds-pick")
        refresh = gr.Button(t("ds_refresh"), scale=0)
        new_name = gr.Textbox(label=t("ds_new_name"), placeholder="cucina_it", scale=2)
        create = gr.Button(t("ds_create"), scale=0)
    revision = gr.State(None)
    with gr.Row():
        query = gr.Textbox(label=t("ds_search"), scale=3, elem_id="ds-search")
        f_status = gr.Dropdown(ANY + [(s, s) for s in ds_mod.STATUSES], value="", label=t("ds_status"))
        f_method = gr.Dropdown(ANY, value="", label=t("ds_method"))
        f_category = gr.Dropdown(ANY, value="", label=t("ds_category"))
        f_language = gr.Dropdown(ANY, value="", label=t("ds_language"))
    filters = [query, f_status, f_method, f_category, f_language]
    table = gr.Dataframe(
        _table([]), interactive=False, wrap=True, max_height=360, label=t("ds_examples"), elem_id="ds-table"
    )
    approve_all = gr.Button(t("ds_approve_filtered"), size="sm")

    with gr.Row():
        with gr.Column(scale=3):
            example_id = gr.Textbox(label="id", interactive=False, elem_id="ds-id")
            instruction = gr.Textbox(label=t("ds_instruction"), lines=3, elem_id="ds-instruction")
            input_ = gr.Textbox(label=t("ds_input"), lines=2)
            output = gr.Textbox(label=t("ds_output"), lines=8, elem_id="ds-output")
            system = gr.Textbox(label=t("ds_system"), lines=1)
            rejected = gr.Textbox(label=t("ds_rejected"), info=t("ds_rejected_info"), lines=3, elem_id="ds-rejected")
            with gr.Row():
                tags = gr.Textbox(label=t("ds_tags"), placeholder="congiuntivo, verbi")
                category = gr.Textbox(label=t("ds_category"))
                status = gr.Radio(list(ds_mod.STATUSES), value="draft", label=t("ds_status"))
            with gr.Row():
                save = gr.Button(t("ds_save"), variant="primary", elem_id="ds-save")
                approve = gr.Button(t("ds_approve"))
                reject = gr.Button(t("ds_reject"))
                add_btn = gr.Button(t("ds_add"))
                dup_btn = gr.Button(t("ds_duplicate"))
                del_btn = gr.Button(t("ds_delete"), variant="stop")
        with gr.Column(scale=2):
            problems = gr.Markdown()
            yaml_preview = gr.Code(language="yaml", label=t("ds_yaml"), interactive=False)
    form = [example_id, instruction, input_, output, system, tags, status, category, rejected]

    with gr.Accordion(t("ds_stats"), open=False):
        with gr.Row():
            value, examples, span, field = t("col_value"), t("col_examples"), t("col_range"), t("col_field")
            by_category = gr.BarPlot(
                x=value, y=examples, label=t("ds_by_category"), x_label_angle=-45, y_lim=[0, None]
            )
            by_method = gr.BarPlot(x=value, y=examples, label=t("ds_by_method"), y_lim=[0, None])
            by_status = gr.BarPlot(x=value, y=examples, label=t("ds_by_status"), y_lim=[0, None])
        lengths = gr.BarPlot(x=span, y=examples, color=field, label=t("ds_lengths"))
        with gr.Row():
            stats_btn = gr.Button(t("ds_stats_refresh"))
            tokens_btn = gr.Button(t("ds_tokens"))
        tokens = gr.BarPlot(x=span, y=examples, color=field, label=t("ds_tokens_plot"))

    with gr.Accordion(t("ds_import_export"), open=False):
        with gr.Row():
            with gr.Column():
                upload = gr.File(label=t("ds_import_file"), file_types=[".json", ".jsonl", ".csv", ".parquet"])
                import_format = gr.Dropdown(
                    ANY + [(f, f) for f in formats.IMPORT_FORMATS], value="", label=t("ds_import_format")
                )
                import_name = gr.Textbox(label=t("ds_new_name"))
                import_btn = gr.Button(t("ds_import"))
            with gr.Column():
                export_format = gr.Dropdown(
                    list(formats.EXPORT_FORMATS), value="messages-jsonl", label=t("ds_export_format")
                )
                only_approved = gr.Checkbox(True, label=t("ds_only_approved"))
                export_btn = gr.Button(t("ds_export"))
                download = gr.File(label=t("ds_download"))
    hub_panels.dataset_panel(name)

    view = [revision, table, f_category, f_method, f_language]
    opened = gr.on([demo.load, name.change], open_dataset, [name, *filters], [*view, *form])
    refresh.click(lambda: gr.Dropdown(choices=editor.list_datasets()), None, name)
    create.click(create_dataset, new_name, name)
    gr.on([query.submit, f_status.change, f_method.change, f_category.change, f_language.change], refilter,
          [name, *filters], table)  # fmt: skip
    table.select(select_example, [name, table], form)
    gr.on([f.change for f in form], preview, [example_id, *form[1:]], [problems, yaml_preview])
    save.click(save_example, [name, revision, *form, *filters], [*view, *form])
    approve.click(_set_status("approved"), [name, revision, example_id, *filters], [*view, *form])
    reject.click(_set_status("rejected"), [name, revision, example_id, *filters], [*view, *form])
    add_btn.click(add, [name, revision, category, *filters], [*view, *form])
    dup_btn.click(duplicate, [name, revision, example_id, *filters], [*view, *form])
    del_btn.click(delete, [name, revision, example_id, *filters], [*view, *form])
    approve_all.click(approve_filtered, [name, revision, *filters], [*view, *form])
    plots = [by_category, by_method, by_status, lengths]
    opened.then(dataset_stats, name, plots)
    stats_btn.click(dataset_stats, name, plots)
    tokens_btn.click(dataset_tokens, name, tokens)
    import_btn.click(import_dataset, [upload, import_format, import_name], name)
    export_btn.click(export_dataset, [name, export_format, only_approved], download)
    return name
