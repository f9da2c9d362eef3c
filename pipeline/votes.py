"""Blind A/B votes from the Confronta tab: the vote store, the statistics and the export as preference pairs.

A person reads two answers to the same prompt, one from the base model and one from the fine-tuned one, on sides
drawn at random and hidden until the vote; then picks A, B, "pari" or "entrambe scarse", with optional tags and a
comment. Each vote is its own YAML file under `$BOTTEGA_HOME/votes/`, written atomically, so a crash or two browser
sessions voting at once never lose or mix votes, and the folder can be copied, merged or inspected by hand.

    store = VoteStore()
    store.add(Vote(verdict="a", turns=[{"role": "user", "content": "Ciao!"}], answer_a="...", answer_b="...",
                   sides=assign_sides(seed), models={"base": "...", "finetuned": "..."}, sampling={...}))
    print(stats(store.all()).table())
    pipeline.preferences.export_votes(store.all(), Path("preferenze-voti.yaml"))
"""

from __future__ import annotations

import fnmatch
import random
import re
import uuid
from collections import Counter
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from fractions import Fraction
from math import comb, sqrt
from pathlib import Path
from typing import Any

from pipeline.dataset import ROLES
from pipeline.errors import UserError
from pipeline.files import atomic_write, dump_yaml, parse_yaml
from pipeline.i18n import Message, t
from pipeline.paths import bottega_home

VERDICTS = ("a", "b", "tie", "both_bad")
VERDICT_LABELS = {"a": "A meglio", "b": "B meglio", "tie": "pari", "both_bad": "entrambe scarse"}
TAGS = ("grammatica", "registro", "anglicismi", "correttezza", "completezza")
MODELS = ("base", "finetuned")
MODEL_LABELS = {"base": "base", "finetuned": "fine-tuned"}
Z95 = 1.959964  # two-sided 95% quantile of the standard normal

# A vote file's name, `<created, UTC>-<id>.yaml` (see Vote.filename), as a glob: the Hub sync (pipeline.hub) pushes
# and restores exactly these files.
FILE_GLOB = "[0-9]" * 8 + "T" + "[0-9]" * 6 + "." + "[0-9]" * 6 + "Z-" + "[0-9a-f]" * 32 + ".yaml"
_FILE = re.compile(fnmatch.translate(FILE_GLOB))


