"""Automatic evaluation: the base model against base + LoRA adapter, on the prompts the training held out.

    python -m pipeline eval --config configs/eval/smollm2.yaml

A training run folder (`run_dir`) says everything: the base model, the dataset, and the `eval_share` and `seed`
whose split (`pipeline.train.data.split`) kept examples out of training; the adapter is `run_dir/adapter`. The base
is loaded once and wrapped with the adapter; the base side answers with the adapter switched off
(`disable_adapter`), so both sides share one copy of the weights. Answers are greedy, so a run is reproducible.

Measured on each side:
- Italian fidelity: the share of answers that `pipeline.generate.filters.is_italian` reads as Italian;
- perplexity of the held-out reference answers: exp of the mean negative log-likelihood over the tokens training
  would have trained (assistant turns, end-of-turn included: the labels of `pipeline.train.data.encode`);
- optionally, a pairwise judge: the teacher compares the two answers with an Italian rubric, asked in both orders
  (base as A, then fine-tuned as A) to cancel position bias. A pair is won only when both orders agree; any
  disagreement, or a reply that cannot be read, is a tie;
- optionally, lm-eval's Italian tasks (arc_it, hellaswag_it, m_mmlu_it), when lm-eval is installed and their data
  loads; otherwise the results say why they were skipped.

Results go to `eval/eval.yaml` in the run folder (the evaluation job's folder), written atomically: metrics per side
and their deltas, the judge's tally, every answer for inspection, and the settings (split seed included).
`EvalResult.table()` gives the rows the app shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import from_mapping, load, to_mapping
from pipeline.config import save as save_config
from pipeline.errors import Problems, UserError
from pipeline.files import atomic_write, dump_yaml, parse_yaml
from pipeline.i18n import Message, t
from pipeline.jobs import Job, active_jobs
from pipeline.models import REPETITION_PENALTY
from pipeline.paths import bottega_home, named_or_path
from pipeline.structured import Choice, Shape, Text
from pipeline.teacher import TeacherConfig

SIDES = ("base", "finetuned")
LM_EVAL_TASKS = ("arc_it", "hellaswag_it", "m_mmlu_it")
# the judge's reply
JUDGE = Shape((("motivazione", Text(max_lines=2, max_chars=250)), ("migliore", Choice(("A", "B", "pari")))))


def table_headers() -> list[str]:
    """The columns of `EvalResult.table()`, in the current language."""
    return [t("col_metric"), "base", "fine-tuned", "delta"]


@dataclass
class EvalConfig:
    """What to evaluate: a training run (`run_dir`), or a base model, an adapter and a dataset named explicitly."""

    run_dir: str | None = None
    """A training run folder, or just its name (looked up under $BOTTEGA_HOME/runs/train). Base model, dataset,
    `eval_share` and `seed` come from its config.yaml; the adapter from its adapter/ folder."""
    base_model: str | None = None
    """Without `run_dir`: the base, as a bundled model name, a local folder or a Hub id."""
    adapter: str | None = None
    """Without `run_dir`: the folder of a LoRA adapter trained on `base_model`."""
    dataset: str | None = None
    """A dataset used whole as the evaluation set (the first `max_examples`), instead of the run's held-out split.
    Required without `run_dir`: only a run knows which examples it did not train on."""
    max_examples: int = 20
    """Prompts evaluated at most."""
    max_new_tokens: int = 128
    """Tokens each model may write per answer (greedy decoding)."""
    repetition_penalty: float = REPETITION_PENALTY
    """Greedy decoding with this penalty on tokens already written (1: none), as in the Confronta tab: without it
    small models loop (`pipeline.models.REPETITION_PENALTY` says how much)."""
    batch_size: int = 8
    """Prompts generated together (left padding); lower it if the GPU runs out of memory."""
    judge: bool = False
    """Let the teacher compare each pair of answers, in both orders."""
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    """The judge. A strong model is worth it here; `temperature: 0` makes its verdicts repeatable. With the "local"
    preset, start the server yourself and give its `base_url` and `model`."""
    lm_eval_tasks: list[str] = field(default_factory=list)
    """lm-eval tasks to run on both sides, e.g. [arc_it, hellaswag_it, m_mmlu_it]; skipped, with the reason in the
    results, when lm-eval is not installed or the tasks' data cannot be loaded."""
    lm_eval_limit: int | None = None
    benchmark: bool = True
    """Score both sides on Bottega's offline Italian benchmark (`pipeline.benchmark`: multiple choice written for the
    project, by log-likelihood, per category with a 95% interval); no data from the Hub needed. On 2 CPU cores all
    320 questions take about 80 s a side (float32, SmolLM2-135M)."""
    benchmark_limit: int | None = None
    """Questions per category at most (none: all of them)."""
    """Questions per lm-eval task at most (none: all of them, which takes hours on CPU)."""
    output: str | None = None
    """The results file; default `eval/eval.yaml` in the run folder. Required without `run_dir`."""

    def __post_init__(self) -> None:
        problems = Problems()
        explicit = [name for name in ("base_model", "adapter") if getattr(self, name)]
        if self.run_dir and explicit:
            problems.add("run_dir", Message("eval_run_or_explicit", fields=" e ".join(f"`{n}`" for n in explicit)))
        if not self.run_dir:
            problems.check(len(explicit) == 2, "run_dir", Message("eval_what"))
            for name in ("dataset", "output"):
                problems.check(bool(getattr(self, name)), name, Message("eval_required_without_run"))
        for name in ("max_examples", "max_new_tokens", "batch_size", "lm_eval_limit", "repetition_penalty",
                     "benchmark_limit"):  # fmt: skip
            value = getattr(self, name)
            problems.check(value is None or value > 0, name, Message("must_be_positive", value=value))
        if self.judge and self.teacher.preset == "local" and not self.teacher.base_url:
            problems.add("judge", Message("eval_local_judge"))
        if self.output and Path(self.output).suffix not in (".yaml", ".yml"):
            problems.add("output", Message("gen_output_yaml", value=self.output))
        problems.raise_any()

    @property
    def run_path(self) -> Path | None:
        if not self.run_dir:
            return None
        return named_or_path(self.run_dir, bottega_home() / "runs" / "train")

    @property
    def output_path(self) -> Path:
        return Path(self.output).expanduser() if self.output else self.job_path / "eval.yaml"

    @property
    def job_path(self) -> Path:
        """The evaluation job's folder: `eval/` in the training run's folder, or for an evaluation without a run
        $BOTTEGA_HOME/runs/eval/<output's name>."""
        if self.run_path is not None:
            return self.run_path / "eval"
        return bottega_home() / "runs" / "eval" / Path(self.output).stem

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EvalConfig:
        return from_mapping(cls, raw)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)


