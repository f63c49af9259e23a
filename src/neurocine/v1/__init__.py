"""The mouse V1 movie-reconstruction study (dynamic neural encoding model).

A DNEM predicts V1 responses to movies (Sensorium format); reconstruction optimises a movie by
gradient descent through it, with transparency masks and ensembles; suites of gratings and noise
probe what is recovered. Names are loaded on first use, so no torch is imported until needed.
"""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "DNEM": "neurocine.v1.dnem",
    "DNEMNetwork": "neurocine.v1.dnem",
    "EnsembleModule": "neurocine.v1.dnem",
    "train_ensemble": "neurocine.v1.dnem",
    "single_trial_correlation": "neurocine.metrics.neural",
    "correlation_to_average": "neurocine.metrics.neural",
    "ReceptiveFields": "neurocine.v1.receptive_fields",
    "map_receptive_fields": "neurocine.v1.receptive_fields",
    "population_rf": "neurocine.v1.receptive_fields",
    "rf_centers": "neurocine.v1.receptive_fields",
    "on_off_centers": "neurocine.v1.receptive_fields",
    "center_distribution": "neurocine.v1.receptive_fields",
    "GREY": "neurocine.v1.reconstruction",
    "METHODS": "neurocine.v1.reconstruction",
    "ReconstructOptions": "neurocine.v1.reconstruction",
    "ReconstructionResult": "neurocine.v1.reconstruction",
    "ablate_population": "neurocine.v1.reconstruction",
    "error_map": "neurocine.v1.reconstruction",
    "masks_from_alpha": "neurocine.v1.reconstruction",
    "predicted_responses": "neurocine.v1.reconstruction",
    "reconstruct": "neurocine.v1.reconstruction",
    "reconstruct_many": "neurocine.v1.reconstruction",
    "train_transparency_mask": "neurocine.v1.reconstruction",
    "window_gradient": "neurocine.v1.reconstruction",
    "window_starts": "neurocine.v1.reconstruction",
    "simulate_v1": "neurocine.v1.simulate",
    "activity_agreement": "neurocine.v1.analysis",
    "duplicate_clips": "neurocine.v1.analysis",
    "ensemble_curve": "neurocine.v1.analysis",
    "ethogram": "neurocine.v1.analysis",
    "ensembling_gain": "neurocine.v1.analysis",
    "mask_sweep": "neurocine.v1.analysis",
    "mean_curve": "neurocine.v1.analysis",
    "quality_correlates": "neurocine.v1.analysis",
}

__all__ = [
    "DNEM",
    "DNEMNetwork",
    "EnsembleModule",
    "GREY",
    "METHODS",
    "ReceptiveFields",
    "ReconstructOptions",
    "ReconstructionResult",
    "ablate_population",
    "activity_agreement",
    "center_distribution",
    "correlation_to_average",
    "duplicate_clips",
    "ensemble_curve",
    "ensembling_gain",
    "error_map",
    "ethogram",
    "map_receptive_fields",
    "mask_sweep",
    "masks_from_alpha",
    "mean_curve",
    "on_off_centers",
    "population_rf",
    "predicted_responses",
    "quality_correlates",
    "reconstruct",
    "reconstruct_many",
    "rf_centers",
    "simulate_v1",
    "single_trial_correlation",
    "train_ensemble",
    "train_transparency_mask",
    "window_gradient",
    "window_starts",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
