"""The app's words in Italian and English: one catalogue (`pipeline.catalogue`), rendered in the current language.

    t("tab_generate")                       # "Genera", or "Generate" inside `use("en")`
    Message("must_be_positive", value=0)    # rendered when shown, in the language of whoever shows it

The current language is a context variable: Italian unless something sets it. The CLI speaks Italian; the app sets
the page's language around each handler call (`pipeline.ui.common`), so status lines, table headers and the errors
raised in `pipeline/` reach each visitor in the language of the page they are on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

LANGUAGES = ("it", "en")
DEFAULT = "it"
_current: ContextVar[str] = ContextVar("bottega_language", default=DEFAULT)


def language() -> str:
    return _current.get()


@contextmanager
def use(lang: str) -> Iterator[None]:
    """Render everything in `lang` inside this block (in this thread or task only)."""
    token = _current.set(lang if lang in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def t(key: str, lang: str | None = None, **params: Any) -> str:
    """The catalogue entry `key` in `lang` (default: the current language), formatted with `params` (a `Message`
    among them is rendered in the same language)."""
    from pipeline.catalogue import CATALOGUE

    lang = lang or language()
    text = CATALOGUE[key][LANGUAGES.index(lang)]
    if not params:
        return text
    return text.format(**{k: v.render(lang) if isinstance(v, Message) else v for k, v in params.items()})


class Message:
    """A catalogue entry with its values, rendered only when shown: an error raised in a job is read in Italian on
    the terminal and in English on the English page."""

    def __init__(self, key: str, **params: Any):
        self.key = key
        self.params = params

    def render(self, lang: str | None = None) -> str:
        return t(self.key, lang, **self.params)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({self.key!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.key, self.params) == (other.key, other.params)

    def __hash__(self) -> int:
        return hash(self.key)

    def to_json(self) -> dict[str, Any]:
        """A form a job can write into its status file, for readers in either language."""
        return {"__message__": self.key, **{k: _json(v) for k, v in self.params.items()}}


def _json(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_json()
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def from_json(value: Any) -> Any:
    """A value read from a status file, a stored `Message` rendered in the current language."""
    if isinstance(value, dict) and "__message__" in value:
        params = {k: from_json(v) for k, v in value.items() if k != "__message__"}
        return t(value["__message__"], **params)
    return value


def render(text: str | Message, lang: str | None = None) -> str:
    """A plain string as it is, a `Message` in `lang`."""
    return text.render(lang) if isinstance(text, Message) else str(text)