def assign_sides(rng_or_seed: random.Random | int | None = None) -> dict[str, str]:
    """Which model goes on the left ("A") for one conversation: a fair coin, seedable for a reproducible session."""
    rng = rng_or_seed if isinstance(rng_or_seed, random.Random) else random.Random(rng_or_seed)
    return {"A": "base", "B": "finetuned"} if rng.random() < 0.5 else {"A": "finetuned", "B": "base"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(kw_only=True)
class Vote:
    """One blind comparison. `verdict` is about sides ("a": the left answer is better); `winner` says which model."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=_now)  # ISO 8601 with time zone
    verdict: str
    tags: list[str] = field(default_factory=list)  # what the worse answer got wrong, from TAGS
    comment: str = ""
    turns: list[dict[str, str]]  # the conversation before the two answers, as {"role", "content"} messages
    answer_a: str
    answer_b: str
    sides: dict[str, str]  # {"A": "base" | "finetuned", "B": the other}, from assign_sides
    models: dict[str, str]  # {"base": model id, "finetuned": adapter source}
    sampling: dict[str, Any] = field(default_factory=dict)  # temperature, top_p, max_new_tokens, seed, system
    turns_b: list[dict[str, str]] | None = None  # B's own earlier turns, when a multi-turn chat made them differ

    def __post_init__(self) -> None:
        if isinstance(self.created, datetime):  # an unquoted time in a hand-edited file
            self.created = self.created.isoformat()
        problems = _problems(self)
        if problems:
            raise UserError(*problems)

    @property
    def winner(self) -> str:
        """The model whose answer was better ("base" or "finetuned"), else the verdict itself ("tie", "both_bad")."""
        if self.verdict in ("a", "b"):
            return self.sides[self.verdict.upper()]
        return self.verdict

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.created)

    @property
    def filename(self) -> str:
        """`<created>-<id>.yaml`, the time in UTC without colons (not allowed in file names on Windows)."""
        return f"{self.time.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}-{self.id}.yaml"

    def answer(self, model: str) -> str:
        """The answer given by `model` ("base" or "finetuned"), whichever side it was on."""
        return self.answer_a if self.sides["A"] == model else self.answer_b

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Vote:
        """A Vote from loaded YAML; unknown or missing fields are a UserError naming them."""
        return _from_dict(cls, raw)


@dataclass(kw_only=True)
class Thumb:
    """A thumbs up or down on one answer of the Confronta tab (Gradio's like button), for KTO: single answers marked
    good or bad. Stored like votes, one file each, under `$BOTTEGA_HOME/thumbs/`."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=_now)
    up: bool
    turns: list[dict[str, str]]  # the conversation before the answer
    answer: str
    model: str  # "base" or "finetuned": whose answer it was (the side stays hidden from the voter)
    models: dict[str, str]
    sampling: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []

        def add(name: str, problem: Message) -> None:
            problems.append(Message("field_problem", field=name, problem=problem))

        if not isinstance(self.up, bool):
            add("up", Message("ds_must_be", what=Message("type_bool")))
        if self.model not in MODELS:
            add("model", Message("vote_not_valid", value=self.model, choices=", ".join(MODELS)))
        if not isinstance(self.answer, str) or not self.answer.strip():
            add("answer", Message("vote_not_text"))
        if problems:
            raise UserError(*problems)

    time = Vote.time
    filename = Vote.filename

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Thumb:
        return _from_dict(cls, raw)


def _from_dict(cls: type, raw: Any) -> Any:
    """A stored record (a Vote, a Thumb) from loaded YAML; unknown or missing fields are a UserError naming them."""
    if not isinstance(raw, dict):
        raise UserError(Message("vote_not_mapping"))
    known = [f.name for f in fields(cls)]
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise UserError(Message("vote_unknown_fields", unknown=", ".join(map(str, unknown)), allowed=", ".join(known)))
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in missing if name not in raw]
    if missing:
        raise UserError(Message("vote_incomplete", missing=", ".join(missing)))
    return cls(**raw)


def _problems(vote: Vote) -> list[Message]:
    """Every problem in a vote, each naming the field and what is allowed."""
    problems = []

    def add(field: str, key: str, **params: Any) -> None:
        problems.append(Message("field_problem", field=field, problem=Message(key, **params)))

    if vote.verdict not in VERDICTS:
        add("verdict", "vote_not_valid", value=vote.verdict, choices=", ".join(VERDICTS))
    if not isinstance(vote.tags, list):
        add("tags", "vote_tags_not_list", choices=", ".join(TAGS))
    else:
        for tag in vote.tags:
            if tag not in TAGS:
                add("tags", "vote_not_valid", value=tag, choices=", ".join(TAGS))
    if not re.fullmatch(r"[0-9a-f]{32}", str(vote.id)):
        add("id", "vote_bad_id", value=vote.id)
    try:
        if not isinstance(vote.created, str) or datetime.fromisoformat(vote.created).tzinfo is None:
            raise ValueError
    except ValueError:
        add("created", "vote_bad_time", value=vote.created)
    for name in ("comment", "answer_a", "answer_b"):
        if not isinstance(getattr(vote, name), str):
            add(name, "vote_not_text")
    if vote.sides not in ({"A": "base", "B": "finetuned"}, {"A": "finetuned", "B": "base"}):
        add("sides", "vote_bad_sides", value=vote.sides)
    if not (isinstance(vote.models, dict) and set(vote.models) == {*MODELS}):
        add("models", "vote_bad_models", value=vote.models)
    if not isinstance(vote.sampling, dict):
        add("sampling", "vote_bad_sampling")
    turns = vote.turns if isinstance(vote.turns, list) else None
    if not turns:
        add("turns", "vote_no_turns", shape="{role, content}")
    for i, turn in enumerate(turns or []):
        if not (isinstance(turn, dict) and set(turn) == {"role", "content"} and isinstance(turn["content"], str)):
            add(f"turns[{i}]", "vote_bad_turn", shape="{role, content}")
        elif turn["role"] not in ROLES:
            add(f"turns[{i}].role", "vote_not_valid", value=turn["role"], choices=", ".join(ROLES))
    return problems


class VoteStore:
    """A folder with one file per vote. Adding never rewrites another vote, so concurrent sessions need no lock."""

    def __init__(self, folder: Path | None = None, record: type = Vote):
        """`record`: Vote (default, in votes/) or Thumb (in thumbs/ by default)."""
        default = "thumbs" if record is Thumb else "votes"
        self.folder = Path(folder) if folder is not None else bottega_home() / default
        self.record = record

    def add(self, vote: Vote | Thumb) -> Path:
        """Write the vote to its own file, atomically: after a crash it is either complete or absent."""
        path = self.folder / vote.filename
        atomic_write(path, dump_yaml(vote.to_dict()).encode("utf-8"))
        return path

    def files(self) -> list[Path]:
        """The vote files, by name (hence by time); other files in the folder (notes, temp files) are ignored."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _FILE.fullmatch(p.name))

    def all(self) -> list[Any]:
        """Every vote, oldest first. A damaged vote file is a UserError naming it, never silently skipped."""
        votes = []
        for path in self.files():
            try:
                votes.append(self.record.from_dict(parse_yaml(path.read_text(encoding="utf-8"))))
            except (UserError, UnicodeDecodeError) as e:
                raise UserError(Message("vote_damaged", path=path, detail=str(e))) from e
        return sorted(votes, key=lambda v: (v.time, v.id))

    def count(self) -> int:
        return len(self.files())


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion; None without observations. Stays inside [0, 1] even at 0/n."""
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def sign_test(wins: int, losses: int) -> float | None:
    """Two-sided exact sign test (binomial, p = 0.5): the chance of a split at least this uneven if neither model
    were better. None without decisive votes."""
    n = wins + losses
    if n == 0:
        return None
    tail = Fraction(sum(comb(n, i) for i in range(min(wins, losses) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


@dataclass
class VoteStats:
    """Counts and tests over a set of votes. Rates are among decisive votes (one answer better); None without any."""

    n: int
    wins: int  # the fine-tuned model's answer was better
    losses: int  # the base model's answer was better
    ties: int
    both_bad: int
    win_rate: float | None
    win_rate_ci: tuple[float, float] | None
    p_value: float | None  # exact sign test over wins vs losses
    left_wins: int  # decisive votes won by the answer on the left (A): a fair reader's share is about half
    left_rate: float | None
    left_rate_ci: tuple[float, float] | None
    tags: Counter = field(default_factory=Counter)
    tags_by_loser: dict[str, Counter] = field(default_factory=dict)  # {"base": ..., "finetuned": ...}

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    def table(self) -> list[tuple[str, str]]:
        """(measure, value) rows for the UI's results table, in the current language."""
        rows = [
            (t("vote_stat_votes"), str(self.n)),
            (t("vote_stat_finetuned_better"), str(self.wins)),
            (t("vote_stat_base_better"), str(self.losses)),
            (t("vote_tie"), str(self.ties)),
            (t("vote_bad"), str(self.both_bad)),
            (t("vote_stat_win_rate"), _rate(self.win_rate, self.win_rate_ci)),
            (t("vote_stat_p_value"), "-" if self.p_value is None else f"{self.p_value:.4g}"),
            (t("vote_stat_left_rate"), _rate(self.left_rate, self.left_rate_ci)),
        ]
        for tag in TAGS:
            lost = ", ".join(f"{MODEL_LABELS[m]} {self.tags_by_loser[m][tag]}" for m in MODELS)
            rows.append((t("vote_stat_tag", tag=tag), t("vote_stat_tag_count", count=self.tags[tag], lost=lost)))
        return rows


def _rate(rate: float | None, ci: tuple[float, float] | None) -> str:
    if rate is None or ci is None:
        return "-"
    return t("vote_stat_rate", rate=rate, low=ci[0], high=ci[1])


def stats(votes: list[Vote]) -> VoteStats:
    """Win rate of the fine-tuned model with its Wilson interval, sign test, left-side bias and tag counts."""
    winners = Counter(v.winner for v in votes)
    wins, losses = winners["finetuned"], winners["base"]
    left_wins = sum(v.verdict == "a" for v in votes)
    tags_by_loser = {m: Counter() for m in MODELS}
    for vote in votes:
        if vote.winner in MODELS:
            loser = "base" if vote.winner == "finetuned" else "finetuned"
            tags_by_loser[loser].update(vote.tags)
    decisive = wins + losses
    return VoteStats(
        n=len(votes),
        wins=wins,
        losses=losses,
        ties=winners["tie"],
        both_bad=winners["both_bad"],
        win_rate=wins / decisive if decisive else None,
        win_rate_ci=wilson(wins, decisive),
        p_value=sign_test(wins, losses),
        left_wins=left_wins,
        left_rate=left_wins / decisive if decisive else None,
        left_rate_ci=wilson(left_wins, decisive),
        tags=Counter(tag for v in votes for tag in v.tags),
        tags_by_loser=tags_by_loser,
    )


def preference_rows(votes: list[Vote]) -> list[dict[str, Any]]:
    """One chosen/rejected pair per decisive vote; the prompt is what the models saw, system prompt included."""
    rows = []
    for vote in votes:
        if vote.winner not in MODELS:
            continue
        loser = "base" if vote.winner == "finetuned" else "finetuned"
        prompt = [dict(t) for t in vote.turns]
        system = vote.sampling.get("system")
        if system and prompt[0]["role"] != "system":
            prompt.insert(0, {"role": "system", "content": system})
        rows.append(
            {
                "id": vote.id,
                "prompt": prompt,
                "chosen": vote.answer(vote.winner),
                "rejected": vote.answer(loser),
                "chosen_model": vote.winner,
                "rejected_model": loser,
                "tags": list(vote.tags),
                "comment": vote.comment,
                "models": dict(vote.models),
            }
        )
    return rows
