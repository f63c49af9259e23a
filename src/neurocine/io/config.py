"""Read a job's TOML config and report every bad value with the key that holds it.

A :class:`ConfigTable` is a view of one table of the file. Each getter checks
the type (and range or choices) of one key and raises
:class:`~neurocine.errors.InputError` naming the file and the full key, e.g.
``encode.toml: [neural] window: got -3; expected an integer >= 1``.
:meth:`ConfigTable.finish` reports keys that no getter asked for (typos), so
a misspelt option is an error, not a silent default. Paths in the file are
relative to the file's folder.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

from neurocine.errors import InputError

__all__ = ["ConfigTable", "read_config"]

_REQUIRED = object()


def read_config(path: str | os.PathLike, *, what: str = "config") -> ConfigTable:
    """Parse a TOML file into its root :class:`ConfigTable` (InputError for a missing or unparsable file)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such {what} file; expected a TOML file")
    if p.suffix.lower() != ".toml":
        raise InputError(f"{p}: has extension {p.suffix or '(none)'!r}; expected a .toml {what} file")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot be parsed as TOML ({exc})") from None
    return ConfigTable(data, p, "")


class ConfigTable:
    """One table of a TOML config, with checked getters.

    Parameters
    ----------
    data : dict
        The table.
    file : Path
        The config file (for messages and for resolving relative paths).
    prefix : str
        Dotted name of the table (``""`` for the root).

    Examples
    --------
    >>> import pathlib
    >>> cfg = ConfigTable({"model": {"cv": 5}}, pathlib.Path("a.toml"), "")
    >>> cfg.table("model").integer("cv", minimum=2)
    5
    >>> cfg.table("model").integer("folds", 3)
    3
    """

    def __init__(self, data: dict, file: Path, prefix: str):
        self.data = data
        self.file = Path(file)
        self.prefix = prefix
        self._used: set[str] = set()

    # ------------------------------------------------------------------ messages
    def key(self, name: str) -> str:
        """How ``name`` is shown in messages: ``[table] name`` (or just ``name`` at the root)."""
        return f"[{self.prefix}] {name}" if self.prefix else name

    def error(self, name: str, value: Any, expected: str) -> InputError:
        """The one-line error for a bad value of ``name``."""
        return InputError(f"{self.file.name}: {self.key(name)}: got {value!r}; expected {expected}")

    # ------------------------------------------------------------------ access
    def __contains__(self, name: str) -> bool:
        return name in self.data

    def _get(self, name: str, default: Any) -> tuple[Any, bool]:
        self._used.add(name)
        if name in self.data:
            return self.data[name], True
        if default is _REQUIRED:
            where = f"table [{self.prefix}]" if self.prefix else "the file"
            raise InputError(
                f"{self.file.name}: {self.key(name)} is missing{self._misspelt_as(name)}; expected it in {where}"
            )
        return default, False

    def _show(self, name: str) -> str:
        """``[table.name]`` for a sub-table of this one, else how :meth:`key` shows a key."""
        return f"[{self._child(name)}]" if isinstance(self.data.get(name), dict) else repr(name)

    def _misspelt_as(self, name: str) -> str:
        """`` (found [nueral]: misspelt?)`` when the file has a key no getter asked for that is close to ``name``."""
        spare = [k for k in self.data if k not in self._used]
        close = difflib.get_close_matches(name, spare, n=1, cutoff=0.6)
        return f" (found {self._show(close[0])}: misspelt?)" if close else ""

    def table(self, name: str, *, required: bool = False) -> ConfigTable | None:
        """The sub-table ``name`` (None when absent and not required)."""
        value, found = self._get(name, None)
        if not found:
            if required:
                raise InputError(
                    f"{self.file.name}: table [{self._child(name)}] is missing{self._misspelt_as(name)}; "
                    f"expected it in the file"
                )
            return None
        if not isinstance(value, dict):
            raise self.error(name, value, f"a table [{self._child(name)}]")
        return ConfigTable(value, self.file, self._child(name))

    def _child(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def string(self, name: str, default: Any = _REQUIRED, *, choices: tuple[str, ...] | None = None) -> str | None:
        value, found = self._get(name, default)
        if not found:
            return value
        if not isinstance(value, str) or not value:
            raise self.error(name, value, "a non-empty string" if choices is None else " | ".join(choices))
        if choices is not None and value not in choices:
            raise self.error(name, value, "one of " + ", ".join(repr(c) for c in choices))
        return value

    def boolean(self, name: str, default: Any = _REQUIRED) -> bool:
        value, found = self._get(name, default)
        if found and not isinstance(value, bool):
            raise self.error(name, value, "true or false")
        return value

    def integer(self, name: str, default: Any = _REQUIRED, *, minimum: int | None = None) -> int:
        value, found = self._get(name, default)
        if not found:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            raise self.error(name, value, "an integer" + (f" >= {minimum}" if minimum is not None else ""))
        return value

    def number(
        self, name: str, default: Any = _REQUIRED, *, minimum: float | None = None, positive: bool = False
    ) -> float:
        value, found = self._get(name, default)
        if not found:
            return value
        ok = (
            not isinstance(value, bool)
            and isinstance(value, (int, float))
            and value == value
            and abs(value) != float("inf")
        )
        if ok and minimum is not None:
            ok = value >= minimum
        if ok and positive:
            ok = value > 0
        if not ok:
            want = "a finite number" + (" > 0" if positive else f" >= {minimum:g}" if minimum is not None else "")
            raise self.error(name, value, want)
        return float(value)

    def list_of(self, name: str, kind: type, default: Any = _REQUIRED, *, nonempty: bool = True) -> list | None:
        """A list whose items are all ``kind`` (``str``, ``int`` or ``float``; ints pass as floats)."""
        value, found = self._get(name, default)
        if not found:
            return value
        kinds = (int, float) if kind is float else (kind,)
        if (
            not isinstance(value, list)
            or (nonempty and not value)
            or any(isinstance(v, bool) or not isinstance(v, kinds) for v in value)
        ):
            raise self.error(name, value, f"a {'non-empty ' if nonempty else ''}list of {kind.__name__}")
        return [kind(v) for v in value]

    def path(self, name: str, default: Any = _REQUIRED, *, must_exist: bool = True) -> Path | None:
        """A file path, relative to the config file's folder unless absolute."""
        value, found = self._get(name, default)
        if not found:
            return value
        if not isinstance(value, str) or not value:
            raise self.error(name, value, "a file path (string)")
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = self.file.parent / p
        if must_exist and not p.exists():
            raise InputError(
                f"{self.file.name}: {self.key(name)}: {p} does not exist; expected an existing file "
                f"(relative paths are relative to the config file)"
            )
        return p

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        """The value as parsed, unchecked (the caller checks it and reports with :meth:`error`)."""
        return self._get(name, default)[0]

    def finish(self) -> None:
        """Raise InputError for keys no getter asked for (misspelt or unsupported options)."""
        unknown = [k for k in self.data if k not in self._used]
        if unknown:
            where = f"table [{self.prefix}]" if self.prefix else "the file's top level"
            known = sorted(self._used)

            def show(k: str, table: bool) -> str:
                return f"[{self._child(k)}]" if table else repr(k)

            tables = [k for k in unknown if isinstance(self.data[k], dict)]
            keys = [k for k in unknown if k not in tables]
            found = ([f"unknown key(s) {keys}"] if keys else []) + (
                [f"unknown table(s) {' '.join(show(k, True) for k in tables)}"] if tables else []
            )
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(k, known, n=1, cutoff=0.6)
                if close:
                    hints.append(f"{show(close[0], k in tables)} for {show(k, k in tables)}")
            hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
            raise InputError(f"{self.file.name}: {' and '.join(found)} in {where}{hint}; expected only {known}")