def load_config(path: str | Path, arg: str = "--config") -> EvalConfig:
    return load(EvalConfig, path, arg)


@dataclass
class Judgement:
    """The judge on one pair: the winner it named in each order ("base", "finetuned", "pari", or None when its
    reply could not be read), and the outcome for the fine-tuned model."""

    base_first: str | None
    """Verdict with the base answer shown as A."""
    finetuned_first: str | None
    """Verdict with the fine-tuned answer shown as A."""
    reasons: list[str] = field(default_factory=list)
    """The judge's `motivazione`, one per order it answered."""
    error: str | None = None
    """Why the pair was not judged (teacher unreachable, budget spent); the pair is left out of the tally."""

    @property
    def outcome(self) -> str | None:
        """ "win" or "loss" when both orders name the same model, "tie" otherwise; None if it was not judged."""
        if self.error:
            return None
        if self.base_first == self.finetuned_first == "finetuned":
            return "win"
        if self.base_first == self.finetuned_first == "base":
            return "loss"
        return "tie"


@dataclass
class Example:
    """One held-out prompt, its reference answer and both models' answers."""

    prompt: list[dict[str, str]]
    """The conversation up to the answer."""
    reference: str
    base: str
    finetuned: str
    base_italian: bool
    finetuned_italian: bool
    judge: Judgement | None = None


