"""Italian-aware filters for generated examples: language, length, non-text tasks, refusals, template leaks.

    from pipeline.generate.filters import FilterConfig, check
    reasons = check(instruction, input, output, FilterConfig())  # [] keeps the example

Each rule answers with a short stable key (one of REASONS), so a generation run can count why candidates were
dropped. The rules, and why they look where they look:

- Language (lingua, restricted to the languages a teacher drifts into, so it is fast and does not mistake short
  Italian for Catalan or Romanian): instruction and output must be Italian; fenced and inline code and URLs do not
  count. Lingua reads short Italian full of loanwords ("il deploy di un container Docker") as English, so Italian
  grammar words clearly outnumbering every other language's also make a text Italian. The input may be in any
  language (translation tasks). An output is mixed when sentences clearly in another language hold more than
  `max_foreign_share` of its words; quoted and emphasised spans are left out of that count, since an Italian answer
  may quote English ("*break a leg*") on purpose. Texts under three words are too short to judge and are not judged.
  When the instruction asks for a translation *into* another language, the output's language is not checked.
- Length, in words as `pipeline.dataset.count_words` counts them ("l'anima" is one word, "È" is one word).
- Non-text tasks: an Italian blacklist on the instruction only, as self-instruct does, with word boundaries and
  listed inflections ("disegna", "disegnare", "disegnami"; "immaginare" is not "immagine"). A media noun (foto,
  immagine, grafico, video, audio, mappa...) counts only when the task points at one that is not there ("descrivi
  questa foto", "nel grafico", "il file allegato") or asks to make one ("crea un grafico"): "una cartella piena di
  foto" and "la sceneggiatura di un video" are text tasks. Phrases where the word means something else are exempt:
  "disegno di legge" (a bill), "mappa concettuale" (a nested list will do), "Ascolta," opening a sentence.
- Refusals: only when the output *is* a refusal, i.e. the phrase is in its first sentence or the whole output is
  short; "mi dispiace molto per la tua perdita" is sympathy, and "non posso che consigliarti" is advice.
  `allow_refusals` keeps refusals, for sets that want well-made ones like the seed's, including a non-text task
  answered with "non vedo nessuna foto".
- Template leaks: evol-instruct's "#Prompt Riscritto#" / "rewritten prompt", Alpaca's "### Istruzione", an
  "Istruzione:" line, YAML keys of the reply format at line start, an output that opens with "Risposta:". Code
  blocks are ignored, since YAML and headers are legitimate there; a quiz's "Risposta:" lines are kept. A text that
  copies back a placeholder of the reply format ("l'input, oppure niente") is a leak too.
- Nothing to say: a field made only of punctuation and stop words.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.dataset import count_words
from pipeline.errors import Problems
from pipeline.generate.prompts import PLACEHOLDERS
from pipeline.i18n import Message

if TYPE_CHECKING:
    from lingua import LanguageDetector

REASONS = (
    "troppo_corta",
    "troppo_lunga",
    "solo_punteggiatura",
    "lingua_istruzione",
    "lingua_risposta",
    "lingua_mista",
    "compito_non_testuale",
    "rifiuto",
    "template_trapelato",
)
"""What each means, in both languages: `reason_<key>` in the catalogue."""


@dataclass
class FilterConfig:
    """Thresholds for `check`. The defaults keep every seed example but its refusals (`allow_refusals` keeps those)."""

    instruction_min_words: int = 3
    """Fewer words than this and the instruction is too vague to be a task ("Spiega la fotosintesi." has 3)."""
    instruction_max_words: int = 300
    """Evolved instructions grow; past this they are usually rambling or carry a whole document."""
    output_min_words: int = 1
    """1 keeps one-word answers, which are right for classification tasks; raise it for long-form generation."""
    output_max_words: int = 1500
    """About 2,000 tokens: longer answers would be cut by training's sequence length anyway."""
    min_italian_confidence: float = 0.3
    """Lingua's confidence (0-1, relative to the other candidate languages) that a text is Italian, on top of
    Italian being the most likely language. Short Italian sentences score 0.4-0.8, long ones close to 1."""
    max_foreign_share: float = 0.25
    """Largest share of an output's words that may sit in sentences clearly in another language."""
    allow_refusals: bool = False
    """Keep outputs that refuse the task (for sets that teach well-made refusals)."""

    def __post_init__(self) -> None:
        problems = Problems()
        for name in ("instruction_min_words", "instruction_max_words", "output_min_words", "output_max_words"):
            value = getattr(self, name)
            problems.check(value >= 1, name, Message("must_be_at_least", minimum=1, value=value))
        for low, high in (
            ("instruction_min_words", "instruction_max_words"),
            ("output_min_words", "output_max_words"),
        ):
            a, b = getattr(self, low), getattr(self, high)
            problems.check(a <= b, low, Message("not_above", value=a, other=high, other_value=b))
        for name in ("min_italian_confidence", "max_foreign_share"):
            value = getattr(self, name)
            problems.check(0 <= value <= 1, name, Message("must_be_between", low=0, high=1, value=value))
        problems.raise_any()


