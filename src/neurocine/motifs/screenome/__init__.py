"""Phone-screen (screenome) logs: simulate, bin into app-usage channels, plot."""

from __future__ import annotations

from neurocine._lazy import lazy_exports

_EXPORTS = {
    "bin_events": "neurocine.motifs.screenome.binning",
    "parse_duration": "neurocine.motifs.screenome.binning",
    "simulate_screenome_log": "neurocine.motifs.screenome.simulate",
}

__all__ = [
    "bin_events",
    "parse_duration",
    "simulate_screenome_log",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
