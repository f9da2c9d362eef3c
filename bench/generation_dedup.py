"""Dedup benchmark: MinHash LSH against Alpaca's all-pairs ROUGE-L >= 0.7, on 20,000 Italian instructions.

    python bench/generation_dedup.py [--items 20000] [--recall-items 2000] [--sample-pairs 200000] [--seed 0]

The instructions are synthetic but shaped like a generated set: 40 task templates x 180 topics, with openers and up
to three modifiers (audience, length, style, purpose, additions, things to avoid), plus 15% injected near-duplicates
of known originals (punctuation, case, spacing, accent and one-word changes). The set is template-heavy, so it also
holds many natural near-duplicates. Printed, each with its target where it has one:

- time: LSH dedup of all items, measured, against all-pairs ROUGE-L over the same items. All-pairs at 20,000 is 200
  million comparisons, hours on one core, so it is timed on a random sample of pairs and extrapolated (the output
  says so, and from how many pairs). ROUGE-L's side is tokenised beforehand, as Alpaca does; LSH's time includes
  its tokenising. One core each. Also shown: all-pairs ROUGE-L with an exact word-overlap bound that skips most
  LCS computations, a stronger baseline than Alpaca's. Target: >= 50x against Alpaca's.
- recall: on a subset (default 2,000 items, about half of them from injected pairs) all-pairs ROUGE-L is computed
  for real; recall is the share of its >= 0.7 pairs that fall in one LSH duplicate group (the connected components
  of the pairs the Deduplicator flags with every item indexed), and the share it flags directly. Target: >= 95%.
- injected pairs of which both items survive LSH dedup of all items (0% is perfect), and how many items LSH and
  Alpaca's sequential filter each drop from the subset: LSH's word sets at Jaccard 0.5 are looser than ROUGE-L.
"""

import argparse
import os
import platform
import random
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.generate.dedup import Deduplicator, rouge_l_tokens, words  # noqa: E402

SPEEDUP_TARGET = 50.0
RECALL_TARGET = 0.95
ROUGE_THRESHOLD = 0.7