def check(instruction: str, input: str | None, output: str, config: FilterConfig | None = None) -> list[str]:
    """The reasons to reject this candidate example, as REASONS, in a stable order; [] means keep it."""
    config = config or FilterConfig()
    reasons = []

    def reject(key: str) -> None:
        if key not in reasons:
            reasons.append(key)

    for text, low, high in (
        (instruction, config.instruction_min_words, config.instruction_max_words),
        (output, config.output_min_words, config.output_max_words),
    ):
        words = count_words(text)
        if words < low:
            reject("troppo_corta")
        if words > high:
            reject("troppo_lunga")
        if not _content_words(text):
            reject("solo_punteggiatura")

    prose_instruction = _strip_code(instruction)
    prose_output = _strip_code(output)
    if _judgeable(prose_instruction) and not is_italian(prose_instruction, config.min_italian_confidence):
        reject("lingua_istruzione")
    if _judgeable(prose_output) and not translates_into_foreign(instruction):
        if not is_italian(prose_output, config.min_italian_confidence):
            reject("lingua_risposta")
        elif foreign_share(prose_output) > config.max_foreign_share:
            reject("lingua_mista")

    refusal = is_refusal(output)
    if not config.allow_refusals and refusal:
        reject("rifiuto")
    # A non-text task answered with a refusal ("non vedo nessuna foto") is what a text model should say.
    if is_non_text_task(instruction) and not (config.allow_refusals and refusal):
        reject("compito_non_testuale")
    if any(_leaks(text) for text in (instruction, input or "", output)) or _LEADING_LABEL.match(output):
        reject("template_trapelato")
    return reasons


# The languages a teacher drifts into, and Italian's closest neighbours. Text in another script gets no language
# (Chinese, Cyrillic) and so is never Italian; more languages would cost seconds of start-up and steal short Italian.
_LANGUAGES = ("ITALIAN", "ENGLISH", "SPANISH", "FRENCH", "GERMAN", "PORTUGUESE", "LATIN")
_detector_instance: LanguageDetector | None = None
_detector_lock = threading.Lock()


def _detector() -> LanguageDetector:
    """The lingua detector, built on first use (about 2 s, models preloaded) and shared by every thread."""
    global _detector_instance
    if _detector_instance is None:
        with _detector_lock:
            if _detector_instance is None:
                from lingua import Language, LanguageDetectorBuilder

                languages = [getattr(Language, name) for name in _LANGUAGES]
                builder = LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models()
                _detector_instance = builder.build()
    return _detector_instance


def detect_language(text: str) -> str | None:
    """The most likely language of the text (ISO 639-1: "it", "en"...), code left out; None if there is no prose.

    Lingua decides, except that Italian grammar words outnumbering every other language's make it "it" (see
    `_italian_function_words`).
    """
    prose = _strip_code(text)
    if not _LETTERS.search(prose):
        return None
    if _italian_function_words(prose):
        return "it"
    language = _detector().detect_language_of(prose)
    return language.iso_code_639_1.name.lower() if language else None


def is_italian(text: str, min_confidence: float = 0.3) -> bool:
    """Whether Italian is the most likely language of the text (code left out) with at least `min_confidence`."""
    prose = _strip_code(text)
    if not _LETTERS.search(prose):
        return False
    values = _detector().compute_language_confidence_values(prose)
    if values and values[0].language.name == "ITALIAN" and values[0].value >= min_confidence:
        return True
    return _italian_function_words(prose)


def _italian_function_words(text: str) -> bool:
    """Whether Italian function words clearly outnumber those of every other language.

    Lingua reads "Come faccio il deploy di un container Docker su Kubernetes?" as English: the loanwords and names
    outweigh the Italian around them. The grammar words do not lie, so they can overrule it in Italian's favour.
    """
    counts = Counter()
    for word in _WORD.findall(_normalise(text)):
        for language, words in _FUNCTION_WORDS.items():
            if word in words:
                counts[language] += 1
    italian = counts.pop("it", 0)
    return italian > 2 * max(counts.values(), default=0)


