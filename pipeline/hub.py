"""The Hugging Face Hub: datasets, adapters and merged models up and down, and the A/B votes of a Space kept in a
dataset repo.

    python -m pipeline hub push-dataset datasets_yaml/seed_it.yaml --repo UTENTE/seed-it
    python -m pipeline hub pull-dataset UTENTE/seed-it --out datasets_yaml/seed-it.yaml
    python -m pipeline hub push-adapter ~/.cache/bottega/runs/train/smollm2-it --repo UTENTE/smollm2-it
    python -m pipeline hub push-adapter ~/.cache/bottega/runs/train/smollm2-it --repo UTENTE/smollm2-it-merged --merged

A pushed dataset repo holds the YAML itself (the source of truth, lossless), `data/train.parquet` (a `datasets`
version with a `messages` column, ready for chat templates) and README.md (the dataset card). An adapter repo holds
the LoRA adapter and its card; with `--merged`, the model repo holds the base model with the adapter merged in
(safetensors, tokenizer, card), which loads with transformers alone. Each push is one commit. On a Space,
`sync_votes` restores the votes a dataset repo keeps and commits new ones every few minutes (`BOTTEGA_VOTES_REPO`).
The token comes from the environment (HF_TOKEN) or the caller (an OAuth login on a Space), never from a file of ours,
and never appears in what is pushed; model cards name a local dataset file or model folder without its path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import dataset as yaml_dataset
from pipeline import formats
from pipeline.errors import UserError
from pipeline.i18n import Message
from pipeline.paths import check_repo_id

if TYPE_CHECKING:
    from huggingface_hub import CommitScheduler

    from pipeline.train.config import TrainConfig


class HubError(UserError):
    """A call to the Hub failed (no network, no access, a missing repo); the message has the library's reason, which
    never contains the token."""

    title = "Hub"


@contextlib.contextmanager
def hub_call(action: str) -> Iterator[None]:
    """Turn the Hub library's failures inside the block into a HubError that says what did not work (`action`: a
    catalogue key) and why."""
    import httpx2  # huggingface_hub's HTTP client

    try:
        yield
    except (OSError, httpx2.HTTPError) as e:  # offline, unreachable, refused, not found
        raise HubError(Message("hub_failed", action=Message(action), error=str(e) or type(e).__name__)) from e


def commit(api: Any, repo_id: str, repo_type: str, operations: list, message: str, token: str | None,
           private: bool, **repo_options: Any) -> str:  # fmt: skip
    """Create the repo if it is missing (with `private` and `repo_options`, e.g. a Space's SDK), then upload
    `operations` in one commit. Returns the commit URL."""
    with hub_call("hub_upload"):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, token=token, **repo_options)
        info = api.create_commit(repo_id, operations, commit_message=message, repo_type=repo_type, token=token)
    return str(info.commit_url)


def dataset_card(ds: yaml_dataset.Dataset, repo_id: str) -> str:
    """The dataset card: metadata validated by huggingface_hub, then counts, provenance and how it was filtered."""
    from huggingface_hub import DatasetCard, DatasetCardData

    n = len(ds.examples)
    size = "n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K"
    data = DatasetCardData(
        language=[ds.language or "it"],
        license=ds.license or "other",
        task_categories=["text-generation"],
        size_categories=[size],
        pretty_name=ds.name,
        tags=["bottega", "italian", "instruction-tuning", "yaml"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train.parquet"}]}],
    )
    methods = Counter(e.meta.method for e in ds.examples)
    statuses = Counter(e.meta.status for e in ds.examples)
    categories = Counter(e.meta.category for e in ds.examples if e.meta.category)
    teachers = sorted({e.meta.teacher_model for e in ds.examples if e.meta.teacher_model})
    provenance = "\n".join(f"- {k}: {v}" for k, v in (ds.provenance or {}).items()) or "- scritto o importato a mano"
    content = f"""---
{data.to_yaml()}
---

# {ds.name}

{ds.description or "Dataset di istruzioni e risposte in italiano."}

Creato con Bottega: il file `{ds.name}.yaml` è la fonte (YAML leggibile, un esempio per voce, con la provenienza di
ogni riga); `data/train.parquet` ne è la versione `datasets`, con una colonna `messages` pronta per i chat template.

## Contenuto · Contents
- esempi: {n}
- stato: {", ".join(f"{k} {v}" for k, v in statuses.most_common())}
- metodo: {", ".join(f"{k} {v}" for k, v in methods.most_common())}
- categorie: {", ".join(f"{k} {v}" for k, v in categories.most_common()) or "-"}
- modelli insegnanti: {", ".join(teachers) or "nessuno"}

## Provenienza e filtri · Provenance and filters
{provenance}

Gli esempi generati hanno superato i filtri di Bottega: lingua italiana (lingua), lunghezza, compiti impossibili per
un modello di testo, rifiuti, residui del template e quasi-duplicati (MinHash LSH); il campo `meta` di ogni esempio
dice metodo, genitore, profondità, teacher, token e voto del giudice.

## Uso · Use
```python
from datasets import load_dataset
ds = load_dataset("{repo_id}", split="train")
```
"""
    DatasetCard(content)  # raises if the metadata block is malformed
    return content


def push_dataset(
    path: str | Path, repo_id: str, token: str | None = None, private: bool = True, api: Any = None
) -> str:
    """Create (or update) the dataset repo `repo_id` with the YAML, its parquet version and the card, in one
    commit. Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    repo_id = check_repo_id(repo_id)
    ds = yaml_dataset.load(path)
    rows = formats.to_hf_dataset(ds)
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    operations = [
        CommitOperationAdd(f"{ds.name}.yaml", Path(path).read_bytes()),
        CommitOperationAdd("data/train.parquet", parquet.getvalue()),
        CommitOperationAdd("README.md", dataset_card(ds, repo_id).encode("utf-8")),
    ]
    message = f"Bottega: {ds.name}, {len(ds.examples)} esempi"
    return commit(api or HfApi(), repo_id, "dataset", operations, message, token, private)


def pull_dataset(repo_id: str, out: str | Path, token: str | None = None, api: Any = None) -> Path:
    """Download a dataset repo's YAML (the one Bottega pushed) into `out`, refusing to overwrite a file."""
    from huggingface_hub import HfApi

    repo_id = check_repo_id(repo_id)
    out = Path(out)
    if out.exists():
        raise UserError(Message("file_exists", path=out))
    api = api or HfApi()
    with hub_call("hub_download"):
        names = [f for f in api.list_repo_files(repo_id, repo_type="dataset", token=token) if f.endswith(".yaml")]
    names = [f for f in names if "/" not in f]
    if not names:
        raise UserError(Message("hub_no_yaml", repo=repo_id))
    with hub_call("hub_download"):
        local = api.hf_hub_download(repo_id, names[0], repo_type="dataset", token=token)
    ds = yaml_dataset.load(local)  # validated before it lands in the datasets folder
    yaml_dataset.create(out, ds)
    return out


# What training leaves in adapter/ that the Hub repo gets; our card replaces README.md, and training_args.bin (a
# pickle of local settings and paths) stays home.
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "chat_template.jinja", "special_tokens_map.json")  # fmt: skip