TOPICS = """
    la carbonara|il risotto alla milanese|la pasta fatta in casa|il pesto alla genovese|la pizza napoletana|il tiramisù
    |le lasagne alla bolognese|la caponata siciliana|gli arancini|la ribollita toscana|il ragù|la cassata|i cannoli
    |la polenta|il minestrone|la focaccia ligure|gli gnocchi di patate|il vitello tonnato|la parmigiana di melanzane
    |il pane senza impasto|la conservazione delle verdure|il lievito madre|il caffè espresso|l'olio extravergine
    |la caduta dell'Impero romano|il Risorgimento|la spedizione dei Mille|la Repubblica di Venezia|i Medici
    |il Rinascimento fiorentino|la Prima guerra mondiale|il referendum del 1946|la Costituzione italiana|il Grand Tour
    |i Comuni medievali|la Resistenza|il boom economico degli anni Sessanta|le repubbliche marinare|la Magna Grecia
    |l'Unità d'Italia|la civiltà etrusca|la peste del Trecento|Federico II di Svevia|l'eruzione del Vesuvio del 79
    |la fotosintesi|il ciclo dell'acqua|la tettonica a placche|i buchi neri|il sistema immunitario|i terremoti
    |la teoria dell'evoluzione|l'effetto serra|la struttura del DNA|le onde gravitazionali|i vulcani italiani
    |il sistema solare|la relatività ristretta|le cellule staminali|la tavola periodica|le maree|gli antibiotici
    |l'energia nucleare|il microbioma intestinale|la meccanica quantistica|le api e l'impollinazione|i ghiacciai alpini
    |l'intelligenza artificiale|la crittografia a chiave pubblica|il cloud computing|la blockchain|le reti neurali
    |i database relazionali|il protocollo HTTP|la fibra ottica|i sistemi operativi|la sicurezza delle password
    |il controllo di versione con Git|le auto elettriche|le batterie al litio|la stampa 3D|il 5G|lo SPID
    |la posta elettronica certificata|i linguaggi di programmazione|il phishing|i pannelli solari|il software libero
    |il congiuntivo|la concordanza dei tempi|l'uso dell'apostrofo|gli accenti acuti e gravi|i pronomi relativi
    |il passato remoto|le preposizioni articolate|la differenza tra ne e né|il discorso indiretto|i verbi pronominali
    |i falsi amici tra inglese e italiano|le figure retoriche|i dialetti italiani|la punteggiatura|il condizionale
    |l'uso di gli e le|le parole straniere in italiano|i modi di dire|l'etimologia delle parole|le lettere formali
    |la raccolta differenziata|il bilancio familiare|la ricerca di un appartamento in affitto|il colloquio di lavoro
    |la gestione del tempo|il lavoro da remoto|la scelta di una palestra|l'organizzazione di un trasloco
    |il risparmio energetico in casa|la dichiarazione dei redditi|il rinnovo della carta d'identità|il volontariato
    |l'educazione dei figli|la cura delle piante da appartamento|un viaggio in treno in Italia|l'adozione di un cane
    |la preparazione di un esame|il primo giorno in un nuovo lavoro|la convivenza con i coinquilini|il sonno
    |la Divina Commedia|i Promessi sposi|l'opera lirica|il cinema neorealista|Leonardo da Vinci|Caravaggio
    |la Cappella Sistina|il teatro di Pirandello|la poesia di Leopardi|il Festival di Sanremo|Italo Calvino
    |la commedia dell'arte|Galileo Galilei|Umberto Eco|il design italiano|la moda milanese|Elsa Morante|Fellini
    |l'inflazione|i tassi di interesse|il debito pubblico|la partita IVA|i fondi pensione|il mercato immobiliare
    |le startup innovative|il commercio equo e solidale|la Banca centrale europea|il turismo sostenibile
    |il microcredito|le piccole e medie imprese|l'economia circolare|le criptovalute|il mutuo a tasso fisso
    |lo scontrino elettronico|il Giro d'Italia|la storia della Serie A|la Ferrari in Formula 1|lo sci alpinismo
    |il nuoto in acque libere|le Dolomiti|la laguna di Venezia|i parchi nazionali italiani|le isole Eolie|il Po
    |la via Francigena|Matera|la dieta mediterranea|l'attività fisica dopo i cinquant'anni|lo stress da lavoro
    |la meditazione|la postura|il diritto di recesso|il contratto di affitto|la privacy online|il condominio
    |la separazione dei poteri
"""
TEMPLATES = [
    "Spiega {t}.",
    "Scrivi un breve testo su {t}.",
    "Quali sono i punti principali da conoscere su {t}?",
    "Elenca {n} curiosità poco note su {t}.",
    "Riassumi cosa bisogna sapere su {t}.",
    "Prepara una scaletta per una presentazione su {t}.",
    "Scrivi {n} domande a risposta multipla su {t}, con la soluzione.",
    "Descrivi i pro e i contro di {t}.",
    "Racconta la storia di {t}.",
    "Perché {t} è considerato così importante?",
    "Confronta {t} con {u}, mettendo in evidenza somiglianze e differenze.",
    "Quali errori si commettono più spesso quando si parla di {t}? Elencane {n}.",
    "Scrivi un post per un blog di divulgazione su {t}.",
    "Come spiegheresti {t} con un esempio concreto?",
    "Crea un piccolo glossario con {n} termini legati a {t}.",
    "Scrivi un dialogo tra due amici che discutono di {t}.",
    "Proponi {n} idee per un progetto scolastico su {t}.",
    "Qual è il legame tra {t} e {u}?",
    "Scrivi l'introduzione di un articolo su {t}.",
    "Dammi {n} consigli pratici per approfondire {t}.",
    "Smentisci {n} luoghi comuni su {t}, spiegando perché sono sbagliati.",
    "Immagina di essere una guida e presenta {t}.",
    "Scrivi una lettera a un amico in cui gli parli di {t}.",
    "Prepara un piano di studio di una settimana su {t}.",
    "Mi hanno chiesto di parlare di {t}: da dove comincio?",
    "Sto preparando un esame e non ho capito bene {t}. Me lo spieghi?",
    "Che cosa pensava la gente di {t} cinquant'anni fa, e che cosa è cambiato?",
    "Inventa un quiz di {n} domande su {t} per una serata tra amici.",
    "Scrivi una filastrocca su {t}.",
    "Fai finta di essere un professore in pensione e racconta {t}.",
    "Quali libri consiglieresti a chi vuole capire {t}? Indicane {n}.",
    "Trasforma una spiegazione di {t} in un elenco di {n} passaggi chiari.",
    "Che cosa sorprende di più chi scopre {t} per la prima volta?",
    "Scrivi un tweet di al massimo 280 caratteri su {t}.",
    "Un mio amico sostiene che {t} sia sopravvalutato. Come gli risponderesti?",
    "Descrivi {t} come se fosse un personaggio di un romanzo.",
    "In che modo {t} ha influenzato {u}?",
    "Prepara {n} slide su {t}: per ciascuna scrivi titolo e contenuto.",
    "Qual è la domanda più difficile che si potrebbe fare su {t}? Prova anche a rispondere.",
    "Scrivi la voce di un'enciclopedia per ragazzi dedicata a {t}.",
]
OPENERS = ["", "", "", "", "Per favore, ", "Ho bisogno di una mano: ", "Domanda veloce: ", "Ciao! ", "Una richiesta: "]
# Each instruction gets up to three of these, each with one of its fillings: the variety a generated set has.
MODIFIERS = {
    "Rivolgiti a {}.": """un bambino di dieci anni|uno studente delle superiori|un turista straniero|mia nonna
        |un collega che non ne sa nulla|un esperto del settore|chi inizia da zero|una classe di universitari
        |i lettori di un quotidiano|un pubblico di pensionati|un gruppo di manager|dei genitori preoccupati""",
    "Rispondi {}.": """in tre frasi|in meno di cento parole|in modo dettagliato|in un solo paragrafo
        |con un elenco puntato|in poche righe|passo dopo passo|in modo semplice|con una tabella
        |in forma di domande e risposte""",
    "Scrivi {}.": """con un tono ironico|in stile giornalistico|con un linguaggio semplice|in tono formale
        |con qualche citazione|in modo coinvolgente|con un pizzico di umorismo|in forma di racconto
        |come un vecchio maestro di bottega|in rima|con il tono di una guida turistica|in modo poetico""",
    "Mi serve {}.": """per il giornalino della scuola|per una newsletter aziendale|per un esame orale|per una cena
        |per una lezione alle medie|per il sito del comune|per una riunione di condominio|per un podcast
        |per una tesina|per un corso serale|per il mio blog|per un volantino|per una conferenza""",
    "Aggiungi {}.": """un esempio concreto|una domanda finale per il lettore|un titolo accattivante|un aneddoto
        |una fonte autorevole|un breve riassunto finale|una tabella di confronto|tre parole chiave
        |un consiglio pratico|una curiosità storica""",
    "Evita {}.": """i termini tecnici|gli elenchi puntati|le frasi troppo lunghe|i luoghi comuni|le ripetizioni
        |di superare le duecento parole|gli anglicismi|il gergo burocratico""",
}
NUMBERS = ["tre", "quattro", "cinque", "sei", "sette", "dieci"]
SYNONYMS = {
    "breve": "corto",
    "principali": "fondamentali",
    "scrivi": "redigi",
    "spiega": "illustra",
    "elenca": "indica",
    "consigli": "suggerimenti",
    "idee": "proposte",
    "importante": "rilevante",
    "semplice": "chiaro",
    "dettagliato": "approfondito",
    "testo": "articolo",
    "amico": "conoscente",
    "errori": "sbagli",
}
ACCENTS = [("è", "e'"), ("perché", "perchè"), ("à", "a'"), ("ù", "u"), ("ì", "i'"), ("é", "è")]


