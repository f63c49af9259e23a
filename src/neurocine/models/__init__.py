"""Estimators (scikit-learn conventions).

Names are loaded on first use, so ``import neurocine.models`` stays light
(no torch, no solver code until asked for).
"""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "RidgeCV": "neurocine.models.ridge",
    "explained_variance": "neurocine.models.ridge",
    "cv_splits": "neurocine.models.ridge",
    "cross_validated_predictions": "neurocine.models.attribution",
    "cross_validated_ev": "neurocine.models.attribution",
    "group_contributions": "neurocine.models.attribution",
    "GroupContributions": "neurocine.models.attribution",
    "fit_in_component_space": "neurocine.models.attribution",
    "ComponentSpaceFit": "neurocine.models.attribution",
    "pixel_explained_variance": "neurocine.models.attribution",
    "SequenceRegressor": "neurocine.models.sequence",
    "SequenceClassifier": "neurocine.models.sequence",
    "contiguous_split": "neurocine.models.sequence",
    "ConvAutoencoder": "neurocine.models.autoencoder",
    "MaskedBrainAutoencoder": "neurocine.models.fmri",
    "ContrastiveAligner": "neurocine.models.fmri",
    "ConditionalFrameDecoder": "neurocine.models.fmri",
    "VideoFMRIEncoder": "neurocine.models.fmri",
    "FMRIVideoDecoder": "neurocine.models.fmri",
    "pairwise_identification": "neurocine.models.fmri",
    "nway_top1": "neurocine.models.fmri",
    "binomial_error": "neurocine.models.fmri",
    "identification_with_categories": "neurocine.models.fmri",
    "DNEM": "neurocine.models.dnem",
    "DNEMNetwork": "neurocine.models.dnem",
    "EnsembleModule": "neurocine.models.dnem",
    "train_ensemble": "neurocine.models.dnem",
    "single_trial_correlation": "neurocine.models.dnem",
    "correlation_to_average": "neurocine.models.dnem",
    "map_receptive_fields": "neurocine.models.dnem",
    "population_rf": "neurocine.models.dnem",
    "rf_centers": "neurocine.models.dnem",
}

__all__ = [  # noqa: RUF022 - grouped by module
    "RidgeCV", "cv_splits", "explained_variance",
    "ComponentSpaceFit", "GroupContributions", "cross_validated_ev", "cross_validated_predictions",
    "fit_in_component_space", "group_contributions", "pixel_explained_variance",
    "SequenceClassifier", "SequenceRegressor", "contiguous_split",
    "ConvAutoencoder",
    "ConditionalFrameDecoder", "ContrastiveAligner", "FMRIVideoDecoder", "MaskedBrainAutoencoder", "VideoFMRIEncoder",
    "binomial_error", "identification_with_categories", "nway_top1", "pairwise_identification",
    "DNEM", "DNEMNetwork", "EnsembleModule", "correlation_to_average", "map_receptive_fields", "population_rf",
    "rf_centers", "single_trial_correlation", "train_ensemble",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
