"""A folder written like the real Sensorium 2023 release (withheld zero tiers, float32 responses with small
negative values, 300-frame NaN padding, ``<U16`` tiers, an eye-tracking gap, per-mouse statistics): the
V1 jobs detect the withheld tier, never score or reconstruct it, and clean what the reader must clean.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _cli import cli

from neurocine.errors import InputError
from neurocine.io.sensorium import SensoriumMouse

SMALL = dict(
    n_neurons=60,
    n_train=10,
    n_oracle=2,
    oracle_repeats=2,
    n_test=2,
    test_repeats=2,
    n_frames=60,
    n_calibration=4,
    ceiling=0.5,
    release_like=True,
    movie_fraction=0.0,  # photos only: no movie to read
)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    from neurocine.v1.simulate import simulate_v1

    root = tmp_path_factory.mktemp("release") / "mouse"
    return root, simulate_v1(root, seed=1, **SMALL)


def test_the_folder_looks_like_the_release(release):
    root, summary = release
    tiers = np.load(root / "meta" / "trials" / "tiers.npy")
    assert tiers.dtype == np.dtype("<U16") and summary["withheld_tiers"] == ["final_test_main"]
    test = np.flatnonzero(tiers == "final_test_main")
    train = np.flatnonzero(tiers == "train")
    resp = np.load(root / "data" / "responses" / f"{train[0]}.npy")
    assert resp.dtype == np.float32 and resp.shape == (60, 300)
    assert np.isnan(resp[:, 60:]).all() and not np.isnan(resp[:, :60]).any() and (resp[:, :60] < 0).any()
    withheld = np.load(root / "data" / "responses" / f"{test[0]}.npy")
    assert not np.any(np.nan_to_num(withheld)) and np.isnan(withheld[:, 60:]).all()
    pupil = np.load(root / "data" / "pupil_center" / f"{train[0]}.npy")
    assert np.isnan(pupil[:, :60]).any(axis=0).sum() == 3
    assert np.isfinite(np.load(root / "meta" / "statistics" / "pupil_center" / "all" / "mean.npy")).all()
    assert (root / "meta" / "statistics" / "responses" / "all" / "std.npy").is_file()


def test_tier_detection_and_choice(release, tmp_path):
    from neurocine.v1.jobs import _first_presentations, _tier_ids, _train_split, test_tier

    root, _ = release
    mouse = SensoriumMouse(root)
    assert mouse.withheld_tiers() == ["final_test_main"]
    assert mouse.tiers_with_responses() == ["train", "oracle"]
    assert test_tier(mouse) == "oracle"  # final_test_main comes first in TEST_TIERS but is withheld
    with pytest.raises(InputError, match=r"^--tier final_test_main: its responses are withheld .*: train, oracle$"):
        test_tier(mouse, "final_test_main")
    with pytest.raises(InputError, match=r"^--tier live_test_main: .* has no trials of that tier"):
        test_tier(mouse, "live_test_main")
    fit, held = _train_split(mouse)
    assert test_tier(mouse, "train") == "train" and _tier_ids(mouse, "train") == held
    assert len(held) == 1 and not set(held) & set(fit) and len(fit) + len(held) == 10
    # without video_ids, repeats are grouped by hashes of the frames: the same two oracle clips
    by_ids = _first_presentations(mouse, mouse.trial_ids_of("oracle"))
    copy = tmp_path / "mouse"
    shutil.copytree(root, copy)
    (copy / "meta" / "trials" / "video_ids.npy").unlink()
    assert _first_presentations(SensoriumMouse(copy), mouse.trial_ids_of("oracle")) == by_ids
    assert len(by_ids) == 2
    # no oracle either: a held-out part of train scores
    tiers = np.load(copy / "meta" / "trials" / "tiers.npy")
    np.save(copy / "meta" / "trials" / "tiers.npy", np.where(tiers == "oracle", "none", tiers))
    assert test_tier(SensoriumMouse(copy)) == "train"


@pytest.mark.slow  # about 10 s on two busy cores (the DNEM, its mask and a reconstruction)
def test_train_and_reconstruct_skip_the_withheld_tier(release, tmp_path, caplog, capsys):
    import torch

    from neurocine.metrics import single_trial_correlation
    from neurocine.v1.jobs import load_models, run_reconstruct, run_train

    root, _ = release
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        models = tmp_path / "models"
        with caplog.at_level("WARNING", logger="neurocine.v1"):
            run_train(
                root,
                models,
                instances=1,
                epochs=1,
                core_channels=4,
                n_blocks=1,
                clip_length=32,
                mask_iterations=5,
                rf_stimuli=50,
                figures=False,
                device="cpu",
            )
        assert "tier final_test_main" in caplog.text and "withheld" in caplog.text
        m = json.loads((models / "summary.json").read_text())["metrics"]
        assert m["withheld_tiers"] == ["final_test_main"] and m["test_tier"] == "oracle"
        assert m["validation"] == "held-out part of train (1 trials)" and m["n_train_trials"] == 9
        assert m["n_test_trials"] == 4 and m["negative_values_clipped"] > 0
        assert m["nan_frames_interpolated_pupil_center"] == 3
        # the score is the oracle tier's, recomputed from the saved model
        mouse = SensoriumMouse(root)
        fitted, _ = load_models(models, "cpu")
        oracle = mouse.trials("oracle")
        r = single_trial_correlation([t.responses for t in oracle], fitted[0].predict_trials(oracle))
        assert m["single_trial_correlation"] == pytest.approx(float(np.nanmean(r)), abs=1e-5)
        assert np.isfinite(m["correlation_to_average"])

        rec = run_reconstruct(
            root,
            models,
            tmp_path / "rec",
            method="adam",
            iterations=3,
            error_maps=False,
            figures=False,
            movies=False,
            device="cpu",
        )
        rm = rec.metrics
        assert rm["withheld_tiers"] == ["final_test_main"] and rm["test_tier"] == "oracle"
        assert [mouse.tier_of(row["trial"]) for row in rm["trials"]] == ["oracle", "oracle"]
        assert len({mouse.video_ids[int(row["trial"])] for row in rm["trials"]}) == 2
    finally:
        torch.set_num_threads(threads)
    # choosing the withheld tier, or one of its trials, is one line naming the tier and the tiers with responses
    test_trial = mouse.trial_ids_of("final_test_main")[0]
    for args in (["--tier", "final_test_main"], ["--trials", test_trial]):
        assert cli("v1", "reconstruct", root, "--truth-model", "--out", tmp_path / "bad", *args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "final_test_main" in err[0] and "withheld" in err[0] and "train, oracle" in err[0]
    assert cli("v1", "train", root, "--out", tmp_path / "bad", "--negative", "refuse") == 2
    assert "negative values" in capsys.readouterr().err
