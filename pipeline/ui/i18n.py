"""The UI's words, Italian first, English second, through `gr.I18n`.

Gradio picks a page's language only among those it ships itself, and Italian is not one of them, so a browser set to
Italian would get English. HEAD_JS fixes that: before the page renders it switches to the language saved in the
browser (Italian when none is saved). The language switch in the header saves the choice and reloads the page, because
Gradio does not relabel tabs that are already drawn when the language changes under them.
"""

import gradio as gr

IT = {
    "title": "Bottega: LLM aperti più bravi in italiano",
    "intro": "**Bottega** genera dataset di istruzioni in italiano, li modifica, addestra adattatori LoRA e "
    "confronta il modello base con quello addestrato.",
    "tab_generate": "Genera",
    "tab_dataset": "Dataset",
    "tab_train": "Addestra",
    "tab_compare": "Confronta",
    "generate_coming": "### Genera\nQui arriverà la generazione del dataset con un modello insegnante "
    "(Self-Instruct, Evol-Instruct, risposte in stile ORCA), con filtri per l'italiano e deduplicazione.",
    "dataset_coming": "### Dataset\nQui arriverà l'editor dei dataset YAML: sfoglia, correggi, approva, elimina, "
    "importa ed esporta.",
    "train_coming": "### Addestra\nQui arriverà l'addestramento LoRA / QLoRA, da lanciare e seguire dal browser.",
    "compare_coming": "### Confronta\nQui arriverà la chat affiancata tra modello base e modello addestrato, "
    "con voti alla cieca e valutazione automatica in italiano.",
    "language": "Lingua",
    "models_title": "Modelli locali",
    "models_table": "Modelli inclusi",
    "models_name": "Modello",
    "models_prepare": "Prepara il modello",
    "models_refresh": "Aggiorna",
}

EN = {
    "title": "Bottega: open LLMs, better at Italian",
    "intro": "**Bottega** generates Italian instruction datasets, edits them, trains LoRA adapters and compares "
    "the base model with the fine-tuned one.",
    "tab_generate": "Generate",
    "tab_dataset": "Dataset",
    "tab_train": "Train",
    "tab_compare": "Compare",
    "generate_coming": "### Generate\nComing here: dataset generation with a teacher model (Self-Instruct, "
    "Evol-Instruct, ORCA-style answers), with Italian filters and deduplication.",
    "dataset_coming": "### Dataset\nComing here: the YAML dataset editor: browse, fix, approve, delete, import "
    "and export.",
    "train_coming": "### Train\nComing here: LoRA / QLoRA training, launched and watched from the browser.",
    "compare_coming": "### Compare\nComing here: side-by-side chat of the base and the fine-tuned model, with "
    "blind votes and automatic Italian evaluation.",
    "language": "Language",
    "models_title": "Local models",
    "models_table": "Bundled models",
    "models_name": "Model",
    "models_prepare": "Prepare the model",
    "models_refresh": "Refresh",
}

I18N = gr.I18n(it=IT, en=EN)
t = I18N
LANGUAGES = [("Italiano", "it"), ("English", "en")]
DEFAULT_LANGUAGE = "it"
_STORAGE_KEY = "bottega-lang"

# Runs once Gradio has loaded its translations and before it draws the components. `changeLocale` is what Gradio's
# own settings panel calls; its module is found among the page's loaded scripts because its file name is hashed.
HEAD_JS = f"""<script>
(async () => {{
  const url = performance.getEntriesByType("resource").map((e) => e.name)
    .find((n) => /\\/assets\\/core-[^/]*\\.js$/.test(n));
  if (!url) return;
  const core = await import(url);
  core.changeLocale(localStorage.getItem("{_STORAGE_KEY}") || "{DEFAULT_LANGUAGE}");
}})();
</script>"""
# The language radio: shows the saved language on load; a user's choice is saved and the page reloads in it.
SHOW_SAVED_LANGUAGE_JS = f'() => localStorage.getItem("{_STORAGE_KEY}") || "{DEFAULT_LANGUAGE}"'
SAVE_LANGUAGE_JS = f'(lang) => {{ localStorage.setItem("{_STORAGE_KEY}", lang); location.reload(); }}'
