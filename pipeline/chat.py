"""Side-by-side chat for the Confronta tab: the base model and base + LoRA adapter answer the same prompt.

    engine = ChatEngine("smollm2-135m-instruct")
    engine.set_adapter("~/.cache/bottega/runs/train/smollm2-it")  # a run folder, an adapter folder or a Hub id
    for base, tuned in engine.stream_pair(flatten(history), Sampling(temperature=0)):
        ...

One copy of the weights serves both sides: the adapter is injected into the base model, and a LoRA adapter answers
in the same batched `generate` call as the base (PEFT mixed-adapter batches: row 0 runs as `__base__`, row 1 with the
adapter), so both answers advance together, token by token, each stopping at its own end of turn. Adapters that
cannot mix in a batch (DoRA, non-LoRA methods) answer in two passes, the base one with the adapter disabled. The
engine is shared between browser sessions: a lock lets one generation run at a time.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import models

_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
# What an adapter repo holds: adapter_config.json, adapter_model.safetensors (.bin when old), tokenizer files.
_HUB_PATTERNS = ["*.json", "*.jinja", "adapter_model.*"]
_ADAPTER = "confronta"  # the first adapter's name; later ones are confronta-2, confronta-3, ...


class AdapterError(Exception):
    """An adapter cannot be found or does not fit the base model. The message says what to do, in Italian."""


@dataclass
class Sampling:
    """How both sides generate: the same settings and seed on each side, so the adapter is the only difference."""

    temperature: float = 0.7
    """0 means greedy decoding (deterministic)."""
    top_p: float = 0.9
    max_new_tokens: int = 256
    seed: int = 42
    system: str | None = None
    """A system prompt put before the conversation (replacing any system message in it); None keeps the model's."""

    def __post_init__(self) -> None:
        problems = []
        if self.temperature < 0:
            problems.append(f"`temperature` dev'essere >= 0 (0 = greedy), trovato {self.temperature}")
        if not 0 < self.top_p <= 1:
            problems.append(f"`top_p` dev'essere tra 0 (escluso) e 1, trovato {self.top_p}")
        if self.max_new_tokens <= 0:
            problems.append(f"`max_new_tokens` dev'essere > 0, trovato {self.max_new_tokens}")
        if problems:
            raise ValueError("Impostazioni di generazione non valide:\n- " + "\n- ".join(problems))


