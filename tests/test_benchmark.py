"""The offline Italian benchmark: its items are well formed, and the scorer picks what a hand computation of each
option's log-likelihood picks."""

import math
from collections import Counter

import pytest

from pipeline import benchmark
from pipeline.errors import UserError


def test_every_item_has_four_distinct_options_and_one_answer_among_them():
    items = benchmark.load_items()
    assert len(items) >= 300
    categories = Counter(item.category for item in items)
    assert len(categories) >= 10 and min(categories.values()) >= 25, categories
    assert len({item.id for item in items}) == len(items)
    for item in items:
        assert len(item.options) == 4 and len({o.strip().casefold() for o in item.options}) == 4, item.id
        assert 0 <= item.answer < 4 and item.question.strip(), item.id
    # The right answer is not always in the same place.
    positions = Counter(item.answer for item in items)
    assert all(positions[k] >= len(items) // 6 for k in range(4)), positions


def test_a_malformed_item_is_named(tmp_path):
    (tmp_path / "prova.yaml").write_text(
        "category: prova\nitems:\n- id: prova-001\n  question: Quanto fa 2+2?\n  options: ['4', '4', '5', '6']\n"
        "  answer: 7\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError) as caught:
        benchmark.load_items(tmp_path)
    text = str(caught.value)
    assert "prova-001" in text and "diverse" in text and "`answer`" in text


@pytest.mark.slow
def test_the_scorer_picks_what_a_hand_computed_log_likelihood_picks(bundled_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_model)
    model = AutoModelForCausalLM.from_pretrained(bundled_model, dtype=torch.float32)
    items = [
        benchmark.Item("a", "geografia", "Qual è la capitale d'Italia?", ["Roma", "Parigi", "Madrid", "Berlino"], 0),
        benchmark.Item("b", "cucina", "Con che cosa si prepara il pesto alla genovese?",
                       ["con il basilico", "con il cacao", "con il riso e lo zafferano", "con la panna"], 0),
    ]  # fmt: skip

    def by_hand(item, option: str) -> float:
        prompt = f"Domanda: {item.question}\nRisposta:"
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(prompt + " " + option, add_special_tokens=False)["input_ids"]
        assert ids[: len(prompt_ids)] == prompt_ids
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        return sum(float(logprobs[t - 1, ids[t]]) for t in range(len(prompt_ids), len(ids)))

    sums = benchmark.option_logprobs(model, tokenizer, items, batch_size=3)  # batches cut across items
    result = benchmark.score(model, tokenizer, items, batch_size=3)
    for item, row in zip(items, sums, strict=True):
        expected = [by_hand(item, option) for option in item.options]
        assert row == pytest.approx(expected, abs=1e-3)
        normalised = [s / len(o.encode("utf-8")) for s, o in zip(expected, item.options, strict=True)]
        assert result.choices[item.id] == max(range(4), key=lambda k: normalised[k])
    overall = result.acc_norm["tutte"]
    assert overall.total == 2 and result.acc["geografia"].total == 1
    low, high = overall.interval
    assert 0 <= low <= overall.accuracy <= high <= 1 and not math.isnan(low)
