"""The video <-> fMRI study (Wen et al. 2018 and successors).

Voxel-wise encoding from CNN and Gabor motion-energy features, feature decoding and identification,
masked brain modelling, contrastive alignment, encoder-decoder nets and diffusion decoding. Names are
loaded on first use, so no torch is imported until needed.
"""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "MaskedBrainAutoencoder": "neurocine.fmri.models",
    "ContrastiveAligner": "neurocine.fmri.models",
    "ConditionalFrameDecoder": "neurocine.fmri.models",
    "VideoFMRIEncoder": "neurocine.fmri.models",
    "FMRIVideoDecoder": "neurocine.fmri.models",
    "pairwise_identification": "neurocine.metrics.identification",
    "nway_top1": "neurocine.metrics.identification",
    "binomial_error": "neurocine.metrics.identification",
    "identification_with_categories": "neurocine.metrics.identification",
    "DiffusionDecoder": "neurocine.fmri.diffusion",
    "check_diffusion_pipeline": "neurocine.fmri.diffusion",
    "load_diffusion_pipeline": "neurocine.fmri.diffusion",
    "prompt_conditioning": "neurocine.fmri.diffusion",
    "read_fmri_data": "neurocine.io.fmri",
    "simulate_fmri": "neurocine.fmri.simulate",
}

__all__ = [
    "ConditionalFrameDecoder",
    "ContrastiveAligner",
    "DiffusionDecoder",
    "FMRIVideoDecoder",
    "MaskedBrainAutoencoder",
    "VideoFMRIEncoder",
    "binomial_error",
    "check_diffusion_pipeline",
    "identification_with_categories",
    "load_diffusion_pipeline",
    "nway_top1",
    "pairwise_identification",
    "prompt_conditioning",
    "read_fmri_data",
    "simulate_fmri",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