@dataclass
class JudgeTally:
    """The judge's verdicts for the fine-tuned model, over the pairs it judged."""

    wins: int = 0
    ties: int = 0
    losses: int = 0
    unreadable: int = 0
    """Replies that stayed unreadable after the re-asks (their pair counts as a tie)."""
    not_judged: int = 0
    """Pairs left out because a request failed for good; `error` says why."""
    tokens: int = 0
    cost: float | None = None
    model: str = ""
    error: str | None = None


@dataclass
class EvalResult:
    settings: dict[str, Any]
    """What was evaluated and how: models, dataset, split, seed, limits."""
    held_out: str
    """How the evaluation examples were chosen, in words."""
    base: dict[str, float]
    """Metrics of the base model: `italian` and `loops` (shares, 0-1) and `perplexity`."""
    finetuned: dict[str, float]
    examples: list[Example]
    judge: JudgeTally | None = None
    lm_eval: dict[str, Any] | None = None
    """{"base": {task: accuracy}, "finetuned": {...}}, or {"skipped": why}."""
    benchmark: dict[str, Any] | None = None
    """{"base": ..., "finetuned": ...}: `pipeline.benchmark.Result.to_dict()` of each side."""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def delta(self) -> dict[str, float]:
        """Fine-tuned minus base, per metric (a lower perplexity is better)."""
        return {k: self.finetuned[k] - self.base[k] for k in self.base if k in self.finetuned}

    def table(self) -> list[tuple[str, str, str, str]]:
        """(metric, base, fine-tuned, delta) rows in the current language; see `table_headers`."""
        judged = "italian_judged" in self.base  # results written before code-only answers were set aside have none

        def italian(side: dict) -> str:
            return f"{side['italian']:.0%}" + (f" ({side['italian_judged']})" if judged else "")

        rows = [
            (
                t("eval_row_italian") + (t("eval_row_judged") if judged else ""),
                italian(self.base),
                italian(self.finetuned),
                t("eval_points", delta=100 * self.delta["italian"]),
            ),
        ]
        if "loops" in self.base:  # results written before loops were measured have none
            rows.append(
                (
                    t("eval_row_loops"),
                    f"{self.base['loops']:.0%}",
                    f"{self.finetuned['loops']:.0%}",
                    t("eval_points", delta=100 * self.delta["loops"]),
                )
            )
        rows += [
            (
                t("eval_row_perplexity"),
                f"{self.base['perplexity']:.2f}",
                f"{self.finetuned['perplexity']:.2f}",
                f"{self.delta['perplexity']:+.2f}",
            ),
        ]
        if self.judge is not None:
            j = self.judge
            rows.append(
                (
                    t("eval_row_judge"),
                    f"{j.losses} / {j.ties} / {j.wins}",
                    f"{j.wins} / {j.ties} / {j.losses}",
                    f"{j.wins - j.losses:+d}",
                )
            )
        if self.benchmark:
            base, tuned = (self.benchmark[side]["acc_norm"]["tutte"] for side in SIDES)
            rows.append(
                (
                    t("eval_row_benchmark", total=base["total"]),
                    f"{base['accuracy']:.1%} [{base['ci95'][0]:.0%}, {base['ci95'][1]:.0%}]",
                    f"{tuned['accuracy']:.1%} [{tuned['ci95'][0]:.0%}, {tuned['ci95'][1]:.0%}]",
                    t("eval_points", delta=100 * (tuned["accuracy"] - base["accuracy"])),
                )
            )
        if self.lm_eval and "skipped" not in self.lm_eval:
            for task, base in self.lm_eval["base"].items():
                tuned = self.lm_eval["finetuned"][task]
                rows.append((t("eval_row_lm_eval", task=task), f"{base:.1%}", f"{tuned:.1%}", f"{tuned - base:+.1%}"))
        rows.append((t("eval_row_examples"), str(len(self.examples)), str(len(self.examples)), ""))
        return rows

    def notes(self) -> list[str]:
        """What the reader must know besides the table: how examples were chosen, skips and failures."""
        notes = [self.held_out]
        if self.judge is not None and self.judge.unreadable:
            notes.append(t("eval_note_unreadable", count=self.judge.unreadable))
        if self.judge is not None and self.judge.error:
            notes.append(t("eval_note_not_judged", count=self.judge.not_judged, error=self.judge.error))
        if self.lm_eval and "skipped" in self.lm_eval:
            notes.append(self.lm_eval["skipped"])
        return notes

    def to_dict(self) -> dict[str, Any]:
        examples = []
        for e in self.examples:
            row = dataclasses.asdict(e)
            if e.judge is not None:
                row["judge"]["outcome"] = e.judge.outcome
            examples.append(row)
        return {
            "created": self.created,
            "settings": self.settings,
            "held_out": self.held_out,
            "n_examples": len(self.examples),
            "base": self.base,
            "finetuned": self.finetuned,
            "delta": self.delta,
            "judge": None if self.judge is None else dataclasses.asdict(self.judge),
            "lm_eval": self.lm_eval,
            "benchmark": self.benchmark,
            "examples": examples,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EvalResult:
        raw = {k: v for k, v in raw.items() if k not in ("n_examples", "delta")}  # derived
        examples = []
        for e in raw.pop("examples"):
            judged = e.pop("judge")
            if judged is not None:
                judged.pop("outcome")
                judged = Judgement(**judged)
            examples.append(Example(**e, judge=judged))
        judge = raw.pop("judge")
        return cls(**raw, examples=examples, judge=None if judge is None else JudgeTally(**judge))


def save(result: EvalResult, path: Path) -> Path:
    """Write the results as YAML (block scalars for multi-line answers), atomically."""
    atomic_write(path, dump_yaml(result.to_dict()).encode("utf-8"))
    return path


def load_result(path: str | Path) -> EvalResult:
    """The results an evaluation wrote; UserError for any other file."""
    try:
        return EvalResult.from_dict(parse_yaml(Path(path).read_text(encoding="utf-8")))
    except (KeyError, TypeError, AttributeError, ValueError) as e:  # another YAML: fields missing or of other kinds
        raise UserError(Message("eval_not_results", path=path)) from e


def held_out(conversations: list, eval_share: float, seed: int, max_examples: int) -> tuple[list, str]:
    """The examples a run did not train on (the same seeded split as training), at most `max_examples`, and a note
    that says how they were chosen. A run without an eval split gets its last examples, and a warning."""
    from pipeline.train.data import split

    _, held = split(conversations, eval_share, seed)
    if held:
        note = f"{len(held)} esempi tenuti fuori dall'addestramento (eval_share {eval_share}, seed {seed})"
        if len(held) > max_examples:
            note += f"; valutati i primi {max_examples}"
        return held[:max_examples], note + "."
    last = conversations[-max_examples:]
    return last, (
        f"La run non ha tenuto esempi fuori dall'addestramento (eval_share {eval_share} su {len(conversations)} "
        f"esempi): valuto gli ultimi {len(last)} esempi del dataset, che il modello ha visto in addestramento. "
        "Le metriche sono quindi ottimistiche: per una valutazione onesta addestra con eval_share > 0."
    )


def italian_share(answers: list[str], instructions: list[str]) -> tuple[float, int]:
    """Share of answers in Italian among those whose language says something
    (`pipeline.generate.filters.language_says_something`: not a bare program, not a requested translation; an
    empty answer counts and is not Italian), and how many those are."""
    from pipeline.generate.filters import is_italian, language_says_something

    judged = [a for a, i in zip(answers, instructions, strict=True) if language_says_something(a, i)]
    return (sum(map(is_italian, judged)) / len(judged) if judged else 1.0), len(judged)


def loop_share(answers: list[str]) -> float:
    """Share of answers that fall into a loop (`pipeline.generate.filters.is_looping`)."""
    from pipeline.generate.filters import is_looping

    return sum(map(is_looping, answers)) / len(answers) if answers else 0.0


def perplexity(model: Any, tokenizer: Any, conversations: list, eot_ids: set[int]) -> float:
    """exp(mean negative log-likelihood) over the tokens training would have trained: the assistant turns and their
    end-of-turn tokens, pooled over all conversations (longer answers weigh more, as in the training loss)."""
    import torch

    from pipeline.train.data import IGNORE, encode

    total, count = 0.0, 0
    for messages in conversations:
        encoded = encode(tokenizer, messages, eot_ids)
        ids = torch.tensor([encoded.input_ids], device=model.device)
        targets = torch.tensor(encoded.labels[1:], device=model.device)  # token t is predicted at position t-1
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].float()
        total += torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum").item()
        count += int((targets != IGNORE).sum())
    if not count:
        raise UserError(Message("eval_no_answer_tokens"))
    return math.exp(total / count)


