"""The Hugging Face Hub: push a YAML dataset as a dataset repo with its card, and pull one back.

    python -m pipeline hub push-dataset datasets_yaml/seed_it.yaml --repo UTENTE/seed-it
    python -m pipeline hub pull-dataset UTENTE/seed-it --out datasets_yaml/seed-it.yaml
    python -m pipeline hub push-adapter ~/.cache/bottega/runs/train/smollm2-it --repo UTENTE/smollm2-it

A pushed dataset repo holds the YAML itself (the source of truth, lossless), `data/train.parquet` (a `datasets`
version with a `messages` column, ready for chat templates) and README.md (the dataset card). Everything goes through
`huggingface_hub` in one commit. The token comes from the environment (HF_TOKEN) or the caller (an OAuth login on a
Space), never from a file of ours, and never appears in what is pushed.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline import dataset as yaml_dataset
from pipeline import formats


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

    ds = yaml_dataset.load(path)
    rows = formats.to_hf_dataset(ds)
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
    operations = [
        CommitOperationAdd(f"{ds.name}.yaml", Path(path).read_bytes()),
        CommitOperationAdd("data/train.parquet", parquet.getvalue()),
        CommitOperationAdd("README.md", dataset_card(ds, repo_id).encode("utf-8")),
    ]
    info = api.create_commit(
        repo_id, operations, commit_message=f"Bottega: {ds.name}, {len(ds.examples)} esempi", repo_type="dataset",
        token=token,
    )  # fmt: skip
    return str(info.commit_url)


def pull_dataset(repo_id: str, out: str | Path, token: str | None = None, api: Any = None) -> Path:
    """Download a dataset repo's YAML (the one Bottega pushed) into `out`, refusing to overwrite a file."""
    from huggingface_hub import HfApi

    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} esiste già: scegli un altro nome per non sovrascriverlo")
    api = api or HfApi()
    names = [f for f in api.list_repo_files(repo_id, repo_type="dataset", token=token) if f.endswith(".yaml")]
    names = [f for f in names if "/" not in f]
    if not names:
        raise ValueError(f"'{repo_id}' non contiene un dataset YAML di Bottega nella cartella principale")
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
    for path in (run_dir / "eval" / "eval.yaml", run_dir / "eval.yaml"):
        if path.exists():
            for metric, base, tuned, delta in evaluate.load_result(path).table():
                lines.append(f"- {metric}: base {base} → fine-tuned {tuned} ({delta})")
            break
    mine = [v for v in votes.VoteStore().all() if v.models.get("finetuned") == str(run_dir)]
    if mine:
        found = votes.stats(mine)
        lines.append(f"- voti A/B alla cieca: {found.n} (fine-tuned meglio {found.wins}, base meglio {found.losses}, "
                     f"pari {found.ties}, entrambe scarse {found.both_bad})")  # fmt: skip
        if found.p_value is not None:
            lines.append(f"- test del segno esatto: p = {found.p_value:.3g}")
    return lines


def push_adapter(
    run_dir: str | Path, repo_id: str, token: str | None = None, private: bool = True, api: Any = None
) -> str:
    """Create (or update) the model repo `repo_id` with a run's LoRA adapter and its card (base model, dataset,
    hyperparameters, losses, evaluation and A/B results, intended use), in one commit. Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from pipeline import jobs
    from pipeline.train.card import render_card
    from pipeline.train.config import load_config
    from pipeline.train.run import read_metrics

    run_dir = Path(run_dir)
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_model.safetensors").exists():
        raise ValueError(f"{run_dir} non ha un adapter finito (adapter/adapter_model.safetensors): addestra prima")
    config = load_config(run_dir / "config.yaml")
    card = render_card(config, jobs.read_status(run_dir), read_metrics(run_dir), adapter_results(run_dir))
    operations = [CommitOperationAdd(name, (adapter / name).read_bytes())
                  for name in _ADAPTER_FILES if (adapter / name).exists()]  # fmt: skip
    operations.append(CommitOperationAdd("README.md", card.encode("utf-8")))
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True, token=token)
    info = api.create_commit(repo_id, operations, commit_message=f"Bottega: adapter {config.name}", token=token)
    return str(info.commit_url)
