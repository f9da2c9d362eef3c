"""The teacher's prompts, written natively in Italian. Every prompt asks for one YAML object with named keys, text in
`|` block scalars, reasoning keys before answer keys (the teacher thinks first, then commits)."""

import random

from pipeline.dataset import Example
from pipeline.structured import TEXT, Items, Shape, Text, score

# ORCA-style system messages: each answer request carries one, and the dataset records it in `system`.
ORCA_SYSTEMS = [
    "Sei un assistente utile. Ragiona passo per passo prima di dare la risposta finale.",
    "Spiega come se parlassi a un bambino di dieci anni, con parole semplici ed esempi concreti.",
    "Sei un insegnante paziente: giustifica ogni passaggio della risposta.",
    "Rispondi in modo conciso e preciso, senza giri di parole.",
    "Sei un esperto della materia. Dai una risposta completa e ben organizzata, con un breve elenco dove serve.",
    "Prima di rispondere, chiarisci che cosa chiede davvero la domanda; poi rispondi e riassumi in una frase.",
    "Sei un assistente che scrive in un italiano chiaro e corretto, con il registro adatto alla richiesta.",
    "Ragiona ad alta voce e controlla il risultato prima di concludere.",
]

# Evol-Instruct operations (WizardLM), in depth and in breadth.
EVOLUTIONS = {
    "vincolo": "Aggiungi al compito un vincolo o un requisito in più.",
    "approfondisci": "Se il compito tocca una questione, rendi la richiesta più profonda e più ampia.",
    "concretizza": "Sostituisci i concetti generici con concetti più specifici e concreti.",
    "ragionamento": "Se il compito si risolve con pochi passaggi, riscrivilo in modo che richieda esplicitamente "
    "più passaggi di ragionamento.",
    "complica_input": "Rendi l'input più complesso: più dati, un caso più difficile o più ambiguo.",
    "ampiezza": "Prendi ispirazione dal compito per crearne uno completamente nuovo, nello stesso ambito ma più "
    "raro e originale.",
}

# The replies' shapes: the keys each prompt asks for, in order, and those a reply must have to be used. A server
# that supports constrained decoding (Bottega's local one, vLLM) decodes under them (pipeline/structured.py). The
# bounds keep a looping small model from spending the whole reply on one key; a task is short, reasoning brief.
TASK = Text(max_lines=4, max_chars=400)
TASK_INPUT = Text(optional=True, max_lines=8, max_chars=400)
NEW_TASK = Shape((("idea", Text(max_lines=1, max_chars=300)), ("istruzione", TASK), ("input", TASK_INPUT)),
                 required=("istruzione",))  # fmt: skip
EVOLVED_TASK = Shape((("analisi", Text(max_lines=1, max_chars=300)), ("istruzione", TASK), ("input", TASK_INPUT)),
                     required=("istruzione",))  # fmt: skip
BACKTRANSLATION = Shape((("adatto", score(1, 5)), ("istruzione", TASK), ("input", TASK_INPUT)),
                        required=("adatto", "istruzione"))  # fmt: skip
ANSWER = Shape((("ragionamento", Text(max_lines=4, max_chars=200)), ("risposta", TEXT)), required=("risposta",))
SCORE = Shape((("motivazione", Text(max_lines=2, max_chars=250)), ("punteggio", score(1, 10))),
              required=("punteggio",))  # fmt: skip


def new_tasks(count: int) -> Shape:
    """The shape of a reply with `count` tasks (`self_instruct_many`)."""
    return Shape((("compiti", Items(count, (("istruzione", TASK), ("input", TASK_INPUT)))),))


# The placeholders the prompts' reply formats put where the text goes: a reply that copies one back instead of
# writing its own text is a template leak (small teachers do it often; `filters` rejects it).
PLACEHOLDERS = (
    "perché il compito è utile e diverso dagli esempi",
    "l'input, oppure niente",
    "che cosa cambi e perché, in una frase",
    "i passaggi che segui, in breve",
    "la risposta completa per l'utente, che segue il messaggio di sistema",
    "un numero intero da 1 a",
)

