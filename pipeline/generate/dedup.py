"""Near-duplicate removal for generated instructions: MinHash LSH, with ROUGE-L as the reference it replaces.

    from pipeline.generate.dedup import Deduplicator
    dedup = Deduplicator()
    dedup.extend((e.id, e.instruction) for e in seed.examples)  # the seed, then what the run accepted so far
    duplicate_of = dedup.add("gen-00042", "Spiega la fotosintesi a un bambino.")  # None: new, and now remembered

Self-instruct and Alpaca drop a new instruction whose ROUGE-L with any kept one is >= 0.7: every candidate is
compared with every kept instruction, which is quadratic and takes hours at 20,000 instructions. MinHash LSH finds
the same pairs in roughly constant time per candidate: `bench/generation_dedup.py` measures both, and finds 99.9% of
ROUGE-L's pairs at over 2,000x the speed.

A text is the set of its `words`: casefolded, NFC, split on anything that is not a letter or digit, so case,
punctuation, spacing and composed-vs-decomposed accents make no difference, while the accents themselves stay
("pèsca" and "pesca" are different words, as they are for `rouge_l` here). Single words, not bigrams or character
n-grams: on the bench they follow ROUGE-L most closely (for the same recall, the fewest pairs that ROUGE-L would
not flag). Word sets ignore order, so at the default threshold LSH flags more than ROUGE-L does: on the bench's
template-heavy set it drops about a quarter more items than Alpaca's filter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Casefolded word tokens, accents kept: the unit of both ROUGE-L and the shingles."""
    return _WORD.findall(unicodedata.normalize("NFC", text.casefold()))


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts on `words` (no stemming, accents kept): Alpaca's duplicate test, >= 0.7."""
    return rouge_l_tokens(words(a), words(b))


def rouge_l_tokens(a: list[str], b: list[str]) -> float:
    """ROUGE-L F-measure of two token lists, for callers that tokenise once and compare many times."""
    if not a or not b:
        return 0.0
    lcs = _lcs_length(a, b)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(b), lcs / len(a)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


DEFAULT_THRESHOLD = 0.5
"""Jaccard similarity of the word sets from which two texts are near-duplicates. A word-set F1 of 0.7 is a Jaccard of
0.54, and 97% of the bench's ROUGE-L >= 0.7 pairs are at 0.52 or more: 0.5 finds them (0.55 would lose a tenth)."""
DEFAULT_NUM_PERM = 256
"""Permutations per MinHash: the Jaccard estimate has a standard error of about 0.03 at 0.5 with 256 (0.044 with
128, which loses a few more true pairs just above the threshold)."""
_CANDIDATE_PROBABILITY = 0.95  # a pair exactly at the threshold becomes an LSH candidate at least this often
_SEED = 1  # MinHash permutations: fixed, so that a rebuilt index gives the same answers


class Deduplicator:
    """Remembers accepted texts and tells whether a new one is a near-duplicate of one of them.

    MinHash LSH over word sets: banding finds candidates, then each candidate's estimated Jaccard similarity is
    checked against `threshold`, so a match is never a mere hash collision. After a crash, rebuild it by
    `extend`ing a new one with the same items in the same order (the seed set, then the accepted examples): the
    answers are the same, since the permutations are seeded. It also pickles (its state is the signatures).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM):
        problems = []
        if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 < threshold <= 1:
            problems.append(f"`threshold` deve essere tra 0 (escluso) e 1, invece è {threshold!r}")
        if not isinstance(num_perm, int) or isinstance(num_perm, bool) or num_perm < 16:
            problems.append(f"`num_perm` deve essere un intero >= 16, invece è {num_perm!r}")
        if problems:
            raise ValueError("\n".join(problems))
        self.threshold = float(threshold)
        self.num_perm = num_perm
        self._signatures: dict[str, Any] = {}  # key -> uint32 MinHash values, in insertion order
        self._build()

    def _build(self) -> None:
        from datasketch import MinHash, MinHashLSH

        self._position = {key: i for i, key in enumerate(self._signatures)}
        self._permutations = MinHash(num_perm=self.num_perm, seed=_SEED).permutations
        self._lsh = MinHashLSH(num_perm=self.num_perm, params=_banding(self.threshold, self.num_perm))
        for key, values in self._signatures.items():
            self._lsh.insert(key, self._minhash(values), check_duplication=False)

    def __len__(self) -> int:
        return len(self._signatures)

    def __contains__(self, key: object) -> bool:
        return key in self._signatures

    def find(self, text: str) -> str | None:
        """The key of the most similar remembered text at or above the threshold (the earliest on a tie), or None."""
        matches = self._matches(self.signature(text))
        return matches[0][0] if matches else None

    def similar(self, text: str) -> list[tuple[str, float]]:
        """Every remembered (key, estimated Jaccard similarity) at or above the threshold, most similar first."""
        return self._matches(self.signature(text))

    def add(self, key: str, text: str) -> str | None:
        """Remember `text` under `key` and return None, or return the key of the near-duplicate that stops it."""
        self._check_new(key)
        values = self.signature(text)
        matches = self._matches(values)
        if matches:
            return matches[0][0]
        self._insert(key, values)
        return None

    def extend(self, items: Iterable[tuple[str, str]]) -> None:
        """Remember every (key, text) without checking them against each other: the seed set, or the examples a run
        accepted before it stopped (extending a new Deduplicator with them, in order, rebuilds the old one)."""
        for key, text in items:
            self._check_new(key)
            self._insert(key, self.signature(text))

    def _check_new(self, key: str) -> None:
        if key in self._signatures:
            raise ValueError(f"la chiave {key!r} è già nell'indice dei duplicati: ogni esempio ha un id unico")

    def _insert(self, key: str, values: Any) -> None:
        self._position[key] = len(self._signatures)
        self._signatures[key] = values
        self._lsh.insert(key, self._minhash(values), check_duplication=False)

    def signature(self, text: str) -> Any:
        """The MinHash values (numpy uint32) of the text's word set."""
        from datasketch import MinHash

        minhash = MinHash(num_perm=self.num_perm, seed=_SEED, permutations=self._permutations, scheme="affine32")
        minhash.update_batch([word.encode() for word in set(words(text))])
        return minhash.hashvalues

    def _matches(self, values: Any) -> list[tuple[str, float]]:
        import numpy as np

        candidates = list(self._lsh.query(self._minhash(values)))
        if not candidates:
            return []
        stacked = np.stack([self._signatures[key] for key in candidates])
        similarity = np.count_nonzero(stacked == values, axis=1) / self.num_perm
        # Most similar first; on a tie, the earliest remembered.
        found = sorted(
            (-float(s), self._position[key], key)
            for key, s in zip(candidates, similarity, strict=True)
            if s >= self.threshold
        )
        return [(key, -s) for s, _, key in found]

    def _minhash(self, values: Any) -> Any:
        from datasketch import LeanMinHash

        return LeanMinHash(seed=_SEED, hashvalues=values, scheme="affine32")

    def __getstate__(self) -> dict[str, Any]:
        # The signatures are the state; the LSH tables are rebuilt from them.
        return {"threshold": self.threshold, "num_perm": self.num_perm, "signatures": self._signatures}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.threshold, self.num_perm, self._signatures = state["threshold"], state["num_perm"], state["signatures"]
        self._build()


def _banding(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH bands and rows per band: the most rows (fewest useless candidates) that still make a pair exactly at the
    threshold a candidate with probability >= _CANDIDATE_PROBABILITY. 0.5 and 256 give 64 bands of 4 rows."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= _CANDIDATE_PROBABILITY:
            return bands, rows
    return num_perm, 1
