"""The Confronta tab's logic: one shared chat engine, blind conversations with hidden sides, and votes.

Each conversation draws which model sits on the left (A) and keeps one history per side, since in a multi-turn
chat each model answers its own previous replies. The engine (one copy of the base weights, the adapter switched on
and off) is shared by every browser session and guarded by a lock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import votes
from pipeline.errors import UserError
from pipeline.i18n import Message
from pipeline.paths import is_repo_id
from pipeline.train import runs

_lock = threading.Lock()
_engine: Any = None


def adapter_source(choice: str) -> str:
    """What a visitor may load as the adapter: a training run of the runs folder (its name or folder) or a Hub id,
    never another folder of the server. UserError naming the field otherwise."""
    choice = (choice or "").strip()
    if is_repo_id(choice) and not Path(choice).exists():
        return choice
    try:
        return str(runs.run_folder(choice, "adapter"))
    except UserError as e:
        raise UserError(Message("adapter_or_hub", problem=e.items[0])) from e


def answer(
    conversation: Conversation, base: str, adapter: str, sampling: Any, stop: threading.Event
) -> Iterator[None]:
    """Both answers to the conversation's last question from the shared engine with `base` and `adapter` (see
    `adapter_source`) loaded; the base is reloaded only when it changes. The engine stays this conversation's for
    the whole exchange, so another session cannot switch the adapter between loading it and answering."""
    global _engine
    from pipeline.chat import ChatEngine

    adapter = adapter_source(adapter)
    with _lock:
        if _engine is None or _engine.base != base:
            _engine = None  # free the old weights before loading new ones
            _engine = ChatEngine(base)
        if _engine.adapter != adapter:
            _engine.set_adapter(adapter)
        yield from stream(conversation, _engine, sampling, stop)


@dataclass
class Conversation:
    """A blind conversation: sides drawn once, one history per model."""

    sides: dict[str, str] = field(default_factory=lambda: votes.assign_sides(random.SystemRandom()))
    history: dict[str, list[dict[str, str]]] = field(default_factory=lambda: {"base": [], "finetuned": []})
    voted: bool = False

    def side(self, letter: str) -> list[dict[str, str]]:
        return self.history[self.sides[letter]]

    def ask(self, text: str) -> None:
        for turns in self.history.values():
            turns.append({"role": "user", "content": text})
        self.voted = False

    def drop_answers(self) -> None:
        """Before regenerating: remove the last answers, keep the last question."""
        for turns in self.history.values():
            if turns and turns[-1]["role"] == "assistant":
                turns.pop()


def stream(conversation: Conversation, chat: Any, sampling: Any, stop: threading.Event) -> Iterator[None]:
    """Generate both answers to the last question with `chat` (a ChatEngine), each model on its own history, in one
    batched pass: every step grows both answers."""
    prompts = (list(conversation.history["base"]), list(conversation.history["finetuned"]))
    for turns in conversation.history.values():
        turns.append({"role": "assistant", "content": ""})
    for base, tuned in chat.stream(prompts, sampling, stop):
        conversation.history["base"][-1]["content"] = base
        conversation.history["finetuned"][-1]["content"] = tuned
        yield


def record_thumb(conversation: Conversation, letter: str, index: int, up: bool, models: dict,
                 sampling: dict) -> votes.Thumb:  # fmt: skip
    """Store a thumbs up or down on the answer at `index` of side `letter`'s chat, with the turns before it."""
    history = conversation.side(letter)
    if not (0 <= index < len(history)) or history[index]["role"] != "assistant" or not history[index]["content"]:
        raise UserError(Message("vote_nothing_yet"))
    thumb = votes.Thumb(up=bool(up), turns=history[:index], answer=history[index]["content"],
                        model=conversation.sides[letter], models=models, sampling=sampling)  # fmt: skip
    votes.VoteStore(record=votes.Thumb).add(thumb)
    return thumb


def record_vote(
    conversation: Conversation, verdict: str, tags: list[str], comment: str, models: dict, sampling: dict
) -> votes.Vote:
    """Store the vote on the last exchange, with the full turns, the sides, the models and the settings."""
    a, b = conversation.side("A"), conversation.side("B")
    if not a or a[-1]["role"] != "assistant" or not a[-1]["content"]:
        raise UserError(Message("vote_nothing_yet"))
    if conversation.voted:
        raise UserError(Message("vote_already"))
    vote = votes.Vote(
        verdict=verdict,
        tags=tags,
        comment=comment.strip(),
        turns=a[:-1],
        answer_a=a[-1]["content"],
        answer_b=b[-1]["content"],
        turns_b=b[:-1] if b[:-1] != a[:-1] else None,
        sides=dict(conversation.sides),
        models=models,
        sampling=sampling,
    )
    votes.VoteStore().add(vote)
    conversation.voted = True
    return vote
