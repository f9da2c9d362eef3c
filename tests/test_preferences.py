"""Preference data: what makes a model's answer a rejected one, pairs from the judge, preference datasets as
ordinary YAML datasets, and their configs refused with the field named."""

from pathlib import Path

import pytest

from pipeline import dataset
from pipeline.errors import UserError
from pipeline.preferences import FidelityConfig, answer_problems, export_judge, register_broken

ASSETS = Path(__file__).parent / "assets"

ITALIAN = (
    "Per preparare il caffè con la moka riempi la caldaia d'acqua fino alla valvola, metti il caffè macinato nel "
    "filtro senza pressarlo, avvita bene e scalda a fuoco basso finché il caffè non sale."
)
ENGLISH = (
    "To make coffee with a moka pot, fill the bottom chamber with water up to the valve, add the ground coffee and "
    "heat it on a low flame until the coffee rises."
)
LOOP = "La moka è una caffettiera. " + "La moka, la moka, la moka, " * 12
MIXED = (
    "Per fare il caffè con la moka riempi la caldaia d'acqua fino alla valvola e metti il caffè macinato nel filtro "
    "senza pressarlo troppo. Poi avvita bene la parte superiore e metti la moka sul fornello a fuoco basso. "
    "When the coffee starts to come out you should lower the heat and wait until it stops bubbling completely."
)


def test_an_italian_answer_is_left_alone_and_faulty_ones_are_named():
    asked = "Come si prepara un buon caffè con la moka?"
    assert answer_problems(asked, ITALIAN) == []
    assert answer_problems(asked, ENGLISH) == ["non_italiana"]
    assert "ripetizioni" in answer_problems(asked, LOOP)
    assert answer_problems(asked, MIXED) == ["lingua_mista"]
    assert answer_problems(asked, "") == ["non_italiana"]
    # A bare program is in no language: not a fault to correct.
    code = "```python\ndef palindroma(frase):\n    return frase == frase[::-1]\n```"
    assert answer_problems("Scrivi una funzione Python che controlli se una frase è palindroma.", code) == []
    # A translation into English is meant to be in English.
    assert answer_problems("Traduci in inglese: «Il caffè è pronto».", "The coffee is ready.") == []


def test_the_register_the_prompt_asks_for_is_checked():
    formal = "Scrivi al signor Rossi per rinviare l'appuntamento, dandogli del Lei."
    assert register_broken(formal, "Caro Mario, ti scrivo perché devo rinviare: puoi venire giovedì?")
    assert not register_broken(formal, "Gentile signor Rossi, Le scrivo per rinviare l'appuntamento: Lei può giovedì?")
    informal = "Scrivi un messaggio a un amico con un tono informale per invitarlo a cena."
    assert register_broken(informal, "Gentile Marco, La prego di venire a cena: Le consiglio di portare il Suo vino.")
    assert not register_broken(informal, "Ciao Marco! Vieni a cena sabato? Porta tu il vino.")
    assert not register_broken("Che cos'è la fotosintesi?", "Ti spiego: la fotosintesi è ... puoi immaginarla così.")
    assert answer_problems(formal, "Caro Mario, ti scrivo perché devo rinviare l'incontro: puoi venire giovedì?") == [
        "registro"
    ]


def test_judge_pairs_where_both_orders_agree_become_pairs_with_their_provenance(tmp_path):
    from pipeline.evaluate import EvalResult, Example, Judgement, save

    prompt = [{"role": "user", "content": "Qual è la capitale d'Italia?"}]

    def example(base_first, tuned_first):
        return Example(prompt, "Roma.", "The capital is Rome.", "La capitale è Roma.", False, True,
                       Judgement(base_first, tuned_first, ["a", "b"]))  # fmt: skip

    examples = [
        example("finetuned", "finetuned"),  # win: fine-tuned chosen
        example("base", "base"),  # loss: base chosen
        example("base", "finetuned"),  # the orders disagree: a tie, no pair
        example(None, "finetuned"),  # unreadable in one order: no pair
        Example(prompt, "Roma.", "x", "y", False, False, None),  # not judged
    ]
    result = EvalResult({"judge": "giudice-1"}, "5 esempi", {"italian": 0.0, "perplexity": 9.0},
                        {"italian": 1.0, "perplexity": 8.0}, examples)  # fmt: skip
    eval_file = save(result, tmp_path / "eval.yaml")
    out = tmp_path / "giudice.yaml"
    assert export_judge(eval_file, out) == 2
    rows = dataset.load(out).examples
    assert [(r.output, r.rejected) for r in rows] == [
        ("La capitale è Roma.", "The capital is Rome."),
        ("The capital is Rome.", "La capitale è Roma."),
    ]
    assert (
        rows[0].meta.method == "judge" and "esempio 1: fine-tuned meglio in entrambi gli ordini" in rows[0].meta.source
    )
    assert str(eval_file) in rows[1].meta.source and "base meglio" in rows[1].meta.source
    assert dataset.load(out).provenance["judge"] == "giudice-1"