def _options(text: str) -> list[str]:
    return [" ".join(item.split()) for item in text.split("|")]


def make_instruction(rng: random.Random, topics: list[str]) -> str:
    core = rng.choice(TEMPLATES).format(t=rng.choice(topics), u=rng.choice(topics), n=rng.choice(NUMBERS))
    opener = rng.choice(OPENERS)
    if opener.endswith((", ", ": ")):
        core = core[0].lower() + core[1:]
    modifiers = [
        m.format(rng.choice(_options(MODIFIERS[m]))) for m in rng.sample(sorted(MODIFIERS), rng.randint(0, 3))
    ]
    text = " ".join([opener + core, *modifiers])
    return _ARTICLES.sub(lambda m: _contract(m[1].lower(), m[2].lower(), m[1][0].isupper()), text)


_ARTICLES = re.compile(r"\b(di|a|da|in|su) (il|lo|la|i|gli|le|l')(?: |(?<=')|\b)", re.I)
_STEMS = {"di": "de", "a": "a", "da": "da", "in": "ne", "su": "su"}


def _contract(preposition: str, article: str, capital: bool) -> str:
    """Contract "di il" into "del", "su l'" into "sull'", as an Italian writer would."""
    stem = _STEMS[preposition]
    if article == "il":
        word = {"di": "del", "a": "al", "da": "dal", "in": "nel", "su": "sul"}[preposition]
    elif article == "i":
        word = {"di": "dei", "a": "ai", "da": "dai", "in": "nei", "su": "sui"}[preposition]
    elif article == "gli":
        word = stem + "gli"
    elif article == "l'":
        return (stem + "ll'").capitalize() if capital else stem + "ll'"
    else:
        word = stem + "l" + article
    return (word.capitalize() if capital else word) + " "


