"""Readers and writers: arrays and signals, screenome logs, result folders."""

from neurocine.io.imaging import (  # noqa: F401
    ImageStack,
    WfieldSVD,
    export_motion_svd_nwb,
    open_stack,
    read_facemap_masks,
    read_facemap_proc,
    read_roi_traces,
    read_wfield_svd,
    reconstruct_frames,
    write_features_nwb,
)
from neurocine.io.suite2p import read_suite2p  # noqa: F401
