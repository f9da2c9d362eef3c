"""The UI's words, Italian first, English second, through `gr.I18n`.

Gradio picks a page's language only among those it ships itself, and Italian is not one of them, so a browser set to
Italian would get English. HEAD_JS fixes that: before the page renders it switches to the language saved in the
browser (Italian when none is saved). The language switch in the header saves the choice and reloads the page.
"""

import gradio as gr

IT = {
    "intro": "**Bottega** genera dataset di istruzioni in italiano, li modifica, addestra adattatori LoRA e "
    "confronta il modello base con quello addestrato.",
    "tab_generate": "Genera",
    "tab_dataset": "Dataset",
    "tab_train": "Addestra",
    "tab_compare": "Confronta",
    "gen_teacher": "### Modello insegnante",
    "gen_preset": "Dove gira",
    "gen_local_model": "Modello locale (preset local: incluso, cartella o id dell'Hub)",
    "gen_model": "Modello",
    "gen_base_url": "base_url (solo per custom: vLLM, Ollama...)",
    "gen_key_env": "Variabile d'ambiente con la chiave (il nome, non la chiave)",
    "gen_concurrency": "Richieste in parallelo",
    "gen_max_tokens": "Token massimi per risposta",
    "gen_temperature": "Temperatura",
    "gen_budget": "Budget di token (0: nessun limite)",
    "gen_price_in": "Prezzo per 1000 token di prompt",
    "gen_price_out": "Prezzo per 1000 token generati",
    "gen_budget_cost": "Spesa massima (0: nessun limite)",
    "gen_run": "### Generazione",
    "gen_name": "Nome del dataset da generare",
    "gen_count": "Esempi accettati da ottenere",
    "gen_depth": "Profondità massima di Evol-Instruct",
    "gen_seed": "Seme",
    "gen_judge": "Giudice: il teacher dà un voto da 1 a 10",
    "gen_threshold": "Voto minimo",
    "gen_start": "Avvia",
    "gen_stop": "Ferma",
    "gen_resume": "Riprendi",
    "gen_open": "Apri il dataset generato nel tab Dataset",
    "gen_reasons": "Scartati per motivo",
    "gen_latest": "Ultimi esempi accettati",
    "train_coming": "### Addestra\nQui arriverà l'addestramento LoRA / QLoRA, da lanciare e seguire dal browser.",
    "compare_coming": "### Confronta\nQui arriverà la chat affiancata tra modello base e modello addestrato, "
    "con voti alla cieca e valutazione automatica in italiano.",
    "language": "Lingua",
    "ds_pick": "Dataset",
    "ds_refresh": "Aggiorna elenco",
    "ds_new_name": "Nome del nuovo dataset",
    "ds_create": "Crea",
    "ds_search": "Cerca nel testo",
    "ds_status": "Stato",
    "ds_method": "Metodo",
    "ds_category": "Categoria",
    "ds_language": "Lingua",
    "ds_examples": "Esempi (clicca una riga per modificarla)",
    "ds_approve_filtered": "Approva tutti gli esempi filtrati",
    "ds_instruction": "Istruzione",
    "ds_input": "Input (facoltativo)",
    "ds_output": "Risposta",
    "ds_system": "Messaggio di sistema (facoltativo)",
    "ds_tags": "Tag (separati da virgole)",
    "ds_save": "Salva",
    "ds_approve": "Approva",
    "ds_reject": "Rifiuta",
    "ds_add": "Nuovo esempio",
    "ds_duplicate": "Duplica",
    "ds_delete": "Elimina",
    "ds_yaml": "Anteprima YAML",
    "ds_stats": "Statistiche",
    "ds_by_category": "Esempi per categoria",
    "ds_by_method": "Esempi per metodo",
    "ds_by_status": "Esempi per stato",
    "ds_lengths": "Lunghezza in parole",
    "ds_stats_refresh": "Aggiorna le statistiche",
    "ds_tokens": "Conta i token (SmolLM2)",
    "ds_tokens_plot": "Token per esempio con il template di chat",
    "ds_import_export": "Importa ed esporta",
    "ds_import_file": "File da importare (Alpaca, ShareGPT, messages, CSV, parquet)",
    "ds_import_format": "Formato (vuoto: automatico)",
    "ds_import": "Importa",
    "ds_export_format": "Formato di esportazione",
    "ds_only_approved": "Solo gli esempi approvati",
    "ds_export": "Esporta",
    "ds_download": "File esportato",
    "models_title": "Modelli locali",
    "models_table": "Modelli inclusi",
    "models_name": "Modello",
    "models_prepare": "Prepara il modello",
    "models_refresh": "Aggiorna",
}

