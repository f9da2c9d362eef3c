"""A generation run: turn the seed set into new Italian instruction/response pairs with a teacher, resumably.

    python -m pipeline generate --config run.yaml

Each item (one candidate example) is planned from the run's seed and its index, then built in steps: a new task
(Self-Instruct), an evolved task (Evol-Instruct) or a seed task to re-answer (ORCA), then an ORCA-style answer with a
system message, then an optional judge score. Filters and near-duplicate removal decide whether it is accepted.

Everything goes through an append-only journal (`journal.jsonl` in the run folder): the plan of each item, every
teacher reply as it completes, and each item's verdict. Killing the process at any moment and re-running the same
command replays the journal: accepted items are kept once, and a reply already received is never asked (or paid for)
again. The output dataset and the status file are derived from the journal and rewritten as the run goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import dataset as ds_mod
from pipeline.config import from_mapping, load, save, to_mapping
from pipeline.dataset import Dataset, Example, Meta
from pipeline.errors import Problems, UserError, message_of
from pipeline.files import atomic_write, dump_yaml
from pipeline.generate import prompts
from pipeline.generate.filters import FilterConfig
from pipeline.i18n import Message
from pipeline.jobs import Job
from pipeline.paths import bottega_home, name_problem
from pipeline.structured import Shape
from pipeline.teacher import TeacherConfig

METHODS = ("self_instruct", "evol_instruct", "orca", "backtranslation", "magpie")
MAGPIE_TOKENS = 96
"""Magpie: the most tokens of a user's request the model may write."""
MIN_FIT = 3
"""Backtranslation: the least score (1-5) the teacher may give a passage as an answer for it to be kept."""
TOKENS_PER_TASK = 160  # what one task of a several-tasks reply may take (an instruction and an input, in YAML)
PROMPT_TOKENS = 2048  # room for the longest prompt (a judge request quotes a whole answer) in the local server's cache
STATUS_EVERY_S = 1.0  # status.json is also rewritten this often while the teacher works, not only after each item