YAML_RULES = "Rispondi solo con un oggetto YAML con queste chiavi, in quest'ordine, usando blocchi `|` per il testo:"


def _task(example: Example) -> str:
    return example.instruction if not example.input else f"{example.instruction}\nInput: {example.input}"


def self_instruct(examples: list[Example], with_input: bool) -> list[dict]:
    shown = "\n\n".join(f"{i}. {_task(e)}" for i, e in enumerate(examples, 1))
    need = (
        "Il compito deve avere un input: un testo concreto su cui lavorare (un brano, dei dati, una frase)."
        if with_input
        else "Il compito non deve avere bisogno di input: lascia vuota la chiave input."
    )
    return [
        {"role": "system", "content": "Sei un esperto che crea compiti vari e utili per addestrare un assistente."},
        {
            "role": "user",
            "content": f"Ecco alcuni compiti per un assistente che parla italiano:\n\n{shown}\n\n"
            "Inventa UN compito nuovo, diverso da tutti questi per argomento e tipo, che un assistente solo testuale "
            "possa svolgere (niente immagini, audio, video, link o file). Scrivilo in italiano naturale, come lo "
            f"scriverebbe una persona. {need}\n\n{YAML_RULES}\n"
            "idea: |\n  perché il compito è utile e diverso dagli esempi, in una frase\n"
            "istruzione: |\n  il compito\ninput: |\n  l'input, oppure niente",
        },
    ]


def self_instruct_many(examples: list[Example], with_input: bool, count: int) -> list[dict]:
    """Self-Instruct asking for `count` new tasks in one reply (as Alpaca did): the examples are paid for once."""
    shown = "\n\n".join(f"{i}. {_task(e)}" for i, e in enumerate(examples, 1))
    need = (
        "Almeno metà dei compiti deve avere un input: un testo concreto su cui lavorare (un brano, dei dati, una "
        "frase). Gli altri lasciano vuota la chiave input."
        if with_input
        else "I compiti non devono avere bisogno di input: lascia vuota la chiave input."
    )
    return [
        {"role": "system", "content": "Sei un esperto che crea compiti vari e utili per addestrare un assistente."},
        {
            "role": "user",
            "content": f"Ecco alcuni compiti per un assistente che parla italiano:\n\n{shown}\n\n"
            f"Inventa {count} compiti nuovi, diversi da questi e diversi tra loro per argomento e tipo, che un "
            "assistente solo testuale possa svolgere (niente immagini, audio, video, link o file). Scrivili in "
            f"italiano naturale, come li scriverebbe una persona. {need}\n\n"
            f"Rispondi solo con un oggetto YAML con la chiave compiti: un elenco di {count} voci, ciascuna con le "
            "chiavi istruzione e input, usando blocchi `|` per il testo:\n"
            "compiti:\n  - istruzione: |\n      il primo compito\n    input: |\n      l'input, oppure niente\n"
            "  - istruzione: |\n      il secondo compito\n    input: ''",
        },
    ]


# Magpie: the model writes the user's turn itself after an Italian system message; a topic per item gives variety
# even where the server decodes greedily.
MAGPIE_TOPICS = [
    "cucina e ricette", "grammatica e ortografia italiana", "burocrazia e pratiche amministrative",
    "salute e benessere", "storia d'Italia", "arte e letteratura", "viaggi in Italia", "lavoro e curriculum",
    "scuola e studio", "matematica e ragionamento", "tecnologia e informatica", "casa e risparmio",
    "scrittura di email e lettere", "natura e scienza", "sport", "musica e cinema",
]  # fmt: skip
MAGPIE_SYSTEM = (
    "Sei un assistente che parla solo italiano. Gli utenti, tutti italiani, ti fanno domande e ti chiedono aiuto "
    "su: {topic}. Rispondi sempre in un italiano chiaro e corretto."
)
_MAGPIE_MARK = "\x00bottega-magpie\x00"


