"""Convolutional NMF motif discovery ("spike sorting" of multichannel time series).

``ConvNMF`` is the estimator; ``score_against_truth`` scores a fit against
simulated ground truth (SpikeInterface definitions).
"""

from neurocine.motifs.convnmf import ConvNMF
from neurocine.motifs.scoring import GroundTruthScore, lagged_cosine, score_against_truth, spike_times

__all__ = ["ConvNMF", "GroundTruthScore", "lagged_cosine", "score_against_truth", "spike_times"]
