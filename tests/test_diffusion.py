"""The diffusers back end: offline loading, conditioning map against ground truth, generation against
calling the pipeline directly (a real, tiny, random-weight Stable Diffusion pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
from _diffusion import TOKENS, WIDTH, tiny_pipeline_folder
from sklearn.exceptions import NotFittedError

from neurocine.errors import InputError

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from neurocine.fmri.diffusion import load_diffusion_pipeline

    torch.set_num_threads(1)
    return load_diffusion_pipeline(tiny_pipeline_folder(tmp_path_factory.mktemp("diffusion")), device="cpu")


def test_load_refuses_missing_and_non_pipeline_folders(tmp_path):
    from neurocine.fmri.diffusion import check_diffusion_pipeline, load_diffusion_pipeline

    with pytest.raises(InputError, match="no such folder"):
        load_diffusion_pipeline(tmp_path / "absent")
    with pytest.raises(InputError, match="no model_index.json"):
        load_diffusion_pipeline(tmp_path)
    (tmp_path / "model_index.json").write_text("{not json")
    with pytest.raises(InputError, match="could not load"):
        load_diffusion_pipeline(tmp_path)
    with pytest.raises(InputError, match="prompt_embeds"):
        check_diffusion_pipeline(lambda image: image)


def test_prompt_conditioning_is_the_pipelines_own_encoding(pipeline):
    from neurocine.fmri.diffusion import prompt_conditioning

    prompts = ["a photo of coffee", "bikes", "a photo of coffee"]
    got = prompt_conditioning(pipeline, prompts, batch_size=1)
    with torch.no_grad():
        ref = pipeline.encode_prompt(prompts, "cpu", 1, False)[0].numpy()
    assert got.shape == (3, TOKENS, WIDTH)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], got[1])
    with pytest.raises(InputError, match="prompts"):
        prompt_conditioning(pipeline, "bikes")


def test_conditioning_map_recovers_a_known_linear_map(pipeline):
    """Conditioning that is a linear function of the embedding (plus noise): held-out samples are predicted."""
    from neurocine.fmri.diffusion import DiffusionDecoder

    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, TOKENS * WIDTH))
    E = rng.normal(size=(120, 6)) * np.array([1, 2, 3, 0.5, 1, 4]) + 5
    C = (E @ W + 0.05 * rng.normal(size=(120, TOKENS * WIDTH))).reshape(-1, TOKENS, WIDTH)
    dec = DiffusionDecoder(pipeline).fit(E[:100], C[:100])
    pred = dec.predict_conditioning(E[100:])
    r = np.corrcoef(pred.ravel(), C[100:].ravel())[0, 1]
    assert r > 0.99
    assert dec.conditioning_r2_ > 0.95
    assert dec.negative_.shape == (1, TOKENS, WIDTH)
    with pytest.raises(InputError, match="expected 6"):
        dec.predict_conditioning(E[:2, :5])
    with pytest.raises(InputError, match="one per row"):
        DiffusionDecoder(pipeline).fit(E[:10], C[:9])
    with pytest.raises(InputError, match="NaN"):
        DiffusionDecoder(pipeline).fit(np.where(E == E[0, 0], np.nan, E), C)


def test_generation_is_the_pipeline_run_on_the_predicted_conditioning(pipeline):
    from neurocine.fmri.diffusion import DiffusionDecoder, prompt_conditioning

    rng = np.random.default_rng(1)
    captions = ["bikes", "coffee", "grass", "astronaut"]
    labels = np.repeat(np.arange(4), 10)
    E = rng.normal(size=(40, 3)) * 0.1 + np.eye(4, 3)[labels] * 3  # embeddings clustered by caption
    C = prompt_conditioning(pipeline, [captions[i] for i in labels])
    common = dict(num_inference_steps=3, guidance_scale=3.0, height=32, width=32, random_state=7)
    dec = DiffusionDecoder(pipeline, batch_size=3, **common).fit(E, C)
    frames = dec.generate(E[[0, 10, 20]])
    assert frames.shape == (3, 32, 32, 3) and frames.dtype == np.float32
    assert 0 <= frames.min() and frames.max() <= 255

    # reference: the pipeline called by hand with the same conditioning, guidance baseline and seeds
    cond = torch.from_numpy(dec.predict_conditioning(E[[0, 10, 20]]))
    neg = torch.from_numpy(prompt_conditioning(pipeline, [""])).expand(3, TOKENS, WIDTH)
    gens = [torch.Generator().manual_seed(7 + i) for i in range(3)]
    with torch.no_grad():
        ref = pipeline(
            prompt_embeds=cond,
            negative_prompt_embeds=neg,
            generator=gens,
            num_inference_steps=3,
            guidance_scale=3.0,
            height=32,
            width=32,
            output_type="np",
        ).images
    np.testing.assert_allclose(frames, np.clip(ref * 255, 0, 255), atol=1e-3)

    # reproducible, and sample i does not depend on the batch it is generated in
    one_by_one = DiffusionDecoder(pipeline, batch_size=1, **common).fit(E, C).generate(E[[0, 10, 20]])
    np.testing.assert_allclose(one_by_one, frames, atol=1e-3)
    # the embedding reaches the image: other captions' embeddings give other frames than the same seed's
    other = dec.generate_from_conditioning(dec.predict_conditioning(E[[30, 30, 30]]))
    assert np.abs(other - frames).mean() > 1.0


def test_bad_parameters_are_one_line_errors(pipeline):
    from neurocine.fmri.diffusion import DiffusionDecoder

    E, C = np.zeros((10, 2)), np.zeros((10, TOKENS, WIDTH))
    with pytest.raises(InputError, match="guidance_scale"):
        DiffusionDecoder(pipeline, guidance_scale=-1).fit(E, C)
    with pytest.raises(InputError, match="num_inference_steps"):
        DiffusionDecoder(pipeline, num_inference_steps=0).fit(E, C)
    with pytest.raises(NotFittedError, match="DiffusionDecoder instance is not fitted yet"):
        DiffusionDecoder(pipeline).generate(E)
