"""The shape of a teacher's YAML reply, and the regular expression that matches only replies of that shape: what a
server that supports constrained decoding decodes under, so that every reply parses with the requested keys.

    shape = Shape((("ragionamento", TEXT), ("risposta", TEXT)), required=("risposta",))
    extra_body = {"structured_outputs": {"regex": shape.regex()}}   # vLLM >= 0.12, Bottega's local server

A reply of the shape is one YAML mapping with the keys in order. Text goes in `|` literal block scalars indented by
two spaces: any character but control characters, so every line is valid YAML whatever it says; each line has
something besides spaces, with one blank line at most between lines. A choice is one of a few plain scalars (a 1-10
score, "A"/"B"/"pari"); a list is a fixed number of mappings. Nothing comes before the mapping (no preamble, no code
fence) and nothing after it.

The regex uses only what Python's `re`, Rust's `regex` (llguidance) and xgrammar all read the same way: literals,
classes with `\\xHH` and `\\uHHHH` escapes, groups, alternation, `*`, `+`, `?`, `{n}` and `{m,n}`.
"""

import re
from dataclasses import dataclass, replace

# Anything on a line but control characters (YAML refuses most of them), the line and paragraph separators (YAML
# breaks lines there), the byte-order mark and the non-characters.
_NOT_TEXT = r"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff"
_CHAR = f"[^{_NOT_TEXT}]"
_FIRST = f"[^ {_NOT_TEXT}]"  # a block's first character sets its indentation: not a space


@dataclass(frozen=True)
class Text:
    """A `|` block of one or more lines; `optional`: or `''`. `max_lines`, `max_chars` (per line) bound it: a small
    model that loops inside a reasoning key would otherwise spend the reply's whole token budget before the keys
    that matter."""

    optional: bool = False
    max_lines: int | None = None
    max_chars: int | None = None


@dataclass(frozen=True)
class Choice:
    """One of `values`, as a plain scalar."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Items:
    """A list of exactly `count` mappings with `fields`."""

    count: int
    fields: tuple[tuple[str, "Text | Choice"], ...]


TEXT = Text()


def score(low: int, high: int) -> Choice:
    """An integer from `low` to `high`."""
    return Choice(tuple(str(n) for n in range(low, high + 1)))


def _block(indent: int, text: Text) -> str:
    pad = " " * indent
    rest = "*" if text.max_chars is None else f"{{0,{text.max_chars - 1}}}"
    more = "*" if text.max_lines is None else f"{{0,{text.max_lines - 1}}}"
    deeper = " *" if text.max_chars is None else " {0,8}"  # a bounded text cannot hide a loop in its indentation
    line = f"{pad}{deeper}{_FIRST}{_CHAR}{rest}\\n"  # something besides spaces on every line: no empty-line runs
    first = f"\\|\\n{pad}{_FIRST}{_CHAR}{rest}\\n"
    return first if text.max_lines == 1 else f"{first}(\\n?{line}){more}"


def _value(kind: "Text | Choice", indent: int) -> str:
    if isinstance(kind, Choice):
        # longest first: where one value is a prefix of another ("1", "10"), both stay reachable
        return "(" + "|".join(re.escape(v) for v in sorted(kind.values, key=len, reverse=True)) + ")\\n"
    if kind.optional:
        return f"(''\\n|{_block(indent, kind)})"
    return _block(indent, kind)


def _mapping(fields: tuple, indent: int, first_prefix: str = "") -> str:
    parts = []
    for i, (key, kind) in enumerate(fields):
        lead = first_prefix if i == 0 and first_prefix else " " * indent
        if isinstance(kind, Items):
            item = _mapping(kind.fields, indent + 4, first_prefix=" " * (indent + 2) + "- ")
            parts.append(f"{lead}{re.escape(key)}:\\n({item}){{{kind.count}}}")
        else:
            parts.append(f"{lead}{re.escape(key)}: {_value(kind, indent + 2)}")
    return "".join(parts)


@dataclass(frozen=True)
class Shape:
    """The keys of a reply, in order, with what each holds; `required`: the keys a reply must have to be used (all of
    them when empty)."""

    fields: tuple[tuple[str, "Text | Choice | Items"], ...]
    required: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        return list(self.required or (key for key, _ in self.fields))

    def regex(self, max_tokens: int | None = None) -> str:
        """The regex of the shape; with `max_tokens`, the bounded text keys that come before the last required key
        shrink until, at one token per character (digits are one token each in many tokenizers), they fill at most
        half of the reply: a model that loops in them still reaches the keys that matter within `max_tokens`."""
        return _mapping(self._fitted(max_tokens) if max_tokens else self.fields, 0)

    def _fitted(self, max_tokens: int) -> tuple:
        keys = [key for key, _ in self.fields]
        last = max(keys.index(key) for key in self.keys)
        bounded = [isinstance(kind, Text) and kind.max_chars and kind.max_lines for _, kind in self.fields]
        before = [i for i in range(last) if bounded[i] and keys[i] not in self.keys]
        share = max_tokens // 2 // max(len(before), 1)
        fields = list(self.fields)
        for i in before:
            key, kind = fields[i]
            lines = max(1, min(kind.max_lines, share // kind.max_chars))
            fields[i] = (key, replace(kind, max_lines=lines, max_chars=max(1, min(kind.max_chars, share // lines))))
        return tuple(fields)