@dataclass
class GenerationConfig:
    output: str
    """The YAML dataset to write (created or replaced by the run)."""
    seed_dataset: str = "datasets_yaml/seed_it.yaml"
    """Where the seed tasks come from; its approved examples are used."""
    count: int = 20
    """Accepted examples wanted."""
    max_items: int | None = None
    """Candidates to try at most (default: 5 × count)."""
    mix: dict[str, float] = field(default_factory=lambda: {"self_instruct": 0.4, "evol_instruct": 0.4, "orca": 0.2})
    """Share of each method among the candidates."""
    max_depth: int = 3
    """Evol-Instruct rounds at most on one lineage."""
    input_share: float = 0.3
    """Share of Self-Instruct tasks that get an `input` (with `tasks_per_request` > 1: of the requests, each then
    asking for at least half of its tasks with an input)."""
    tasks_per_request: int = 1
    """Self-Instruct asks for this many new tasks in one reply, as a YAML list (Alpaca asked for 20): the ~1,100-token
    prompt of examples is paid once for all of them. Each task is still its own candidate, with its own answer and
    verdict; near-duplicates inside one reply are removed like any other."""
    seed: int = 0
    """Seeds every random choice; recorded in the output's provenance."""
    documents: list[str] = field(default_factory=list)
    """Italian documents for instruction backtranslation (`backtranslation` in `mix`): text or Markdown files,
    folders of them, or YAML/JSONL lists of passages. Their passages become the answers as people wrote them; the
    teacher writes the request each one answers, and says whether it is a good answer at all."""
    license: str = ""
    """The documents' licence (e.g. CC BY 4.0), kept in each example they give and in the dataset."""
    judge: bool = False
    """Ask the teacher to score each pair 1–10 and keep only those at or above `judge_threshold`."""
    judge_threshold: float = 6.0
    local_model: str = "smollm2-135m-instruct"
    """The model `transformers serve` loads when the teacher preset is "local"."""
    local_batching: bool = True
    """With the "local" preset, serve with continuous batching: the requests in flight share each forward pass
    instead of queueing, and on a CPU a re-ask reuses the cached prefix it repeats (see `bench/generation.py`).
    false: one request at a time, without the paged cache."""
    run_dir: str | None = None
    """Where the journal lives (default: $BOTTEGA_HOME/runs/generate/<output name>, which must then be a plain name:
    letters, digits, '.', '_', '-')."""
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        problems = Problems()
        problems.check(self.count > 0, "count", Message("must_be_positive", value=self.count))
        if self.max_items is not None:
            problems.check(
                self.max_items >= self.count,
                "max_items",
                Message("must_be_at_least", minimum=self.count, value=self.max_items),
            )
        unknown = set(self.mix) - set(METHODS)
        problems.check(
            not unknown, "mix", Message("gen_mix_unknown", unknown=sorted(unknown), methods=", ".join(METHODS))
        )
        if any(v < 0 for v in self.mix.values()) or sum(self.mix.values()) <= 0:
            problems.add("mix", Message("gen_mix_weights"))
        backtranslating = self.mix.get("backtranslation", 0) > 0
        problems.check(not backtranslating or bool(self.documents), "documents", Message("gen_documents_needed"))
        problems.check(backtranslating or not self.documents, "mix", Message("gen_documents_unused"))
        magpie = self.mix.get("magpie", 0) > 0
        problems.check(not magpie or self.teacher.preset in ("local", "custom"), "mix",
                       Message("gen_magpie_preset", preset=self.teacher.preset))  # fmt: skip
        problems.check(self.max_depth >= 1, "max_depth", Message("must_be_at_least", minimum=1, value=self.max_depth))
        problems.check(1 <= self.tasks_per_request <= 50, "tasks_per_request",
                       Message("must_be_between", low=1, high=50, value=self.tasks_per_request))  # fmt: skip
        problems.check(
            0 <= self.input_share <= 1,
            "input_share",
            Message("must_be_between", low=0, high=1, value=self.input_share),
        )
        problems.check(
            1 <= self.judge_threshold <= 10,
            "judge_threshold",
            Message("must_be_between", low=1, high=10, value=self.judge_threshold),
        )
        if not Path(self.output).name.endswith(".yaml"):
            problems.add("output", Message("gen_output_yaml", value=self.output))
        elif not self.run_dir:
            problem = name_problem(Path(self.output).stem)  # the run folder's name under $BOTTEGA_HOME
            if problem is not None:
                problems.add("output", Message("gen_output_name", problem=problem))
        problems.raise_any()

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) if self.run_dir else bottega_home() / "runs" / "generate" / Path(self.output).stem

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GenerationConfig:
        return from_mapping(cls, raw)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)


def load_config(path: str | Path, arg: str = "--config") -> GenerationConfig:
    return load(GenerationConfig, path, arg)