def flatten(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Gradio chat messages as plain {"role", "content": str} for `apply_chat_template`.

    Gradio 6 gives `content` as a string or a list of parts ({"type": "text", "text": ...}, files, components): the
    text parts are joined, the rest dropped (the models here read text only). Messages left without text are dropped.
    """
    flat = []
    for message in history:
        content = message["content"]
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            parts = [p if isinstance(p, str) else p.get("text", "") for p in content if _is_text(p)]
            text = "\n".join(parts)
        else:
            text = ""
        if text.strip():
            flat.append({"role": message["role"], "content": text})
    return flat


def _is_text(part: Any) -> bool:
    return isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text")


class ChatEngine:
    """One base model in memory, optionally with one adapter on top; answers with both side by side."""

    def __init__(self, base: str):
        import torch
        from transformers import AutoTokenizer

        self.base = base
        self.folder = models.resolve(base)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        # Left padding keeps every row's last token at the end, where generation continues.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._template = self.tokenizer.chat_template
        self.model: Any = self._load_base()
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = {self.tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        self._adapter: str | None = None
        self._name: str | None = None  # the adapter's name inside the PeftModel
        self._loaded = 0
        self._lock = threading.Lock()

    def _load_base(self) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        return AutoModelForCausalLM.from_pretrained(self.folder, dtype=dtype).to(self.device).eval()

    @property
    def adapter(self) -> str | None:
        """The adapter source given to `set_adapter`, or None when both sides are the base model."""
        return self._adapter

    @property
    def mixed_batches(self) -> bool:
        """Whether the loaded adapter answers in the same batch as the base (LoRA without DoRA)."""
        if self._name is None:
            return False
        config = self.model.peft_config[self._name]
        return config.peft_type == "LORA" and not config.use_dora

    def set_adapter(self, source: str) -> None:
        """Put the adapter at `source` (run folder, adapter folder or Hub id) on the base, replacing the previous one.

        The base weights stay where they are: the first adapter wraps the model in a PeftModel, later ones are loaded
        next to the current one, which is then deleted.
        """
        from peft import PeftModel

        folder = adapter_folder(source)
        with self._lock:
            self._loaded += 1
            name = _ADAPTER if self._loaded == 1 else f"{_ADAPTER}-{self._loaded}"
            try:
                if self._name is None:
                    self.model = PeftModel.from_pretrained(self.model, folder, adapter_name=name).eval()
                else:
                    self.model.load_adapter(folder, adapter_name=name)
            except Exception as e:
                self._undo(name)
                raise AdapterError(
                    f"L'adapter '{source}' non si applica al modello base '{self.base}' "
                    f"({type(e).__name__}: {str(e)[:300]}). "
                    "Scegli un adapter addestrato su questo modello base."
                ) from e
            self.model.set_adapter(name)
            if self._name is not None:
                self.model.delete_adapter(self._name)
            self._name, self._adapter = name, source
            # A run of a model without a chat template saves the one it trained with (chatml or a .jinja).
            self.tokenizer.chat_template = self._template or _adapter_template(folder)

    def _undo(self, name: str) -> None:
        """Take back a half-loaded adapter, so a failed `set_adapter` leaves the engine as it was."""
        if self._name is not None:
            if name in self.model.peft_config:
                self.model.delete_adapter(name)
            return
        # The failed first load had already injected its layers into the base model, and peft offers no way to take
        # them out without the PeftModel that was lost: load the base again (once, on this rare error path).
        self.model = None
        self.model = self._load_base()

    def generate_pair(self, messages: list[dict[str, str]], sampling: Sampling) -> tuple[str, str]:
        """The final (base, fine-tuned) answers, without streaming."""
        last = ("", "")  # an answer that ends at once streams nothing
        for pair in self.stream_pair(messages, sampling):
            last = pair
        return last

    def stream_pair(
        self,
        messages: list[dict[str, str]],
        sampling: Sampling,
        stop_event: threading.Event | None = None,
        batched: bool = True,
    ) -> Iterator[tuple[str, str]]:
        """Yield (base text so far, fine-tuned text so far) while both answers are generated.

        `stop_event` ends the generation within a token. `batched=False` forces the two-pass path that adapters
        which cannot mix in a batch use anyway (the bench compares the two).
        """
        import torch

        with self._lock:
            inputs = self._encode(messages, sampling.system)
            updates: queue.Queue = queue.Queue()
            texts = ["", ""]
            abandoned = threading.Event()  # the consumer went away: stop generating for nobody
            stops = [abandoned] + ([stop_event] if stop_event is not None else [])
            options = {
                "max_new_tokens": sampling.max_new_tokens,
                "do_sample": sampling.temperature > 0,
                "temperature": sampling.temperature if sampling.temperature > 0 else None,
                "top_p": sampling.top_p if sampling.temperature > 0 else None,
                "top_k": None,
                "eos_token_id": sorted(self.eos_ids),
                "pad_token_id": self.tokenizer.pad_token_id,
                "stopping_criteria": _stopping(stops),
            }

            def work() -> None:
                try:
                    for sides, context, extra in self._plan(batched):
                        if any(s.is_set() for s in stops):
                            break
                        rows = {k: v.repeat(len(sides), 1) for k, v in inputs.items()}
                        streamer = _PairStreamer(self.tokenizer, self.eos_ids, sides, texts, updates)
                        torch.manual_seed(sampling.seed)
                        with context(), torch.inference_mode():
                            self.model.generate(**rows, **options, **extra, streamer=streamer)
                except BaseException as e:  # handed to the consumer, raised there
                    updates.put(e)
                finally:
                    updates.put(None)

            thread = threading.Thread(target=work, name="bottega-chat", daemon=True)
            thread.start()
            try:
                latest = None
                while True:
                    item = updates.get()
                    if isinstance(item, BaseException):
                        raise item
                    latest = item or latest
                    # A slow consumer (a browser) gets the latest texts, not a backlog of every token.
                    if latest is not None and (item is None or updates.empty()):
                        yield latest
                        latest = None
                    if item is None:
                        return
            finally:
                abandoned.set()
                thread.join()

    def _plan(self, batched: bool) -> list[tuple[list[tuple[int, ...]], Any, dict[str, Any]]]:
        """The generate calls to make: for each, which sides each batch row feeds, a context, extra arguments."""
        if self._name is None:
            return [([(0, 1)], nullcontext, {})]
        if batched and self.mixed_batches:
            return [([(0,), (1,)], nullcontext, {"adapter_names": ["__base__", self._name]})]
        return [([(0,)], self.model.disable_adapter, {}), ([(1,)], nullcontext, {})]

    def _encode(self, messages: list[dict[str, str]], system: str | None) -> dict[str, Any]:
        if not self.tokenizer.chat_template:
            raise ValueError(
                f"Il modello '{self.base}' non ha un chat template: carica un adapter addestrato con "
                "`chat_template` (ad esempio chatml), che lo porta con sé."
            )
        if not messages:
            raise ValueError("La conversazione è vuota: scrivi un messaggio.")
        if system:
            messages = [{"role": "system", "content": system}] + [m for m in messages if m["role"] != "system"]
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in encoded.items()}


class _PairStreamer:
    """A `generate` streamer for a batch of rows (transformers' own take one row): decodes each row as its tokens
    arrive and queues a snapshot of both sides' texts."""

    def __init__(self, tokenizer: Any, eos_ids: set[int], sides: list[tuple[int, ...]], texts: list[str], updates):
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.sides = sides
        self.texts = texts
        self.updates = updates
        self.tokens: list[list[int]] = [[] for _ in sides]
        self.done = [False] * len(sides)
        self.prompt_skipped = False

    def put(self, value: Any) -> None:
        if not self.prompt_skipped:  # the first call hands over the prompt
            self.prompt_skipped = True
            return
        before = tuple(self.texts)
        for row, column in enumerate(value.reshape(len(self.sides), -1).tolist()):
            for token in column:
                # After its end of turn a row only receives padding, while the other row goes on.
                if self.done[row] or token in self.eos_ids:
                    self.done[row] = True
                    continue
                self.tokens[row].append(token)
            text = self.tokenizer.decode(self.tokens[row], skip_special_tokens=True)
            if not text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                for side in self.sides[row]:
                    self.texts[side] = text
        if tuple(self.texts) != before:
            self.updates.put((self.texts[0], self.texts[1]))

    def end(self) -> None:
        pass


def _stopping(events: list[threading.Event]) -> Any:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Stop(StoppingCriteria):
        """Ends every row as soon as one of the events is set (checked once per generated token)."""

        def __call__(self, input_ids, scores, **kwargs):
            stop = any(e.is_set() for e in events)
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Stop()])