def foreign_share(text: str) -> float:
    """Share of the words of `text` in sentences clearly not Italian. Quotes, emphasis and code do not count."""
    prose = _QUOTED.sub(" ", _strip_code(text))
    sentences = [s for s in _SENTENCE_BREAK.split(prose) if len(_LETTER_WORD.findall(s)) >= _MIN_SENTENCE_WORDS]
    if not sentences:
        return 0.0
    sizes = [len(_LETTER_WORD.findall(s)) for s in sentences]
    foreign = 0
    all_values = _detector().compute_language_confidence_values_in_parallel(sentences)
    for sentence, size, values in zip(sentences, sizes, all_values, strict=True):
        italian = next((v.value for v in values if v.language.name == "ITALIAN"), 0.0)
        if italian < _FOREIGN_ITALIAN_BELOW and (not values or values[0].language.name != "ITALIAN"):
            foreign += 0 if _italian_function_words(sentence) else size
    return foreign / sum(sizes)


def language_says_something(answer: str, instruction: str = "") -> bool:
    """Whether an answer's language can be judged: it has prose outside its code (three words at least; an empty
    answer counts, as a failure), and the instruction did not ask for another language. A program with no prose
    around it, the usual start of a small model's answer to "scrivi una funzione", is in no language."""
    prose = _strip_code(answer)
    return (not answer.strip() or _judgeable(prose)) and not translates_into_foreign(instruction)


def translates_into_foreign(instruction: str) -> bool:
    """Whether the instruction asks for a translation into another language: its answer need not be Italian."""
    return bool(_TRANSLATE_INTO_FOREIGN.search(instruction))


def is_looping(text: str, n: int = 4) -> bool:
    """Whether the text has fallen into a loop ("il cielo è blu, il cielo è blu, ..."): more than 30% of its word
    `n`-grams (code left out) repeat an earlier one, or more than half of those in its second half do (a loop that
    starts late, in an answer cut at the token limit). Every seed answer repeats under 8% of its 4-grams."""
    words = _WORD.findall(_normalise(_strip_code(text)))
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 3 * n:  # too short to loop
        return False
    tail = grams[len(grams) // 2 :]
    return _repeated(grams) > 0.3 or (len(tail) >= 3 * n and _repeated(tail) > 0.5)


def _repeated(grams: list[tuple[str, ...]]) -> float:
    return (len(grams) - len(set(grams))) / len(grams)


def is_refusal(output: str) -> bool:
    """Whether the output refuses the task: a refusal phrase in its first sentence, or anywhere in a short output."""
    text = _normalise(_strip_code(output)).lstrip(' \t\n*#>-_"«“')
    first_sentence = _FIRST_SENTENCE.split(text, maxsplit=1)[0]
    if _REFUSAL.search(first_sentence):
        return True
    return count_words(text) <= _SHORT_REFUSAL_WORDS and bool(_REFUSAL.search(text))


def is_non_text_task(instruction: str) -> bool:
    """Whether the instruction asks for what a text model cannot do: see or make images, charts, audio, video."""
    return bool(_NON_TEXT.search(_NON_TEXT_EXEMPT.sub(" ", _normalise(instruction))))


def _leaks(text: str) -> bool:
    prose = _strip_code(text)
    return bool(_LEAK.search(prose) or _YAML_KEY.search(prose) or _PLACEHOLDER.search(prose))


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(_normalise(text)) if w not in STOP_WORDS]


def _judgeable(prose: str) -> bool:
    # Chinese or Japanese have no spaces: count their letters instead of words.
    return len(_LETTER_WORD.findall(prose)) >= _MIN_LANGUAGE_WORDS or len(_NON_LATIN_LETTERS.findall(prose)) >= 5


def _strip_code(text: str) -> str:
    return _INLINE_CODE.sub(" ", _FENCED_CODE.sub("\n", _URL.sub(" ", text)))


def _normalise(text: str) -> str:
    return text.casefold().replace("’", "'")


_MIN_LANGUAGE_WORDS = 3  # below this lingua is guessing ("Roma." comes out Latin)
_MIN_SENTENCE_WORDS = 4  # shorter sentences (list items, "Green light") are too noisy to count as foreign
_FOREIGN_ITALIAN_BELOW = 0.2
_SHORT_REFUSAL_WORDS = 50