def near_duplicate(rng: random.Random, text: str) -> str:
    """A copy of `text` with one or two small edits."""
    kinds = rng.sample(["punteggiatura", "maiuscole", "spazi", "accenti", "parola"], k=rng.choice([1, 1, 2]))
    for kind in kinds:
        if kind == "punteggiatura":
            text = rng.choice(
                [text.rstrip(".?!") + "!", text.replace(",", "") + "...", text.replace(". ", "; ", 1) + "!!"]
            )
        elif kind == "maiuscole":
            text = rng.choice([text.lower(), text.upper(), text.title()])
        elif kind == "spazi":
            text = rng.choice(["  ".join(text.split(" ")), text.replace(" ", "\n", 2), f"  {text}\t"])
        elif kind == "accenti":
            pairs = [(a, b) for a, b in ACCENTS if a in text]
            if pairs:
                text = text.replace(*rng.choice(pairs), 1)
            else:
                text = unicodedata.normalize("NFD", text)
        else:
            tokens = text.split(" ")
            i = rng.randrange(len(tokens))
            swap = SYNONYMS.get(tokens[i].lower())
            if swap:
                tokens[i] = swap
            elif rng.random() < 0.5 and len(tokens) > 6:
                del tokens[i]
            else:
                tokens.insert(i, rng.choice(["per favore", "anche", "bene", "davvero", "magari"]))
            text = " ".join(tokens)
    return text


def build_items(n: int, seed: int, duplicate_share: float = 0.15) -> tuple[list[str], dict[int, int]]:
    """`n` instructions; the injected near-duplicates as {index of the copy: index of its original}."""
    rng = random.Random(seed)
    topics = _options(TOPICS)
    originals: list[str] = []
    seen: set[str] = set()
    while len(originals) < round(n * (1 - duplicate_share)):
        text = make_instruction(rng, topics)
        if text not in seen:
            seen.add(text)
            originals.append(text)
    items = list(originals)
    injected: dict[int, int] = {}
    while len(items) < n:
        source = rng.randrange(len(originals))
        items.append(near_duplicate(rng, originals[source]))
        injected[len(items) - 1] = source
    order = list(range(n))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    return [items[i] for i in order], {position[c]: position[o] for c, o in injected.items()}


