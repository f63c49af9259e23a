"""Metrics shared by every study (numpy only).

- :mod:`~neurocine.metrics.regression`: R² of a prediction, summed over row blocks of long recordings.
- :mod:`~neurocine.metrics.video`: how close a reconstructed movie is to the truth (correlations, RMSE,
  PSNR, SSIM), motion energy, entropy, contrast and luminance matching.
- :mod:`~neurocine.metrics.reliability`: noise ceilings of repeated measurements, per-column
  correlations, classifier n-way accuracy.
- :mod:`~neurocine.metrics.neural`: single-trial and trial-averaged correlations of predicted responses
  (Sensorium definitions).
- :mod:`~neurocine.metrics.identification`: pairwise and n-way identification of decoded vectors,
  with binomial errors and by category.

Every public name is exported here.
"""

from __future__ import annotations

from neurocine.metrics.identification import (
    binomial_error,
    identification_with_categories,
    nway_top1,
    pairwise_identification,
    pairwise_p_value,
)
from neurocine.metrics.neural import correlation_to_average, single_trial_correlation
from neurocine.metrics.regression import r2_of_squared_error, r2_score
from neurocine.metrics.reliability import (
    classifier_nway_accuracy,
    column_correlations,
    explainable_variance,
    lag_autocorrelation,
    noise_ceiling,
    noise_correlation,
)
from neurocine.metrics.video import (
    frame_correlations,
    match_contrast_luminance,
    mean_frame_correlation,
    motion_energy,
    psnr,
    rmse,
    shannon_entropy,
    ssim,
    video_correlation,
)

__all__ = [
    "binomial_error",
    "classifier_nway_accuracy",
    "column_correlations",
    "correlation_to_average",
    "explainable_variance",
    "frame_correlations",
    "identification_with_categories",
    "lag_autocorrelation",
    "match_contrast_luminance",
    "mean_frame_correlation",
    "noise_ceiling",
    "noise_correlation",
    "motion_energy",
    "nway_top1",
    "pairwise_identification",
    "pairwise_p_value",
    "psnr",
    "r2_of_squared_error",
    "r2_score",
    "rmse",
    "shannon_entropy",
    "single_trial_correlation",
    "ssim",
    "video_correlation",
]