def test_preference_examples_are_ordinary_dataset_examples(tmp_path):
    loaded = dataset.load(ASSETS / "preferenze_it.yaml")
    pairs = [e for e in loaded.examples if e.rejected is not None]
    assert len(pairs) == 6 and pairs[0].rejected == "The capital of Italy is Rome."
    labelled = [e.meta.desirable for e in loaded.examples if e.rejected is None]
    assert labelled == [True, False]
    # Round trip: saved and read back unchanged.
    copy = tmp_path / "copia.yaml"
    dataset.save(loaded, copy, force=True)
    assert dataset.load(copy).examples == loaded.examples
    # Bad values are named with their field.
    text = (ASSETS / "preferenze_it.yaml").read_text(encoding="utf-8")
    bad = text.replace("    desirable: true", "    desirable: forse").replace(
        '  rejected: You say "grazie".', "  rejected: ''"
    )
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(dataset.DatasetError) as caught:
        dataset.load(tmp_path / "bad.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert any("pref-007" in p and "meta.desirable" in p for p in problems), problems
    assert any("pref-002" in p and "`rejected`" in p for p in problems), problems


def test_sft_never_trains_on_a_thumbs_down_answer():
    from pipeline.train import data
    from pipeline.train.config import TrainConfig

    config = TrainConfig(dataset=str(ASSETS / "preferenze_it.yaml"))
    answers = [c[-1]["content"] for c in data.load_conversations(config)]
    assert 'Il plurale di "uovo" è "uova".' in answers
    assert 'The plural is "ditos".' not in answers
    assert "La capitale d'Italia è Roma." in answers  # a pair's chosen answer is an ordinary target


def test_preference_rows_for_each_method():
    from pipeline.train import data, preference
    from pipeline.train.config import TrainConfig

    config = TrainConfig(method="dpo", dataset=str(ASSETS / "preferenze_it.yaml"))
    rows = data.load_preferences(config)
    assert len(preference.usable(config, rows)) == 6  # DPO: pairs only
    records = preference.to_records(config, rows)
    assert records[0] == {
        "prompt": [{"role": "user", "content": "Qual è la capitale d'Italia?"}],
        "chosen": [{"role": "assistant", "content": "La capitale d'Italia è Roma."}],
        "rejected": [{"role": "assistant", "content": "The capital of Italy is Rome."}],
    }
    config.method = "kto"
    records = preference.to_records(config, rows)
    assert len(records) == 14  # six pairs give a good and a bad answer each; two single answers
    assert [r["label"] for r in records[-2:]] == [True, False]
    assert records[1]["completion"][0]["content"] == "The capital of Italy is Rome." and not records[1]["label"]


def test_configs_name_the_field_and_the_fix():
    with pytest.raises(UserError) as caught:
        FidelityConfig.from_dict({"samples": 3, "batch_size": 0, "output": "coppie.json"})
    text = str(caught.value)
    for field in ("`model`", "`dataset`", "`samples`", "`batch_size`", "`output`"):
        assert field in text, text
    from pipeline.train.config import TrainConfig

    with pytest.raises(UserError, match="`method`.*sft, dpo, orpo, kto"):
        TrainConfig.from_dict({"method": "ppo"})
    with pytest.raises(UserError, match="`beta`"):
        TrainConfig.from_dict({"method": "dpo", "beta": 0})


def test_preflight_refuses_a_preference_run_without_pairs_or_with_a_missing_adapter(tmp_path, bundled_model):
    from pipeline.train.check import preflight
    from pipeline.train.config import TrainConfig

    config = TrainConfig(method="dpo", dataset=str(ASSETS / "corto_it.yaml"), adapter=str(tmp_path / "nessuna"))
    problems = [str(p) for p in preflight(config)]
    assert any("`adapter`" in p for p in problems), problems
    assert any("`dataset`" in p and "rejected" in p for p in problems), problems
    config = TrainConfig(method="dpo", dataset=str(ASSETS / "preferenze_it.yaml"))
    assert preflight(config) == []


def test_thumbs_on_single_answers_become_kto_rows_next_to_the_vote_pairs(tmp_path, monkeypatch):
    from pipeline import arena, votes
    from pipeline.preferences import export_votes
    from pipeline.train import data, preference
    from pipeline.train.config import TrainConfig

    monkeypatch.setenv("BOTTEGA_HOME", str(tmp_path / "home"))
    conversation = arena.Conversation(sides={"A": "finetuned", "B": "base"})
    conversation.ask("Come si dice 'thank you'?")
    conversation.history["base"].append({"role": "assistant", "content": "You say thank you."})
    conversation.history["finetuned"].append({"role": "assistant", "content": "Si dice «grazie»."})
    models_ids = {"base": "smollm2-135m-instruct", "finetuned": "runs/prova"}
    with pytest.raises(UserError):  # index 0 is the question, not an answer
        arena.record_thumb(conversation, "A", 0, True, models_ids, {})
    up = arena.record_thumb(conversation, "A", 1, True, models_ids, {"system": "Rispondi in italiano."})
    down = arena.record_thumb(conversation, "B", 1, False, models_ids, {})
    assert (up.model, up.answer, down.model) == ("finetuned", "Si dice «grazie».", "base")
    stored = votes.VoteStore(record=votes.Thumb).all()
    assert [(t.up, t.model) for t in stored] == [(True, "finetuned"), (False, "base")]
    assert votes.VoteStore().all() == []  # thumbs are not votes: the A/B statistics never see them

    path = tmp_path / "preferenze.yaml"
    assert export_votes([], path, stored) == 2
    rows = dataset.load(path).examples
    assert [(r.output, r.meta.desirable, r.rejected) for r in rows] == [
        ("Si dice «grazie».", True, None),
        ("You say thank you.", False, None),
    ]
    assert rows[0].messages[0] == {"role": "system", "content": "Rispondi in italiano."}
    assert rows[1].meta.method == "feedback" and "giù per base" in rows[1].meta.source
    config = TrainConfig(method="kto", dataset=str(path))
    assert [r["label"] for r in preference.to_records(config, data.load_preferences(config))] == [True, False]
    config.method = "dpo"
    assert preference.usable(config, data.load_preferences(config)) == []  # DPO needs pairs


def test_judge_pairs_from_a_file_that_is_not_an_evaluation_are_refused(tmp_path):
    out = tmp_path / "giudice.yaml"
    with pytest.raises(UserError, match="non è un file di risultati"):
        export_judge(ASSETS / "corto_it.yaml", out)
    assert not out.exists()
