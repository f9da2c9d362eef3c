"""Documents cut into passages for instruction backtranslation: on paragraph boundaries, never inside a word, with
where each came from; what cannot be read is refused naming the file and the fix."""

import json
from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.generate.passages import split_documents, split_text

SAMPLES = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "documenti"


def _whole_words(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return before.isspace() and after.isspace()


def test_the_shipped_documents_split_on_paragraphs_with_their_offsets() -> None:
    passages = split_documents([SAMPLES])
    assert len(passages) >= 10
    for passage in passages:
        text = Path(passage.source).read_text(encoding="utf-8")
        assert text[passage.start : passage.end] == passage.text  # the offsets point at the passage in its file
        assert _whole_words(text, passage.start, passage.end)
        assert "\n\n" not in passage.text.strip() or len(passage.text) < 1500  # paragraphs join only while short
        assert not passage.text.startswith("#")  # headings are context, not answers
    assert {p.heading for p in passages} >= {"Il caffè con la moka", "Gli errori più comuni", "Lo SPID in breve"}


def test_short_paragraphs_join_and_a_long_one_is_cut_between_sentences() -> None:
    short = "Primo pezzo breve.\n\nSecondo pezzo breve.\n\n"
    long = " ".join(f"Questa è la frase numero {i}, che parla di caffè e di moka." for i in range(60))
    text = short + long + "\n"
    passages = split_text(text, "prova.md", min_chars=30, max_chars=400)
    assert passages[0].text == "Primo pezzo breve.\n\nSecondo pezzo breve."
    cut = passages[1:]
    assert len(cut) > 3 and all(len(p.text) <= 400 for p in cut)
    assert all(p.text.endswith(".") and _whole_words(text, p.start, p.end) for p in cut)
    assert " ".join(p.text for p in cut) == long  # nothing lost between the pieces


def test_passage_lists_in_yaml_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "brani.yaml").write_text("- Il primo brano.\n- text: Il secondo brano.\n", encoding="utf-8")
    (tmp_path / "brani.jsonl").write_text(json.dumps({"text": "Il terzo brano."}) + "\n", encoding="utf-8")
    texts = [p.text for p in split_documents([tmp_path])]
    assert sorted(texts) == ["Il primo brano.", "Il secondo brano.", "Il terzo brano."]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("manuale.md", b"Testo\x00\x01\x02 binario", "file binario"),
        ("vecchio.txt", "caffè".encode("latin-1"), "UTF-8"),
        ("foto.jpg", b"\xff\xd8\xff", "testo o Markdown"),
        ("brani.yaml", b"chiave: valore\n", "elenco di passaggi"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_file(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as refused:
        split_documents([path])
    assert "`documents`" in str(refused.value) and name in str(refused.value) and words in str(refused.value)


def test_a_missing_path_or_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="non esiste"):
        split_documents([tmp_path / "manca"])
    with pytest.raises(UserError, match="nessun documento"):
        split_documents([tmp_path])
