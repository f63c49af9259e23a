"""The Sensorium 2023 folder reader/writer: round trips, NaN padding, lazy access, one-line errors."""

import os

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.io.sensorium import SensoriumMouse, Trial, TrialSequence, write_meta, write_trial

H, W, N, T = 6, 8, 5, 12
TIERS = ["train", "oracle", "train", "final_test_main", "none"]


def _trial(i: int, t_len: int = T) -> Trial:
    rng = np.random.default_rng(i)
    return Trial(
        str(i),
        TIERS[i],
        rng.uniform(0, 255, (t_len, H, W)).astype(np.float32),
        rng.poisson(2.0, (t_len, N)).astype(np.float32) + 0.5,  # exact in float16
        rng.normal(10, 2, (t_len, 2)).astype(np.float32),
        rng.normal(160, 5, (t_len, 2)).astype(np.float32),
    )


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mouse"
    write_meta(
        root,
        np.arange(100, 100 + N),
        TIERS,
        cell_motor_coordinates=np.ones((N, 3)),
        trial_meta={"video_ids": np.array([0, 1, 0, 2, 3])},
        statistics={"responses": {"mean": np.arange(N, dtype=np.float32)}},
    )
    for i in range(4):  # trial 4 has tier 'none' and no files
        write_trial(root, i, _trial(i))
    return root


def test_round_trip_transposes_and_float16(folder):
    on_disk = {k: np.load(folder / "data" / k / "1.npy") for k in ("videos", "responses", "behavior", "pupil_center")}
    assert on_disk["videos"].shape == (H, W, T) and on_disk["videos"].dtype == np.float32
    assert on_disk["responses"].shape == (N, T) and on_disk["responses"].dtype == np.float16
    assert on_disk["behavior"].shape == (2, T) and on_disk["pupil_center"].shape == (2, T)
    mouse = SensoriumMouse(folder)
    assert len(mouse) == 5 and mouse.n_neurons == N and mouse.frame_shape == (H, W)
    np.testing.assert_array_equal(mouse.unit_ids, np.arange(100, 100 + N))
    assert list(mouse.tiers) == TIERS
    np.testing.assert_array_equal(mouse.video_ids, [0, 1, 0, 2, 3])
    assert mouse.cell_motor_coordinates.shape == (N, 3)
    got, want = mouse.trial("1"), _trial(1)
    assert got.trial_id == "1" and got.tier == "oracle"
    for name in ("video", "responses", "behavior", "pupil_center"):
        arr = getattr(got, name)
        assert arr.dtype == np.float32 and arr.shape == getattr(want, name).shape
        np.testing.assert_array_equal(arr, getattr(want, name))
    np.testing.assert_array_equal(on_disk["videos"], np.moveaxis(want.video, 0, -1))
    np.testing.assert_array_equal(mouse.statistics("responses")["mean"], np.arange(N))
    assert mouse.statistics("videos") == {}
    np.testing.assert_array_equal(mouse.meta_array("trials/video_ids"), [0, 1, 0, 2, 3])
    assert mouse.meta_array("trials/nothing") is None and mouse.simulation is None
    assert mouse.true_rates(1) is None
    leftovers = [f for _, _, files in os.walk(folder) for f in files if not f.endswith(".npy")]
    assert leftovers == []  # atomic writes leave no temporary files


def test_uint8_video_and_object_tiers(tmp_path):
    root = tmp_path / "m"
    tr = _trial(0)
    write_trial(root, 0, tr, video_dtype=np.uint8)
    write_meta(root, np.arange(N), ["train"])
    np.save(root / "meta" / "trials" / "tiers.npy", np.array(["train"], dtype=object), allow_pickle=True)
    mouse = SensoriumMouse(root)
    assert np.load(root / "data" / "videos" / "0.npy").dtype == np.uint8
    np.testing.assert_array_equal(mouse.trial(0).video, np.rint(tr.video))
    assert mouse.tiers.dtype.kind == "U" and mouse.tier_of(0) == "train"


def test_nan_padding_is_trimmed(tmp_path):
    root = tmp_path / "m"
    write_meta(root, np.arange(N), ["train", "train"])
    write_trial(root, 0, _trial(0), pad_to=20)
    assert np.load(root / "data" / "responses" / "0.npy").shape == (N, 20)
    # padding of the video only (responses valid to the end) also trims
    tr = _trial(1)
    write_trial(root, 1, tr)
    v = np.load(root / "data" / "videos" / "1.npy")
    v[..., 9:] = np.nan
    np.save(root / "data" / "videos" / "1.npy", v)
    mouse = SensoriumMouse(root)
    a, b = mouse.trial(0), mouse.trial(1)
    assert a.video.shape == (T, H, W) and a.responses.shape == (T, N) and a.behavior.shape == (T, 2)
    np.testing.assert_array_equal(a.responses, _trial(0).responses)
    assert b.video.shape[0] == b.responses.shape[0] == b.behavior.shape[0] == b.pupil_center.shape[0] == 9
    np.testing.assert_array_equal(b.pupil_center, tr.pupil_center[:9])