@dataclass
class _Plan:
    base_model: str
    adapter: Path
    chat_template: str | None
    conversations: list
    held_out: str
    settings: dict[str, Any]


def _plan(config: EvalConfig) -> _Plan:
    """What the config points at, checked on disk, and the evaluation examples."""
    from pipeline.train import data
    from pipeline.train.config import TrainConfig, load_run_config

    run = config.run_path
    if run is not None:
        train = load_run_config(run, "`run_dir`")
        adapter = run / "adapter"
    else:
        train = TrainConfig(model=config.base_model, dataset=config.dataset, eval_share=0.0, seed=0)
        adapter = Path(config.adapter).expanduser()
    if not (adapter / "adapter_config.json").is_file():
        where = Message("eval_adapter_unfinished" if run else "eval_adapter_no_config")
        raise UserError(Message("field_problem", field="adapter",
                                problem=Message("eval_no_adapter", path=adapter, where=where)))  # fmt: skip
    if config.dataset:
        train.dataset = config.dataset
        conversations = data.load_conversations(train)[: config.max_examples]
        note = f"{len(conversations)} esempi di {config.dataset}, scelti nella configurazione della valutazione."
    else:
        conversations, note = held_out(
            data.load_conversations(train), train.eval_share, train.seed, config.max_examples
        )
    conversations = [c for c in conversations if _answer_at(c) > 0]
    if not conversations:
        raise UserError(Message("field_problem", field="dataset",
                                problem=Message("eval_no_examples", dataset=train.dataset)))  # fmt: skip
    settings = {
        "run_dir": str(run) if run else None,
        "base_model": train.model,
        "adapter": str(adapter),
        "dataset": train.dataset,
        "eval_share": train.eval_share if not config.dataset else None,
        "seed": train.seed if not config.dataset else None,
        "max_examples": config.max_examples,
        "max_new_tokens": config.max_new_tokens,
        "batch_size": config.batch_size,
        "decoding": "greedy",
        "repetition_penalty": config.repetition_penalty,
        "judge": config.teacher.model if config.judge else None,
        "lm_eval_tasks": list(config.lm_eval_tasks),
        "lm_eval_limit": config.lm_eval_limit,
        "benchmark": config.benchmark,
        "benchmark_limit": config.benchmark_limit,
    }
    return _Plan(train.model, adapter, train.chat_template, conversations, note, settings)


