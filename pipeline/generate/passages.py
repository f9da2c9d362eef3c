"""Italian documents cut into self-contained passages, for instruction backtranslation (`pipeline.generate.run`).

    passages = split_documents(["pipeline/data/documenti"])   # files, folders of them, or passage lists

Plain text and Markdown are cut on paragraph boundaries (blank lines) and paragraphs are joined until a passage is
long enough to answer something (`MIN_CHARS`) without growing past `MAX_CHARS`; a single paragraph longer than that
is cut between sentences, never inside a word. Markdown headings are not passages: each passage remembers the last
heading above it. A YAML or JSONL file gives its passages as they are (strings, or mappings with `text`). Every
passage keeps where it came from: the file, and the character offsets of its text in that file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.errors import UserError
from pipeline.i18n import Message

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
LIST_SUFFIXES = (".yaml", ".yml", ".jsonl")
SUFFIXES = (*TEXT_SUFFIXES, *LIST_SUFFIXES)
MIN_CHARS = 200
MAX_CHARS = 1500
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_BLOCK = re.compile(r"(?:^[ \t]*\S[^\n]*(?:\n|\Z))+", re.M)


@dataclass
class Passage:
    text: str
    source: str
    """The file it came from, as given (a folder's files by their path)."""
    start: int
    """Offset of the passage's first character in the file's text (for a passage list: its index in the list)."""
    end: int
    heading: str = ""
    """The last Markdown heading above it, if any: context for the instruction, not part of the answer."""


def split_documents(
    sources: list[str | Path], min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS
) -> list[Passage]:
    """Every passage of every file in `sources` (a folder gives its text and list files, sorted, recursively)."""
    passages: list[Passage] = []
    for path in _files(sources):
        if path.suffix.lower() in LIST_SUFFIXES:
            passages += _listed(path)
        else:
            passages += split_text(_read_text(path), str(path), min_chars, max_chars)
    return passages


def _files(sources: list[str | Path]) -> list[Path]:
    files = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise _problem(Message("docs_folder_empty", path=path, suffixes=", ".join(SUFFIXES)))
            files += found
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise _problem(Message("docs_suffix", path=path, suffixes=", ".join(SUFFIXES)))
            files.append(path)
        else:
            raise _problem(Message("docs_missing", path=path))
    return files


def _problem(message: Message) -> UserError:
    return UserError(Message("field_problem", field="documents", problem=message))


def _read_text(path: Path) -> str:
    """The file as text; a binary file (or one not in UTF-8) is refused with what to do."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise _problem(Message("docs_binary", path=path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _problem(Message("docs_not_utf8", path=path, offset=e.start)) from e


def split_text(text: str, source: str, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> list[Passage]:
    """`text` cut into passages on paragraph boundaries, with their offsets in `text`."""
    paragraphs: list[tuple[int, int, str]] = []  # (start, end, the heading above)
    heading = ""
    for block in _BLOCK.finditer(text):  # runs of non-blank lines
        start, end = block.start(), block.end()
        first = _HEADING.match(text[start : text.find("\n", start) if "\n" in text[start:end] else end].strip())
        if first is not None:  # a heading line: context for what follows, not a passage
            heading = first.group(1).strip()
            newline = text.find("\n", start, end)
            if newline == -1:
                continue
            start = newline + 1
        body = text[start:end]
        begin = start + len(body) - len(body.lstrip())
        finish = start + len(body.rstrip())
        if finish > begin:
            paragraphs.append((begin, finish, heading))
    passages: list[Passage] = []
    current: list[tuple[int, int, str]] = []

    def flush() -> None:
        if current:
            begin, end = current[0][0], current[-1][1]
            passages.append(Passage(text[begin:end], source, begin, end, current[0][2]))
            current.clear()

    for begin, end, above in paragraphs:
        if end - begin > max_chars:
            flush()
            for piece_start, piece_end in _sentences(text, begin, end, max_chars):
                passages.append(Passage(text[piece_start:piece_end], source, piece_start, piece_end, above))
            continue
        if current and (end - current[0][0] > max_chars or above != current[0][2]):
            flush()
        current.append((begin, end, above))
        if end - current[0][0] >= min_chars:
            flush()
    flush()
    return passages


def _sentences(text: str, begin: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """A long paragraph cut between sentences into pieces of at most `max_chars` (a single sentence longer than that
    stays whole: it is never cut inside a word)."""
    cuts = [begin] + [begin + m.end() for m in _SENTENCE_END.finditer(text[begin:end])] + [end]
    pieces, start = [], begin
    for previous, cut in zip(cuts, cuts[1:], strict=False):
        if cut - start > max_chars and previous > start:
            pieces.append((start, len(text[:previous].rstrip())))
            start = previous
    pieces.append((start, end))
    return pieces


def _listed(path: Path) -> list[Passage]:
    """Passages given one by one: a YAML list (strings, or mappings with `text`), or JSONL of the same."""
    raw = _read_text(path)
    try:
        if path.suffix.lower() == ".jsonl":
            items = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            items = yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise _problem(Message("docs_list_unreadable", path=path, error=str(e).splitlines()[0])) from e
    if not isinstance(items, list):
        raise _problem(Message("docs_list_shape", path=path))
    passages = []
    for i, item in enumerate(items):
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            raise _problem(Message("docs_list_shape", path=path))
        if text.strip():
            passages.append(Passage(text.strip(), str(path), i, i + 1))
    return passages
