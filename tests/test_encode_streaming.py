"""Streaming encode: one chunked pass over the movie equals the in-memory computation to 1e-8; flat binary movies."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from _block_reference import nested_block_ridge
from _cli import run_in_process
from _errors import raises_naming

from neurocine.encode.imaging_jobs import widefield_mask
from neurocine.encode.jobs import load_encode_config, run_encode, write_simulated_session
from neurocine.encode.streaming import stream_encode, streamed_series
from neurocine.features.widefield import DffStream, bin_frames, dff, gaussian_blur, preprocess_widefield
from neurocine.io.imaging import open_stack
from neurocine.models.block_ridge import fold_bounds
from neurocine.models.ridge import explained_variance

ALPHAS = np.logspace(-2, 4, 5)


@pytest.fixture(scope="module")
def movie():
    """A 16 x 16 uint16 movie (bright disc = brain) driven by 4 design columns in 3 groups."""
    rng = np.random.default_rng(5)
    T = 300
    X = rng.standard_normal((T, 4))
    X = (X - X.mean(0)) / X.std(0)
    yy, xx = np.mgrid[:16, :16]
    brain = (yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 40
    base = np.where(brain, 2000.0, 40.0) * (1 + 0.1 * rng.random((16, 16)))
    maps = rng.standard_normal((4, 16, 16)) * brain
    drift = np.linspace(1.0, 0.9, T)[:, None, None]
    F = base * drift * (1 + 0.02 * np.einsum("tp,phw->thw", X, maps) + 0.01 * rng.standard_normal((T, 16, 16)))
    return X, np.round(F).astype(np.uint16)


@pytest.mark.parametrize("mode", ["sliding", "session"])
def test_streaming_equals_in_memory(movie, mode):
    X, F = movie
    T, k, split = X.shape[0], 5, 240
    groups = {"a": [0, 1], "b": [2], "c": [3]}
    got = stream_encode(
        F,
        X,
        groups,
        dff=mode,
        window=20,
        bin=2,
        blur=0.7,
        mask="otsu",
        cv=k,
        alphas=ALPHAS,
        random_state=3,
        split=split,
        chunk_size=37,
    )
    mask = widefield_mask("otsu", F, 2, 0.7)
    np.testing.assert_array_equal(got.mask, mask)
    if mode == "session":
        Fb = gaussian_blur(bin_frames(F, 2, dtype=np.float64), 0.7, dtype=np.float64)
        Y = dff(Fb, T, mode="block", mask=mask, dtype=np.float64)  # one baseline: the session mean
    else:
        Y = preprocess_widefield(F, 20, bin=2, blur=0.7, mask=mask, mode="sliding", dtype=np.float64)
    Y = Y[:, mask]
    edges = fold_bounds(T, k)
    ref = nested_block_ridge(X, Y, edges, ALPHAS, split)
    np.testing.assert_allclose(got.fit.ev, ref["ev"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.fit.test_ev, ref["test_ev"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.fit.coef, ref["coef"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(got.fit.intercept, ref["intercept"], rtol=1e-8, atol=1e-10)
    if mode == "sliding":  # (the session baseline leaves the slow drift in: low EV, equal all the same)
        assert got.fit.ev.mean() > 0.5
    # the traces read again: the same dF/F as the pass
    np.testing.assert_allclose(
        streamed_series(F, got, [0, 5], 50, dff=mode, window=20, bin=2, blur=0.7), Y[:50, [0, 5]], atol=1e-12
    )
    fold = np.searchsorted(edges, np.arange(T), side="right") - 1
    pred = np.einsum("tp,tpq->tq", X, got.fit.fold_coef[fold]) + got.fit.fold_intercept[fold]
    np.testing.assert_allclose(explained_variance(Y, pred), ref["ev"], atol=1e-8)
    if mode == "session":  # (the attribution is the same code for every baseline)
        return
    # attribution: the shifted and single-group models of the same folds
    c = got.contributions
    for i, (name, idx) in enumerate(groups.items()):
        Xs = X.copy()
        Xs[:, idx] = np.roll(X[:, idx], int(c.shifts[i]), axis=0)
        reduced = nested_block_ridge(Xs, Y, edges, ALPHAS)["ev"]
        np.testing.assert_allclose(c.unique[i], ref["ev"] - reduced, atol=1e-8, err_msg=name)
        single = nested_block_ridge(X[:, idx], Y, edges, ALPHAS)["ev"]
        np.testing.assert_allclose(c.single[i], single, atol=1e-8, err_msg=name)


def test_dff_stream_modes_equal_dff(movie):
    _, F = movie
    for mode in ("sliding", "block"):
        want = preprocess_widefield(F, 25, bin=2, blur=1.0, mode=mode, dtype=np.float64).reshape(F.shape[0], -1)
        got = np.concatenate([v.copy() for _, v in DffStream(F, 25, mode=mode, bin=2, blur=1.0, chunk_size=60)])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    stream = DffStream(F, mode="session", bin=2, chunk_size=70)
    raw = np.concatenate([v.copy() for _, v in stream])
    np.testing.assert_allclose(
        raw / stream.mean - 1,
        dff(F.reshape(-1, 8, 2, 8, 2).mean((2, 4)), F.shape[0], mode="block", dtype=np.float64).reshape(F.shape[0], -1),
        rtol=1e-10,
        atol=1e-12,
    )


def test_dff_stream_chunk_stays_intact_while_the_next_are_read_ahead(tmp_path, movie):
    """Chunks may be views of reused buffers that a background thread fills ahead: the one held is intact."""
    _, F = movie
    T = F.shape[0]
    path = tmp_path / "wf.dat"
    F.tofile(path)
    pixels = np.arange(0, 256, 3)
    sliding = preprocess_widefield(F, 20, mode="sliding", dtype=np.float64).reshape(T, -1)
    cases = [("session", None, F.reshape(T, -1).astype(np.float64)), ("sliding", pixels, sliding[:, pixels])]
    with open_stack(path, shape=F.shape, dtype="uint16") as stack:
        for mode, picks, want in cases:
            n = 0
            for s, v in DffStream(stack, 20, mode=mode, pixels=picks, chunk_size=16):
                time.sleep(0.02)  # the reader thread fills the next chunks meanwhile
                np.testing.assert_allclose(v, want[s : s + v.shape[0]], rtol=0, atol=1e-13, err_msg=mode)
                n += v.shape[0]
            assert n == T
        # a file cut short after it was opened: the pass fails at the missing frames, naming the file
        with open(path, "r+b") as fh:
            fh.truncate(F[:150].nbytes)
        with raises_naming(path, match=r"ended after .*expected"):
            for _ in DffStream(stack, 20, mode="session", chunk_size=64):
                pass


def test_flat_binary_stack_and_its_size_check(tmp_path, movie):
    _, F = movie
    path = tmp_path / "wf.dat"
    F.tofile(path)
    with open_stack(path, shape=F.shape, dtype="uint16") as s:
        np.testing.assert_array_equal(s[10:20], F[10:20])
    with raises_naming(path, match=r"has 153600 bytes \(150 whole frames of 16 x 32 uint16\); expected 307200"):
        open_stack(path, shape=(300, 16, 32), dtype="uint16")
    with raises_naming(path, match="needs shape"):
        open_stack(path)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is a POSIX call this system lacks")
def test_a_pass_over_a_flat_binary_movie_drops_the_pages_behind_it(tmp_path, movie, monkeypatch):
    """A streamed pass tells the kernel it will not need the pages it read (no page-cache growth)."""
    _, F = movie
    path = tmp_path / "wf.dat"
    F.tofile(path)
    advised = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, n, advice: advised.append((offset, n, advice)))
    with open_stack(path, shape=F.shape, dtype="uint16") as stack:
        values = np.concatenate([v.copy() for _, v in DffStream(stack, 20, mode="session", chunk_size=64)])
    np.testing.assert_array_equal(values, F.reshape(F.shape[0], -1))
    frame = F[0].nbytes
    want = [(a * frame, min(64, F.shape[0] - a) * frame, os.POSIX_FADV_DONTNEED) for a in range(0, F.shape[0], 64)]
    assert sorted(advised) == want  # every byte once, right after it was read


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A 60 s simulated session whose movie is a flat uint16 .dat file, streamed."""
    root = tmp_path_factory.mktemp("stream") / "session"
    write_simulated_session(root, duration_s=60, seed=2, video_size=(36, 48), widefield_size=(20, 20))
    wf = np.load(root / "widefield.npy")
    np.round(wf * 10).astype(np.uint16).tofile(root / "wf.dat")
    text = (root / "encode.toml").read_text()
    shape = ", ".join(map(str, wf.shape))
    text = text.replace(
        'path = "widefield.npy"', f'path = "wf.dat"\nshape = [{shape}]\ndtype = "uint16"\nstreaming = true'
    )
    (root / "encode.toml").write_text(text)
    return root, wf.shape


