"""Decoding and reconstruction from neural activity.

Names are loaded on first use, so ``import neurocine.decode`` stays light
(no torch until a function runs).
"""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "DiffusionDecoder": "neurocine.decode.diffusion",
    "check_diffusion_pipeline": "neurocine.decode.diffusion",
    "load_diffusion_pipeline": "neurocine.decode.diffusion",
    "prompt_conditioning": "neurocine.decode.diffusion",
    "GREY": "neurocine.decode.reconstruction",
    "METHODS": "neurocine.decode.reconstruction",
    "ReconstructionResult": "neurocine.decode.reconstruction",
    "ablate_population": "neurocine.decode.reconstruction",
    "error_map": "neurocine.decode.reconstruction",
    "masks_from_alpha": "neurocine.decode.reconstruction",
    "predicted_responses": "neurocine.decode.reconstruction",
    "reconstruct": "neurocine.decode.reconstruction",
    "reconstruct_many": "neurocine.decode.reconstruction",
    "train_transparency_mask": "neurocine.decode.reconstruction",
    "window_gradient": "neurocine.decode.reconstruction",
    "window_starts": "neurocine.decode.reconstruction",
}

__all__ = [  # noqa: RUF022 - grouped by module
    "DiffusionDecoder", "check_diffusion_pipeline", "load_diffusion_pipeline", "prompt_conditioning",
    "GREY", "METHODS", "ReconstructionResult", "ablate_population", "error_map", "masks_from_alpha",
    "predicted_responses", "reconstruct", "reconstruct_many", "train_transparency_mask", "window_gradient",
    "window_starts",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
