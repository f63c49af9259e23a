"""neurocine: link video and neural recordings.

Features from behaviour videos and stimulus movies, encoding and decoding
models, and convolutional NMF motif discovery. ``import neurocine as nc`` is
light: torch, matplotlib and the optional extras load only when a part that
needs them is used.

* The studies and shared layers are sub-packages, loaded on first use:
  ``nc.motifs`` (Conv-NMF, screenome logs), ``nc.encode`` (behaviour video ->
  brain), ``nc.v1`` (DNEM, movie reconstruction), ``nc.fmri`` (video <-> fMRI),
  and ``nc.models``, ``nc.features``, ``nc.io``, ``nc.metrics``,
  ``nc.plotting``, ``nc.report``.
* The public estimators (scikit-learn conventions) are also here by name:
  ``nc.ConvNMF``, ``nc.RidgeCV``, ``nc.BandedRidgeCV``, ``nc.VariancePCA``,
  ``nc.SequenceRegressor``,
  ``nc.SequenceClassifier``, ``nc.ConvAutoencoder``, ``nc.DNEM``, and the
  fMRI estimators ``nc.MaskedBrainAutoencoder``, ``nc.ContrastiveAligner``,
  ``nc.ConditionalFrameDecoder``, ``nc.VideoFMRIEncoder``,
  ``nc.FMRIVideoDecoder``, ``nc.DiffusionDecoder``.
* Every command of the ``neurocine`` CLI is one call in ``nc.jobs``:
  ``neurocine GROUP COMMAND ...`` is ``nc.jobs.GROUP_COMMAND(...)``
  (``nc.jobs.motifs_fit``, ``nc.jobs.fmri_encode``, ``nc.jobs.report``,
  ``nc.jobs.demo``...; see :mod:`neurocine.jobs`), with the same parameters,
  and returns a :class:`JobResult` (output path, parsed ``summary.json``,
  ``report.html``). ``nc.JobResult(folder)`` opens an earlier result.

Examples
--------
>>> import neurocine as nc
>>> nc.jobs.motifs_simulate("sim.npz")  # doctest: +SKIP
>>> fit = nc.jobs.motifs_fit("sim.npz", "fit", components=4, width=10)  # doctest: +SKIP
>>> fit.metrics["n_spikes"], fit.report  # doctest: +SKIP
>>> model = nc.ConvNMF(4, 10).fit(data)  # doctest: +SKIP
"""

from importlib import metadata

from neurocine._lazy import lazy_exports
from neurocine.errors import InputError

try:
    __version__ = metadata.version("neurocine")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

# public names -> the sub-package that exports them (never a deeper module: those may move)
_EXPORTS = {
    "JobResult": "neurocine.io.results",
    "ConvNMF": "neurocine.motifs",
    "select_n_components": "neurocine.motifs",
    "RidgeCV": "neurocine.models",
    "BandedRidgeCV": "neurocine.models",
    "VariancePCA": "neurocine.features",
    "SequenceRegressor": "neurocine.encode",
    "SequenceClassifier": "neurocine.encode",
    "ConvAutoencoder": "neurocine.encode",
    "DNEM": "neurocine.v1",
    "MaskedBrainAutoencoder": "neurocine.fmri",
    "ContrastiveAligner": "neurocine.fmri",
    "ConditionalFrameDecoder": "neurocine.fmri",
    "VideoFMRIEncoder": "neurocine.fmri",
    "FMRIVideoDecoder": "neurocine.fmri",
    "DiffusionDecoder": "neurocine.fmri",
}

_SUBPACKAGES = (
    "encode",
    "features",
    "fmri",
    "io",
    "jobs",
    "metrics",
    "models",
    "motifs",
    "plotting",
    "report",
    "v1",
)

__all__ = ["InputError", "__version__", *_EXPORTS, *_SUBPACKAGES]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, _SUBPACKAGES)
