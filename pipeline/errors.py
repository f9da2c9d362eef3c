"""Errors a user can fix, and nothing else.

Anything in `pipeline/` that fails because of what the user gave (a config, a dataset, a name or a path, a missing
model, adapter or run, missing access, a bad template) raises a `UserError` or a subclass. Its problems say what is
wrong and what to do, in the current language (`pipeline.i18n`). The CLI prints them and exits 2
(`pipeline.__main__.main`); the app shows them as a `gr.Error` (`pipeline.ui.common.speak`). Every other
exception is a bug and keeps its traceback, in the terminal or the app's log.

It subclasses ValueError so that code which validates input (`except ValueError` around `int(...)`, say) keeps
working; the CLI and the app catch `UserError` only, never a plain ValueError.
"""

from __future__ import annotations

from pipeline.i18n import Message, render


class UserError(ValueError):
    """One or more problems a user can fix, each a line that names the field or argument and the fix."""

    title: str | Message = Message("error_title")

    def __init__(self, *problems: str | Message, title: str | Message | None = None):
        super().__init__(*problems)
        self.items: list[str | Message] = list(problems)
        if title is not None:
            self.title = title

    @property
    def problems(self) -> list[str]:
        """The problems as text in the current language."""
        return [render(p) for p in self.items]

    def __str__(self) -> str:
        return "\n".join(self.problems)


def message_of(error: BaseException) -> str | Message:
    """What to show of an error: a UserError's single problem as it is (a `Message` stays translatable), else its
    text; a bug names its type too."""
    if isinstance(error, UserError):
        return error.items[0] if len(error.items) == 1 else str(error)
    if error.args and isinstance(error.args[0], Message):  # a signal that carries its message (BudgetExhausted)
        return error.args[0]
    return f"{type(error).__name__}: {error}"


class ConfigError(UserError):
    """A config with problems, each tied to the field it is about (`teacher.max_tokens`), all reported at once.

    `fields` holds (field path, problem) pairs; the loader (`pipeline.config`) prefixes the path of nested sections.
    """

    title = Message("config_title")

    def __init__(self, fields: list[tuple[str, str | Message]]):
        self.fields = list(fields)
        super().__init__(*(Message("field_problem", field=f, problem=p) for f, p in self.fields))

    def within(self, prefix: str) -> ConfigError:
        """The same problems, their fields under `prefix` (a nested section's name)."""
        return ConfigError([(f"{prefix}.{f}" if f else prefix, p) for f, p in self.fields])


class Problems:
    """Collects a config's problems in `__post_init__`, then raises them all at once.

    problems = Problems()
    problems.check(self.count > 0, "count", Message("must_be_positive", value=self.count))
    problems.raise_any()
    """

    def __init__(self) -> None:
        self.fields: list[tuple[str, str | Message]] = []

    def add(self, field: str, problem: str | Message) -> None:
        self.fields.append((field, problem))

    def check(self, ok: bool, field: str, problem: str | Message) -> None:
        if not ok:
            self.add(field, problem)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_any(self) -> None:
        if self.fields:
            raise ConfigError(self.fields)
