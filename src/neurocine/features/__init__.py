"""Pure transforms from raw recordings to feature matrices (time-first)."""

# torch is imported inside these functions only, so importing them here keeps ``import neurocine.features`` light
from neurocine.features.chunked_svd import ChunkedSVD, randomized_svd_chunks  # noqa: F401
from neurocine.features.deep import (  # noqa: F401
    DeepFeatureExtractor,
    efficientnet_lite0,
    extract_features,
    imagenet_classify,
)
from neurocine.features.design import DesignMatrix  # noqa: F401
from neurocine.features.extracellular import (  # noqa: F401
    ExtracellularSignal,
    bandpass,
    preprocess_extracellular,
    robust_noise,
    whitening_matrix,
)
from neurocine.features.fmri import (  # noqa: F401
    VariancePCA,
    convolve_hrf,
    fir_delays,
    pca_keep_variance,
    resample_to_tr,
    spm_hrf,
)
from neurocine.features.gabor import GaborPyramid, gabor_motion_energy, pyramid_parameters  # noqa: F401
from neurocine.features.timing import (  # noqa: F401
    align_frames_to_ttl,
    convolve_regressors,
    decimate,
    detect_dropped_frames,
    events_from_analog,
    hemodynamic_kernel,
    interpolate,
    lagged,
    one_hot,
    running_mean,
    to_common_clock,
    ttl_edges,
    upsample,
    whisking_events,
)
from neurocine.features.widefield import (  # noqa: F401
    DffStream,
    bin_frames,
    brain_mask,
    dff,
    gaussian_blur,
    mean_frame,
    otsu_threshold,
    preprocess_widefield,
)
