"""The one config loader: YAML ⇄ dataclass, for every job's config (generation, training, evaluation, ...).

    config = load(GenerationConfig, "run.yaml")   # ConfigError listing every problem, each with its path
    config = from_mapping(TrainConfig, raw)       # the same from a mapping (the app's forms)
    save(config, run_dir / "config.yaml")         # the one way a config is written back

The dataclasses are the schema. A mapping is checked against their annotations before anything is built: unknown
keys are refused at every level of nesting, a value of the wrong type is refused (a YAML int where a float goes is
fine, a string where a number goes is not, a bool is never a number), a nested dataclass field is read from a
nested mapping. Then each dataclass's `__post_init__` checks values and combinations (`errors.Problems`). Every
problem found, type or value, at any depth, is reported at once, each naming its full path (`teacher.max_tokens`).

A dataclass that fills defaults from the mapping itself (a training `preset`) defines
`defaults(raw) -> dict`: those values come first, the user's win.

Why not `HfArgumentParser` / `TrlParser`: they read flat dataclasses only (our generation config nests `teacher` and
`filters`), stop at the first bad value, and convert strings to numbers leniently, which hides a quoted number. Our
configs are YAML files and the app's forms, not command lines, so their flag parsing buys nothing here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import ConfigError, UserError
from pipeline.files import atomic_write, dump_yaml, read_yaml
from pipeline.i18n import Message

T = TypeVar("T")


def read_mapping(path: str | Path, arg: str = "--config") -> dict[str, Any]:
    """A config file's YAML mapping (an empty file is an empty mapping); UserError naming `arg` for a missing file,
    a folder, bad encoding, bad YAML, tags, aliases, or anything but a mapping at the top."""
    path = Path(path)
    try:
        raw = read_yaml(path)[2]
    except UserError as e:
        raise UserError(*(Message("where_problem", where=arg, problem=p) for p in e.items)) from e
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(Message("yaml_not_mapping", arg=arg, path=path, found=_kind(raw)))
    return raw


def load(cls: type[T], path: str | Path, arg: str = "--config") -> T:
    return from_mapping(cls, read_mapping(path, arg))


def from_mapping(cls: type[T], raw: Any, prefix: str = "") -> T:
    """`cls` built from `raw`, nested dataclasses included; ConfigError with every problem otherwise."""
    problems: list[tuple[str, str | Message]] = []
    _check_mapping(cls, raw, prefix, problems)
    if not problems:
        return _build(cls, raw, prefix)
    if isinstance(raw, dict):  # the values that did type-check may have problems too: report them in the same go
        bad = {path for path, _ in problems}
        try:
            _build(cls, _without(raw, bad, prefix), prefix)
        except ConfigError as e:
            problems += [(path, problem) for path, problem in e.fields if path not in bad]
        except TypeError:  # a required field was missing, and is already reported
            pass
    raise ConfigError(problems)


def to_mapping(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def dump(config: Any) -> str:
    """The config as YAML, fields in their declared order."""
    return dump_yaml(to_mapping(config))


def save(config: Any, path: Path) -> Path:
    atomic_write(path, dump(config).encode("utf-8"))
    return path


def _build(cls: type[T], raw: dict[str, Any], prefix: str) -> T:
    """Nested sections first, so that a parent and its sections report their value problems together."""
    hints = typing.get_type_hints(cls)
    values = {**cls.defaults(raw), **raw} if hasattr(cls, "defaults") else dict(raw)
    problems: list[tuple[str, str | Message]] = []
    for field in dataclasses.fields(cls):
        nested = _dataclass_in(hints[field.name])
        if nested is None:
            continue
        section = values.get(field.name)
        if section is None and field.name not in values:
            continue
        if section is None:  # `teacher:` written with nothing under it: the section's defaults
            section = {}
        try:
            values[field.name] = _build(nested, section, _join(prefix, field.name))
        except ConfigError as e:
            problems += e.fields
            values[field.name] = nested()  # to check the parent's own values too
    try:
        built = cls(**values)
    except ConfigError as e:
        problems += e.within(prefix).fields if prefix else e.fields
    if problems:
        raise ConfigError(problems)
    return built


def _without(raw: dict[str, Any], bad: set[str], prefix: str) -> dict[str, Any]:
    """`raw` without the keys at the paths in `bad`, at any depth."""
    kept = {}
    for key, value in raw.items():
        path = _join(prefix, str(key))
        if path in bad:
            continue
        kept[key] = _without(value, bad, path) if isinstance(value, dict) else value
    return kept


def _check_mapping(cls: type, raw: Any, prefix: str, problems: list) -> None:
    if not isinstance(raw, dict):
        problems.append(
            (prefix or "config", Message("wrong_type", expected=Message("type_mapping"), found=_kind(raw)))
        )
        return
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    given = {**cls.defaults(raw), **raw} if hasattr(cls, "defaults") else raw
    for field in dataclasses.fields(cls):
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if required and field.name not in given:
            problems.append((_join(prefix, field.name), Message("missing_field")))
    for key, value in raw.items():
        path = _join(prefix, str(key))
        if key not in fields:
            problems.append((path, Message("unknown_key", allowed=", ".join(fields))))
            continue
        expected = hints[key]
        nested = _dataclass_in(expected)
        if nested is not None and isinstance(value, dict):
            _check_mapping(nested, value, path, problems)
        elif nested is not None and value is None:
            continue
        elif not _matches(value, expected):
            problems.append((path, Message("wrong_type", expected=_describe(expected), found=_kind(value))))


def _matches(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    args = typing.get_args(expected)
    if expected is Any:
        return True
    if expected is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dataclasses.is_dataclass(expected):
        return isinstance(value, dict)
    return isinstance(value, expected)


def _describe(expected: Any) -> str | Message:
    origin = typing.get_origin(expected)
    args = typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        described = [_describe(a) for a in args]
        text = described[0]
        for other in described[1:]:
            text = Message("type_or", a=text, b=other)
        return text
    if origin is typing.Literal:
        return Message("type_one_of", choices=", ".join(repr(a) for a in args))
    if origin is list:
        return Message("type_list")
    if origin is dict or dataclasses.is_dataclass(expected):
        return Message("type_mapping")
    names = {bool: "type_bool", int: "type_int", float: "type_float", str: "type_str", type(None): "type_null"}
    return Message(names[expected]) if expected in names else getattr(expected, "__name__", str(expected))


def _kind(value: Any) -> str:
    """A value as an error shows it: the value itself, cut, and what YAML made of it."""
    kinds = {bool: "type_bool", int: "type_int", float: "type_float", str: "type_str", list: "type_list"}
    kinds |= {dict: "type_mapping", type(None): "type_null"}
    kind = Message(kinds[type(value)]) if type(value) in kinds else type(value).__name__
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return Message("found_value", value=shown, kind=kind)


def _dataclass_in(annotation: Any) -> type | None:
    """The dataclass a field holds (`TeacherConfig`, or `TeacherConfig | None`), else None."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