def adapter_folder(source: str) -> Path:
    """The local folder of an adapter: a run folder's adapter/, an adapter folder, or a Hub id (downloaded)."""
    path = Path(source).expanduser()
    if path.is_dir():
        for folder in (path / "adapter", path):
            if (folder / "adapter_config.json").is_file():
                return folder
        raise AdapterError(
            f"La cartella '{path}' non contiene un adapter: indica la cartella di un run finito (con adapter/) "
            "oppure una cartella con adapter_config.json."
        )
    if _HUB_ID.fullmatch(source):
        return _from_hub(source)
    raise AdapterError(
        f"Adapter '{source}' non trovato: indica la cartella di un run, la cartella di un adapter "
        "oppure un id dell'Hub come 'utente/nome-adapter'."
    )


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=_HUB_PATTERNS))
    except GatedRepoError as e:
        raise AdapterError(
            f"L'adapter '{repo_id}' è ad accesso limitato: accetta le condizioni sulla sua pagina dell'Hub, "
            "poi accedi con un token (variabile HF_TOKEN o `hf auth login`)."
        ) from e
    except RepositoryNotFoundError as e:
        raise AdapterError(
            f"L'adapter '{repo_id}' non esiste sull'Hub oppure è privato: controlla il nome, "
            "oppure accedi con un token che possa leggerlo."
        ) from e
    except LocalEntryNotFoundError as e:
        raise AdapterError(
            f"L'adapter '{repo_id}' non è nella cache locale e l'Hub non è raggiungibile (sei offline). "
            "Collegati a internet e riprova, oppure indica la cartella locale dell'adapter o di un run."
        ) from e
    if not (folder / "adapter_config.json").is_file():
        raise AdapterError(f"'{repo_id}' sull'Hub non è un adapter PEFT: manca adapter_config.json.")
    return folder


def _adapter_template(folder: Path) -> str | None:
    """The chat template a run saved with its adapter (runs of a model without one pick chatml or a .jinja)."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        return json.loads(config.read_text(encoding="utf-8")).get("chat_template")
    return None