EN = {
    "intro": "**Bottega** generates Italian instruction datasets, edits them, trains LoRA adapters and compares "
    "the base model with the fine-tuned one.",
    "tab_generate": "Generate",
    "tab_dataset": "Dataset",
    "tab_train": "Train",
    "tab_compare": "Compare",
    "gen_teacher": "### Teacher model",
    "gen_preset": "Where it runs",
    "gen_local_model": "Local model (local preset: bundled, folder or Hub id)",
    "gen_model": "Model",
    "gen_base_url": "base_url (custom only: vLLM, Ollama...)",
    "gen_key_env": "Environment variable holding the key (its name, not the key)",
    "gen_concurrency": "Parallel requests",
    "gen_max_tokens": "Max tokens per reply",
    "gen_temperature": "Temperature",
    "gen_budget": "Token budget (0: no limit)",
    "gen_price_in": "Price per 1000 prompt tokens",
    "gen_price_out": "Price per 1000 generated tokens",
    "gen_budget_cost": "Spending cap (0: no limit)",
    "gen_run": "### Generation",
    "gen_name": "Name of the dataset to generate",
    "gen_count": "Accepted examples wanted",
    "gen_depth": "Max Evol-Instruct depth",
    "gen_seed": "Seed",
    "gen_judge": "Judge: the teacher scores 1 to 10",
    "gen_threshold": "Minimum score",
    "gen_start": "Start",
    "gen_stop": "Stop",
    "gen_resume": "Resume",
    "gen_open": "Open the generated dataset in the Dataset tab",
    "gen_reasons": "Rejected by reason",
    "gen_latest": "Latest accepted examples",
    "train_coming": "### Train\nComing here: LoRA / QLoRA training, launched and watched from the browser.",
    "compare_coming": "### Compare\nComing here: side-by-side chat of the base and the fine-tuned model, with "
    "blind votes and automatic Italian evaluation.",
    "language": "Language",
    "ds_pick": "Dataset",
    "ds_refresh": "Refresh list",
    "ds_new_name": "New dataset name",
    "ds_create": "Create",
    "ds_search": "Search the text",
    "ds_status": "Status",
    "ds_method": "Method",
    "ds_category": "Category",
    "ds_language": "Language",
    "ds_examples": "Examples (click a row to edit it)",
    "ds_approve_filtered": "Approve every filtered example",
    "ds_instruction": "Instruction",
    "ds_input": "Input (optional)",
    "ds_output": "Response",
    "ds_system": "System message (optional)",
    "ds_tags": "Tags (comma separated)",
    "ds_save": "Save",
    "ds_approve": "Approve",
    "ds_reject": "Reject",
    "ds_add": "New example",
    "ds_duplicate": "Duplicate",
    "ds_delete": "Delete",
    "ds_yaml": "YAML preview",
    "ds_stats": "Statistics",
    "ds_by_category": "Examples per category",
    "ds_by_method": "Examples per method",
    "ds_by_status": "Examples per status",
    "ds_lengths": "Length in words",
    "ds_stats_refresh": "Refresh statistics",
    "ds_tokens": "Count tokens (SmolLM2)",
    "ds_tokens_plot": "Tokens per example with the chat template",
    "ds_import_export": "Import and export",
    "ds_import_file": "File to import (Alpaca, ShareGPT, messages, CSV, parquet)",
    "ds_import_format": "Format (empty: automatic)",
    "ds_import": "Import",
    "ds_export_format": "Export format",
    "ds_only_approved": "Approved examples only",
    "ds_export": "Export",
    "ds_download": "Exported file",
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

# Runs once Gradio has loaded its translations, usually before it draws the components. `changeLocale` is what
# Gradio's own settings panel calls; its module is found among the page's loaded scripts because its file name is
# hashed. Gradio does not relabel tab buttons drawn before a language change (on a busy machine the page can be drawn
# first), and selecting a tab redraws its label: so once the tabs are drawn, each is selected once, then the one that
# was selected again.
HEAD_JS = f"""<script>
(async () => {{
  const url = performance.getEntriesByType("resource").map((e) => e.name)
    .find((n) => /\\/assets\\/core-[^/]*\\.js$/.test(n));
  if (!url) return;
  const core = await import(url);
  core.changeLocale(localStorage.getItem("{_STORAGE_KEY}") || "{DEFAULT_LANGUAGE}");
  for (let waited = 0; waited < 10000 && !document.querySelector("button[role=tab]"); waited += 50) {{
    await new Promise((resolve) => setTimeout(resolve, 50));
  }}
  await new Promise((resolve) => requestAnimationFrame(resolve));
  const tabs = [...document.querySelectorAll("button[role=tab]")];
  const selected = tabs.find((tab) => tab.getAttribute("aria-selected") === "true");
  tabs.forEach((tab) => tab.click());
  selected?.click();
}})();
</script>"""
# The language radio: shows the saved language on load; a user's choice is saved and the page reloads in it.
SHOW_SAVED_LANGUAGE_JS = f'() => localStorage.getItem("{_STORAGE_KEY}") || "{DEFAULT_LANGUAGE}"'
SAVE_LANGUAGE_JS = f'(lang) => {{ localStorage.setItem("{_STORAGE_KEY}", lang); location.reload(); }}'