_WORD = re.compile(r"\w+")
_LETTERS = re.compile(r"[^\W\d_]")
_NON_LATIN_LETTERS = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f]")
_LETTER_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+")
# A fence opens a line with ``` or ~~~ and runs to the same fence or, if the model forgot to close it, to the end.
_FENCED_CODE = re.compile(r"^[ \t]*(`{3,}|~{3,}).*?(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»|\*\*[^*\n]+\*\*|\*[^*\n]+\*|\b_[^_\n]+_\b")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;:])\s+|\n+")
_FIRST_SENTENCE = re.compile(r"(?<=[.!?;:])\s|\n")

_TRANSLATE_INTO_FOREIGN = re.compile(
    r"\btradu\w*\b[^.?!\n]*?(?:\bin|\ball['’]|\bverso\s+l['’])\s*"
    r"(?:inglese|francese|spagnolo|tedesco|portoghese|latino|cinese|russo)\b",
    re.I,
)

# Matched on casefolded text with ’ turned into '. Verb forms are listed rather than stemmed so that "immaginare",
# "fotosintesi" or "disegnatore" stay out. A media noun counts only when the task points at one that is not there
# ("descrivi questa foto", "nel grafico", "la foto allegata") or asks to make one ("crea un grafico"): "una cartella
# piena di foto" or "il testo di un video" are text tasks.
_MEDIA = (
    r"(?:immagin[ei]|foto|grafic[oi]|diagramm[ai]|istogramm[ai]|infografic(?:a|he)|video|videoclip|filmat[oi]"
    r"|audio|registrazion[ei]|mapp[ae]|disegn[oi]|screenshot)"
)
_NON_TEXT = re.compile(
    rf"""\b(?:
        (?:questo|questa|questi|queste|quest'|quel|quello|quella|quei|quegli|quelle|quell'
          |il|lo|la|l'|i|gli|le|nel|nello|nella|nell'|nei|negli|nelle|del|dello|della|dell'|dei|degli|delle
          |sul|sullo|sulla|sull'|sui|sugli|sulle|al|allo|alla|all'|ai|agli|alle|dal|dallo|dalla|dall'|dai|dalle
          |mio|mia|miei|mie|tuo|tua|tuoi|tue|seguente|seguenti)\s*{_MEDIA}
      | (?:crea|creare|creami|genera|generare|generami|produci|produrre|fai|fammi|realizza|realizzare|mostra|mostrami
          |manda|mandami|invia|inviami|allega|scatta|scattare)
        \s+(?:(?:un|una|uno|un'|il|lo|la|l'|i|gli|le|dei|degli|delle)\s*)?{_MEDIA}
      | (?:{_MEDIA}|file|documento|documenti|pdf|foglio|tabella)\s+(?:allegat|caricat)[oaie]
      | disegn(?:a|are|ami|ate|atemi|alo|ala|ali|ale) | diping(?:i|ere|imi)
      | ascolt(?:a|are|ate|ami|atemi|alo|ala|ali|ale)
      | (?:guarda|apri|visita|segui|clicca)\w*\s+(?:su\s+)?(?:(?:il|questo|quel|al|sul|la|questa|l')\s*)?
        (?:link|sito|collegamento|url|pagina\s+web)
      | in\s+allegato | screenshot | webcam
    )\b""",
    re.X,
)
_NON_TEXT_EXEMPT = re.compile(
    r"\bdisegn[oi]\s+di\s+legge\b|\bmapp[ae]\s+concettual[ei]\b|\bascolt\w*\s*,|\bimmagine\s+(?:pubblica|aziendale)\b"
)

_REFUSAL = re.compile(
    r"""
        \bmi\s+(?:dis)?piace,?\s+(?:ma|però|purtroppo|non)\b
      | \b(?:purtroppo|sfortunatamente),?\s+non\s+(?:posso|sono|mi\s+è|è\s+possibile)\b
      | \bnon\s+posso\b(?!\s+(?:che|fare\s+a\s+meno|non|negare|nascondere|esimermi)\b)
      | \bnon\s+sono\s+in\s+grado\b
      | \bnon\s+(?:mi\s+)?è\s+(?:possibile|consentito|permesso)\b
      | \bnon\s+ho\s+(?:accesso|la\s+possibilità)\b
      | \bnon\s+(?:vedo|riesco\s+a\s+vedere|posso\s+vedere|ho\s+ricevuto)\s+(?:\w+\s+){0,2}
        (?:foto|immagin[ei]|allegat\w*|file|video|audio|link)\b
      | \b(?:come|in\s+quanto)\s+(?:un\s+|un'\s*)?(?:modello\s+(?:linguistico|di\s+linguaggio|di\s+ia)
        |intelligenza\s+artificiale|ia|ai|assistente\s+(?:virtuale|digitale)|chatbot)\b
      | \bsono\s+(?:solo\s+|soltanto\s+|semplicemente\s+)?(?:un\s+|un'\s*)
        (?:modello\s+(?:linguistico|di\s+linguaggio)|programma|assistente\s+virtuale|intelligenza\s+artificiale)\b
    """,
    re.X,
)

