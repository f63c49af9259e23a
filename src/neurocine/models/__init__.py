"""Generic estimators shared by every study (scikit-learn conventions).

Cross-validated ridge (and banded ridge over feature groups) and its feature-group attribution, feature inversion
(images whose network features match targets) on the optimisation engine that the V1 movie reconstruction
shares, and the torch base class that every torch estimator of the studies derives from. Names are loaded on first use, so ``import neurocine.models``
stays light (no torch until asked for).
"""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "RidgeCV": "neurocine.models.ridge",
    "BandedRidgeCV": "neurocine.models.ridge",
    "explained_variance": "neurocine.models.ridge",
    "cv_splits": "neurocine.models.ridge",
    "cross_validated_predictions": "neurocine.models.attribution",
    "cross_validated_ev": "neurocine.models.attribution",
    "group_contributions": "neurocine.models.attribution",
    "GroupContributions": "neurocine.models.attribution",
    "fit_in_component_space": "neurocine.models.attribution",
    "ComponentSpaceFit": "neurocine.models.attribution",
    "pixel_explained_variance": "neurocine.models.attribution",
    "circular_shifts": "neurocine.models.attribution",
    "BlockStatistics": "neurocine.models.block_ridge",
    "BlockRidgeFit": "neurocine.models.block_ridge",
    "block_contributions": "neurocine.models.block_ridge",
    "fit_blocks": "neurocine.models.block_ridge",
    "fold_bounds": "neurocine.models.block_ridge",
    "ImagePrior": "neurocine.models.inversion",
    "InversionResult": "neurocine.models.inversion",
    "StepRule": "neurocine.models.inversion",
    "descend": "neurocine.models.inversion",
    "invert_features": "neurocine.models.inversion",
    "spectral_penalty": "neurocine.models.inversion",
    "total_variation": "neurocine.models.inversion",
}

__all__ = [
    "BandedRidgeCV",
    "BlockRidgeFit",
    "BlockStatistics",
    "block_contributions",
    "circular_shifts",
    "fit_blocks",
    "fold_bounds",
    "ComponentSpaceFit",
    "GroupContributions",
    "ImagePrior",
    "InversionResult",
    "RidgeCV",
    "StepRule",
    "cross_validated_ev",
    "cross_validated_predictions",
    "cv_splits",
    "descend",
    "explained_variance",
    "fit_in_component_space",
    "group_contributions",
    "invert_features",
    "pixel_explained_variance",
    "spectral_penalty",
    "total_variation",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