def adapter_results(run_dir: Path) -> list[str]:
    """Card lines from the run's automatic evaluation and from the A/B votes that used this run as adapter."""
    from pipeline import evaluate, votes

    lines = []
    path = run_dir / "eval" / "eval.yaml"
    if path.exists():
        for metric, base, tuned, delta in evaluate.load_result(path).table():
            lines.append(f"- {metric}: base {base} → fine-tuned {tuned} ({delta})")
    mine = [v for v in votes.VoteStore().all() if v.models.get("finetuned") == str(run_dir)]
    if mine:
        found = votes.stats(mine)
        lines.append(f"- voti A/B alla cieca: {found.n} (fine-tuned meglio {found.wins}, base meglio {found.losses}, "
                     f"pari {found.ties}, entrambe scarse {found.both_bad})")  # fmt: skip
        if found.p_value is not None:
            lines.append(f"- test del segno esatto: p = {found.p_value:.3g}")
    return lines


def _finished_adapter(run_dir: Path) -> Path:
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_model.safetensors").exists():
        raise UserError(Message("field_problem", field="run_dir", problem=Message("hub_no_adapter", path=run_dir)))
    return adapter


def _public(config: TrainConfig) -> TrainConfig:
    """The run's config as the card shows it: a local dataset file or base model folder by its name only, so no path
    of the user's machine is published."""
    dataset, model = Path(config.dataset).expanduser(), Path(config.model).expanduser()
    return dataclasses.replace(config, dataset=dataset.name if dataset.exists() else config.dataset,
                               model=model.name if model.is_dir() else config.model)  # fmt: skip


