"""Near-duplicate removal: what counts as the same instruction in Italian, and surviving a restart."""

import pickle
import unicodedata

import pytest

from pipeline.generate.dedup import Deduplicator, rouge_l, words

BASE = "Spiega perché la fotosintesi è importante a un bambino di dieci anni, in tre frasi, con un esempio di cucina."
SEED = [
    ("seed-1", "Quando si usa il congiuntivo dopo i verbi di opinione come pensare e credere?"),
    ("seed-2", "Scrivi una ricetta per la torta di mele della nonna, con le dosi per sei persone."),
    ("seed-3", BASE),
]
PROBES = [
    "spiega perché la FOTOSINTESI è importante a un bambino di dieci anni in tre frasi con un esempio di cucina!",
    "Scrivi una ricetta per la torta di pere della nonna, con le dosi per sei persone.",
    "Qual è la differenza tra il passato prossimo e il passato remoto nell'italiano di oggi?",
    "Elenca cinque monumenti da vedere a Roma in un fine settimana.",
]


def test_words_casefold_and_keep_accents_and_drop_punctuation():
    assert words("L’anima È perché... l'Italia!") == ["l", "anima", "è", "perché", "l", "italia"]
    assert words(unicodedata.normalize("NFD", "Perché È")) == ["perché", "è"]  # decomposed accents: same words
    assert words("pèsca") != words("pesca") != words("pésca")


def test_rouge_l_known_values():
    assert rouge_l("Il gatto è sul tavolo", "il gatto è sul tavolo") == 1.0
    assert rouge_l("Il gatto dorme", "Piove a Roma") == 0.0
    # LCS 4 of 5 and 4 words: P = 1, R = 0.8, F = 2 * 0.8 / 1.8
    assert rouge_l("il gatto è sul tavolo", "il gatto sul tavolo") == pytest.approx(8 / 9)
    # "a b c d" against "a c b d": LCS 3, P = R = 0.75
    assert rouge_l("uno due tre quattro", "uno tre due quattro") == pytest.approx(0.75)
    assert rouge_l("Perché?", "perché") == 1.0
    assert rouge_l("pèsca", "pesca") == 0.0  # accents are part of the word, not stripped as ROUGE's tokenizer does
    assert rouge_l("", "qualcosa") == 0.0


@pytest.mark.parametrize(
    "variant",
    [
        BASE.upper(),
        BASE.replace(",", "").replace(".", "!!"),
        "  " + BASE.replace(" ", "\n", 3).replace(" ", "   ") + "\t",
        unicodedata.normalize("NFD", BASE),
        BASE.replace("dieci", "undici"),  # one word changed
        BASE.replace("perché", "perchè"),  # a wrong accent is a different word, but only one
        BASE.replace(" è ", " e' ") + " Grazie.",
    ],
)
def test_near_duplicates_are_caught(variant):
    dedup = Deduplicator()
    dedup.extend(SEED)
    assert dedup.add("gen-1", variant) == "seed-3"
    assert len(dedup) == 3 and "gen-1" not in dedup


def test_accents_normalisation_alone_is_the_same_text():
    dedup = Deduplicator()
    dedup.extend([("a", "Perché è così?")])
    assert dedup.similar(unicodedata.normalize("NFD", "perché È così")) == [("a", 1.0)]
    assert dedup.find("Perche e cosi") is None  # the accents themselves are kept: these are other words


@pytest.mark.parametrize(
    "text",
    [
        "Come funziona la fotosintesi? Raccontalo in modo semplice a un bimbo della quarta elementare.",
        "Spiega il ciclo dell'acqua a un gruppo di pensionati curiosi, senza formule.",
        "Scrivi una poesia sul mare d'inverno in rima baciata.",
    ],
)
def test_texts_with_different_content_are_not_caught(text):
    dedup = Deduplicator()
    dedup.extend(SEED)
    assert dedup.add("gen-1", text) is None
    assert len(dedup) == 4 and "gen-1" in dedup


def test_a_pair_alpaca_would_drop_is_caught():
    a = "Scrivi un breve testo sul Risorgimento per il giornalino della scuola."
    b = "Scrivi un breve testo sulla Resistenza per il giornalino della scuola."
    assert rouge_l(a, b) >= 0.7
    dedup = Deduplicator()
    dedup.extend([("a", a)])
    assert dedup.find(b) == "a"


def test_the_most_similar_match_wins_and_ties_go_to_the_earliest():
    dedup = Deduplicator()
    dedup.extend([("vicino", BASE.replace("dieci", "undici")), ("uguale", BASE), ("copia", BASE)])
    matches = dedup.similar(BASE)
    assert [key for key, _ in matches] == ["uguale", "copia", "vicino"]
    assert matches[0][1] == 1.0 > matches[2][1] >= dedup.threshold
    assert dedup.find(BASE + "!") == "uguale"


def test_extend_remembers_without_checking_and_keys_are_unique():
    dedup = Deduplicator()
    dedup.extend([("a", BASE), ("b", BASE)])  # the seed may hold near-duplicates of its own
    assert len(dedup) == 2
    with pytest.raises(ValueError, match="'a' è già nell'indice"):
        dedup.add("a", "Tutt'altra domanda sulla storia di Venezia.")


def test_a_rebuilt_deduplicator_answers_as_the_original():
    generated = [
        "Scrivi una ricetta per la torta di pere della nonna, con le dosi per sei persone.",
        "Elenca cinque monumenti da vedere a Roma in un fine settimana.",
        "Elenca cinque monumenti da vedere a Roma in un weekend.",
        "Quali sono i sintomi dell'influenza e quando conviene chiamare il medico?",
    ]
    original = Deduplicator()
    original.extend(SEED)
    accepted = []
    for i, text in enumerate(generated):
        if original.add(f"gen-{i}", text) is None:
            accepted.append((f"gen-{i}", text))
    assert [key for key, _ in accepted] == ["gen-1", "gen-3"]

    rebuilt = Deduplicator()  # after a crash: the seed, then what was accepted, in order
    rebuilt.extend(SEED + accepted)
    unpickled = pickle.loads(pickle.dumps(original))
    for copy in (rebuilt, unpickled):
        assert len(copy) == len(original) == 5
        for probe in PROBES + generated:
            assert copy.similar(probe) == original.similar(probe)
        assert copy.add("gen-9", generated[2]) == original.add("gen-9", generated[2]) == "gen-1"


def test_settings_are_checked():
    with pytest.raises(ValueError) as error:
        Deduplicator(threshold=0, num_perm=8)
    assert "`threshold` deve essere tra 0 (escluso) e 1, invece è 0" in str(error.value)
    assert "`num_perm` deve essere un intero >= 16, invece è 8" in str(error.value)
    assert Deduplicator(threshold=0.8, num_perm=64).find(BASE) is None