def test_streaming_encode_job_recovers_planted_maps(session, tmp_path):
    root, _ = session
    out = tmp_path / "out"
    run_encode(root / "encode.toml", out, figures=False)  # (the figures are the in-memory job's)
    m = json.loads((out / "summary.json").read_text())["metrics"]
    assert m["streaming"] is True
    assert min(m["beta_map_correlation"].values()) >= 0.9
    assert abs(m["mean_cv_ev"] - m["ceiling_ev"]) <= 0.03
    assert m["planted_ranked_first"] and m["ranking"][-1] == "null"
    with np.load(out / "model.npz") as z:
        assert "cv_predictions" not in z.files and z["fold_coef"].shape[0] == 5
    assert (out / "maps.npz").exists()


def test_binary_size_mismatch_is_one_line_exit_2(session, tmp_path, monkeypatch, capfd):
    root, shape = session
    bad = root / "bad.toml"
    bad.write_text((root / "encode.toml").read_text().replace(f"shape = [{shape[0]},", f"shape = [{shape[0] + 1},"))
    out = tmp_path / "out"
    r = run_in_process("encode", bad, "--out", out, cwd=tmp_path, monkeypatch=monkeypatch, capfd=capfd)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "wf.dat" in r.stderr and "bytes" in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".*out*"))