def _answer_at(messages: list[dict]) -> int:
    """Index of the last assistant turn (the answer to generate and to measure), or -1."""
    return max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)


def evaluate(config: EvalConfig, progress: Callable[[Message], None] = lambda message: None,
             plan: _Plan | None = None) -> EvalResult:  # fmt: skip
    """Generate and measure both sides on the held-out examples; judge and lm-eval when asked. Saves nothing."""
    from pipeline import models

    plan = plan or _plan(config)
    progress(Message("eval_loading", model=plan.base_model, adapter=plan.adapter))
    loaded = models.load(plan.base_model, plan.adapter, plan.chat_template)
    model, tokenizer, eot = loaded.model, loaded.tokenizer, loaded.eot_ids
    prompts = [c[: _answer_at(c)] for c in plan.conversations]
    answers, perplexities = {}, {}
    for side in SIDES:
        progress(Message("eval_side", side="base" if side == "base" else "fine-tuned"))
        with model.disable_adapter() if side == "base" else contextlib.nullcontext():
            answers[side] = models.answer_all(loaded, prompts, config.batch_size, max_new_tokens=config.max_new_tokens,
                                              repetition_penalty=config.repetition_penalty)  # fmt: skip
            perplexities[side] = perplexity(model, tokenizer, plan.conversations, eot)
    asked = [next((m["content"] for m in reversed(p) if m["role"] == "user"), "") for p in prompts]
    metrics = {}
    for side in SIDES:
        italian, judged = italian_share(answers[side], asked)
        metrics[side] = {"italian": italian, "italian_judged": judged, "loops": loop_share(answers[side]),
                         "perplexity": perplexities[side]}  # fmt: skip
    from pipeline.generate.filters import is_italian

    examples = [
        Example(
            prompt=[dict(m) for m in prompt],
            reference=conversation[_answer_at(conversation)]["content"],
            base=base,
            finetuned=tuned,
            base_italian=is_italian(base),
            finetuned_italian=is_italian(tuned),
        )
        for prompt, conversation, base, tuned in zip(
            prompts, plan.conversations, answers["base"], answers["finetuned"], strict=True
        )
    ]
    tally = None
    if config.judge:
        progress(Message("eval_judging", count=len(examples)))
        judgements, tally = judge_pairs(config.teacher, prompts, answers["base"], answers["finetuned"])
        for example, judgement in zip(examples, judgements, strict=True):
            example.judge = judgement
    lm = None
    if config.lm_eval_tasks:
        progress(Message("eval_lm_eval", tasks=", ".join(config.lm_eval_tasks)))
        lm = lm_eval_scores(model, tokenizer, config.lm_eval_tasks, config.lm_eval_limit)
    offline = None
    if config.benchmark:
        progress(Message("eval_benchmark"))
        offline = benchmark_scores(model, tokenizer, config.batch_size, config.benchmark_limit)
    return EvalResult(plan.settings, plan.held_out, metrics["base"], metrics["finetuned"], examples, tally, lm,
                      offline)  # fmt: skip


