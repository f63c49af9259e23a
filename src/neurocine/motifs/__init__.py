"""The Conv-NMF motif study (Neural Screenomics): motifs in multichannel time series.

``ConvNMF`` is the estimator; ``select_n_components`` chooses K on held-out entries;
``score_against_truth`` scores a fit against simulated ground truth (SpikeInterface definitions);
``evaluate_heldout`` scores it on held-out data (held-out R², seqNMF's significance test per unit);
``behaviour_locking`` relates each unit's events to a behaviour signal (event-triggered averages and a
circular-shift permutation test);
``simulate_convnmf`` makes data with known motifs. ``sort_spikes`` sorts the spikes of a band-passed,
whitened extracellular recording (Conv-NMF finds the events, their waveforms are clustered) and
``unit_quality`` gives each unit's quality metrics; ``simulate_tetrode`` makes a tetrode with known
spike times. :mod:`neurocine.motifs.screenome` reads and bins
phone-screen logs into the multichannel series Conv-NMF takes.
"""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "ConvNMF": "neurocine.motifs.convnmf",
    "BehaviourLocking": "neurocine.motifs.behaviour",
    "behaviour_locking": "neurocine.motifs.behaviour",
    "evaluate_heldout": "neurocine.motifs.heldout",
    "significance_test": "neurocine.motifs.heldout",
    "select_n_components": "neurocine.motifs.selection",
    "GroundTruthScore": "neurocine.motifs.scoring",
    "lagged_cosine": "neurocine.motifs.scoring",
    "score_against_truth": "neurocine.motifs.scoring",
    "spike_times": "neurocine.motifs.scoring",
    "ConvNMFSimulation": "neurocine.motifs.simulate",
    "simulate_convnmf": "neurocine.motifs.simulate",
    "generate": "neurocine.motifs.simulate",
    "generate_templates": "neurocine.motifs.simulate",
    "TetrodeSimulation": "neurocine.motifs.simulate",
    "simulate_tetrode": "neurocine.motifs.simulate",
    "SpikeSort": "neurocine.motifs.sorting",
    "isi_violation_ratio": "neurocine.motifs.sorting",
    "sort_spikes": "neurocine.motifs.sorting",
    "unit_quality": "neurocine.motifs.sorting",
}

__all__ = [
    "BehaviourLocking",
    "behaviour_locking",
    "ConvNMF",
    "ConvNMFSimulation",
    "evaluate_heldout",
    "GroundTruthScore",
    "generate",
    "generate_templates",
    "isi_violation_ratio",
    "lagged_cosine",
    "score_against_truth",
    "select_n_components",
    "significance_test",
    "simulate_convnmf",
    "simulate_tetrode",
    "sort_spikes",
    "spike_times",
    "SpikeSort",
    "TetrodeSimulation",
    "unit_quality",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, ("screenome",))
