"""Evaluation of base vs base + LoRA with the bundled model on CPU: the held-out split, perplexity against a hand
computation, the base side really without the adapter, Italian fidelity, the two-order judge against the real
`transformers serve` behind a scripted proxy, the results file, lm-eval's skip, the config and the CLI entry point.

The adapter is a real LoRA (r=8) saved by peft, with seeded noise in lora_B instead of training: what is tested is
the wiring, not learning. Answers are a few greedy tokens, so the bundled model's poor Italian does not matter.
"""

import re
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml

from pipeline import evaluate as ev
from pipeline import models
from pipeline.files import atomic_write
from pipeline.generate.filters import language_says_something
from pipeline.models import REPETITION_PENALTY
from pipeline.teacher import TeacherConfig
from pipeline.train import data
from pipeline.train.config import TrainConfig, dump_config
from tests.conftest import noise_adapter
from tests.fault_proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[1]
CORTO = Path(__file__).parent / "assets" / "corto_it.yaml"
TOKENS = 8
_PAIR = re.compile(r"CONVERSAZIONE:\n(.*)\n\nRISPOSTA A:\n(.*)\n\nRISPOSTA B:\n(.*)\n\nQuale delle due", re.S)


def _train_config(run_dir: Path) -> TrainConfig:
    # 12 examples, eval_share 0.25: training held out 3 of them.
    return TrainConfig.from_dict(
        {"name": "valuta", "dataset": str(CORTO), "eval_share": 0.25, "seed": 0, "run_dir": str(run_dir)}
    )


@pytest.fixture(scope="module")
def run_dir(bundled_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished training run as `evaluate` reads it: config.yaml and adapter/."""
    run = tmp_path_factory.mktemp("run")
    atomic_write(run / "config.yaml", dump_config(_train_config(run)).encode("utf-8"))
    noise_adapter(bundled_model, run / "adapter", scale=0.05)
    return run


@pytest.fixture(scope="module")
def plain(bundled_model: Path):
    """The base model loaded on its own with transformers, no peft anywhere."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(bundled_model, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(bundled_model)
    return model, tokenizer, models.end_of_turn_ids(tokenizer, model.generation_config.eos_token_id)


@pytest.fixture(scope="module")
def proxy(serve_teacher):
    with FaultProxy(serve_teacher.base_url) as p:
        yield p


def _teacher(proxy: FaultProxy, server, **overrides) -> TeacherConfig:
    settings = dict(preset="custom", base_url=proxy.base_url, model=server.model, max_tokens=8, backoff_s=0.05)
    return TeacherConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def evaluated(run_dir: Path, proxy: FaultProxy, serve_teacher):
    """One evaluation of the run with the judge, whose replies always name A (a maximally position-biased judge),
    and an lm-eval task; returns the result and the judge requests the proxy saw."""
    proxy.reset()
    proxy.responder = lambda body: "motivazione: |\n  La prima è migliore.\nmigliore: A\n"
    config = ev.EvalConfig(
        run_dir=str(run_dir),
        max_new_tokens=TOKENS,
        judge=True,
        teacher=_teacher(proxy, serve_teacher),
        lm_eval_tasks=["arc_it"],
        benchmark=False,  # scored in test_main_evaluates_an_explicit_adapter_and_prints_the_table
    )
    result = ev.evaluate(config)
    requests = [r["body"]["messages"] for r in proxy.requests]
    proxy.reset()
    return result, requests


def test_the_examples_are_the_ones_training_held_out(evaluated, run_dir):
    result, _ = evaluated
    _, held = data.split(data.load_conversations(_train_config(run_dir)), 0.25, 0)
    assert len(held) == 3
    assert [e.prompt for e in result.examples] == [c[:-1] for c in held]
    assert [e.reference for e in result.examples] == [c[-1]["content"] for c in held]
    assert result.settings["seed"] == 0 and result.settings["eval_share"] == 0.25
    assert "eval_share 0.25, seed 0" in result.held_out


def test_a_run_without_an_eval_split_uses_its_last_examples_and_says_so():
    conversations = [[{"role": "user", "content": str(i)}, {"role": "assistant", "content": "ok"}] for i in range(12)]
    chosen, note = ev.held_out(conversations, 0.0, 42, max_examples=4)
    assert chosen == conversations[-4:]
    assert "eval_share 0.0" in note and "ultimi 4" in note and "ottimistiche" in note
    chosen, note = ev.held_out(conversations, 0.25, 42, max_examples=2)
    assert chosen == data.split(conversations, 0.25, 42)[1][:2] and "primi 2" in note


def test_perplexity_is_exp_of_the_mean_nll_over_the_assistant_tokens(plain):
    model, tokenizer, eot = plain
    conversations = data.load_conversations(TrainConfig(dataset=str(CORTO)))[:2]

    def by_hand(messages: list[dict]) -> tuple[float, int]:
        """Summed NLL of the answer's tokens, found from the rendered prompt, up to and including <|im_end|>."""
        full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, return_dict=True)
        start = len(prompt["input_ids"])
        end = full.index(tokenizer.convert_tokens_to_ids("<|im_end|>"), start) + 1
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0].double(), dim=-1)
        return -sum(logprobs[t - 1, full[t]].item() for t in range(start, end)), end - start

    nll, n = by_hand(conversations[0])
    assert n >= 5
    assert ev.perplexity(model, tokenizer, conversations[:1], eot) == pytest.approx(
        torch.exp(torch.tensor(nll / n)).item(), abs=1e-4
    )
    nll2, n2 = by_hand(conversations[1])  # two examples pool their tokens
    pooled = torch.exp(torch.tensor((nll + nll2) / (n + n2))).item()
    assert ev.perplexity(model, tokenizer, conversations, eot) == pytest.approx(pooled, abs=1e-4)


