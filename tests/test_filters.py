"""The Italian filters for generated examples: each rule on the Italian cases that break naive ones."""

import threading
from pathlib import Path

import pytest

from pipeline import dataset
from pipeline.generate import filters
from pipeline.generate.filters import REASONS, FilterConfig, check, detect_language, is_italian, is_refusal

SEED = Path(__file__).resolve().parents[1] / "datasets_yaml" / "seed_it.yaml"
PROSE = (
    "La fotosintesi è il processo con cui le piante, le alghe e alcuni batteri trasformano la luce del sole in "
    "energia chimica. Avviene soprattutto nelle foglie, dentro i cloroplasti, grazie alla clorofilla."
)


def test_the_seed_set_passes_and_only_its_refusals_are_refusals():
    examples = dataset.load(SEED).examples
    rejected = {e.id: check(e.instruction, e.input, e.output) for e in examples}
    rejected = {key: reasons for key, reasons in rejected.items() if reasons}
    assert rejected and all(key.startswith("it-rifiuti-") and "rifiuto" in r for key, r in rejected.items())
    allowed = FilterConfig(allow_refusals=True)
    assert [e.id for e in examples if check(e.instruction, e.input, e.output, allowed)] == []


def test_config_errors_quote_every_bad_field_at_once():
    with pytest.raises(ValueError) as error:
        FilterConfig(instruction_min_words=0, output_min_words=10, output_max_words=5, max_foreign_share=1.5)
    message = str(error.value)
    assert "`instruction_min_words`: dev'essere >= 1, trovato 0" in message
    assert "`output_min_words`: (10) non può superare `output_max_words` (5)" in message
    assert "`max_foreign_share`: dev'essere tra 0 e 1, trovato 1.5" in message


def test_reasons_are_known_keys_in_a_stable_order_without_repeats():
    reasons = check("...", None, "")
    assert reasons == ["troppo_corta", "solo_punteggiatura"]
    assert set(reasons) <= set(REASONS)


@pytest.mark.parametrize(
    ("instruction", "output"),
    [
        ("È vero che l'anima è immortale?", "È una domanda antica: filosofi e teologi ne discutono da secoli."),
        ("Parlami dell’Italia medievale.", "Dell’Italia medievale si ricordano i Comuni e le repubbliche marinare."),
        (
            "Perché d'estate fa più caldo?",
            "Perché i raggi del sole arrivano più perpendicolari e le giornate sono più lunghe.",
        ),
        ("Spiega la fotosintesi.", PROSE),
    ],
)
def test_italian_with_accents_and_apostrophes_is_accepted(instruction, output):
    assert check(instruction, None, output) == []


def test_words_are_counted_the_italian_way():
    # "l'anima" and "dell’Italia" are one word each and "È" is a word: 3 words, so a minimum of 3 passes, 4 does not.
    instruction = "È l'anima dell’Italia?"
    assert check(instruction, None, "Sì.", FilterConfig(instruction_min_words=3)) == []
    assert "troppo_corta" in check(instruction, None, "Sì.", FilterConfig(instruction_min_words=4))
    assert "troppo_lunga" in check("Spiega la fotosintesi.", None, PROSE, FilterConfig(output_max_words=20))


def test_an_english_output_is_rejected():
    output = "Photosynthesis is the process by which plants convert sunlight into chemical energy stored in glucose."
    assert check("Spiega la fotosintesi.", None, output) == ["lingua_risposta"]


def test_an_english_instruction_is_rejected():
    assert check("Explain photosynthesis to a child.", None, PROSE) == ["lingua_istruzione"]


def test_an_output_that_switches_to_english_is_mixed():
    output = (
        PROSE + " It converts sunlight into chemical energy, which is then stored in glucose molecules for later use "
        "by the plant. This is why plants are called producers."
    )
    assert check("Spiega la fotosintesi.", None, output) == ["lingua_mista"]


def test_an_output_in_another_script_is_not_italian():
    assert "lingua_risposta" in check(
        "Spiega la fotosintesi.", None, "光合作用是植物利用阳光制造养分的过程，主要发生在叶子里。"
    )


@pytest.mark.parametrize(
    "output",
    [
        'La frase "Stay hungry, stay foolish" è di Steve Jobs, che la pronunciò nel 2005 davanti ai neolaureati di '
        "Stanford. In italiano si rende spesso con «siate affamati, siate folli» e invita a non accontentarsi mai.",
        "Stay hungry, stay foolish, diceva Steve Jobs ai laureati di Stanford nel 2005. Con queste parole invitava i "
        "giovani a restare curiosi, a non accontentarsi e a seguire le proprie passioni anche quando la strada è "
        "incerta.",
    ],
)
def test_a_short_english_quote_does_not_make_italian_prose_mixed(output):
    assert check("Chi ha detto questa frase famosa e che cosa significa?", None, output) == []