class Journal:
    """Append-only JSONL of the run. Each record is flushed to disk before the run goes on."""

    def __init__(self, path: Path):
        self.path = path
        self.plans: dict[int, dict] = {}
        self.replies: dict[tuple[int, str], dict] = {}
        self.verdicts: dict[int, dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # the last line of a killed run may be cut short
                    continue
                self._index(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def _index(self, record: dict) -> None:
        item = record["item"]
        if record["type"] == "plan":
            self.plans.setdefault(item, record["plan"])
        elif record["type"] == "reply":
            self.replies.setdefault((item, record["step"]), record)
        elif record["type"] == "verdict":
            self.verdicts.setdefault(item, record)

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._index(record)

    def close(self) -> None:
        self._file.close()


@dataclass
class Status:
    """What the UI shows: written to `status.json` after every item."""

    state: str = "running"  # one of pipeline.jobs.STATES; a spent budget stops the run with a message
    accepted: int = 0
    rejected: int = 0
    target: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    tokens: int = 0  # teacher tokens (prompt + completion) of every reply received, resumed runs included
    cost: float | None = None  # None when the teacher has no prices
    requests: int = 0  # teacher replies received by this process (a resumed run counts from 0)
    in_flight: int = 0  # teacher requests sent and not answered yet
    latest: list[dict] = field(default_factory=list)
    message: str | Message = ""
    output: str = ""


class Run:
    """One generation run over a journal, in its job's folder. `await Run(config, job).execute(teacher)`."""

    def __init__(self, config: GenerationConfig, job: Job, on_status: Callable[[Status], None] | None = None):
        self.config = config
        self.on_status = on_status  # called with the status each time status.json is rewritten
        self.job = job
        self.dir = job.dir
        self.journal = Journal(self.dir / "journal.jsonl")
        seed = ds_mod.load(config.seed_dataset)
        self.seed = [e for e in seed.examples if e.meta.status == "approved"] or seed.examples
        self.teacher = None
        self.status = Status(target=config.count, output=str(config.output))
        local = config.teacher.preset == "local" and not config.teacher.model
        self.teacher_name = config.local_model if local else config.teacher.model
        from pipeline.generate.dedup import Deduplicator

        # Accepted examples by item, kept as the run goes (a resumed run starts from the journal's).
        self.accepted = {v["item"]: _example(v["example"]) for v in self._accepted()}
        self.dedup = Deduplicator()
        self.dedup.extend((e.id, e.instruction) for e in self.seed)
        # A resumed run remembers what it accepted before, exactly as it was (no re-check).
        self.dedup.extend((e.id, e.instruction) for e in self.accepted.values())
        self._lock = asyncio.Lock()
        self._asking: dict[tuple[int, str], asyncio.Future] = {}  # requests in flight, shared by their items
        self._by_method: dict[str, list[int]] | None = None
        from pipeline.generate.passages import split_documents

        self.passages = split_documents(config.documents) if config.documents else []
        self._template: Any = None  # Magpie: the tokenizer whose chat template the teacher's model uses
        # What the journal says was spent before this process: the teacher's own counters add what it spends now,
        # replies of a step still being re-asked included.
        self._spent_before = self._journal_spending()

    def _accepted(self) -> list[dict]:
        return [v for _, v in sorted(self.journal.verdicts.items()) if v["accepted"]]

    def pool(self) -> dict[str, Example]:
        """Seed and accepted examples by id: the parents evolutions and ORCA answers draw from."""
        return {e.id: e for e in [*self.seed, *self.accepted.values()]}

    @property
    def max_items(self) -> int:
        return self.config.max_items or 5 * self.config.count

    def _draw_method(self, rng: random.Random) -> str:
        methods = [m for m in METHODS if self.config.mix.get(m, 0) > 0]
        return rng.choices(methods, weights=[self.config.mix[m] for m in methods])[0]

    def method(self, item: int) -> str:
        """The item's method, as its plan has it or will draw it (the plan's first draw), without planning it."""
        if item in self.journal.plans:
            return self.journal.plans[item]["method"]
        return self._draw_method(random.Random(f"{self.config.seed}:{item}"))

    def rank(self, item: int) -> int:
        """How many items of the same method come before `item`: the k-th backtranslation item takes the k-th
        passage, the k-th Self-Instruct item the k-th task of its group's request."""
        if self._by_method is None:
            self._by_method = {m: [] for m in METHODS}
            for i in range(self.max_items):
                self._by_method[self.method(i)].append(i)
        return self._by_method[self.method(item)].index(item)

    def group(self, item: int) -> list[int]:
        """The Self-Instruct items whose tasks come from the same request as `item`'s: the self-instruct items in item
        order, `tasks_per_request` at a time. The first is the group's leader: its plan's examples are shown."""
        k = self.config.tasks_per_request
        start = self.rank(item) // k * k
        return self._by_method["self_instruct"][start : start + k]

    def plan(self, item: int) -> dict:
        """The item's method and choices: from the journal if it was planned before, otherwise drawn now."""
        if item in self.journal.plans:
            return self.journal.plans[item]
        rng = random.Random(f"{self.config.seed}:{item}")
        method = self._draw_method(rng)
        pool = self.pool()
        plan: dict[str, Any] = {"method": method, "system": rng.choice(prompts.ORCA_SYSTEMS)}
        if method == "self_instruct":
            plan["examples"] = [e.id for e in prompts.pick_examples(list(pool.values()), rng)]
            plan["with_input"] = rng.random() < self.config.input_share
        elif method == "backtranslation":
            plan["passage"] = self.rank(item)
            if plan["passage"] < len(self.passages):  # which text it is, should the documents change before a resume
                found = self.passages[plan["passage"]]
                plan["source"], plan["start"] = found.source, found.start
        elif method == "magpie":
            plan["topic"] = rng.choice(prompts.MAGPIE_TOPICS)
        else:
            parents = [e for e in pool.values() if (e.meta.evolution_depth or 0) < self.config.max_depth]
            parent = rng.choice(parents or list(pool.values()))
            plan["parent"] = parent.id
            if method == "evol_instruct":
                operations = [op for op in prompts.EVOLUTIONS if op != "complica_input" or parent.input]
                plan["operation"] = rng.choice(operations)
        self.journal.append({"type": "plan", "item": item, "plan": plan})
        return plan

    async def ask(self, item: int, step: str, messages: list[dict], shape: Shape,
                  members: list[int] | None = None) -> dict:  # fmt: skip
        """A teacher reply for one step of one item; a reply already in the journal is reused, never re-asked, and
        one in flight is awaited, not asked twice. `members`: the items a shared reply serves (several tasks per
        request), recorded with it so that each carries its share of the tokens.

        A reply that stayed broken after the re-asks is journaled too (with what it cost) and rejects the item."""
        key = (item, step)
        done = self.journal.replies.get(key)
        if done is None:
            if key not in self._asking:
                self._asking[key] = asyncio.ensure_future(self._request(item, step, messages, shape, members))
            done = await self._asking[key]
        if done["data"] is None:
            raise _Rejected(f"yaml_{done['error']}")
        return done["data"]

    async def _request(self, item: int, step: str, messages: list[dict], shape: Shape | None,
                       members: list[int] | None, raw: tuple[str, list[str]] | None = None) -> dict:  # fmt: skip
        from pipeline.teacher import ReplyFormatError

        record: dict[str, Any] = {"type": "reply", "item": item, "step": step}
        if members:
            record["members"] = members
        try:
            if raw is not None:  # a raw completion (Magpie): the text itself is the reply
                done = await self.teacher.complete(raw[0], raw[1], max_tokens=MAGPIE_TOKENS)
                text = done.text.split(raw[1][0])[0].strip() if raw[1] else done.text.strip()
                tokens = done.prompt_tokens + done.completion_tokens
                if done.finish_reason == "length":  # the request never ended: the model ran on past the user's turn
                    record.update(data=None, error="truncated", tokens=tokens, cost=self.teacher.reply_cost(done))
                else:
                    record.update(data={"istruzione": text}, tokens=tokens, cost=self.teacher.reply_cost(done))
                self.journal.append(record)
                return record
            limit = reply_tokens(self.config, len(members or [0]))
            reply = await self.teacher.ask_yaml(messages, shape, max_tokens=limit)
            record.update(data=reply.data, tokens=reply.tokens, cost=reply.cost)
        except ReplyFormatError as e:
            record.update(data=None, error=e.kind, tokens=e.tokens, cost=e.cost)
        self.journal.append(record)
        return record

    async def new_task(self, item: int, plan: dict, pool: dict[str, Example]) -> tuple[str, str | None]:
        """A Self-Instruct item's task: from its own request, or its slot in its group's shared request."""
        if self.config.tasks_per_request == 1:
            shown = [pool[i] for i in plan["examples"] if i in pool]
            task = await self.ask(item, "task", prompts.self_instruct(shown, plan["with_input"]),
                                  prompts.NEW_TASK)  # fmt: skip
            return _text(task.get("istruzione")), _text(task.get("input")) or None
        shared = [r for (_, step), r in self.journal.replies.items() if step == "tasks" and item in r["members"]]
        members = shared[0]["members"] if shared else self.group(item)  # what was asked before a resume stands
        leader = self.plan(members[0])
        shown = [pool[i] for i in leader["examples"] if i in pool]
        messages = prompts.self_instruct_many(shown, leader["with_input"], len(members))
        reply = await self.ask(members[0], "tasks", messages, prompts.new_tasks(len(members)), members)
        tasks = _tasks(reply.get("compiti"))
        slot = members.index(item)
        if slot >= len(tasks):  # the reply gave fewer tasks than asked (or an entry without an instruction)
            raise _Rejected("compito_mancante")
        return tasks[slot]

    async def build(self, item: int) -> tuple[Example, list[str]]:
        """Build one candidate. Returns it and the rejection reasons found while building."""
        plan = self.plan(item)
        pool = self.pool()
        method = plan["method"]
        meta = Meta(method=method, status="draft", language="it", teacher_model=self.teacher_name)
        if method == "self_instruct":
            instruction, input_ = await self.new_task(item, plan, pool)
            meta.evolution_depth = 0
        elif method == "backtranslation":
            return await self.backtranslated(item, plan, meta)
        elif method == "magpie":
            instruction, input_ = await self.magpie(item, plan), None
            meta.tags = [plan["topic"]]
        elif method == "evol_instruct":
            parent = pool[plan["parent"]]
            task = await self.ask(item, "evolve", prompts.evolve(parent, plan["operation"]), prompts.EVOLVED_TASK)
            instruction, input_ = _text(task.get("istruzione")), _text(task.get("input")) or None
            meta.parent_id = parent.id
            meta.evolution_depth = (parent.meta.evolution_depth or 0) + 1
            meta.tags = [plan["operation"]]
        else:
            parent = pool[plan["parent"]]
            instruction, input_ = parent.instruction, parent.input
            meta.parent_id = parent.id
            meta.category = parent.meta.category
        candidate = Example(id=f"gen-{item:05d}", instruction=instruction, output="", input=input_, meta=meta)
        reasons = []
        if method == "evol_instruct" and _same_task(instruction, pool[plan["parent"]].instruction):
            reasons.append("nessun_guadagno")
        if not reasons:
            answer = await self.ask(item, "answer", prompts.answer(candidate, plan["system"]), prompts.ANSWER)
            candidate.output = _text(answer.get("risposta"))
            candidate.system = plan["system"]
        return candidate, reasons

    async def magpie(self, item: int, plan: dict) -> str:
        """Magpie: the teacher's model continues the chat template's prefix, after an Italian system message about
        the item's topic, with a user's request; journaled like any reply."""
        key = (item, "magpie")
        done = self.journal.replies.get(key)
        if done is None:
            if self._template is None:
                from pipeline import models

                folder = models.resolve(self.config.local_model)
                self._template, _ = models.load_tokenizer(folder, self.config.local_model, require_template=True)
            prefix, end = prompts.magpie_prefix(self._template, plan["topic"])
            if key not in self._asking:
                asking = self._request(item, "magpie", [], None, None, (prefix, [end]))
                self._asking[key] = asyncio.ensure_future(asking)
            done = await self._asking[key]
        if done["data"] is None:
            raise _Rejected(f"yaml_{done['error']}")
        instruction = _text(done["data"]["istruzione"])
        if not instruction:  # nothing to answer: not worth paying for an answer
            raise _Rejected("troppo_corta")
        return instruction

    async def backtranslated(self, item: int, plan: dict, meta: Meta) -> tuple[Example, list[str]]:
        """A passage as the answer, the teacher's request as the instruction; dropped when the teacher scores the
        passage under MIN_FIT as an answer on its own."""
        known = [p for p in self.passages if (p.source, p.start) == (plan.get("source"), plan.get("start"))]
        if known:
            passage = known[0]
        elif "source" in plan or plan["passage"] >= len(self.passages):  # gone from the documents, or past their end
            raise _Rejected("documenti_finiti")
        else:
            passage = self.passages[plan["passage"]]
        reply = await self.ask(item, "instruction", prompts.backtranslate(passage.text, passage.heading),
                               prompts.BACKTRANSLATION)  # fmt: skip
        meta.source = f"{passage.source}:{passage.start}-{passage.end}"
        meta.license = self.config.license or None
        candidate = Example(id=f"gen-{item:05d}", instruction=_text(reply.get("istruzione")), output=passage.text,
                            input=_text(reply.get("input")) or None, meta=meta)  # fmt: skip
        fit = _score(reply.get("adatto"))
        return candidate, [] if fit is not None and fit >= MIN_FIT else ["passaggio_inadatto"]

    def _tokens(self, item: int) -> int:
        """The teacher tokens spent on the item: its own replies, and its share of a reply it shares."""
        total = 0.0
        for (i, _), r in self.journal.replies.items():
            members = r.get("members") or [i]
            if item in members:
                total += r["tokens"] / len(members)
        return round(total)

    async def decide(self, item: int) -> None:
        """Build, filter, deduplicate and (optionally) judge one item, then journal the verdict."""
        from pipeline.generate import filters

        if item in self.journal.verdicts:
            return
        try:
            candidate, reasons = await self.build(item)
        except _Rejected as e:
            plan = self.plan(item)
            candidate = Example(id=f"gen-{item:05d}", instruction="", output="", meta=Meta(method=plan["method"]))
            reasons = [e.reason]
        if not reasons:
            reasons = filters.check(candidate.instruction, candidate.input, candidate.output, self.config.filters)
        if not reasons and self.config.judge:
            verdict = await self.ask(item, "judge", prompts.score_messages(candidate), prompts.SCORE)
            candidate.meta.judge_score = _score(verdict.get("punteggio"))
            if candidate.meta.judge_score is None or candidate.meta.judge_score < self.config.judge_threshold:
                reasons.append("giudice")
        candidate.meta.tokens = self._tokens(item)
        async with self._lock:  # dedup and the verdict are one step, so two items cannot both pass as "new"
            if not reasons and self.status.accepted >= self.config.count:
                reasons.append("obiettivo_raggiunto")  # a late item past the target: not accepted, still journaled
            if not reasons:
                twin = self.dedup.add(candidate.id, candidate.instruction)
                if twin is not None:
                    reasons.append("duplicato")
            self.journal.append(
                {"type": "verdict", "item": item, "accepted": not reasons, "reasons": reasons,
                 "example": _example_dict(candidate)}
            )  # fmt: skip
            if not reasons:
                self.accepted[item] = candidate
            self.refresh_status()
            if not reasons and self.status.accepted % 10 == 0:
                self.write_outputs()

    def _journal_spending(self) -> tuple[int, float | None]:
        replies = list(self.journal.replies.values())
        costs = [r["cost"] for r in replies if r.get("cost") is not None]
        return sum(r["tokens"] for r in replies), (sum(costs) if costs else None)

    def refresh_status(self) -> None:
        verdicts = list(self.journal.verdicts.values())
        self.status.accepted = sum(v["accepted"] for v in verdicts)
        self.status.rejected = len(verdicts) - self.status.accepted
        reasons: dict[str, int] = {}
        for v in verdicts:
            for reason in v["reasons"]:
                reasons[reason] = reasons.get(reason, 0) + 1
        self.status.reasons = reasons
        if self.teacher is None:
            self.status.tokens, self.status.cost = self._journal_spending()
        else:  # the teacher's counters: live, and no pass over the journal every STATUS_EVERY_S
            usage = self.teacher.usage
            tokens_before, cost_before = self._spent_before
            self.status.tokens = tokens_before + usage.total_tokens
            self.status.cost = cost_before if usage.cost is None else (cost_before or 0.0) + usage.cost
            self.status.requests, self.status.in_flight = usage.requests, self.teacher.in_flight
        self.status.latest = [v["example"] for v in self._accepted()[-5:]]
        self.job.update(**dataclasses.asdict(self.status))
        if self.on_status is not None:
            self.on_status(self.status)

    def write_outputs(self) -> None:
        """The output dataset and the rejects file, both derived from the journal."""
        accepted = [self.accepted[i] for i in sorted(self.accepted)]
        provenance = {
            "method": "generate",
            "seed_dataset": str(self.config.seed_dataset),
            "teacher": {"preset": self.config.teacher.preset, "model": self.teacher_name},
            "seed": self.config.seed,
            "mix": self.config.mix,
            "created_by": "python -m pipeline generate",
        }
        if self.config.documents:
            provenance["documents"] = [str(d) for d in self.config.documents]
            provenance["license"] = self.config.license or None
        output = Dataset(
            name=Path(self.config.output).stem,
            description="Esempi generati da Bottega con un modello insegnante, da rivedere e approvare.",
            created=datetime.now(UTC).date().isoformat(),
            provenance=provenance,
            examples=accepted,
        )
        if output.examples:
            ds_mod.save(output, self.config.output, force=True)
        rejects = [
            {"item": i, "reasons": v["reasons"], **v["example"]}
            for i, v in sorted(self.journal.verdicts.items())
            if not v["accepted"]
        ]
        text = dump_yaml(rejects)
        atomic_write(self.dir / "rejects.yaml", text.encode("utf-8"))

    def stop_requested(self) -> bool:
        return self.job.stop_requested

    async def execute(self, teacher) -> Status:
        """Run until `count` accepted, `max_items` tried, the budget ends or a stop is requested."""
        from pipeline.teacher import BudgetExhausted

        self.teacher = teacher
        self.refresh_status()
        max_items = self.max_items
        pending = iter(i for i in range(max_items) if i not in self.journal.verdicts)
        # Items in flight: as many as the teacher takes requests at once; with several tasks per request, that many
        # groups, so that the shared task requests run side by side instead of one group's members waiting on one.
        # Requests in flight stay bounded by the teacher's own `max_concurrency`.
        groups = self.config.tasks_per_request if self.config.mix.get("self_instruct") else 1
        workers = max(1, self.config.teacher.max_concurrency) * groups

        busy = 0  # items being decided
        room = asyncio.Condition()

        async def worker() -> None:
            nonlocal busy
            for item in pending:
                # An item starts only while the items already in flight could not reach the target alone: near the
                # end, no request is paid for an item that would come too late (with several tasks per request, a
                # whole new group's request).
                while self.status.accepted + busy >= self.config.count:
                    if self.status.accepted >= self.config.count or self.stop_requested():
                        return
                    async with room:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(room.wait(), STATUS_EVERY_S)
                if self.stop_requested():
                    return
                busy += 1
                try:
                    await self.decide(item)
                finally:
                    busy -= 1
                    async with room:
                        room.notify_all()

        async def report() -> None:  # a slow teacher (a CPU, a long reply) can take minutes before the first verdict
            while True:
                await asyncio.sleep(STATUS_EVERY_S)
                self.refresh_status()

        reporter = asyncio.create_task(report())
        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
            if self.stop_requested():
                self.status.state = "stopped"
            elif self.status.accepted >= self.config.count:
                self.status.state = "finished"
            else:
                self.status.state, self.status.message = "finished", Message("gen_all_tried", count=max_items)
        except BudgetExhausted as e:
            self.status.state, self.status.message = "stopped", Message("gen_budget_spent", detail=message_of(e))
        except Exception as e:
            self.status.state, self.status.message = "failed", message_of(e)
            raise
        finally:
            reporter.cancel()
            self.write_outputs()
            self.refresh_status()
            self.journal.close()
        return self.status


def generate(config: GenerationConfig, on_status: Callable[[Status], None] | None = None) -> Status:
    """Run a generation to the end, starting and stopping the local teacher server when the preset is "local".
    `on_status` sees the status each time it changes (after each item, and every STATUS_EVERY_S meanwhile)."""
    from pipeline.teacher import Teacher

    with Job(config.run_path).running() as job:
        save_config(config)
        server = None
        teacher_config = config.teacher
        if teacher_config.preset == "local" and not teacher_config.base_url:
            from pipeline import models
            from pipeline.serve import start_local_server

            server = start_local_server(
                models.resolve(config.local_model),
                job.dir / "serve.log",
                concurrency=teacher_config.max_concurrency,
                context_tokens=reply_tokens(config, config.tasks_per_request) + PROMPT_TOKENS,
                batching=config.local_batching,
            )
            teacher_config = dataclasses.replace(teacher_config, base_url=server.base_url, model=server.model)
        try:
            run = Run(config, job, on_status)

            async def main() -> Status:
                async with Teacher(teacher_config) as teacher:
                    return await run.execute(teacher)

            return asyncio.run(main())
        finally:
            if server is not None:
                server.stop()


class _Rejected(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def save_config(config: GenerationConfig) -> Path:
    """The run's config, seed included, next to its journal."""
    return save(config, config.run_path / "config.yaml")


def keep_documents(output: str, files: list[str]) -> list[str]:
    """Uploaded documents copied into the run's folder, since the app's uploads are temporary: the `documents` to
    name. Without uploads, the folder an earlier start of the same run kept, if any (a resume)."""
    from pipeline.generate.passages import split_documents

    folder = bottega_home() / "runs" / "generate" / Path(output).stem / "documenti"
    if files:
        split_documents(files)  # refused before anything is copied
    for file in files:
        atomic_write(folder / Path(file).name, Path(file).read_bytes())
    return [str(folder)] if folder.is_dir() else []


def start(config: GenerationConfig, env: dict[str, str] | None = None) -> Path:
    """Launch `python -m pipeline generate` for this config as a detached job; returns its run folder.

    Starting again with the same output resumes the run from its journal. `env` is added to the job's environment
    only (on a Space, the visitor's OAuth token as the Hugging Face teacher's key): it is never written anywhere."""
    job = Job(config.run_path)
    if job.active:
        raise UserError(Message("job_already_running", name=job.name))
    if config.documents:  # a binary or unreadable document is refused now, not in the job's log
        from pipeline.generate.passages import split_documents

        split_documents(config.documents)
    config_path = save_config(config)
    first = dataclasses.asdict(Status(target=config.count))
    fields = {k: v for k, v in first.items() if k not in ("state", "message")}
    return job.launch(["generate", "--config", str(config_path)], env=env, **fields)


def reply_tokens(config: GenerationConfig, tasks: int = 1) -> int:
    """The token limit of a reply that carries `tasks` tasks: the teacher's `max_tokens`, or TOKENS_PER_TASK each."""
    return max(config.teacher.max_tokens, TOKENS_PER_TASK * tasks if tasks > 1 else 0)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def _tasks(value: Any) -> list[tuple[str, str | None]]:
    """The (instruction, input) pairs of a several-tasks reply, in order, skipping entries without an instruction."""
    tasks = []
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, str):
            entry = {"istruzione": entry}
        instruction = _text(entry.get("istruzione")) if isinstance(entry, dict) else ""
        if instruction:
            tasks.append((instruction, _text(entry.get("input")) or None))
    return tasks


def _score(value: Any) -> float | None:
    try:
        score = float(str(value).strip().split()[0].split("/")[0])
    except (ValueError, IndexError):
        return None
    return score if 1 <= score <= 10 else None


def _same_task(new: str, parent: str) -> bool:
    """Evol-Instruct's first elimination rule: the evolved task adds nothing to its parent."""
    from pipeline.generate.dedup import rouge_l

    return not new.strip() or rouge_l(new, parent) >= 0.9


def _example_dict(example: Example) -> dict:
    return ds_mod.to_dict(Dataset(name="x", examples=[example]))["examples"][0]


def _example(raw: dict) -> Example:
    return ds_mod.from_dict({"schema_version": 1, "name": "x", "examples": [raw]}).examples[0]