@pytest.mark.slow
def test_streaming_encode_out_of_space_is_one_line_exit_2(session, tmp_path):
    """A write that fails for lack of room (a 30 kB file-size limit): one line, exit 2, no folder left."""
    import os
    import resource
    import subprocess
    import sys

    root, _ = session
    out = tmp_path / "out"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    r = subprocess.run(
        [sys.executable, "-m", "neurocine.cli", "encode", str(root / "encode.toml"), "--out", str(out)],
        cwd=tmp_path,
        env={**os.environ, "NEUROCINE_PROGRESS": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit,
    )
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []


def test_streaming_with_a_sequence_model_is_refused(session):
    root, _ = session
    cfg = root / "seq.toml"
    cfg.write_text((root / "encode.toml").read_text() + "\n[sequence]\n")
    with raises_naming("seq.toml", match=r"\[neural\] streaming: got true with a \[sequence\]"):
        load_encode_config(cfg)
    # in component space the sequence model sees only the k components: it streams
    cfg.write_text(_components_config(root, "true", "svdseq.toml").read_text() + "\n[sequence]\n")
    assert load_encode_config(cfg).sequence == {}


@pytest.mark.parametrize("ext", [".h5", ".tif", ".zarr"])
def test_every_stack_format_streams_the_same_values(tmp_path, movie, ext):
    """The pass reads any stack chunk by chunk: HDF5, multi-page TIFF and zarr give the array's values."""
    _, F = movie
    path = tmp_path / f"wf{ext}"
    if ext == ".h5":
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "w") as f:
            f.create_dataset("movie", data=F, chunks=(16, 16, 16))
    elif ext == ".tif":
        pytest.importorskip("tifffile").imwrite(path, F)
    else:
        zarr = pytest.importorskip("zarr")
        arr = zarr.open_group(path, mode="w").create_array("movie", shape=F.shape, dtype=F.dtype, chunks=(16, 16, 16))
        arr[:] = F
    want = np.concatenate([v.copy() for _, v in DffStream(F, 20, bin=2, chunk_size=64)])
    with open_stack(path) as stack:
        got = np.concatenate([v.copy() for _, v in DffStream(stack, 20, bin=2, chunk_size=64)])
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- the SVD-space route out of core