def test_lazy_sequence_reads_only_what_is_indexed(folder):
    mouse = SensoriumMouse(folder)
    np.save(folder / "data" / "responses" / "3.npy", np.zeros((N + 1, T)))  # broken after opening
    train = mouse.trials("train")
    assert isinstance(train, TrialSequence) and len(train) == 2 and train.trial_ids == ["0", "2"]
    assert [t.trial_id for t in train] == ["0", "2"]
    assert train[-1].trial_id == "2" and isinstance(train[:1], TrialSequence) and len(train[:1]) == 1
    assert mouse.trial_ids_of(None) == ["0", "1", "2", "3"]  # 'none' left out
    assert mouse.trial_ids_of(["oracle", "final_test_main"]) == ["1", "3"]
    assert len(mouse.trials()) == 4
    with pytest.raises(InputError, match="responses/3.npy"):
        mouse.trials("final_test_main")[0]
    with pytest.raises(InputError, match="no trial '9'"):
        mouse.trial("9")


def _corrupt(root, kind, arr, trial=0):
    np.save(root / "data" / kind / f"{trial}.npy", arr)


@pytest.mark.parametrize(
    "kind, make, pattern",
    [
        ("videos", lambda: np.zeros((H, T)), r"videos/0.npy: has shape \(6, 12\); expected \(H, W, T\)"),
        ("responses", lambda: np.zeros((N + 2, T)), r"responses/0.npy: has shape \(7, 12\); expected \(5, T\)"),
        ("behavior", lambda: np.zeros((3, T)), r"behavior/0.npy: has shape \(3, 12\); expected \(2, T\)"),
        ("pupil_center", lambda: np.zeros((T, 2)), r"pupil_center/0.npy: has shape \(12, 2\); expected \(2, T\)"),
        ("responses", lambda: np.zeros((N, T - 1)), r"responses/0.npy: has 11 frames; expected 12"),
        ("behavior", lambda: np.zeros((2, T + 3)), r"behavior/0.npy: has 15 frames; expected 12"),
        ("videos", lambda: np.zeros((H + 1, W, T)), r"videos/0.npy: has frames of 7x8; expected 6x8"),
    ],
)
def test_bad_shapes_name_the_file(folder, kind, make, pattern):
    mouse = SensoriumMouse(folder)
    _corrupt(folder, kind, make())
    with pytest.raises(InputError, match=pattern):
        mouse.trial(0)


@pytest.mark.parametrize(
    "kind, index, frame",
    [
        ("responses", (2, 5), 5),
        ("videos", (1, 1, 0), 0),
    ],
)
def test_nan_inside_valid_part(folder, kind, index, frame):
    arr = np.load(folder / "data" / kind / "0.npy").astype(np.float32)
    arr[index] = np.nan
    _corrupt(folder, kind, arr)
    with pytest.raises(InputError, match=rf"{kind}/0.npy: has NaN at frame {frame} .*inside the valid part"):
        SensoriumMouse(folder).trial(0)


def test_all_nan_trial(folder):
    _corrupt(folder, "videos", np.full((H, W, T), np.nan, np.float32))
    with pytest.raises(InputError, match="every one of the 12 frames is NaN"):
        SensoriumMouse(folder).trial(0)


def test_invalid_folders(folder, tmp_path):
    with pytest.raises(InputError, match="nowhere: no such folder"):
        SensoriumMouse(tmp_path / "nowhere")
    (folder / "data" / "responses" / "2.npy").unlink()
    with pytest.raises(InputError, match=r"responses/2.npy: no such file; expected one file per trial"):
        SensoriumMouse(folder)
    _corrupt(folder, "responses", np.zeros((N, T)), trial=2)
    np.save(folder / "meta" / "neurons" / "cell_motor_coordinates.npy", np.zeros((N, 2)))
    with pytest.raises(InputError, match=r"cell_motor_coordinates.npy: has shape \(5, 2\); expected \(5, 3\)"):
        SensoriumMouse(folder)
    (folder / "meta" / "neurons" / "cell_motor_coordinates.npy").unlink()
    (folder / "meta" / "neurons" / "unit_ids.npy").unlink()
    with pytest.raises(InputError, match="unit_ids.npy: no such file"):
        SensoriumMouse(folder)
    (folder / "meta" / "trials" / "tiers.npy").unlink()
    with pytest.raises(InputError, match="tiers.npy: no such file"):
        SensoriumMouse(folder)
    os.rename(folder / "data" / "behavior", folder / "data" / "behaviour")
    with pytest.raises(InputError, match=r"data/behavior: no such folder; expected data/behavior/<trial>.npy"):
        SensoriumMouse(folder)