def alpaca_pairs(tokens: list[list[str]]) -> list[tuple[int, int, float]]:
    """Every pair (i, j, score) with ROUGE-L >= 0.7, computed for real. Pairs whose word overlap cannot reach 0.7
    are skipped without the LCS: the LCS is never longer than the overlap, so the result is exact."""
    sets = [frozenset(t) for t in tokens]
    repeats = [len(t) - len(s) for t, s in zip(tokens, sets, strict=True)]
    pairs = []
    for i in range(len(tokens)):
        for j in range(i + 1, len(tokens)):
            if _could_reach(tokens, sets, repeats, i, j):
                score = rouge_l_tokens(tokens[i], tokens[j])
                if score >= ROUGE_THRESHOLD:
                    pairs.append((i, j, score))
    return pairs


def _could_reach(tokens, sets, repeats, i: int, j: int) -> bool:
    overlap = len(sets[i] & sets[j]) + min(repeats[i], repeats[j])
    return 2 * overlap >= ROUGE_THRESHOLD * (len(tokens[i]) + len(tokens[j]))


def lsh_dedup(texts: list[str]) -> tuple[set[int], float]:
    """Run the Deduplicator over the texts in order, as a generation run does: the indices it kept, and the seconds."""
    dedup = Deduplicator()
    start = time.perf_counter()
    kept = {i for i, text in enumerate(texts) if dedup.add(str(i), text) is None}
    return kept, time.perf_counter() - start


def lsh_pairs(texts: list[str]) -> set[tuple[int, int]]:
    """Every pair (i, j), i < j, that LSH flags when all texts are indexed, duplicates included."""
    dedup = Deduplicator()
    pairs = set()
    for j, text in enumerate(texts):
        pairs.update((int(key), j) for key, _ in dedup.similar(text))
        dedup.extend([(str(j), text)])
    return pairs


