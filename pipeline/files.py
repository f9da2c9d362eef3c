"""Crash-safe file primitives shared by every module that writes: atomic writes, fsync, inter-process locks, and
reading and writing YAML the one way Bottega does (safe, no aliases or tags; block scalars, Unicode kept)."""

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from pipeline.errors import UserError
from pipeline.i18n import Message


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # 0o666 lets the umask decide the mode of a new file, as for any file the user creates.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if path.exists():  # keep the mode of the file being replaced
                os.fchmod(f.fileno(), path.stat().st_mode & 0o777)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync(path.parent)


def fsync(path: Path) -> None:
    """Flush a file or a folder (a folder's entries: renames into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) between processes; released if the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def try_lock(path: Path) -> IO | None:
    """Take an exclusive lock on `path` without waiting: the open file (keep it to hold the lock; the lock goes
    when it is closed or the process dies), or None if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "w")  # noqa: SIM115 - the caller keeps it open to hold the lock
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


# libyaml's C parser and emitter where present: same results as the pure-Python ones, several times faster.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
MAX_VALUE_CHARS = 1_000_000


class _Loader(_BaseLoader):
    """The safe loader, refusing aliases (no file of Bottega needs them; nested ones are the 'billion laughs' bomb)
    and oversized values. Both checks sit in the constructor, so they hold with the C parser too."""

    def construct_object(self, node, deep=False):
        where = Message("yaml_line", line=node.start_mark.line + 1)
        if node in self.constructed_objects:  # an alias is the same node met a second time
            raise UserError(Message("yaml_alias", where=where))
        if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_VALUE_CHARS:
            raise UserError(Message("yaml_too_long", where=where, chars=len(node.value), limit=MAX_VALUE_CHARS))
        return super().construct_object(node, deep)

    def flatten_mapping(self, node):
        # Merge keys copy mappings without passing through construct_object: nested ones grow exponentially.
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                raise UserError(Message("yaml_merge", where=Message("yaml_line", line=key.start_mark.line + 1)))
        super().flatten_mapping(node)


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load` without aliases, merge keys, custom tags or oversized values; UserError naming the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Message("yaml_line", line=mark.line + 1) if mark else ""
        if isinstance(e, yaml.constructor.ConstructorError) and "tag" in str(e.problem):
            raise UserError(Message("yaml_tag", where=where, problem=e.problem)) from e
        raise UserError(Message("yaml_syntax", where=where, problem=e.problem)) from e
    except yaml.YAMLError as e:
        raise UserError(Message("yaml_syntax", where="", problem=str(e))) from e


def read_yaml(path: Path) -> tuple[bytes, str, Any]:
    """A YAML file's bytes, text and data (read as `parse_yaml` reads); UserError saying what is wrong with it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise UserError(Message("file_missing", path=path)) from e
    except IsADirectoryError as e:
        raise UserError(Message("file_is_folder", path=path)) from e
    except PermissionError as e:
        raise UserError(Message("file_not_readable", path=path)) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(Message("file_not_utf8", path=path, byte=e.start)) from e
    return data, text, parse_yaml(text)


def dump_yaml(data: Any) -> str:
    """YAML as Bottega writes every file people read: block scalars for multi-line text, Unicode kept, keys in
    order, no aliases, YAML 1.1 traps quoted."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,  # never fold long lines: a changed sentence stays a one-line diff
    )


class _Dumper(_BaseDumper):
    def ignore_aliases(self, data) -> bool:
        return True  # two examples sharing one list must not produce an alias the loader then refuses


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Block style for multi-line text; the emitter itself falls back to quotes where a block cannot round-trip
    # (trailing spaces, control characters). Single-line text is quoted whenever YAML 1.1 would read it as something
    # else (No, on, 010, 1e3), because the resolver is consulted for plain scalars.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)