@pytest.mark.parametrize("mode", ["sliding", "session"])
def test_streamed_components_equal_the_in_memory_decomposition(movie, mode):
    """The chunked passes over the file give the SVD of the preprocessed, masked movie held in memory."""
    from scipy.linalg import subspace_angles

    from neurocine.encode.components import component_space, movie_components
    from neurocine.features.chunked_svd import randomized_svd_chunks

    _, F = movie
    T, k = F.shape[0], 6
    got = movie_components(F, k, dff=mode, window=20, bin=2, blur=0.7, mask="otsu", chunk_size=37)
    assert got.passes == 4
    mask = widefield_mask("otsu", F, 2, 0.7)
    np.testing.assert_array_equal(got.mask, mask)
    if mode == "session":
        Fb = gaussian_blur(bin_frames(F, 2, dtype=np.float64), 0.7, dtype=np.float64)
        Y = dff(Fb, T, mode="block", mask=mask, dtype=np.float64)
    else:
        Y = preprocess_widefield(F, 20, bin=2, blur=0.7, mask=mask, mode="sliding", dtype=np.float64)
    Y = Y[:, mask]
    svd = randomized_svd_chunks(lambda c: ((s, Y[s : s + 64]) for s in range(0, T, 64)), T, k)
    temporal, U = component_space(svd)  # what the in-memory route of the encode job computes
    np.testing.assert_allclose(got.U, U, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.temporal, temporal, rtol=0, atol=1e-8 * np.abs(temporal).max())
    assert got.kept_variance == pytest.approx(svd.kept_variance, rel=1e-10)
    # and close to the exact top-k SVD of the centred movie (2 power iterations; the last components
    # lie near its noise floor, where the randomized subspace converges slowest)
    _, s, Vt = np.linalg.svd(Y - Y.mean(0), full_matrices=False)
    assert subspace_angles(got.U[:, :3], Vt[:3].T).max() < 1e-6
    np.testing.assert_allclose(got.kept_variance, (s[:k] ** 2).sum() / (s**2).sum(), rtol=1e-8)


def test_each_svd_pass_over_the_movie_has_its_progress_bar(movie, bars):
    from neurocine.encode.components import movie_components

    _, F = movie
    run = lambda: movie_components(F, 3, dff="none", mask=None, chunk_size=100, power_iterations=1)  # noqa: E731
    _, err = bars(True, run)
    for i in (1, 2, 3):
        assert f"movie SVD pass {i}/3:" in err and "/3 [" in err  # 300 frames: 3 chunks a pass
    _, err = bars(False, run)
    assert err == ""


def _components_config(root, streaming: str, name: str):
    text = (root / "encode.toml").read_text().replace("streaming = true", f"streaming = {streaming}\ncomponents = 30")
    (root / name).write_text(text)
    return root / name


def test_streaming_component_route_recovers_the_maps_and_equals_in_memory_components(session, tmp_path):
    from scipy.linalg import subspace_angles

    from neurocine.encode.jobs import prepare_data

    root, _ = session
    out = tmp_path / "svd"
    s = run_encode(_components_config(root, "true", "svd.toml"), out, figures=False)
    m = s["metrics"]
    assert m["streaming"] is True and s["data"]["components"]["passes"] == 4
    assert min(m["beta_map_correlation"].values()) >= 0.9
    assert m["planted_ranked_first"] and m["ranking"][-1] == "null"
    memory = prepare_data(load_encode_config(_components_config(root, "false", "mem.toml")))
    assert memory.U is not None and m["n_targets"] == memory.U.shape[0]
    with np.load(out / "model.npz") as z:
        U, coef = z["U"], z["coef"]
    # the in-memory route holds the dF/F in float32: relative differences of ~1e-7 per value
    assert subspace_angles(U, memory.U).max() < 1e-6
    np.testing.assert_allclose(U, memory.U, atol=1e-6)
    assert m["components_kept_variance"] == pytest.approx(memory.kept_variance, rel=1e-7)
    assert coef.shape == (m["n_columns"], m["n_targets"])


@pytest.mark.slow  # two encode jobs
def test_streaming_component_maps_equal_the_in_memory_job(session, tmp_path):
    root, _ = session
    maps = {}
    for streaming in ("true", "false"):
        run_encode(_components_config(root, streaming, f"{streaming}.toml"), tmp_path / streaming, figures=False)
        with np.load(tmp_path / streaming / "maps.npz") as z:
            maps[streaming] = {key: z[key] for key in z.files}
    assert maps["true"].keys() == maps["false"].keys()
    for key, value in maps["true"].items():  # float32 dF/F in memory: agreement to 1e-7, not 1e-12
        np.testing.assert_allclose(value, maps["false"][key], rtol=0, atol=1e-7 * np.nanmax(np.abs(value)), err_msg=key)


