"""Error lines speak the command line's language: options, not Python parameters; folders to delete; typos named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _cli import cli

from neurocine.errors import InputError
from neurocine.io.config import ConfigTable, read_config
from neurocine.io.rois import read_roi_specs


@pytest.fixture
def inputs(tmp_path):
    from neurocine.io.signals import write_signal_npz

    write_signal_npz(tmp_path / "x", np.random.default_rng(0).gamma(1.0, 1.0, (80, 4)), sampling_rate=100.0)
    np.save(tmp_path / "movie.npy", np.random.default_rng(0).integers(0, 255, (12, 16, 16), dtype=np.uint8))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["motifs", "fit", "x.npz", "-k", "0", "-d", "5"], "error: --components: got 0, expected an integer in [1, "),
        (["motifs", "fit", "x.npz", "-k", "2", "-d", "5", "--n-init", "0"], "error: --n-init: got 0"),
        (["motifs", "select", "x.npz", "-k", "1-2", "-d", "5", "--repeats", "0"], "error: --repeats: got 0"),
        (["video", "motion", "movie.npy", "--svd", "-1"], "error: --svd: got -1, expected an integer in [0, "),
        (["imaging", "dff", "movie.npy", "--window", "0"], "error: --window: got 0, expected an integer in [1, "),
    ],
)
def test_errors_name_the_option_not_the_python_parameter(inputs, capsys, monkeypatch, args, line):
    monkeypatch.chdir(inputs)
    before = sorted(p.name for p in inputs.iterdir())
    assert cli(*args, "--out", "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(line) and "\n" not in err, err
    assert sorted(p.name for p in inputs.iterdir()) == before


def test_python_callers_still_see_python_names(inputs):
    from neurocine import jobs

    with pytest.raises(InputError, match="^n_components: got 0"):
        jobs.motifs_fit(inputs / "x.npz", inputs / "out", components=0, width=5)


def test_a_mismatched_checkpoint_names_the_folder_to_delete(inputs, capsys, monkeypatch):
    from neurocine.io.checkpoints import CHECKPOINT_FORMAT, checkpoint_path, save_atomic

    monkeypatch.chdir(inputs)
    folder = Path(".out.checkpoints")
    save_atomic({"format": CHECKPOINT_FORMAT, "fingerprint": {"data": "another"}, "fits": {}}, checkpoint_path(folder))
    assert cli("motifs", "select", "x.npz", "-k", "1-2", "-d", "5", "--device", "cpu", "--out", "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: .out.checkpoints/checkpoint.pt: the checkpoint does not match this run (data: ")
    assert err.endswith("or delete the folder .out.checkpoints to start afresh") and "\n" not in err
    assert sorted(p.name for p in inputs.iterdir()) == [".out.checkpoints", "movie.npy", "x.npz"]


def test_a_misspelt_table_or_key_is_named_with_the_closest_expected_one(tmp_path):
    config = tmp_path / "encode.toml"
    config.write_text('[nueral]\npath = "w.npy"\n')
    with pytest.raises(InputError) as err:
        read_config(config).table("neural", required=True)
    assert (
        str(err.value) == "encode.toml: table [neural] is missing (found [nueral]: misspelt?); expected it in the file"
    )

    table = ConfigTable({"neural": {}, "sequnce": {"hidden": [4]}, "fsp": 30}, Path("encode.toml"), "")
    for name in ("neural", "sequence", "fps", "model"):
        table.raw(name, None)
    with pytest.raises(InputError) as err:
        table.finish()
    assert str(err.value) == (
        "encode.toml: unknown key(s) ['fsp'] and unknown table(s) [sequnce] in the file's top level "
        "(did you mean [sequence] for [sequnce], 'fps' for 'fsp'?); expected only ['fps', 'model', 'neural', 'sequence']"
    )
    rois = tmp_path / "rois.toml"
    rois.write_text("[jaw]\nbx = [0, 0, 5, 5]\n")
    with pytest.raises(InputError, match=r"\[jaw\] has unknown key\(s\) \['bx'\] \(did you mean 'box'\?\); expected"):
        read_roi_specs(rois)