def lsh_groups(texts: list[str]) -> list[int]:
    """Each text's duplicate group: the connected components of `lsh_pairs`."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in lsh_pairs(texts):
        parent[root(i)] = root(j)
    return [root(i) for i in range(len(texts))]


def seconds_per_pair(tokens: list[list[str]], pairs: list[tuple[int, int]], pruned: bool) -> float:
    sets = [frozenset(t) for t in tokens]
    repeats = [len(t) - len(s) for t, s in zip(tokens, sets, strict=True)]
    start = time.perf_counter()
    for i, j in pairs:
        if not pruned or _could_reach(tokens, sets, repeats, i, j):
            rouge_l_tokens(tokens[i], tokens[j])
    return (time.perf_counter() - start) / len(pairs)


def recall_subset(rng: random.Random, n_items: int, size: int, injected: dict[int, int]) -> list[int]:
    """About half near-duplicate pairs (an injected copy and its original), the rest drawn at random."""
    chosen: set[int] = set()
    for copy in rng.sample(sorted(injected), len(injected)):
        if len(chosen) >= size // 2:
            break
        chosen.update((copy, injected[copy]))
    while len(chosen) < size:
        chosen.add(rng.randrange(n_items))
    return sorted(chosen)  # generation order, as a real run would meet them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--recall-items", type=int, default=2_000)
    parser.add_argument("--sample-pairs", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    items, injected = build_items(args.items, args.seed)
    processor = platform.processor() or platform.machine()
    print(f"machine: {processor}, {os.cpu_count()} cores, Python {platform.python_version()}; one core used")
    print(
        f"items: {len(items):,} Italian instructions, {len(injected):,} of them injected near-duplicates,"
        f" seed {args.seed}"
    )
    median_words = statistics.median(len(words(t)) for t in items)
    print(f"words per instruction: median {median_words:.0f}\n")

    kept, lsh_seconds = lsh_dedup(items)
    both_kept = sum(1 for copy, original in injected.items() if copy in kept and original in kept)

    tokens = [words(t) for t in items]
    n_pairs = len(items) * (len(items) - 1) // 2
    sample = [tuple(sorted(rng.sample(range(len(items)), 2))) for _ in range(args.sample_pairs)]
    rouge_seconds = seconds_per_pair(tokens, sample, pruned=False) * n_pairs
    pruned_seconds = seconds_per_pair(tokens, sample, pruned=True) * n_pairs

    subset = recall_subset(rng, len(items), args.recall_items, injected)
    texts = [items[i] for i in subset]
    pairs = alpaca_pairs([tokens[i] for i in subset])
    groups = lsh_groups(texts)
    found = sum(1 for i, j, _ in pairs if groups[i] == groups[j])
    recall = found / len(pairs) if pairs else 1.0
    flagged = lsh_pairs(texts)
    direct = sum(1 for i, j, _ in pairs if (i, j) in flagged)
    sub_kept, _ = lsh_dedup(texts)
    left = sum(1 for i, j, _ in pairs if i in sub_kept and j in sub_kept)
    alpaca_dropped = _alpaca_sequential(len(subset), pairs)
    lsh_dropped = set(range(len(subset))) - sub_kept

    speedup = rouge_seconds / lsh_seconds
    print(f"{'measure':<60}{'value':>12}{'target':>10}")
    print(f"{'(a) MinHash LSH dedup of all items (measured)':<60}{lsh_seconds:>11.2f}s")
    print(f"{'(b) all-pairs ROUGE-L, as Alpaca (extrapolated*)':<60}{rouge_seconds:>11.0f}s")
    print(f"{'    speed ratio (b)/(a)':<60}{speedup:>11.0f}x{SPEEDUP_TARGET:>9.0f}x")
    print(f"{'(c) all-pairs ROUGE-L, exact word-overlap pruning (extrap.*)':<60}{pruned_seconds:>11.0f}s")
    print(f"{'    speed ratio (c)/(a)':<60}{pruned_seconds / lsh_seconds:>11.0f}x")
    subset_label = f"recall of ROUGE-L >= 0.7 pairs ({len(subset):,}-item subset)"
    print(f"{subset_label:<60}{recall:>12.1%}{RECALL_TARGET:>10.0%}")
    print(f"{'    of them flagged directly, not through a third item':<60}{direct / max(len(pairs), 1):>12.1%}")
    print(f"{'injected near-duplicate pairs left whole after LSH dedup':<60}{both_kept / len(injected):>12.1%}")
    print(
        f"\n* {n_pairs:,} pairs, at the time per pair measured on {len(sample):,} random pairs tokenised beforehand."
        f"\nrecall: {found:,} of the subset's {len(pairs):,} ROUGE-L pairs fall in one LSH duplicate group;"
        f" after LSH dedup of the subset both items of {left:,} of them are still there."
        f"\nLSH flags {len(flagged):,} pairs in the subset, ROUGE-L {len(pairs):,}: word sets at 0.5 are looser."
        f"\nitems dropped from the subset: Alpaca's sequential filter {len(alpaca_dropped):,},"
        f" LSH {len(lsh_dropped):,}, both {len(alpaca_dropped & lsh_dropped):,}."
        f" LSH dropped {len(items) - len(kept):,} of all {len(items):,}."
    )


def _alpaca_sequential(n: int, pairs: list[tuple[int, int, float]]) -> set[int]:
    """What Alpaca's filter drops: an item with ROUGE-L >= 0.7 against any earlier item it kept."""
    similar: dict[int, set[int]] = {}
    for i, j, _ in pairs:
        similar.setdefault(j, set()).add(i)
    dropped: set[int] = set()
    for j in range(n):
        if similar.get(j, set()) - dropped:
            dropped.add(j)
    return dropped


if __name__ == "__main__":
    main()