def magpie_prefix(tokenizer, topic: str) -> tuple[str, str]:
    """The chat template rendered up to where the user's words begin, after an Italian system message: what the
    model continues with a user's request (Magpie); and the marker that ends a user's turn in this template, where
    the request stops."""
    messages = [{"role": "system", "content": MAGPIE_SYSTEM.format(topic=topic)},
                {"role": "user", "content": _MAGPIE_MARK}]  # fmt: skip
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    at = text.index(_MAGPIE_MARK)
    end = text[at + len(_MAGPIE_MARK) :].strip().split()[0] if text[at + len(_MAGPIE_MARK) :].strip() else ""
    return text[:at], end or (tokenizer.eos_token or "")


def backtranslate(passage: str, heading: str = "") -> list[dict]:
    """Instruction backtranslation (Humpback, Genstruct): the request for which a human-written passage is the answer,
    and whether the passage is a good answer at all."""
    context = f"Il testo viene da una sezione intitolata «{heading}».\n\n" if heading else ""
    return [
        {"role": "system", "content": "Sei un esperto che scrive richieste realistiche per addestrare un assistente."},
        {
            "role": "user",
            "content": f"{context}TESTO:\n{passage}\n\n"
            "Scrivi la richiesta, in italiano naturale, che una persona farebbe a un assistente e per cui questo "
            "testo sarebbe una risposta completa e adatta, così com'è. La richiesta non deve citare «il testo». "
            "Se serve, aggiungi un input (dei dati su cui lavorare); altrimenti lascialo vuoto. Prima però dai un "
            "voto da 1 a 5 a quanto il testo funziona come risposta a sé stante (5: perfetta; 1: frammento senza "
            f"senso da solo, indice, elenco di link, testo che rimanda ad altro).\n\n{YAML_RULES}\n"
            "adatto: un numero intero da 1 a 5\nistruzione: |\n  la richiesta\ninput: |\n  l'input, oppure niente",
        },
    ]


def evolve(parent: Example, operation: str) -> list[dict]:
    return [
        {"role": "system", "content": "Sei un esperto che riscrive compiti per metterne alla prova un assistente."},
        {
            "role": "user",
            "content": f"Riscrivi il compito seguente.\n\nCOMPITO:\n{_task(parent)}\n\n"
            f"METODO: {EVOLUTIONS[operation]}\n\n"
            "Il nuovo compito deve restare ragionevole, comprensibile da una persona e risolvibile da un modello "
            "solo testuale; aggiungi al massimo 10-20 parole. Non citare il metodo né le parole 'compito' o "
            f"'riscritto' nel testo del compito.\n\n{YAML_RULES}\n"
            "analisi: |\n  che cosa cambi e perché, in una frase\n"
            "istruzione: |\n  il nuovo compito\ninput: |\n  l'input, oppure niente",
        },
    ]


def answer(example: Example, system: str) -> list[dict]:
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": f"{_task(example)}\n\nRispondi in italiano. {YAML_RULES}\n"
            "ragionamento: |\n  i passaggi che segui, in breve\n"
            "risposta: |\n  la risposta completa per l'utente, che segue il messaggio di sistema",
        },
    ]


def score_messages(example: Example) -> list[dict]:
    return [
        {"role": "system", "content": "Sei un revisore severo di dataset in italiano."},
        {
            "role": "user",
            "content": f"ISTRUZIONE:\n{_task(example)}\n\nRISPOSTA:\n{example.output}\n\n"
            "Valuta la risposta da 1 a 10 considerando correttezza, italiano fluido e naturale, registro adatto alla "
            f"richiesta e completezza.\n\n{YAML_RULES}\n"
            "motivazione: |\n  due o tre frasi\npunteggio: un numero intero da 1 a 10",
        },
    ]


def pick_examples(pool: list[Example], rng: random.Random, k: int = 6) -> list[Example]:
    return rng.sample(pool, min(k, len(pool)))