def test_code_does_not_count_against_the_language():
    output = (
        'Ecco una funzione semplice:\n\n```python\ndef add(a, b):\n    """Return the sum of a and b."""\n'
        "    # add the two numbers and give the result back to the caller\n    return a + b\n```\n\n"
        "La funzione riceve due numeri e restituisce la loro somma; il commento nel codice è in inglese."
    )
    assert check("Scrivi una funzione Python che sommi due numeri.", None, output) == []
    only_code = "```yaml\nname: Giulia Serra\nlanguages:\n  - English\n  - French\n```"
    assert check("Estrai i dati del curriculum in formato YAML.", "Giulia Serra, inglese e francese.", only_code) == []


def test_italian_technical_instructions_full_of_english_words_are_italian():
    for text in ("Come faccio il deploy di un container Docker su Kubernetes?", "Cos'è il machine learning?"):
        assert is_italian(text)
        assert detect_language(text) == "it"


def test_a_translation_into_italian_is_accepted_whatever_the_input_language():
    source = "The quick brown fox jumps over the lazy dog while the farmer watches from the kitchen window."
    output = "La volpe veloce e marrone salta sopra il cane pigro mentre il contadino guarda dalla finestra."
    assert check("Traduci in italiano questo testo.", source, output) == []


def test_a_translation_into_english_may_answer_in_english():
    output = "The cat sleeps on the sofa all afternoon, while the children play in the garden."
    source = "Il gatto dorme sul divano tutto il pomeriggio, mentre i bambini giocano in giardino."
    assert check("Traduci in inglese questa frase.", source, output) == []
    assert check("Traduci dall'inglese questa frase.", source, output) == ["lingua_risposta"]


def test_detect_language_and_is_italian():
    assert detect_language(PROSE) == "it"
    assert detect_language("The weather is lovely today and we are going to the beach.") == "en"
    assert detect_language("```python\nprint(1)\n```") is None
    assert detect_language("12 + 30 = 42") is None
    assert is_italian(PROSE) and not is_italian("Escribe un poema sobre el mar y las olas.")


@pytest.mark.parametrize(
    "instruction",
    [
        "Disegna un gatto che dorme.",
        "Disegnami una casa in riva al mare.",
        "Puoi disegnare un albero di Natale?",
        "Dipingi un tramonto sulle Dolomiti.",
        "Descrivi questa foto in poche parole.",
        "Che cosa mostra il grafico qui sotto?",
        "Crea un grafico a barre delle vendite del 2023.",
        "Analizza l’immagine e dimmi cosa vedi.",
        "Guarda il video e riassumilo.",
        "Ascolta questa canzone e dimmi di cosa parla.",
        "Guarda il link e riassumi l'articolo.",
        "Riassumi il file allegato in cinque punti.",
        "Ti mando in allegato il contratto: controllalo.",
    ],
)
def test_tasks_a_text_model_cannot_do_are_rejected(instruction):
    assert "compito_non_testuale" in check(instruction, None, "Ecco fatto, come richiesto.")


@pytest.mark.parametrize(
    "instruction",
    [
        "Immagina di essere un pirata e racconta la tua giornata.",
        "Come faccio a immaginare il mio futuro professionale?",
        "Che cos'è un disegno di legge e chi lo presenta?",  # legal language: a bill, not a drawing
        "Spiega la differenza tra accento grafico e accento tonico.",
        "Crea una mappa concettuale sulla Rivoluzione francese.",  # a nested list is text
        "Ascolta, ho litigato con mio fratello: che cosa faccio?",  # "ascolta," opens a sentence, asks for nothing
        "Scrivi la sceneggiatura di un video per presentare la mia pasticceria.",
        "Ho una cartella piena di foto: scrivi uno script bash che le rinomini.",
        "Scrivi la biografia di un famoso disegnatore di fumetti.",
        "Spiega la fotosintesi a un bambino.",
    ],
)
def test_text_tasks_that_mention_look_alike_words_are_kept(instruction):
    assert "compito_non_testuale" not in check(instruction, None, "Ecco una risposta completa e in italiano.")


@pytest.mark.parametrize(
    "output",
    [
        "Mi dispiace, ma non posso aiutarti con questa richiesta.",
        "Come modello linguistico, non ho opinioni personali su questo argomento.",
        "In quanto intelligenza artificiale non provo emozioni.",
        "Non sono in grado di rispondere a questa domanda.",
        "Purtroppo non posso scrivere questo testo: " + PROSE + " " + PROSE,  # long, but refuses at the start
    ],
)
def test_refusals_are_rejected_unless_allowed(output):
    assert "rifiuto" in check("Scrivi un testo sulla fotosintesi.", None, output)
    assert check("Scrivi un testo sulla fotosintesi.", None, output, FilterConfig(allow_refusals=True)) == []


