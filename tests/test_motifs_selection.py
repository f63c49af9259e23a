"""Choosing K: parsing, seqNMF-style dissimilarity, the one-SE rule, and recovery of the true K."""

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.models.torch_base import CHECKPOINT_FILE
from neurocine.motifs import ConvNMF, selection
from neurocine.motifs.selection import (
    dissimilarity,
    one_se_choice,
    parse_k_range,
    reconstruction_gram,
    select_n_components,
    unit_reconstructions,
)
from neurocine.motifs.simulate import simulate_convnmf


@pytest.mark.parametrize(
    "text,expected",
    [("1-8", list(range(1, 9))), ("2,4,6", [2, 4, 6]), ("4", [4]), ("3-5,8", [3, 4, 5, 8]), (" 2 , 2 ", [2])],
)
def test_parse_k_range(text, expected):
    assert parse_k_range(text) == expected


@pytest.mark.parametrize("text", ["5-2", "0-3", "a", "", "2,,3", "-1"])
def test_parse_k_range_rejects(text):
    with pytest.raises(InputError, match="--components"):
        parse_k_range(text)


def test_dissimilarity_closed_cases():
    sim = simulate_convnmf(7)
    W, A = sim.templates, sim.amplitudes
    assert dissimilarity(W, A, W, A) == pytest.approx(0.0, abs=1e-6)
    perm = [2, 0, 3, 1]
    assert dissimilarity(W, A, W[perm], A[:, perm]) == pytest.approx(0.0, abs=1e-6)  # order does not matter
    assert dissimilarity(W, A, W, 2.5 * A) == pytest.approx(0.0, abs=1e-6)  # nor scale
    # units active on disjoint channels and times share nothing: dissimilarity 1
    W1 = np.zeros((1, 4, 3), np.float32)
    W1[0, 0] = 1
    W2 = np.zeros((1, 4, 3), np.float32)
    W2[0, 3] = 1
    A1 = np.zeros((50, 1), np.float32)
    A1[5] = 1
    assert dissimilarity(W1, A1, W2, A1) == pytest.approx(1.0)


def test_one_se_rule():
    ks = [1, 2, 3, 4]
    scores = np.array([[0.2, 0.2, 0.2], [0.5, 0.52, 0.48], [0.6, 0.62, 0.58], [0.605, 0.64, 0.57]])
    assert one_se_choice(ks, scores) == 3  # K=4 is best on average but within one SE of K=3
    assert one_se_choice(ks, scores[:, :1]) == 3  # single repeat: 2 % of the spread (0.4) tolerance
    assert one_se_choice([2, 5], np.array([[0.1], [0.9]])) == 5


def test_recovers_the_true_number_of_units():
    sim = simulate_convnmf(7)  # four true units
    sel = select_n_components(sim.data, "2-6", width=10, n_repeats=3, n_init=3, random_state=0)
    assert sel.recommended == 4
    means = sel.heldout_r2.mean(1)
    assert means[sel.ks.index(4)] > means[sel.ks.index(2)] + 0.1  # too few units clearly underfit
    assert sel.stability.shape == (5, 3)
    d = sel.to_dict()
    assert d["recommended_k"] == 4 and len(d["heldout_r2_mean"]) == 5


def test_bad_arguments():
    sim = simulate_convnmf(7)
    with pytest.raises(InputError, match="mask_fraction"):
        select_n_components(sim.data, [2], 10, mask_fraction=0.7)
    with pytest.raises(InputError, match="solver"):
        select_n_components(sim.data, [2], 10, solver="reference")
    for n_jobs in (0, 1.5, "2"):
        with pytest.raises(InputError, match="n_jobs"):
            select_n_components(sim.data, [2], 10, n_jobs=n_jobs)


# --------------------------------------------------------------------------- #
# stability without the reconstructions; checkpoints and resume
# --------------------------------------------------------------------------- #
def _reference_gram(Wa, Aa, Wb, Ab):
    """The units' reconstructions built in full (K T N numbers each) and their inner products."""
    ra = unit_reconstructions(Wa, Aa).reshape(Wa.shape[0], -1).astype(np.float64)
    rb = unit_reconstructions(Wb, Ab).reshape(Wb.shape[0], -1).astype(np.float64)
    return ra @ rb.T