def test_the_base_side_has_the_adapter_off_and_the_finetuned_side_on(evaluated, plain):
    result, _ = evaluated
    model, tokenizer, eot = plain
    for example in result.examples:
        ids = tokenizer.apply_chat_template(
            example.prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            out = model.generate(
                **ids,
                max_new_tokens=TOKENS,
                do_sample=False,
                eos_token_id=sorted(eot),
                repetition_penalty=REPETITION_PENALTY,
            )  # the evaluation's decoding
        expected = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        assert example.base == expected
    assert any(e.finetuned != e.base for e in result.examples)
    conversations = [[*e.prompt, {"role": "assistant", "content": e.reference}] for e in result.examples]
    assert result.base["perplexity"] == pytest.approx(ev.perplexity(model, tokenizer, conversations, eot), abs=1e-4)
    assert result.finetuned["perplexity"] != pytest.approx(result.base["perplexity"], abs=1e-3)


def test_italian_fidelity_is_the_share_of_answers_in_italian():
    answers = [
        "La capitale d'Italia è Roma, una città con una storia lunghissima.",
        "Il plurale di città non cambia: si dice le città.",
        "The capital of Italy is Rome, a city with a very long history.",
        "",
        "```python\ndef palindroma(frase):\n    return frase == frase[::-1]\n```",
        "The coffee is ready.",
    ]
    asked = ["Qual è la capitale?", "Plurale di città?", "Qual è la capitale?", "Ciao?", "Scrivi una funzione.",
             "Traduci in inglese: il caffè è pronto."]  # fmt: skip
    # A bare program and a requested translation say nothing about the model's Italian; an empty answer fails.
    assert ev.italian_share(answers, asked) == (0.5, 4)
    assert ev.italian_share(answers[:2], asked[:2]) == (1.0, 2) and ev.italian_share([], []) == (1.0, 0)


def test_the_evaluation_counts_italian_answers_per_side(evaluated):
    result, _ = evaluated
    for side in ("base", "finetuned"):
        judged = [e for e in result.examples if language_says_something(getattr(e, side), e.prompt[-1]["content"])]
        flags = [getattr(e, f"{side}_italian") for e in judged]
        assert getattr(result, side)["italian"] == (sum(flags) / len(flags) if flags else 1.0)
        assert getattr(result, side)["italian_judged"] == len(judged)


def _ab(messages: list[dict]) -> tuple[str, str, str]:
    match = _PAIR.search(messages[-1]["content"])
    assert match, messages[-1]["content"]
    return match.group(1), match.group(2), match.group(3)


def test_the_judge_sees_each_answer_once_as_a_and_once_as_b(evaluated):
    result, requests = evaluated
    assert len(requests) == 2 * len(result.examples)
    for example in result.examples:
        shown = Counter((a, b) for prompt, a, b in map(_ab, requests) if prompt == example.prompt[-1]["content"])
        assert shown == Counter([(example.base, example.finetuned), (example.finetuned, example.base)])
    # "Always A" names the base in one order and the fine-tuned model in the other: every pair is a tie.
    assert all((e.judge.base_first, e.judge.finetuned_first) == ("base", "finetuned") for e in result.examples)
    assert (result.judge.wins, result.judge.ties, result.judge.losses) == (0, 3, 0)
    assert result.judge.unreadable == 0 and result.judge.tokens > 0


BASE_ANSWERS = ["Roma.", "Dante, credo."]
TUNED_ANSWERS = ["La capitale d'Italia è Roma.", "La Divina Commedia è di Dante Alighieri."]
PROMPTS = [
    [{"role": "user", "content": "Qual è la capitale d'Italia?"}],
    [{"role": "user", "content": "Chi ha scritto la Divina Commedia?"}],
]


def _prefers(answers: list[str]):
    """A judge that always names whichever side shows one of `answers`."""

    def responder(body: dict) -> str:
        _, a, _ = _ab(body["messages"])
        return f"motivazione: |\n  Più completa.\nmigliore: {'A' if a in answers else 'B'}\n"

    return responder


@pytest.mark.parametrize(
    "responder, outcome, tally",
    [
        (_prefers(TUNED_ANSWERS), "win", (2, 0, 0)),
        (_prefers(BASE_ANSWERS), "loss", (0, 0, 2)),
        (lambda body: "motivazione: Si equivalgono.\nmigliore: '**Pari**'\n", "tie", (0, 2, 0)),
    ],
)
def test_a_pair_is_won_only_when_both_orders_agree(proxy, serve_teacher, responder, outcome, tally):
    proxy.reset()
    proxy.responder = responder
    judgements, counted = ev.judge_pairs(_teacher(proxy, serve_teacher), PROMPTS, BASE_ANSWERS, TUNED_ANSWERS)
    assert (counted.wins, counted.ties, counted.losses) == tally
    assert [j.outcome for j in judgements] == [outcome, outcome]
    assert proxy.received == 4 and proxy.forwarded == 0


def test_an_unreadable_judge_counts_as_a_tie_on_the_real_server(proxy, serve_teacher):
    """Forwarded to the bundled model, cut at 8 tokens: no reply can hold both keys, so every attempt (the first
    and two re-asks, per order) fails and the pair is a tie with two unreadable verdicts."""
    proxy.reset()
    teacher = _teacher(proxy, serve_teacher)
    judgements, counted = ev.judge_pairs(teacher, PROMPTS[:1], BASE_ANSWERS[:1], TUNED_ANSWERS[:1])
    assert proxy.forwarded == 6
    assert (judgements[0].base_first, judgements[0].finetuned_first) == (None, None)
    assert (counted.ties, counted.unreadable, counted.not_judged) == (1, 2, 0)
    assert all(reason.startswith("risposta illeggibile") for reason in judgements[0].reasons)


@pytest.mark.parametrize(
    "limit, reason",
    [({"max_retries": 0}, "errore di connessione"), ({"budget_tokens": 5}, "Budget del teacher esaurito")],
)
def test_a_judge_that_fails_for_good_leaves_the_pairs_unjudged_with_the_reason(limit, reason):
    config = TeacherConfig(preset="custom", base_url="http://127.0.0.1:9/v1", model="x", **limit)  # nothing listens
    judgements, counted = ev.judge_pairs(config, PROMPTS, BASE_ANSWERS, TUNED_ANSWERS)
    assert counted.not_judged == 2 and counted.wins + counted.ties + counted.losses == 0
    assert reason in counted.error and judgements[0].outcome is None


@pytest.mark.parametrize(
    "value, verdict",
    [
        ("A", "A"),
        ("b", "B"),
        ("Risposta B", "B"),
        ("**A**", "A"),
        ("pari", "pari"),
        ("Parità", "pari"),
        ("forse", None),
    ],
)
def test_verdicts_are_read_forgivingly(value, verdict):
    assert ev.parse_verdict(value) == verdict


def test_the_results_file_round_trips_and_the_table_has_the_metrics(evaluated, tmp_path):
    result, _ = evaluated
    path = ev.save(result, tmp_path / "eval.yaml")
    assert ev.load_result(path) == result
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert (
        raw["n_examples"] == 3
        and raw["delta"]["perplexity"] == result.finetuned["perplexity"] - result.base["perplexity"]
    )
    assert raw["examples"][0]["judge"]["outcome"] == "tie" and raw["settings"]["seed"] == 0
    table = {row[0]: row[1:] for row in result.table()}
    assert table["giudice: vittorie / pareggi / sconfitte"] == ("0 / 3 / 0", "0 / 3 / 0", "+0")
    ppl = next(v for k, v in table.items() if k.startswith("perplessità"))
    assert ppl[0] == f"{result.base['perplexity']:.2f}"
    assert all(len(row) == len(ev.table_headers()) for row in result.table())


def test_lm_eval_missing_is_skipped_with_an_italian_message(evaluated):
    import importlib.util

    if importlib.util.find_spec("lm_eval") is not None:
        pytest.skip("lm-eval è installato qui")
    result, _ = evaluated
    assert "lm-eval non è installato" in result.lm_eval["skipped"] and "arc_it" in result.lm_eval["skipped"]
    assert result.lm_eval["skipped"] in result.notes()
    assert not any(row[0].startswith("lm-eval") for row in result.table())


def test_config_problems_are_reported_all_at_once_naming_the_fields():
    with pytest.raises(ValueError) as error:
        ev.EvalConfig(base_model="smollm2-135m-instruct", max_examples=0, max_new_tokens=-1, output="x.json")
    message = str(error.value)
    for name in ("`run_dir`", "`dataset`", "`max_examples`", "`max_new_tokens`", "`output`"):
        assert name in message, name
    with pytest.raises(ValueError, match="si escludono"):
        ev.EvalConfig(run_dir="r", adapter="a")
    with pytest.raises(ValueError, match="teacher.base_url"):
        ev.EvalConfig(run_dir="r", judge=True)
    with pytest.raises(ValueError, match="`temperatura`: campo sconosciuto"):
        ev.EvalConfig.from_dict({"run_dir": "r", "temperatura": 0})
    config = ev.EvalConfig(run_dir="r", judge=True, teacher=TeacherConfig(preset="openai", model="gpt-4o-mini"))
    assert ev.EvalConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config


def test_every_shipped_eval_config_loads(bottega_home):
    shipped = sorted((ROOT / "configs" / "eval").glob("*.yaml"))
    assert shipped
    for path in shipped:
        assert path.read_text(encoding="utf-8").startswith("# "), path
        config = ev.load_config(path)
        assert config.output_path == bottega_home / "runs" / "train" / "smollm2-it" / "eval" / "eval.yaml"


def test_main_evaluates_an_explicit_adapter_and_prints_the_table(run_dir, bundled_model, tmp_path, capsys):
    config = tmp_path / "eval.yaml"
    output = tmp_path / "risultati.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "base_model": str(bundled_model),
                "adapter": str(run_dir / "adapter"),
                "dataset": str(CORTO),
                "max_examples": 1,
                "max_new_tokens": 2,
                "output": str(output),
                "benchmark_limit": 2,
            }
        ),
        encoding="utf-8",
    )
    assert ev.main(config) == 0
    printed = capsys.readouterr().out
    assert "metrica" in printed and "fedeltà all'italiano" in printed and "perplessità" in printed
    assert "Benchmark italiano (20 domande, acc_norm, IC 95%)" in printed
    saved = ev.load_result(output)
    scored = saved.benchmark["finetuned"]["acc_norm"]
    assert scored["tutte"]["total"] == 20 and len(scored) == 11  # two questions of each of the ten categories
    assert (
        len(saved.examples) == 1
        and saved.examples[0].prompt == data.load_conversations(TrainConfig(dataset=str(CORTO)))[0][:-1]
    )
    assert "scelti nella configurazione" in saved.held_out and saved.settings["seed"] is None