@pytest.mark.parametrize(
    "output",
    [
        "Mi dispiace molto per la tua perdita. Nei primi tempi concediti di stare male, parla con le persone care e, "
        "se il dolore non passa, chiedi aiuto a uno psicologo.",
        "Non posso che consigliarti di iniziare dal congiuntivo presente, che è il più usato.",
        PROSE
        + " "
        + PROSE
        + " Se vuoi, posso farti un esempio: nessuno dirà che non posso spiegarlo meglio. "
        + PROSE
        + " "
        + PROSE,
    ],
)
def test_answers_that_merely_contain_refusal_words_are_kept(output):
    assert not is_refusal(output)
    assert "rifiuto" not in check("Come faccio ad andare avanti dopo un lutto?", None, output)


def test_a_non_text_task_answered_with_a_refusal_is_allowed_with_refusals():
    instruction = "Secondo te il vestito nella foto che ti ho mandato va bene per un matrimonio?"
    output = "In questa conversazione non vedo nessuna foto: mi è arrivato solo il testo, quindi non posso valutarlo."
    assert check(instruction, None, output) == ["rifiuto", "compito_non_testuale"]
    assert check(instruction, None, output, FilterConfig(allow_refusals=True)) == []


@pytest.mark.parametrize(
    ("instruction", "output"),
    [
        ("#Prompt Riscritto#: Scrivi una poesia sul mare d'inverno.", "Onde grigie battono la riva deserta."),
        ("Scrivi una poesia sul mare, partendo dal Prompt Dato.", "Onde grigie battono la riva deserta."),
        ("Rewritten Prompt: scrivi una poesia sul mare.", "Onde grigie battono la riva deserta."),
        ("Scrivi una poesia sul mare.", "Onde grigie battono la riva.\n\n### Istruzione:\nScrivi un haiku."),
        ("Scrivi una poesia sul mare.", "Onde grigie battono la riva.\nIstruzione: scrivi un haiku sul vento."),
        ("Scrivi una poesia sul mare.", "Risposta: onde grigie battono la riva deserta."),
        ("Scrivi una poesia sul mare.", "Onde grigie battono la riva.\nistruzione: scrivi un haiku\noutput: foglie"),
        ("Scrivi una poesia sul mare.", "ragionamento: |\n  parto dal colore\nrisposta: |\n  Onde grigie sulla riva."),
        ("COMPITO:\nScrivi una poesia sul mare d'inverno, in rima.", "Onde grigie battono la riva deserta."),
        # a small teacher copying the reply format's placeholder back instead of writing its own text
        ("Scrivi una poesia sul mare.", "La risposta completa per l'utente, che segue il messaggio di sistema."),
        ("L'input, oppure niente: scrivi una poesia sul mare.", "Onde grigie battono la riva deserta."),
    ],
)
def test_template_leaks_are_rejected(instruction, output):
    assert check(instruction, None, output) == ["template_trapelato"]


def test_label_like_lines_that_belong_to_the_answer_are_kept():
    quiz = (
        "Domanda: qual è la capitale d'Italia?\nRisposta: Roma.\n\n"
        "Domanda: qual è il fiume più lungo?\nRisposta: il Po."
    )
    assert check("Prepara un piccolo quiz di geografia con due domande.", None, quiz) == []
    workflow = "Crea il file:\n\n```yaml\ninput:\n  name: ci\noutput: report\n```\n\nOgni push avvia i test."
    assert check("Spiega come si configura un workflow con GitHub Actions.", None, workflow) == []


@pytest.mark.parametrize("output", ["...", "!!! ???", "e poi?", "— « » —"])
def test_punctuation_or_stop_words_alone_are_rejected(output):
    assert "solo_punteggiatura" in check("Scrivi una poesia sul mare.", None, output)


def test_the_detector_is_built_once_when_threads_race(monkeypatch):
    import lingua

    builds = []
    barrier = threading.Barrier(8)

    class FakeBuilder:
        def with_preloaded_language_models(self):
            return self

        def build(self):
            builds.append(1)
            return object()

    monkeypatch.setattr(filters, "_detector_instance", None)
    monkeypatch.setattr(lingua.LanguageDetectorBuilder, "from_languages", lambda *languages: FakeBuilder())
    got = []

    def use():
        barrier.wait()
        got.append(filters._detector())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len({id(d) for d in got}) == 1


def test_other_languages_function_words_are_not_italian_words():
    others = set().union(*(words for language, words in filters._FUNCTION_WORDS.items() if language != "it"))
    assert not others & (filters._FUNCTION_WORDS["it"] | filters.STOP_WORDS)
