"""The check every reader test makes of bad input: an ``InputError`` in one line naming the file or argument."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from neurocine.errors import InputError


@contextmanager
def raises_naming(what, match=None):
    """``pytest.raises(InputError)`` whose one-line message names ``what`` and matches ``match`` (a regex)."""
    with pytest.raises(InputError) as info:
        yield info
    msg = str(info.value)
    assert str(what) in msg, msg
    assert "\n" not in msg, msg
    if match is not None:
        assert re.search(match, msg), msg