def benchmark_scores(model: Any, tokenizer: Any, batch_size: int, limit: int | None = None) -> dict[str, Any]:
    """Both sides on the offline Italian benchmark (at most `limit` questions per category): the base with the
    adapter off, then on."""
    from pipeline import benchmark

    items, seen = [], Counter()
    for item in benchmark.load_items():
        seen[item.category] += 1
        if limit is None or seen[item.category] <= limit:
            items.append(item)
    scores = {}
    for side in SIDES:
        with model.disable_adapter() if side == "base" else contextlib.nullcontext():
            scores[side] = benchmark.score(model, tokenizer, items, batch_size=2 * batch_size).to_dict()
    return scores


def judge_messages(prompt: list[dict], answer_a: str, answer_b: str) -> list[dict]:
    """The pairwise judge's request, in Italian, in the style of `pipeline.generate.prompts`."""
    from pipeline.generate.prompts import YAML_RULES

    return [
        {"role": "system", "content": "Sei un giudice imparziale e severo di risposte scritte in italiano."},
        {
            "role": "user",
            "content": f"CONVERSAZIONE:\n{_transcript(prompt)}\n\nRISPOSTA A:\n{answer_a}\n\nRISPOSTA B:\n{answer_b}"
            "\n\nQuale delle due risposte è migliore? Considera la correttezza, un italiano fluido e naturale, il "
            "registro adatto alla richiesta e la completezza. Non farti influenzare dall'ordine in cui le risposte "
            "compaiono né dalla loro lunghezza.\n\n"
            f"{YAML_RULES}\nmotivazione: |\n  due o tre frasi che confrontano le risposte\n"
            "migliore: A, B oppure pari",
        },
    ]


