"""The behaviour-video -> brain encoding study (McCarthy 2019).

Motion features of face and body videos (computed by :mod:`neurocine.features`) predict widefield or
cellular activity: the encode job's ridge and feature attribution, sequence models (LSTM), the conv
autoencoder and whisking classifier, the frame-rate study, the rig's session on one frame clock, the session simulator, and the video,
imaging and batch jobs that prepare its inputs. Names are loaded on first use.
"""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "SequenceRegressor": "neurocine.encode.sequence",
    "SequenceClassifier": "neurocine.encode.sequence",
    "contiguous_split": "neurocine.encode.sequence",
    "ConvAutoencoder": "neurocine.encode.autoencoder",
    "whisking_study": "neurocine.encode.whisking",
    "simulate_session": "neurocine.encode.simulate",
    "simulate_roi_motion_video": "neurocine.encode.simulate_video",
    "FrameClock": "neurocine.encode.session",
    "categorical_columns": "neurocine.encode.session",
    "event_regressor": "neurocine.encode.session",
    "frame_clock": "neurocine.encode.session",
    "sync_edges": "neurocine.encode.session",
    "time_since": "neurocine.encode.session",
    "simulate_eye_video": "neurocine.encode.simulate_video",
    "StreamedEncoding": "neurocine.encode.streaming",
    "modelled_pixels": "neurocine.encode.streaming",
    "MovieComponents": "neurocine.encode.components",
    "component_space": "neurocine.encode.components",
    "movie_components": "neurocine.encode.components",
    "stream_encode": "neurocine.encode.streaming",
    "streamed_series": "neurocine.encode.streaming",
}

__all__ = [
    "ConvAutoencoder",
    "FrameClock",
    "SequenceClassifier",
    "SequenceRegressor",
    "categorical_columns",
    "component_space",
    "modelled_pixels",
    "movie_components",
    "MovieComponents",
    "StreamedEncoding",
    "contiguous_split",
    "event_regressor",
    "frame_clock",
    "simulate_eye_video",
    "simulate_roi_motion_video",
    "simulate_session",
    "sync_edges",
    "time_since",
    "stream_encode",
    "streamed_series",
    "whisking_study",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
