"""Reply shapes and their regexes: every reply the regex admits is YAML that parses to the text it holds, with the
required keys; what a teacher commonly gets wrong is not admitted; bounds keep the keys that matter reachable."""

import random
import re

import pytest

from pipeline.evaluate import JUDGE
from pipeline.generate import prompts
from pipeline.structured import TEXT, Choice, Items, Shape, Text
from pipeline.teacher import parse_yaml_reply

# Lines a parser could mistake for structure if they were not inside a literal block.
HOSTILE = [
    "chiave: valore", "- un punto", "# non è un commento", "'virgolette", '"doppie', "|", ">", "---", "...",
    "```python", "print('ciao')", "```", "{a: 1}", "[1, 2]", "&ancora *alias", "!tag", "%direttiva", "@chiocciola",
    "Perché è così? Però sì: «citazione».", "spazio\u00a0non\u00a0separabile", "emoji 🇮🇹 e àèéìòù", "  rientro",
]  # fmt: skip


def _text(rng: random.Random, lines: int, width: int = 60) -> str:
    chosen = [rng.choice(HOSTILE + ["Una frase normale, in italiano."])[:width] for _ in range(lines)]
    chosen[0] = chosen[0].lstrip() or "x"  # a block's first line sets its indentation: it starts with text
    if lines > 2:
        chosen.insert(1, "")  # one blank line between paragraphs
    return "\n".join(chosen)


def _block(text: str, indent: int) -> str:
    return "|\n" + "".join((" " * indent + line if line else "") + "\n" for line in text.split("\n"))


def _reply(fields, rng: random.Random, indent: int = 0, lead: str = "") -> tuple[str, dict]:
    """A reply of the shape's fields with random hostile content, and the mapping it must parse to."""
    out, expected = "", {}
    for i, (key, kind) in enumerate(fields):
        prefix = lead if i == 0 and lead else " " * indent
        if isinstance(kind, Items):
            entries = [_reply(kind.fields, rng, indent + 4, " " * (indent + 2) + "- ") for _ in range(kind.count)]
            out += f"{prefix}{key}:\n" + "".join(text for text, _ in entries)
            expected[key] = [value for _, value in entries]
        elif isinstance(kind, Choice):
            value = rng.choice(kind.values)
            out += f"{prefix}{key}: {value}\n"
            expected[key] = value
        elif kind.optional and rng.random() < 0.3:
            out += f"{prefix}{key}: ''\n"
            expected[key] = ""
        else:
            text = _text(rng, rng.randint(1, kind.max_lines or 4), kind.max_chars or 60)
            out += f"{prefix}{key}: {_block(text, indent + 2)}"
            expected[key] = text + "\n"
    return out, expected


SHAPES = {
    "task": prompts.NEW_TASK,
    "evolved": prompts.EVOLVED_TASK,
    "backtranslation": prompts.BACKTRANSLATION,
    "answer": prompts.ANSWER,
    "score": prompts.SCORE,
    "judge": JUDGE,
    "3 tasks": prompts.new_tasks(3),
}


@pytest.mark.parametrize("name", SHAPES)
def test_every_reply_the_regex_admits_parses_to_its_text_with_the_required_keys(name):
    shape = SHAPES[name]
    regex = re.compile(shape.regex())
    rng = random.Random(name)
    for _ in range(40):
        reply, expected = _reply(shape.fields, rng)
        assert regex.fullmatch(reply), reply
        parsed = parse_yaml_reply(reply, shape.keys)
        assert set(shape.keys) <= set(parsed)
        for key, value in expected.items():
            if isinstance(value, str):  # top-level strings come back stripped; numbers as numbers
                assert str(parsed[key]).strip() == value.strip(), (key, reply)
            else:
                assert [{k: (v or "").strip() for k, v in e.items()} for e in parsed[key]] == [
                    {k: str(v).strip() for k, v in e.items()} for e in value
                ]


def test_a_code_fence_inside_an_answer_stays_part_of_the_answer():
    reply = "ragionamento: |\n  Serve un esempio.\nrisposta: |\n  Così:\n  ```python\n  print('ciao')\n  ```\n"
    assert re.fullmatch(prompts.ANSWER.regex(), reply)
    assert parse_yaml_reply(reply, ["risposta"])["risposta"] == "Così:\n```python\nprint('ciao')\n```"
    # a reply wrapped in a fence, as chat models often write it, is still unwrapped
    assert parse_yaml_reply("Ecco:\n```yaml\nrisposta: |\n  Sì.\n```", ["risposta"]) == {"risposta": "Sì."}