_LEAK = re.compile(
    r"""
        \#\s*(?:(?:the\s+)?(?:given|rewritten|created)\s+prompt|prompt\s+(?:dato|riscritto|creato))\s*\#
      | \bprompt\s+(?:dato|riscritto|creato)\b
      | \b(?:given|rewritten|created)\s+prompt\b
      | ^[ \t>]*\#{1,6}[ \t]*(?:istruzione|istruzioni|risposta|instruction|response|input|output)[ \t]*:?[ \t]*$
      | ^[ \t]*(?:\*\*)?(?:istruzione|instruction)(?:\*\*)?[ \t]*:
    """,
    re.X | re.I | re.M,
)
# Case-sensitive: the keys and labels of pipeline/generate/prompts.py's replies and requests as the model echoes them
# ("istruzione: |", "COMPITO:"), which in an answer's own prose would be capitalised or lower case respectively.
_YAML_KEY = re.compile(
    r"^(?:- )?(?:istruzione|instruction|input|output|risposta|response|idea|analisi|ragionamento):(?:[ \t]|$)"
    r"|^[ \t]*(?:COMPITO|METODO):",
    re.M,
)
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS), re.I)
_LEADING_LABEL = re.compile(r"\s*(?:\*\*)?(?:risposta|output|answer|response)(?:\*\*)?\s*:", re.I)

# Articles, prepositions (simple and articulated), pronouns, conjunctions, auxiliaries and filler words: a field
# made only of these (or of punctuation) says nothing. "Sì", "no" and "ok" are not here: they answer questions.
STOP_WORDS = frozenset(
    """
    a ad al allo alla ai agli alle all l s m t v n anche ancora avere ho hai ha abbiamo avete hanno aveva avevano avrà
    c che chi ci
    col come con contro cosa così cui d da dal dallo dalla dai dagli dalle dall dei degli delle del dello della dell
    di dove e ed è era erano essere fa fare fin fino fra gli i il in io la le lei li lo loro lui ma me mi mia mie miei
    mio molto ne né negli nei nel nella nelle nello nell noi non nostra nostro o od ogni per perché però più po poi
    qua quale quali qualche quando quanto quella quelle quelli quello questa queste questi questo qui se sé sei si
    sia siamo siete sono sta su sua sue sui sugli sul sull sulla sulle suo suoi te ti tra tu tua tue tuo tuoi tutto
    tutti tutta tutte un una uno vi voi vostra vostro ecco già oh ah eh beh mah boh
    """.split()
)

# Frequent words that tell each language apart from Italian: none is an Italian word too ("una", "con", "si", "non"
# are also Spanish or Latin; "le", "da", "no" also French or Portuguese). Italian's include the imperatives that
# instructions open with.
_FUNCTION_WORDS = {
    language: frozenset(words.split())
    for language, words in {
        "it": """il lo gli di che è della delle dello degli dei nel nella nelle nello negli nell sul sulla sulle sullo
            sugli sull dal dalla dalle dallo dagli dall alla alle allo agli all per perché anche più sono questo questa
            questi queste quello quella quelli cosa cos ci ho hai hanno essere molto tra fra ed né già quale quali
            qual dove può puoi posso fare faccio tutto tutti ogni ancora poi mio mia tuo tua suo sua loro noi voi io
            come spiega spiegami scrivi scrivimi elenca descrivi dimmi dammi fammi traduci riassumi correggi crea
            estrai riscrivi completa classifica genera trova calcola analizza indica suggerisci proponi confronta
            rispondi""",
        "en": """the and of to is are was were this that with which what how you your it for from by be an have has
            can will would should not but or as at on about their they we our my does there these those""",
        "es": """el los las y es está están por pero como qué muy sobre cuando también más hay esto eso pueden
            puede usted""",
        "fr": """les des du et est une pour dans que au aux avec pas cette être sont ou où je vous nous plus
            mais""",
        "de": """der die das und ist nicht ein eine mit für auf den dem von zu sich auch es sie wir ich""",
        "pt": """os um uma dos das em na não é que com mais também você são""",
    }.items()
}