def _transcript(messages: list[dict]) -> str:
    if len(messages) == 1:
        return messages[0]["content"]
    names = {"system": "SISTEMA", "user": "UTENTE", "assistant": "ASSISTENTE"}
    return "\n\n".join(f"{names.get(m['role'], m['role'].upper())}: {m['content']}" for m in messages)


_VERDICT = re.compile(r"^(?:la\s+)?(?:risposta\s+)?(a|b|pari|parità|parita|nessuna|uguali|equivalenti)\b")


def parse_verdict(value: Any) -> str | None:
    """ "A", "B" or "pari" from the judge's `migliore`, forgiving quotes, bold and "Risposta A"; None otherwise."""
    text = str(value).strip().strip("*\"'`«»").strip().casefold()
    match = _VERDICT.match(text)
    if not match:
        return None
    word = match.group(1)
    return word.upper() if word in ("a", "b") else "pari"


def judge_pairs(
    teacher_config: TeacherConfig, prompts: list[list[dict]], base: list[str], finetuned: list[str]
) -> tuple[list[Judgement], JudgeTally]:
    """Ask the teacher about each pair in both orders (base as A, then fine-tuned as A) and tally the outcomes."""
    from pipeline.teacher import BudgetExhausted, ReplyFormatError, Teacher, TeacherError

    async def ask(teacher: Teacher, prompt: list[dict], a: str, b: str, sides: dict[str, str]) -> tuple:
        """(winner or None if unreadable, reason, tokens)."""
        try:
            reply = await teacher.ask_yaml(judge_messages(prompt, a, b), JUDGE)
        except ReplyFormatError as e:
            return None, f"risposta illeggibile: {e.message}", e.tokens
        verdict = parse_verdict(reply.data["migliore"])
        winner = None if verdict is None else sides.get(verdict, "pari")
        reason = str(reply.data["motivazione"]) if verdict else f"verdetto illeggibile: {reply.data['migliore']!r}"
        return winner, reason, reply.tokens

    async def pair(teacher: Teacher, prompt: list[dict], b: str, f: str) -> Judgement:
        replies = await asyncio.gather(
            ask(teacher, prompt, b, f, {"A": "base", "B": "finetuned"}),
            ask(teacher, prompt, f, b, {"A": "finetuned", "B": "base"}),
            return_exceptions=True,
        )
        for reply in replies:
            if isinstance(reply, TeacherError | BudgetExhausted):
                return Judgement(None, None, error=str(reply) or "il budget del teacher è esaurito")
            if isinstance(reply, BaseException):
                raise reply
        (first, why_first, used_first), (second, why_second, used_second) = replies
        tally.tokens += used_first + used_second
        return Judgement(first, second, [why_first, why_second])

    async def main() -> list[Judgement]:
        async with Teacher(teacher_config) as teacher:
            judgements = await asyncio.gather(
                *(pair(teacher, *args) for args in zip(prompts, base, finetuned, strict=True))
            )
            tally.cost = teacher.usage.cost
            return judgements

    tally = JudgeTally(model=teacher_config.model)
    judgements = asyncio.run(main())
    for j in judgements:
        if j.outcome is None:
            tally.not_judged += 1
            tally.error = tally.error or j.error
            continue
        tally.wins += j.outcome == "win"
        tally.losses += j.outcome == "loss"
        tally.ties += j.outcome == "tie"
        tally.unreadable += (j.base_first is None) + (j.finetuned_first is None)
    return judgements, tally


