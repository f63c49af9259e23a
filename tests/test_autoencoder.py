"""ConvAutoencoder on moving Gaussian blobs: reconstruction, codes, padding, checkpoints."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

from neurocine.encode.autoencoder import ConvAutoencoder
from neurocine.errors import InputError
from neurocine.metrics import r2_score
from neurocine.models.torch_base import CHECKPOINT_FILE, TrainingInterrupted

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def moving_blob(n_frames=300, height=32, width=40, sigma=3.0, seed=0):
    """A Gaussian blob (peak 0.9 on a 0.1 background) on two incommensurate sinusoidal paths.

    Returns frames (T, H, W) float32 in [0, 1] and the blob centre (T, 2) as (row, column).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)
    row = height / 2 + (height / 2 - 6) * np.sin(2 * np.pi * t / 97 + rng.uniform(0, 2 * np.pi))
    col = width / 2 + (width / 2 - 6) * np.sin(2 * np.pi * t / 61 + rng.uniform(0, 2 * np.pi))
    y, x = np.arange(height)[:, None], np.arange(width)
    d2 = (y - row[:, None, None]) ** 2 + (x - col[:, None, None]) ** 2
    return (0.1 + 0.8 * np.exp(-d2 / (2 * sigma**2))).astype(np.float32), np.stack([row, col], 1)


N_TRAIN = 240  # frames 240-299 are held out from fit (fit itself validates on its last 10 %: 216-239)


@pytest.fixture(scope="module")
def blob_fit():
    frames, centre = moving_blob()
    model = ConvAutoencoder(filters=(8, 4), batch_size=8, max_epochs=25, random_state=0)
    return frames, centre, model.fit(frames[:N_TRAIN])


def flat(frames):
    return frames.reshape(len(frames), -1)


def test_reconstructs_held_out_frames(blob_fit):
    frames, _, model = blob_fit
    test = frames[N_TRAIN:]
    # the mean training frame is nearly flat (the blob visits everywhere): R² ~ 0.002
    baseline = r2_score(flat(test), np.broadcast_to(frames[:N_TRAIN].mean(0), test.shape).reshape(len(test), -1))
    quality = model.evaluate(test)
    assert baseline < 0.05
    # measured r2 0.98 at seed 0; 0.88-0.99 over seeds 0-7 with these settings
    assert quality["r2"] > 0.85 > baseline + 0.8
    # the streaming metrics agree with neurocine.metrics and a numpy cross-entropy
    recon = model.reconstruct(test).astype(np.float64)
    assert recon.shape == test.shape and recon.min() >= 0 and recon.max() <= 1
    assert quality["r2"] == pytest.approx(r2_score(flat(test), flat(recon)), abs=1e-5)
    eps = 1e-7
    bce = -np.mean(test * np.log(recon + eps) + (1 - test) * np.log(1 - recon + eps))
    assert quality["bce"] == pytest.approx(bce, abs=1e-4)
    # the floor of the cross-entropy is the pixels' own entropy; the fit is within 0.02 of it
    entropy = -np.mean(test * np.log(test) + (1 - test) * np.log(1 - test))
    assert entropy < quality["bce"] < entropy + 0.02
    assert model.score(test) == quality["r2"]
    assert model.n_epochs_ == len(model.history_["val_loss"]) and 1 <= model.best_epoch_ <= 25