@pytest.mark.parametrize(
    "reply",
    [
        "Ecco la risposta:\nragionamento: |\n  a\nrisposta: |\n  b\n",  # a preamble
        "```yaml\nragionamento: |\n  a\nrisposta: |\n  b\n```\n",  # a fence around it
        "risposta: |\n  b\n",  # a key missing
        "ragionamento: |\n  a\nrisposta: |\n  b\n        \n  c\n",  # a line of only spaces
        "ragionamento: |\n  a\nrisposta: |\n  b\n\n\n  c\n",  # two blank lines in a row
        "ragionamento: |\n    a\nrisposta: |\n  b\n",  # a first line that would set a deeper indentation
        "ragionamento: a\nrisposta: |\n  b\n",  # a plain scalar where a block goes
        "ragionamento: |\n  a\u0007\nrisposta: |\n  b\n",  # a control character YAML refuses
        "ragionamento: |\n  a\u2028b\nrisposta: |\n  c\n",  # a line separator, where YAML breaks the line
        "ragionamento: |\n  a\nrisposta: |\n  b\naltro: |\n  c\n",  # a key after the last
    ],
)
def test_what_teachers_get_wrong_is_not_admitted(reply):
    assert not re.fullmatch(prompts.ANSWER.regex(), reply)


def test_a_choice_admits_only_its_values():
    regex = re.compile(prompts.SCORE.regex())
    assert regex.fullmatch("motivazione: |\n  Buona.\npunteggio: 10\n")
    assert regex.fullmatch("motivazione: |\n  Buona.\npunteggio: 1\n")
    for wrong in ("0", "11", "sette", "7/10", "'7'"):
        assert not regex.fullmatch(f"motivazione: |\n  Buona.\npunteggio: {wrong}\n")
    assert not re.fullmatch(JUDGE.regex(), "motivazione: |\n  Meglio A.\nmigliore: C\n")


def test_a_list_has_exactly_its_count_of_entries():
    regex = re.compile(prompts.new_tasks(2).regex())
    entry = "  - istruzione: |\n      Scrivi una poesia.\n    input: ''\n"
    assert regex.fullmatch("compiti:\n" + entry * 2)
    assert not regex.fullmatch("compiti:\n" + entry)
    assert not regex.fullmatch("compiti:\n" + entry * 3)


def test_bounds_before_the_required_keys_fit_half_the_reply_at_one_token_per_character():
    shape = Shape((("ragionamento", Text(max_lines=4, max_chars=200)), ("risposta", TEXT)), required=("risposta",))
    regex = re.compile(shape.regex(max_tokens=256))  # 128 characters for the reasoning, on one line
    assert regex.fullmatch(f"ragionamento: |\n  {'1' * 128}\nrisposta: |\n  {'x' * 5000}\n")
    assert not regex.fullmatch(f"ragionamento: |\n  {'1' * 129}\nrisposta: |\n  b\n")
    assert not regex.fullmatch("ragionamento: |\n  a\n  b\nrisposta: |\n  c\n")
    roomy = re.compile(shape.regex(max_tokens=1024))  # 512 characters: two lines of 200
    assert roomy.fullmatch(f"ragionamento: |\n  {'a' * 200}\n  {'b' * 200}\nrisposta: |\n  c\n")
    assert not roomy.fullmatch(f"ragionamento: |\n  {'a' * 200}\n  b\n  c\nrisposta: |\n  d\n")
    # keys after the last required one, and the required ones, keep their own bounds
    fitted = dict(prompts.NEW_TASK._fitted(256))
    assert fitted["istruzione"] == prompts.TASK and fitted["input"] == prompts.TASK_INPUT
    assert fitted["idea"].max_chars * fitted["idea"].max_lines <= 128


def test_every_shape_compiles_in_llguidance_over_the_bundled_tokenizer(bundled_model):
    import llguidance
    import llguidance.hf
    from transformers import AutoTokenizer

    tokenizer = llguidance.hf.from_tokenizer(AutoTokenizer.from_pretrained(bundled_model))
    for shape in SHAPES.values():
        for max_tokens in (None, 256):
            matcher = llguidance.LLMatcher(tokenizer, llguidance.LLMatcher.grammar_from_regex(shape.regex(max_tokens)))
            assert not matcher.is_error(), matcher.get_error()