@pytest.mark.nwb
def test_an_nwb_two_photon_series_streams_lazily_with_its_conversion(tmp_path, movie):
    """NWB: the series' HDF5 dataset is read chunk by chunk, and its values are ``raw * conversion + offset``."""
    pynwb = pytest.importorskip("pynwb")
    h5py = pytest.importorskip("h5py")
    from datetime import UTC, datetime

    from hdmf.backends.hdf5 import H5DataIO
    from pynwb.ophys import OpticalChannel, TwoPhotonSeries

    _, F = movie
    path = tmp_path / "wf.nwb"
    nwbfile = pynwb.NWBFile(
        session_description="test", identifier="stream", session_start_time=datetime(2020, 1, 1, tzinfo=UTC)
    )
    plane = nwbfile.create_imaging_plane(
        name="plane",
        optical_channel=OpticalChannel(name="green", description="gcamp", emission_lambda=525.0),
        description="cortex",
        device=nwbfile.create_device(name="scope"),
        excitation_lambda=470.0,
        indicator="GCaMP6s",
        location="dorsal cortex",
        imaging_rate=30.0,
    )
    series = TwoPhotonSeries(
        name="widefield",
        data=H5DataIO(F, chunks=(16, 16, 16)),
        unit="a.u.",
        imaging_plane=plane,
        rate=30.0,
        conversion=0.5,
        offset=3.0,
    )
    nwbfile.add_acquisition(series)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    want = np.concatenate([v.copy() for _, v in DffStream(F * 0.5 + 3.0, mode="none", bin=2, chunk_size=64)])
    with open_stack(path, series="widefield") as stack:
        assert isinstance(stack._data, h5py.Dataset)  # on disk, not loaded
        got = np.concatenate([v.copy() for _, v in DffStream(stack, mode="none", bin=2, chunk_size=64)])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_component_passes_start_only_after_the_cheap_checks(session, monkeypatch):
    """A behaviour table of the wrong length is refused before any pass over the movie."""
    from neurocine.encode import components
    from neurocine.encode.jobs import prepare_data

    root, _ = session
    rows = (root / "behaviour.csv").read_text().splitlines()[:1000]
    (root / "short.csv").write_text("\n".join(rows) + "\n")
    cfg = root / "short.toml"
    cfg.write_text(_components_config(root, "true", "x.toml").read_text().replace("behaviour.csv", "short.csv"))
    monkeypatch.setattr(components, "movie_components", lambda *a, **k: pytest.fail("the movie was read"))
    with raises_naming("short.csv", r"has 999 rows but \S*wf\.dat has 1800 time steps"):
        prepare_data(load_encode_config(cfg), streaming=True)


def test_a_mask_file_restricts_both_streaming_routes(session, tmp_path):
    """``[neural] mask = FILE``: the pixel pass and the component passes model exactly the file's pixels."""
    from neurocine.encode.jobs import prepare_data

    root, (_, h, w) = session
    mask = np.zeros((h, w), bool)
    mask[3:17, 4:16] = True
    np.save(root / "brain.npy", mask)
    text = (root / "encode.toml").read_text().replace('mask = "otsu"', 'mask = "brain.npy"')
    assert 'mask = "brain.npy"' in text
    (root / "masked.toml").write_text(text)
    (root / "masked_svd.toml").write_text(text.replace("streaming = true", "streaming = true\ncomponents = 20"))
    (root / "masked_mem.toml").write_text(text.replace("streaming = true", "streaming = false\ncomponents = 20"))
    s = run_encode(root / "masked.toml", tmp_path / "px", figures=False)
    assert s["metrics"]["streaming"] is True and s["metrics"]["n_targets"] == mask.sum()
    streamed = prepare_data(load_encode_config(root / "masked_svd.toml"), streaming=True)
    memory = prepare_data(load_encode_config(root / "masked_mem.toml"))
    np.testing.assert_array_equal(streamed.pixels, np.flatnonzero(mask))
    np.testing.assert_array_equal(memory.pixels, np.flatnonzero(mask))
    assert streamed.target_names[0] == "px3_4" and streamed.target_names == memory.target_names
    np.testing.assert_allclose(streamed.U, memory.U, atol=1e-6)