def test_code_shape_and_inverse(blob_fit):
    frames, _, model = blob_fit
    codes = model.transform(frames)
    assert model.code_shape_ == (4, 32 // 4, 40 // 4) and model.pad_ == (0, 0)
    assert codes.shape == (300, (32 // 4) * (40 // 4) * 4) == (300, model.code_size_)
    np.testing.assert_allclose(model.inverse_transform(codes), model.reconstruct(frames), atol=1e-6)
    # streaming: the block size does not change the numbers
    model.set_params(batch_size=7)
    try:
        np.testing.assert_allclose(model.transform(frames), codes, atol=1e-6)
    finally:
        model.set_params(batch_size=32)
    # uint8 frames are scaled by 1/255
    as_uint8 = np.round(frames * 255).astype(np.uint8)
    np.testing.assert_allclose(model.transform(as_uint8), codes, atol=0.05)


def test_codes_encode_the_blob_position(blob_fit):
    # A linear readout of the blob centre from the codes, fitted on frames 0-239 and tested on 240-299:
    # the codes are a 8x10 map (4 channels) of where the blob is, so the centre is nearly linear in them.
    frames, centre, model = blob_fit
    codes = model.transform(frames)
    readout = Ridge(alpha=1.0).fit(codes[:N_TRAIN], centre[:N_TRAIN])
    pred, truth = readout.predict(codes[N_TRAIN:]), centre[N_TRAIN:]
    r2 = 1 - ((pred - truth) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
    assert np.all(r2 > 0.8)  # measured [0.99, 0.99]


@pytest.mark.parametrize("padding", ["reflect", "zero"])
def test_odd_frame_sizes_round_trip(padding):
    frames, _ = moving_blob(n_frames=40, height=13, width=21)
    frames = np.round(frames * 255).astype(np.uint8)
    model = ConvAutoencoder(filters=(4, 2), padding=padding, max_epochs=1, random_state=0).fit(frames)
    assert model.pad_ == (3, 3) and model.padded_shape_ == (16, 24) and model.code_shape_ == (2, 4, 6)
    assert model.transform(frames).shape == (40, 48)
    assert model.reconstruct(frames).shape == (40, 13, 21)
    assert model.inverse_transform(model.transform(frames[:3])).shape == (3, 13, 21)


def test_resumed_fit_equals_uninterrupted(tmp_path):
    frames, _ = moving_blob(n_frames=60, height=16, width=20)
    params = dict(
        filters=(4, 2), batch_size=16, max_epochs=4, patience=10, learning_rate=1e-2, random_state=3, device="cpu"
    )  # bit-for-bit is a CPU promise
    reference = ConvAutoencoder(**params).fit(frames)
    first = ConvAutoencoder(**params, checkpoint_dir=tmp_path)
    first._stop_after_epoch = 2
    with pytest.raises(TrainingInterrupted):
        first.fit(frames)
    assert not hasattr(first, "network_")  # an interrupted fit leaves no half-trained model
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]
    resumed = ConvAutoencoder(**params, checkpoint_dir=tmp_path).fit(frames)
    assert resumed.history_ == reference.history_ and resumed.best_epoch_ == reference.best_epoch_
    ref, res = reference.network_.state_dict(), resumed.network_.state_dict()
    assert all(torch.equal(ref[k], res[k]) for k in ref)  # bit for bit
    np.testing.assert_array_equal(resumed.transform(frames), reference.transform(frames))
    with pytest.raises(InputError, match="does not match .*filters"):
        ConvAutoencoder(**{**params, "filters": (4, 3)}, checkpoint_dir=tmp_path).fit(frames)


def test_bad_input():
    frames, _ = moving_blob(n_frames=20, height=16, width=16)
    model = ConvAutoencoder(filters=(4, 2), max_epochs=1, random_state=0)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.transform(frames)
    with pytest.raises(InputError, match=r"channels last\); expected grey frames \(T, H, W\)"):
        model.fit(np.repeat(frames[..., None], 3, -1))
    with pytest.raises(InputError, match=r"frame 2 has value 1.5 at pixel \(0, 0\); expected floats in \[0, 1\]"):
        model.fit(np.where(np.arange(20)[:, None, None] == 2, 1.5, frames))
    with pytest.raises(InputError, match="dtype uint16; expected uint8"):
        model.fit(frames.astype(np.uint16))
    with pytest.raises(InputError, match=r"2-D array .*frame\[None\]"):
        model.fit(frames[0])
    with pytest.raises(InputError, match="padding: 'reflect' cannot pad frames of 3x3 pixels by 5x5"):
        ConvAutoencoder(filters=(4, 2, 2)).fit(frames[:, :3, :3])
    with pytest.raises(InputError, match="filters: got"):
        ConvAutoencoder(filters=()).fit(frames)
    model.fit(frames)
    with pytest.raises(InputError, match="has frames of 16x15 pixels, expected 16x16"):
        model.transform(frames[:, :, :15])
    with pytest.raises(InputError, match=r"codes: got shape \(2, 5\), expected \(T, 32\)"):
        model.inverse_transform(np.zeros((2, 5)))