def test_corrupt_file_and_writer_errors(folder, tmp_path):
    (folder / "data" / "videos" / "0.npy").write_bytes(b"not an array")
    with pytest.raises(InputError, match="videos/0.npy: cannot be read as a .npy array"):
        SensoriumMouse(folder)
    bad = _trial(0)._replace(responses=np.zeros((T - 1, N)))
    with pytest.raises(InputError, match="trial.responses: has 11 frames; expected 12"):
        write_trial(tmp_path / "w", 0, bad)
    with pytest.raises(InputError, match="tiers: unknown tier names"):
        write_meta(tmp_path / "w", np.arange(3), ["train", "test"])
    with pytest.raises(InputError, match=r"trial_meta\['video_ids'\]: has shape \(3,\); expected \(n_trials=2"):
        write_meta(tmp_path / "w", np.arange(3), ["train", "train"], trial_meta={"video_ids": np.arange(3)})


@pytest.mark.parametrize("kind", ["behavior", "pupil_center"])
def test_short_nan_runs_in_behaviour_are_interpolated(folder, kind):
    arr = np.load(folder / "data" / kind / "0.npy").astype(np.float32)
    want = arr.copy()
    arr[1, 4:7] = np.nan  # 3 frames inside, interpolated between frames 3 and 7
    arr[0, 0] = np.nan  # at the start: the nearest value
    _corrupt(folder, kind, arr)
    mouse = SensoriumMouse(folder)
    got = getattr(mouse.trial(0), kind)
    line = want[1, 3] + (want[1, 7] - want[1, 3]) * np.arange(1, 4) / 4
    np.testing.assert_allclose(got[4:7, 1], line, rtol=1e-6)
    assert got[0, 0] == want[0, 1]
    np.testing.assert_array_equal(np.delete(got, [0, 4, 5, 6], axis=0), np.delete(want.T, [0, 4, 5, 6], axis=0))
    mouse.trial(0)  # read twice, counted once
    assert mouse.cleaning()[f"nan_frames_interpolated_{kind}"] == 4
    with pytest.raises(InputError, match=rf"{kind}/0.npy: has NaN in frames 4-6 of row 1 \(3 frames in a row\)"):
        SensoriumMouse(folder, max_nan_run=2).trial(0)


def test_long_nan_run_in_behaviour_is_refused(folder):
    arr = np.load(folder / "data" / "pupil_center" / "0.npy").astype(np.float32)
    arr[0, 2:8] = np.nan
    _corrupt(folder, "pupil_center", arr)
    with pytest.raises(InputError, match=r"pupil_center/0.npy: has NaN in frames 2-7 of row 0 \(6 frames in a row\)"):
        SensoriumMouse(folder).trial(0)


def test_negative_responses_clipped_or_refused(folder):
    arr = np.load(folder / "data" / "responses" / "0.npy").astype(np.float32)
    arr[1, 2] = -0.25
    arr[3, 9] = -0.5
    _corrupt(folder, "responses", arr)
    mouse = SensoriumMouse(folder)
    got = mouse.trial(0).responses
    assert got[2, 1] == 0 and got[9, 3] == 0 and got.min() == 0
    want = arr.T.copy()
    want[want < 0] = 0
    np.testing.assert_array_equal(got, want)
    assert mouse.cleaning()["negative_values_clipped"] == 2
    with pytest.raises(InputError, match=r"responses/0.npy: has 2 negative values \(min -0.5\)"):
        SensoriumMouse(folder, negative="refuse").trial(0)
    with pytest.raises(InputError, match="--negative: got 'drop'; expected one of clip, refuse"):
        SensoriumMouse(folder, negative="drop")


def test_withheld_tiers_are_the_all_zero_ones(folder):
    mouse = SensoriumMouse(folder)
    assert mouse.withheld_tiers() == [] and mouse.tiers_with_responses() == ["train", "oracle", "final_test_main"]
    zeros = np.zeros((N, T), np.float32)
    zeros[:, -3:] = np.nan  # the padding does not count as a response
    _corrupt(folder, "responses", zeros.copy(), trial=3)
    mouse = SensoriumMouse(folder)
    assert mouse.withheld_tiers() == ["final_test_main"]
    assert mouse.tiers_with_responses() == ["train", "oracle"]
    # one train trial of zeros does not make 'train' withheld
    _corrupt(folder, "responses", zeros, trial=0)
    assert SensoriumMouse(folder).withheld_tiers() == ["final_test_main"]


def test_clip_keys_from_video_ids_or_frame_hashes(folder):
    mouse = SensoriumMouse(folder)
    assert mouse.clip_keys([0, 1, 2, 3]) == [0, 1, 0, 2]
    (folder / "meta" / "trials" / "video_ids.npy").unlink()
    write_trial(folder, 2, _trial(0)._replace(responses=_trial(2).responses), pad_to=T + 4)  # trial 0's clip again
    mouse = SensoriumMouse(folder)
    keys = mouse.clip_keys(["0", "1", "2", "3"])
    assert keys[0] == keys[2] and len({keys[0], keys[1], keys[3]}) == 3
