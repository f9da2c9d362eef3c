"""Side-by-side chat for the Confronta tab and `python -m pipeline chat`: the base model and base + LoRA adapter
answer side by side, each its own conversation.

    engine = ChatEngine("smollm2-135m-instruct")
    engine.set_adapter("~/.cache/bottega/runs/train/smollm2-it")  # a run folder, an adapter folder or a Hub id
    for base, tuned in engine.stream([history_base, history_tuned], Sampling(temperature=0)):
        ...

One copy of the weights serves both sides: the adapter is injected into the base model, and a LoRA adapter answers
in the same batched `generate` call as the base (`pipeline.models.generate`, PEFT mixed-adapter batches: row 0 runs as
`__base__`, row 1 with the adapter), so both answers advance together, token by token, each on its own history
(from the second turn of a blind chat the two sides have answered differently) and each stopping at its own end of
turn. Adapters that cannot mix in a batch (DoRA, non-LoRA methods) answer in two passes, the base one with the
adapter disabled. The engine is shared between browser sessions: a lock lets one generation run at a time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from pipeline import models
from pipeline.errors import Problems, UserError
from pipeline.i18n import Message

_ADAPTER = "confronta"  # the first adapter's name; later ones are confronta-2, confronta-3, ...


@dataclass
class Sampling:
    """How both sides generate: the same settings and seed on each side, so the adapter is the only difference."""

    temperature: float = 0.7
    """0 means greedy decoding (deterministic)."""
    top_p: float = 0.9
    max_new_tokens: int = 256
    min_new_tokens: int = 0
    """Tokens each answer writes at least before its end of turn can stop it (benchmarks fix the length with it)."""
    seed: int = 42
    repetition_penalty: float = models.REPETITION_PENALTY
    """Above 1, tokens already written are less likely again: keeps greedy answers of small models out of loops."""
    system: str | None = None
    """A system prompt put before the conversation (replacing any system message in it); None keeps the model's."""

    def __post_init__(self) -> None:
        problems = Problems()
        problems.check(self.temperature >= 0, "temperature", Message("chat_temperature", value=self.temperature))
        problems.check(0 < self.top_p <= 1, "top_p", Message("chat_top_p", value=self.top_p))
        problems.check(
            self.max_new_tokens > 0, "max_new_tokens", Message("must_be_positive", value=self.max_new_tokens)
        )
        problems.check(
            self.repetition_penalty > 0,
            "repetition_penalty",
            Message("must_be_positive", value=self.repetition_penalty),
        )
        problems.raise_any()


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
        self.base = base
        self.loaded = models.load(base)
        self._template = self.loaded.tokenizer.chat_template
        self._adapter: str | None = None
        self._name: str | None = None  # the adapter's name inside the PeftModel
        self._count = 0
        self._lock = threading.Lock()

    @property
    def adapter(self) -> str | None:
        """The adapter source given to `set_adapter`, or None when both sides are the base model."""
        return self._adapter

    @property
    def mixed_batches(self) -> bool:
        """Whether the loaded adapter answers in the same batch as the base (LoRA without DoRA)."""
        if self._name is None:
            return False
        config = self.loaded.model.peft_config[self._name]
        return config.peft_type == "LORA" and not config.use_dora

    def set_adapter(self, source: str) -> None:
        """Put the adapter at `source` (run folder, adapter folder or Hub id) on the base, replacing the previous one.

        The base weights stay where they are: the first adapter wraps the model in a PeftModel, later ones are loaded
        next to the current one, which is then deleted.
        """
        from peft import PeftModel

        folder = models.adapter_folder(source)
        with self._lock:
            self._count += 1
            name = _ADAPTER if self._count == 1 else f"{_ADAPTER}-{self._count}"
            model = self.loaded.model
            try:
                if self._name is None:
                    self.loaded.model = PeftModel.from_pretrained(model, folder, adapter_name=name).eval()
                else:
                    model.load_adapter(folder, adapter_name=name)
            except (RuntimeError, ValueError) as e:  # peft: shapes or module names that do not match the base
                self._undo(name)
                error = f"{type(e).__name__}: {str(e)[:300]}"
                raise models.AdapterError(Message("adapter_does_not_fit", source=source, base=self.base,
                                                     error=error)) from e  # fmt: skip
            self.loaded.model.set_adapter(name)
            if self._name is not None:
                self.loaded.model.delete_adapter(self._name)
            self._name, self._adapter = name, source
            # What the adapter's training used (a run of a model without a template picks chatml or a .jinja).
            self.loaded.tokenizer.chat_template = models.adapter_template(folder) or self._template

    def _undo(self, name: str) -> None:
        """Take back a half-loaded adapter, so a failed `set_adapter` leaves the engine as it was."""
        if self._name is not None:
            if name in self.loaded.model.peft_config:
                self.loaded.model.delete_adapter(name)
            return
        # The failed first load had already injected its layers into the base model, and peft offers no way to take
        # them out without the PeftModel that was lost: load the base again (once, on this rare error path).
        self.loaded = None
        self.loaded = models.load(self.base)

    def answer(self, conversations: tuple[list[dict], list[dict]], sampling: Sampling) -> tuple[str, str]:
        """The final (base, fine-tuned) answers, without streaming."""
        last = ("", "")  # an answer that ends at once streams nothing
        for pair in self.stream(conversations, sampling):
            last = pair
        return last

    def stream(
        self,
        conversations: tuple[list[dict[str, str]], list[dict[str, str]]],
        sampling: Sampling,
        stop_event: threading.Event | None = None,
        batched: bool = True,
    ) -> Iterator[tuple[str, str]]:
        """Yield (base text so far, fine-tuned text so far) while the base answers `conversations[0]` and the
        fine-tuned model `conversations[1]`, both in each step when they share a batch.

        `stop_event` ends the generation within a token. `batched=False` forces the two-pass path that adapters
        which cannot mix in a batch use anyway (the bench compares the two).
        """
        if not all(conversations):
            raise UserError(Message("chat_empty"))
        prompts = [_with_system(c, sampling.system) for c in conversations]
        with self._lock:
            updates: queue.Queue = queue.Queue()
            texts = ["", ""]
            abandoned = threading.Event()  # the consumer went away: stop generating for nobody
            stops = [abandoned] + ([stop_event] if stop_event is not None else [])

            def work() -> None:
                try:
                    for sides, context, names in self._plan(prompts, batched):
                        if any(s.is_set() for s in stops):
                            break
                        streamer = _PairStreamer(self.loaded, sides, texts, updates)
                        with context():
                            models.generate(
                                self.loaded, [prompts[row[0]] for row in sides], sampling.max_new_tokens,
                                sampling.temperature, sampling.top_p, sampling.seed, adapter_names=names,
                                streamer=streamer, stop=lambda: any(s.is_set() for s in stops),
                                min_new_tokens=sampling.min_new_tokens or None,
                                repetition_penalty=sampling.repetition_penalty,
                            )  # fmt: skip
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

    def _plan(self, prompts: list[list[dict]], batched: bool) -> list[tuple[list[tuple[int, ...]], Any, Any]]:
        """The generate calls to make: for each, the sides each batch row answers for (a row's prompt is its first
        side's), a context to run it in, and the rows' adapter names."""
        if self._name is None:
            rows = [(0, 1)] if prompts[0] == prompts[1] else [(0,), (1,)]
            return [(rows, nullcontext, None)]
        if batched and self.mixed_batches:
            return [([(0,), (1,)], nullcontext, ["__base__", self._name])]
        return [([(0,)], self.loaded.model.disable_adapter, None), ([(1,)], nullcontext, None)]


def _with_system(messages: list[dict[str, str]], system: str | None) -> list[dict[str, str]]:
    if not system:
        return messages
    return [{"role": "system", "content": system}] + [m for m in messages if m["role"] != "system"]


class _PairStreamer:
    """A `generate` streamer for a batch of rows (transformers' own take one row): decodes each row as its tokens
    arrive and queues a snapshot of both sides' texts."""

    def __init__(self, loaded: models.Loaded, sides: list[tuple[int, ...]], texts: list[str], updates):
        self.loaded = loaded
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
                if self.done[row] or token in self.loaded.eot_ids:
                    self.done[row] = True
                    continue
                self.tokens[row].append(token)
            text = self.loaded.tokenizer.decode(self.tokens[row], skip_special_tokens=True)
            if not text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                for side in self.sides[row]:
                    self.texts[side] = text
        if tuple(self.texts) != before:
            self.updates.put((self.texts[0], self.texts[1]))

    def end(self) -> None:
        pass