def _run_card(run_dir: Path, config: TrainConfig) -> str:
    from pipeline.jobs import Job
    from pipeline.train.card import render_card

    job = Job(run_dir)
    return render_card(_public(config), job.status().fields, job.metrics(), adapter_results(run_dir))


def push_adapter(
    run_dir: str | Path, repo_id: str, token: str | None = None, private: bool = True, api: Any = None
) -> str:
    """Create (or update) the model repo `repo_id` with a run's LoRA adapter and its card (base model, dataset,
    hyperparameters, losses, evaluation and A/B results, intended use), in one commit. Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from pipeline.train.config import load_config

    repo_id = check_repo_id(repo_id)
    run_dir = Path(run_dir)
    adapter = _finished_adapter(run_dir)
    config = load_config(run_dir / "config.yaml")
    operations = [CommitOperationAdd(name, (adapter / name).read_bytes())
                  for name in _ADAPTER_FILES if (adapter / name).exists()]  # fmt: skip
    operations.append(CommitOperationAdd("README.md", _run_card(run_dir, config).encode("utf-8")))
    return commit(api or HfApi(), repo_id, "model", operations, f"Bottega: adapter {config.name}", token, private)


def _merged_card(run_dir: Path, config: TrainConfig, repo_id: str) -> str:
    """The adapter's card turned into a merged model's: transformers instead of peft, and a first paragraph that
    names the base model and the run whose adapter was merged."""
    from huggingface_hub import ModelCard

    from pipeline.train.card import base_model_id

    card = ModelCard(_run_card(run_dir, config))
    card.data.library_name = "transformers"
    card.data.tags = [*card.data.tags, "merged"]
    base = base_model_id(config) or _public(config).model
    qlora = """
L'adattatore è stato addestrato su una base a 4 bit (QLoRA) e qui è unito ai pesi in precisione piena: le risposte
possono differire di poco da quelle di base a 4 bit + adattatore.
"""
    intro = f"""**Modello unito (merged).** Pesi completi di **{base}** con l'adattatore LoRA della run
`{config.name}` già sommato (`merge_and_unload`): si carica con `transformers`, senza `peft`. *Merged model: the full
weights of {base} with the LoRA adapter of run {config.name} merged in; it loads with transformers alone.*
{qlora if config.qlora else ""}
```python
from transformers import pipeline
chat = pipeline("text-generation", model="{repo_id}")
print(chat([{{"role": "user", "content": "Qual è la capitale d'Italia?"}}])[0]["generated_text"][-1]["content"])
```
"""
    card.text = card.text.replace(f"# {config.name}\n", f"# {config.name}\n\n{intro}", 1)
    content = str(card)
    ModelCard(content)  # raises if the metadata block is malformed
    return content


def push_merged(
    run_dir: str | Path, repo_id: str, token: str | None = None, private: bool = True, api: Any = None
) -> str:
    """Merge a run's LoRA adapter into its base model and push the result (safetensors, config, tokenizer with the
    run's chat template, card) to the model repo `repo_id` in one commit. Returns the commit URL.

    The base loads in its own dtype on the CPU (about 2 bytes per parameter for a bf16 model), unquantised even after
    a QLoRA run; the merged weights go through a temporary folder, never the run's.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    from pipeline import models
    from pipeline.train.config import load_config

    repo_id = check_repo_id(repo_id)
    run_dir = Path(run_dir)
    adapter = _finished_adapter(run_dir)
    config = load_config(run_dir / "config.yaml")
    card = _merged_card(run_dir, config, repo_id)
    loaded = models.load(config.model, adapter, config.chat_template, dtype="auto", device="cpu")
    merged, tokenizer = loaded.model.merge_and_unload(), loaded.tokenizer
    with tempfile.TemporaryDirectory(prefix="bottega-merged-") as tmp:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files = [path for path in sorted(Path(tmp).rglob("*")) if path.is_file() and path.name != "README.md"]
        operations = [CommitOperationAdd(path.relative_to(tmp).as_posix(), str(path)) for path in files]
        operations.append(CommitOperationAdd("README.md", card.encode("utf-8")))
        message = f"Bottega: modello unito {config.name}"
        return commit(api or HfApi(), repo_id, "model", operations, message, token, private)


