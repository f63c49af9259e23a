"""Read named ROIs (boxes or polygons) from a TOML or JSON file.

TOML: one table per ROI::

    [whisker]
    box = [120, 80, 220, 160]          # x0, y0, x1, y1 in pixels, end exclusive

    [snout]
    polygon = [[300, 90], [360, 95], [350, 170], [295, 160]]

    [eye]
    box = [400, 60, 480, 120]
    pupil = true                       # also track the pupil and blinks in this ROI

JSON: an object of the same shape, ``{"whisker": {"box": [...]}, ...}``.
Names keep the file's order. This module only reads the file; the geometry
(:class:`neurocine.features.rois.ROI`) is checked where the specs become ROIs
(:func:`neurocine.encode.video_jobs.load_rois`), with the file name in the message.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from pathlib import Path

from neurocine.errors import InputError

__all__ = ["read_roi_specs"]


def _unique(path: Path, pairs: list[tuple[str, object]]) -> dict:
    """A JSON object, refusing a key given twice (``json`` would silently keep the last; TOML refuses it too)."""
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InputError(f"{path}: name(s) {twice} given more than once; expected each ROI (and key) once")
    return dict(pairs)


def read_roi_specs(path: str | os.PathLike) -> list[tuple[str, dict]]:
    """``(name, {"box": ...} or {"polygon": ...}[, "pupil": bool])`` for each ROI of a ``.toml``/``.json`` file, in file order.

    InputError naming the file and the table otherwise (missing file, parse error,
    a ROI that is not a table, unknown keys).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such ROI file; expected a TOML or JSON file of named boxes/polygons")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".json":
            table = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=lambda pairs: _unique(path, pairs))
        else:
            raise InputError(f"{path}: unsupported ROI file extension {suffix!r}; expected .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be parsed ({exc}); expected one table per ROI with box or polygon") from None
    if not isinstance(table, dict) or not table:
        raise InputError(f"{path}: holds no ROI; expected one table per ROI, e.g. [whisker] box = [x0, y0, x1, y1]")
    specs = []
    for name, spec in table.items():
        if not isinstance(spec, dict):
            raise InputError(
                f"{path}: '{name}' is a {type(spec).__name__}, not a table; "
                f"expected [{name}] with box = [x0, y0, x1, y1] or polygon = [[x, y], ...]"
            )
        keys = ["box", "polygon", "pupil"]
        unknown = sorted(set(spec) - set(keys))
        if unknown:
            close = [c for k in unknown for c in difflib.get_close_matches(k, keys, n=1, cutoff=0.5)]
            hint = f" (did you mean {' and '.join(repr(c) for c in close)}?)" if close else ""
            raise InputError(
                f"{path}: [{name}] has unknown key(s) {unknown}{hint}; expected 'box' or 'polygon' (and 'pupil')"
            )
        if "pupil" in spec and not isinstance(spec["pupil"], bool):
            raise InputError(f"{path}: [{name}] pupil = {spec['pupil']!r}; expected true or false")
        specs.append((name, dict(spec)))
    return specs