def lm_eval_scores(model: Any, tokenizer: Any, tasks: list[str], limit: int | None) -> dict[str, Any]:
    """Accuracy on lm-eval tasks for both sides ({"base": {...}, "finetuned": {...}}), or {"skipped": why} when
    lm-eval is not installed or the tasks' data cannot be loaded (offline without a cache, an unknown task)."""
    names = ", ".join(tasks)
    if importlib.util.find_spec("lm_eval") is None:
        return {
            "skipped": f"Compiti lm-eval saltati ({names}): lm-eval non è installato. Per eseguirli installa "
            "`pip install lm-eval` e lascia scaricare i dati dei compiti (serve internet la prima volta)."
        }
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager, get_task_dict

    manager = TaskManager()
    try:
        get_task_dict(list(tasks), manager)  # loads the data: from the Hugging Face cache when offline
    except Exception as e:  # lm-eval and datasets raise many kinds for a missing task or missing data
        offline = " in modalità offline (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        return {
            "skipped": f"Compiti lm-eval saltati ({names}): i loro dati non si caricano{offline}: "
            f"{type(e).__name__}: {e}. Controlla i nomi dei compiti e scarica i dati con una connessione."
        }
    scores: dict[str, Any] = {}
    for side in SIDES:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8)
        with model.disable_adapter() if side == "base" else contextlib.nullcontext():
            out = simple_evaluate(model=lm, tasks=list(tasks), limit=limit, task_manager=manager)
        scores[side] = {t: _accuracy(out["results"].get(t, {})) for t in tasks}
    return scores


def _accuracy(metrics: dict[str, Any]) -> float:
    """Normalised accuracy where the task reports it (hellaswag), plain accuracy otherwise."""
    return float(metrics.get("acc_norm,none", metrics.get("acc,none", float("nan"))))


def start(run_dir: Path) -> Path:
    """Launch `python -m pipeline eval` on a training run as a detached job (the Confronta tab's button); its folder,
    run_dir/eval, gets config.yaml, status.json, log.txt and, at the end, eval.yaml."""
    config = EvalConfig(run_dir=str(run_dir))
    job = Job(config.job_path)
    if job.active:
        raise UserError(Message("eval_already_running", name=run_dir.name))
    save_config(config, job.config_path)
    return job.launch(["eval", "--config", str(job.config_path)])


def active_job() -> Path | None:
    """The folder of the evaluation running now, if any, however it was started."""
    runs = bottega_home() / "runs"
    folders = [run / "eval" for run in sorted((runs / "train").glob("*")) if (run / "eval").is_dir()]
    running = [job for job in map(Job, folders) if job.active] + active_jobs(runs / "eval")
    return running[0].dir if running else None


def result_rows(job: Path) -> list[tuple[str, str, str, str]]:
    """The results table of a finished evaluation job, or no rows yet."""
    path = job / "eval.yaml"
    return load_result(path).table() if path.exists() else []


def main(config_path: str | Path) -> int:
    """Evaluate, save the results next to the run and print the table; 2 if the judge could not judge. The folder of
    the results is the job's folder: its status says how far it got, for the app."""
    config = load_config(config_path)
    plan = _plan(config)  # what the config points at is checked before anything is written
    with Job(config.job_path).running() as job:

        def progress(message: Message) -> None:
            print(message)
            job.update(message=message)

        result = evaluate(config, progress=progress, plan=plan)
        path = save(result, config.output_path)
        job.update(state="finished", message="")
    rows = [table_headers(), *result.table()]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for note in result.notes():
        print(f"nota: {note}")
    print(path)
    return 2 if result.judge is not None and result.judge.error else 0
