"""io.config: typed getters and unknown-key detection, checked on generated tables (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurocine.errors import InputError
from neurocine.io.config import ConfigTable, read_config

KEYS = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@given(
    known=st.dictionaries(KEYS, st.integers(-5, 5), max_size=4), extra=st.dictionaries(KEYS, st.booleans(), max_size=3)
)
def test_finish_reports_exactly_the_keys_nobody_asked_for(known, extra):
    extra = {k: v for k, v in extra.items() if k not in known}
    table = ConfigTable({**known, **extra}, Path("c.toml"), "model")
    for key in known:
        table.raw(key)
    if extra:
        with pytest.raises(InputError) as err:
            table.finish()
        assert str(err.value).startswith("c.toml: unknown key(s) ")
        assert all(repr(k) in str(err.value) for k in extra) and "[model]" in str(err.value)
    else:
        table.finish()


@given(
    value=st.one_of(st.integers(-10, 10), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)),
    minimum=st.integers(-3, 3),
)
def test_integer_getter_accepts_exactly_integers_at_or_above_minimum(value, minimum):
    table = ConfigTable({"n": value}, Path("c.toml"), "neural")
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if ok:
        assert table.integer("n", minimum=minimum) == value
    else:
        with pytest.raises(InputError, match=r"^c\.toml: \[neural\] n: got .*; expected an integer >= "):
            table.integer("n", minimum=minimum)


def test_read_config_errors(tmp_path):
    with pytest.raises(InputError, match="no such encode config file"):
        read_config(tmp_path / "missing.toml", what="encode config")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(InputError, match="expected a .toml"):
        read_config(tmp_path / "c.json")
    (tmp_path / "c.toml").write_text("a = [1,\n")
    with pytest.raises(InputError, match="cannot be parsed as TOML"):
        read_config(tmp_path / "c.toml")
    (tmp_path / "ok.toml").write_text('p = "data.npy"\n[t]\nx = 1.5\n')
    root = read_config(tmp_path / "ok.toml")
    assert root.path("p", must_exist=False) == tmp_path / "data.npy"  # relative to the config's folder
    with pytest.raises(InputError, match=r"ok\.toml: p: .*data\.npy does not exist"):
        root.path("p")
    assert root.table("t").number("x", positive=True) == 1.5
    with pytest.raises(InputError, match=r"table \[u\] is missing"):
        root.table("u", required=True)