VOTES_REPO_ENV = "BOTTEGA_VOTES_REPO"


def votes_repo_from_env() -> str | None:
    """The dataset repo (`UTENTE/NOME`) that keeps a Space's votes, from `BOTTEGA_VOTES_REPO`; None when it is unset
    or empty (the votes then live on the local disk only). A malformed value is a UserError naming the variable."""
    repo_id = os.environ.get(VOTES_REPO_ENV, "").strip()
    if not repo_id:
        return None
    return check_repo_id(repo_id, VOTES_REPO_ENV)


def sync_votes(
    repo_id: str, token: str | None = None, folder: str | Path | None = None, every_minutes: float = 5,
    api: Any = None,
) -> CommitScheduler:  # fmt: skip
    """Keep the vote folder (default `VoteStore().folder`) in the dataset repo `repo_id`, under `votes/`: a Space's
    disk does not survive a restart, the repo does.

    Call it once per process when the app starts, before the votes are read. It blocks while it creates the repo
    (private) if missing and downloads the vote files the repo has and the folder lacks (a local file is never
    overwritten), so the statistics carry on across restarts. Then it returns a started `CommitScheduler` that commits
    new and changed vote files every `every_minutes` from a background thread, and once more at a normal exit; keep
    it, or call `.trigger()` on it to commit now. Only files named like votes (`votes.FILE_GLOB`) go up, not notes or
    temporary files. A Space killed outright (SIGKILL) loses at most the votes since the last commit; for SIGTERM, see
    `space.exit_on_sigterm`.

    The token (default: HF_TOKEN, a Space secret) needs write access to the repo. A repo that cannot be created or
    read (bad token, no network) is a UserError that says what to check.
    """
    from huggingface_hub import CommitScheduler, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from pipeline import votes

    folder = Path(folder) if folder is not None else votes.VoteStore().folder
    api = api or HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True, token=token)
    except HfHubHTTPError as e:
        raise UserError(Message("hub_votes_repo", repo=repo_id, error=str(e), env=VOTES_REPO_ENV)) from e
    folder.mkdir(parents=True, exist_ok=True)
    # A hidden sibling of the folder: same file system, so each restored vote appears in one rename.
    with tempfile.TemporaryDirectory(prefix=".votes-hub-", dir=folder.parent) as tmp:
        api.snapshot_download(repo_id, repo_type="dataset", allow_patterns=[f"votes/{votes.FILE_GLOB}"],
                              local_dir=tmp, token=token)  # fmt: skip
        for path in sorted((Path(tmp) / "votes").glob(votes.FILE_GLOB)):
            if not (folder / path.name).exists():
                os.replace(path, folder / path.name)
    return CommitScheduler(
        repo_id=repo_id, repo_type="dataset", folder_path=folder, path_in_repo="votes", every=every_minutes,
        token=token, hf_api=api, private=True, allow_patterns=[votes.FILE_GLOB],
    )  # fmt: skip