@pytest.mark.parametrize("seed", range(6))
def test_reconstruction_gram_equals_the_inner_products_of_the_reconstructions(seed):
    rng = np.random.default_rng(seed)
    t_len, n, d = int(rng.integers(20, 200)), int(rng.integers(1, 6)), int(rng.integers(1, 12))
    k_a, k_b = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    Wa, Wb = rng.normal(size=(k_a, n, d)), rng.normal(size=(k_b, n, d))
    # dense spikes (windows overlap within and across units) and spikes in the last samples, cut at T
    Aa = (rng.random((t_len, k_a)) < 0.2) * rng.exponential(size=(t_len, k_a))
    Ab = (rng.random((t_len, k_b)) < 0.2) * rng.exponential(size=(t_len, k_b))
    Aa[-1], Ab[-2:] = 1.0, 0.5
    ref = _reference_gram(Wa, Aa, Wb, Ab)
    np.testing.assert_allclose(reconstruction_gram(Wa, Aa, Wb, Ab), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # the spike pairs read in chunks of a few pairs give the same cross-correlations
    sa, sb = selection._spikes(Aa), selection._spikes(Ab)
    np.testing.assert_allclose(
        selection._amplitude_crosscorr(sa, sb, k_a, k_b, d, max_pairs=3),
        selection._amplitude_crosscorr(sa, sb, k_a, k_b, d),
        rtol=1e-12,
        atol=1e-12,
    )


def test_dissimilarity_of_fitted_models_equals_the_one_from_their_reconstructions():
    data = simulate_convnmf(7).data
    a = ConvNMF(4, 10, random_state=0, n_init=2).fit(data)
    b = ConvNMF(3, 10, random_state=1, n_init=2).fit(data)
    c = _reference_gram(a.templates_, a.amplitudes_, b.templates_, b.amplitudes_)
    c /= np.outer(
        np.sqrt(np.diag(_reference_gram(a.templates_, a.amplitudes_, a.templates_, a.amplitudes_))),
        np.sqrt(np.diag(_reference_gram(b.templates_, b.amplitudes_, b.templates_, b.amplitudes_))),
    )
    expected = 1 - (c.max(1).sum() + c.max(0).sum()) / (2 * 4)
    assert dissimilarity(a.templates_, a.amplitudes_, b.templates_, b.amplitudes_) == pytest.approx(expected, abs=1e-5)
    assert 0.02 < expected < 0.9  # neither trivially equal nor unrelated


class _Interrupted(RuntimeError):
    pass


_CONVNMF_FIT = ConvNMF.fit


def _count_fits(monkeypatch, fail_after: int | None = None) -> list:
    """Count ConvNMF fits from now on; the fit after ``fail_after`` fits raises (a crash mid-selection)."""
    calls = []
    fit = _CONVNMF_FIT

    def counting(self, *args, **kwargs):
        if fail_after is not None and len(calls) == fail_after:
            raise _Interrupted
        calls.append(self.n_components)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(ConvNMF, "fit", counting)
    return calls


def _assert_same_selection(a, b):
    for name in ("heldout_r2", "heldout_loglik", "train_r2", "stability"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.recommended == b.recommended and a.ks == b.ks


def test_interrupted_selection_resumes_from_its_checkpoint_with_the_same_result(tmp_path, monkeypatch):
    sim = simulate_convnmf(7)
    kwargs = dict(width=10, n_repeats=2, n_init=2, random_state=0)
    reference = select_n_components(sim.data, [2, 4], **kwargs)
    calls = _count_fits(monkeypatch, fail_after=3)
    with pytest.raises(_Interrupted):
        select_n_components(sim.data, [2, 4], checkpoint_dir=tmp_path, **kwargs)
    assert calls == [2, 2, 4] and (tmp_path / CHECKPOINT_FILE).exists()
    calls = _count_fits(monkeypatch)
    resumed = select_n_components(sim.data, [2, 4], checkpoint_dir=tmp_path, **kwargs)
    assert calls == [4]  # only the fit that had not finished
    _assert_same_selection(resumed, reference)
    # a wider range of K reuses the fits done: only K=3 is fitted
    calls.clear()
    wider = select_n_components(sim.data, [2, 3, 4], checkpoint_dir=tmp_path, **kwargs)
    assert calls == [3, 3]
    np.testing.assert_array_equal(wider.heldout_r2[[0, 2]], reference.heldout_r2)


def test_a_checkpoint_of_other_data_or_parameters_is_refused(tmp_path):
    sim = simulate_convnmf(7)
    select_n_components(sim.data, [2], width=10, n_repeats=1, n_init=1, checkpoint_dir=tmp_path)
    with pytest.raises(InputError, match="does not match"):
        select_n_components(sim.data, [2], width=10, n_repeats=1, n_init=1, random_state=5, checkpoint_dir=tmp_path)
    with pytest.raises(InputError, match="does not match"):
        select_n_components(sim.data * 2, [2], width=10, n_repeats=1, n_init=1, checkpoint_dir=tmp_path)


def test_select_job_resumes_after_a_crash_and_cleans_up(tmp_path, monkeypatch):
    from neurocine.motifs.jobs import run_select

    sim = simulate_convnmf(7)
    np.savez(tmp_path / "sim.npz", data=sim.data)
    kwargs = dict(components="2-3", width=10, repeats=2, n_init=1, seed=0, device="cpu")
    out, checkpoints = tmp_path / "choose-k", tmp_path / ".choose-k.checkpoints"
    _count_fits(monkeypatch, fail_after=2)
    with pytest.raises(_Interrupted):
        run_select(tmp_path / "sim.npz", out, **kwargs)
    assert not out.exists() and (checkpoints / CHECKPOINT_FILE).exists()
    calls = _count_fits(monkeypatch)
    summary = run_select(tmp_path / "sim.npz", out, **kwargs)
    assert calls == [3, 3] and not checkpoints.exists()
    fresh = run_select(tmp_path / "sim.npz", tmp_path / "fresh", **kwargs)
    assert summary["metrics"]["heldout_r2_mean"] == fresh["metrics"]["heldout_r2_mean"]
    assert (out / "selection.json").read_text() == (tmp_path / "fresh" / "selection.json").read_text()


def test_fits_in_worker_processes_give_the_same_selection(tmp_path, monkeypatch):
    """``n_jobs`` only changes where the fits run: bit-identical to one process, and every fit checkpointed."""
    import tempfile

    sim = simulate_convnmf(7)
    kwargs = dict(width=10, n_repeats=2, n_init=2, random_state=0)
    reference = select_n_components(sim.data, [2, 4], **kwargs)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    parallel = select_n_components(sim.data, [2, 4], n_jobs=2, checkpoint_dir=tmp_path / "ckpt", **kwargs)
    _assert_same_selection(parallel, reference)
    assert list(scratch.iterdir()) == []  # the data and masks given to the workers are gone
    calls = _count_fits(monkeypatch)
    again = select_n_components(sim.data, [2, 4], checkpoint_dir=tmp_path / "ckpt", **kwargs)
    assert calls == []  # the workers' four fits were all saved, under their keys
    _assert_same_selection(again, reference)


def test_workers_without_room_for_their_data_is_one_line(tmp_path, monkeypatch):
    import tempfile

    sim = simulate_convnmf(7)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(InputError, match="n_jobs: cannot write the data for the worker processes") as info:
        select_n_components(sim.data, [2, 3], 10, n_repeats=1, n_init=1, n_jobs=2)
    assert "missing" in str(info.value) and "\n" not in str(info.value)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(InputError, match="No space left on device.*GB free"):
        select_n_components(sim.data, [2, 3], 10, n_repeats=1, n_init=1, n_jobs=2)
    assert list(scratch.iterdir()) == []  # the half-written folder is gone


def test_selection_shows_its_fits_only_when_bars_are_on(bars):
    sim = simulate_convnmf(7)

    def select():
        return select_n_components(sim.data, [2, 3], width=10, n_repeats=2, n_init=1, max_iter=3, random_state=0)

    _, err = bars(True, select)
    assert "K selection:" in err and "/4 [" in err and "fit/s" in err  # 2 K x 2 repeats
    _, err = bars(False, select)
    assert err == ""


@pytest.mark.parametrize(
    "ks, params, match",
    [
        ("2-61", {}, r"^n_components: got 61, expected an integer in \[1, 60\]"),
        ([2, 3], {"rank": 11}, r"^rank: got 11, expected an integer in \[1, 10\]"),
        ([2, 3], {"max_iter": 0}, r"^max_iter: got 0, expected an integer >= 1$"),
    ],
)
def test_sizes_the_data_cannot_hold_are_refused_before_any_fit(monkeypatch, ks, params, match):
    calls = _count_fits(monkeypatch)
    with pytest.raises(InputError, match=match):
        select_n_components(simulate_convnmf(7).data, ks, 10, **params)
    assert calls == []
