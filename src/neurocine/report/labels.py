"""Readable labels, units and number formats for the keys of ``summary.json``, used by every report page.

A job's metrics are nested dicts with short code names (``reference_k4: {n_spikes, r2}``). The report shows
them with the words and units of this module: :data:`LABELS` maps a key (the last part of a dotted
name) to a :class:`Label`, :data:`GROUPS` names the groups whose keys follow a pattern (``reference_k4``,
``default_k4``, and ``seed_k4`` of folders written before the solver's rename...) and :data:`SECTIONS` the sub-folders of the demo. A key without a
label is shown with its underscores turned into spaces, never as a raw dotted key.
:func:`metric_tables` turns a metrics dict into the tables a page shows.

Examples
--------
>>> label_of("reference_k4.n_spikes")
'reference solver, K = 4: spikes found'
>>> format_value("r2", 0.87123)
'0.871'
>>> format_value("seconds", 12.345)
'12.3 s'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Label",
    "LABELS",
    "GROUPS",
    "SECTIONS",
    "label_of",
    "format_value",
    "section_title",
    "timing_label",
    "metric_tables",
]

_MAX_LIST = 12


@dataclass(frozen=True)
class Label:
    """How one metric is shown.

    Parameters
    ----------
    text : str
        The words (lower case, the page capitalises nothing).
    unit : str
        Printed after the number (``"s"``, ``"Hz"``, ``"%"``...), empty for none.
    fmt : str
        A Python format spec for floats (``".3f"``, ``".3g"``, ``".1%"``...).
    """

    text: str
    unit: str = ""
    fmt: str = ".3g"


_R = ".3f"  # correlations, R², EV, F1: three decimals

LABELS: dict[str, Label] = {
    # motifs (Conv-NMF)
    "n_spikes": Label("spikes found", fmt="d"),
    "n_true_spikes": Label("true spikes", fmt="d"),
    "r2": Label("R² of the fit", fmt=_R),
    "oracle_r2": Label("R² of the true model", fmt=_R),
    "spike_f1": Label("spike F1 against the truth", fmt=_R),
    "spike_precision": Label("spike precision", fmt=_R),
    "spike_recall": Label("spike recall", fmt=_R),
    "spike_accuracy": Label("spike accuracy", fmt=_R),
    "spike_f1_unit_mean": Label("spike F1, mean over true units", fmt=_R),
    "n_behaviour_locked": Label("units locked to the behaviour (p < 0.05)", fmt="d"),
    "template_similarity": Label("template similarity to the truth (cosine)", fmt=_R),
    "n_iter": Label("iterations", fmt="d"),
    "converged": Label("converged"),
    "noise_std": Label("noise standard deviation"),
    "log_likelihoods": Label("log-likelihood per iteration"),
    "seconds": Label("wall time", "s", ".1f"),
    "ks": Label("numbers of motifs K tried"),
    "recommended_k": Label("recommended K", fmt="d"),
    "true_k": Label("true K", fmt="d"),
    "heldout_r2_mean": Label("held-out R² (mean over repeats)", fmt=_R),
    "stability_mean": Label("stability (mean over repeat pairs)", fmt=_R),
    # screenome
    "n_events": Label("app-use events", fmt="d"),
    "n_bins": Label("time bins", fmt="d"),
    "n_participants": Label("participants", fmt="d"),
    "n_channels": Label("apps (channels)", fmt="d"),
    "channels": Label("apps (channels)"),
    "channel_column": Label("column naming the channel"),
    "time_kind": Label("kind of timestamps"),
    "duration_inferred": Label("durations inferred from the next event"),
    "total_seconds": Label("total use", "s", ".0f"),
    "seconds_per_channel": Label("use per app", "s", ".0f"),
    "first_bin_start": Label("start of the first bin", "s since 1970", ".0f"),
    "warnings": Label("warnings"),
    # video
    "frames": Label("frames", fmt="d"),
    "frames_per_second": Label("processing speed", "frames/s", ".0f"),
    "rois": Label("regions of interest"),
    "max_abs_error_vs_truth": Label("largest error of the motion energy against the truth", "grey levels", ".2g"),
    "mean_motion_energy": Label("mean motion energy", "grey levels", ".3g"),
    "truncated": Label("video truncated"),
    # encoding (widefield)
    "n_samples": Label("samples (frames)", fmt="d"),
    "n_columns": Label("regressors", fmt="d"),
    "n_targets": Label("targets (pixels or components)", fmt="d"),
    "fps": Label("frame rate", "Hz", ".3g"),
    "mean_cv_ev": Label("explained variance, cross-validated (ridge)", fmt=_R),
    "ceiling_ev": Label("explained variance of the planted model (ceiling)", fmt=_R),
    "ridge_test_ev": Label("explained variance on the test split (ridge)", fmt=_R),
    "sequence_test_ev": Label("explained variance on the test split (LSTM)", fmt=_R),
    "sequence_epochs": Label("LSTM epochs", fmt="d"),
    "unique": Label("unique explained variance (drop one group)", fmt=_R),
    "single": Label("explained variance of the group alone", fmt=_R),
    "ranking": Label("groups ranked by unique explained variance"),
    "beta_map_correlation": Label("correlation of the beta map with the planted map", fmt=_R),
    "min_beta_map_correlation": Label("lowest beta-map correlation with the planted maps", fmt=_R),
    "planted_groups": Label("planted groups"),
    "planted_ranked_first": Label("planted groups ranked above the null regressor"),
    "whisking": Label("whisking classifier (autoencoder + MLP)"),
    "accuracy_train": Label("accuracy, training frames", fmt=_R),
    "accuracy_validation": Label("accuracy, validation frames", fmt=_R),
    "accuracy_test": Label("accuracy, test frames", fmt=_R),
    "chance_train": Label("chance (majority class), training frames", fmt=_R),
    "chance_validation": Label("chance (majority class), validation frames", fmt=_R),
    "chance_test": Label("chance (majority class), test frames", fmt=_R),
    "reconstruction_bce": Label("autoencoder reconstruction loss (BCE)", fmt=".3f"),
    "code_dim": Label("autoencoder code size", fmt="d"),
    "n_frames": Label("frames", fmt="d"),
    "n_whisking_frames": Label("whisking frames", fmt="d"),
    "whisking_fraction": Label("fraction of frames whisking", fmt=".1%"),
    "ev_probability_mean": Label("explained variance of the whisking probability (mean)", fmt=_R),
    "ev_motion_energy_mean": Label("explained variance of whisker motion energy (mean)", fmt=_R),
    "ev_probability_region": Label("explained variance of the whisking probability (region)", fmt=_R),
    "ev_motion_energy_region": Label("explained variance of whisker motion energy (region)", fmt=_R),
    "framerates": Label("explained variance by frame rate"),
    "ev": Label("explained variance", fmt=_R),
    "columns": Label("columns"),
    "rows": Label("rows"),
    # V1 (reconstruction)
    "neurons": Label("neurons", fmt="d"),
    "n_neurons": Label("neurons", fmt="d"),
    "ceiling_correlation": Label("ceiling: correlation of repeats (simulated)", fmt=_R),
    "ceiling_correlation_oracle": Label("ceiling: correlation of repeats (oracle tier)", fmt=_R),
    "true_population_video_correlation": Label("video correlation, true population (upper bound)", fmt=_R),
    "true_population_frame_correlation": Label("frame correlation, true population (upper bound)", fmt=_R),
    "single_trial_correlation": Label("single-trial correlation of the trained ensemble", fmt=_R),
    "single_trial_correlation_instances": Label("single-trial correlation per trained model", fmt=_R),
    "fraction_of_ceiling": Label("fraction of the ceiling", fmt=".1%"),
    "dnem_video_correlation": Label("video correlation, trained DNEM ensemble", fmt=_R),
    "dnem_frame_correlation": Label("frame correlation, trained DNEM ensemble", fmt=_R),
    "mean_video_correlation": Label("video correlation (mean over trials)", fmt=_R),
    "mean_frame_correlation": Label("frame correlation (mean over trials)", fmt=_R),
    "video_correlation": Label("video correlation", fmt=_R),
    "n_trials": Label("trials", fmt="d"),
    "n_models": Label("models", fmt="d"),
    "test_tier": Label("tier reconstructed"),
    "iterations": Label("iterations", fmt="d"),
    "psnr": Label("peak signal-to-noise ratio", "dB", ".1f"),
    "ssim": Label("structural similarity (SSIM)", fmt=_R),
    "pixel_r": Label("pixel correlation", fmt=_R),
    "mean_rate_hz": Label("mean firing rate", "Hz", ".3g"),
    # fMRI
    "best_layer_accuracy": Label("voxels whose best layer is the planted one", fmt=".1%"),
    "median_test_r": Label("median test correlation (voxels)", fmt=_R),
    "mean_test_r": Label("mean test correlation (voxels)", fmt=_R),
    "median_ceiling": Label("median noise ceiling (voxels)", fmt=_R),
    "median_fraction_of_ceiling": Label("median fraction of the noise ceiling", fmt=".1%"),
    "median_cv_score": Label("median cross-validated score", fmt=_R),
    "median_feature_test_r": Label("median test correlation (features)", fmt=_R),
    "median_feature_cv_score": Label("median cross-validated score (features)", fmt=_R),
    "median_test_r_per_layer": Label("median test correlation per layer", fmt=_R),
    "best_layer_counts": Label("voxels per best layer", fmt="d"),
    "pairwise_identification": Label("pairwise identification accuracy (chance 0.5)", fmt=_R),
    "nway50_accuracy": Label("50-way identification accuracy (chance 0.02)", fmt=_R),
    "category_identification": Label("category identification accuracy", fmt=_R),
    "n_voxels": Label("voxels", fmt="d"),
    "n_features": Label("features", fmt="d"),
    "layer": Label("network layer"),
    "layers": Label("network layers"),
    "n_test_samples": Label("test samples", fmt="d"),
    "n_training_samples": Label("training samples", fmt="d"),
    # common
    "total": Label("total", "s", ".1f"),
}

# group keys that follow a pattern: (regular expression, label with the groups of the match)
GROUPS: list[tuple[str, str]] = [
    (r"(?:seed|reference)_k(\d+)", "reference solver, K = {0}"),
    (r"default_k(\d+)", "neurocine solver, K = {0}"),
    (r"session_(\w+)", "{0} session"),
    (r"trial_(\w+)", "trial {0}"),
    (r"(\w+)_seconds", "{0}"),
]

# the sub-folders of the demo (and of other jobs) -> headings
SECTIONS: dict[str, str] = {
    "conv_nmf": "Motifs in simulated neural data (Conv-NMF)",
    "screenome": "Motifs in a simulated phone-use log (screenome)",
    "k_selection": "Choosing the number of motifs K",
    "video": "Motion energy and motion SVD of a simulated video",
    "encoding": "Encoding widefield activity from face video (encode)",
    "v1": "Reconstructing movies from simulated mouse V1 (v1)",
    "fmri": "fMRI voxel-wise encoding and decoding (fmri)",
}


def _words(key: str) -> str:
    """A key without a label, made readable: ``n_true_spikes`` -> ``true spikes``, ``test_ev`` -> ``test EV``."""
    words = key.split("_")
    if len(words) > 1 and words[0] == "n":
        words = words[1:]
    fixed = {"ev": "EV", "r2": "R²", "svd": "SVD", "roi": "ROI", "rois": "ROIs", "lstm": "LSTM", "fps": "frame rate"}
    return " ".join(fixed.get(w, w) for w in words)


def _part(key: str) -> str:
    if key in LABELS:
        return LABELS[key].text
    if key in SECTIONS:
        return SECTIONS[key]
    for pattern, text in GROUPS:
        m = re.fullmatch(pattern, key)
        if m:
            return text.format(*(_part(g) if g in SECTIONS or g in LABELS else _words(g) for g in m.groups()))
    return _words(key)


def label_of(key: str) -> str:
    """The words for a (dotted) metric name: each part labelled, joined by ``": "``."""
    return ": ".join(_part(k) for k in key.split("."))


def timing_label(key: str) -> str:
    """The words for a key of ``summary["timings"]`` (seconds): ``conv_nmf_seconds`` -> the section's title."""
    name = key.removesuffix("_seconds").removesuffix("_s")
    return SECTIONS.get(name) or _words(name)


def section_title(name: str) -> str:
    """The heading of a sub-folder's section (its name where it has none)."""
    return SECTIONS.get(name, _part(name) if name else "")


def _label(key: str) -> Label:
    return LABELS.get(key.rsplit(".", 1)[-1], Label(""))


def format_value(key: str, value: Any, *, bare: bool = False) -> str:
    """``value`` of the metric ``key`` as text, in the key's format, with its unit (not with ``bare``)."""
    spec = _label(key)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        if len(value) <= _MAX_LIST and all(not isinstance(v, (list, dict)) for v in value):
            return ", ".join(format_value(key, v, bare=bare) for v in value)
        return f"[{len(value)} values]"
    if isinstance(value, (int, float)):
        fmt = spec.fmt
        if fmt == "d" and not float(value).is_integer():
            fmt = ".3g"
        elif fmt == "d":
            value = int(value)
        elif isinstance(value, int) and not fmt.endswith("%"):
            fmt = "d"
        text = format(value, fmt)
        return f"{text} {spec.unit}" if spec.unit and not bare and not fmt.endswith("%") else text
    return str(value)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict)


def metric_tables(metrics: Mapping[str, Any], title: str = "Results") -> list[dict]:
    """Tables of a metrics dict, labelled: ``[{"title", "header", "rows"}]`` (every cell text; a table whose
    rows are named by data, such as regressors, apps or layers, has ``"names": True``).

    The scalars make the first table (quantity, value). A dict whose keys are labelled metrics (a record,
    like one fit's ``{n_spikes, r2}``) adds its rows to a table of such records, one row per record, one
    column per metric. A dict keyed by names (regressors, apps, layers: ``unique = {whisker_me: 0.05}``)
    becomes a column of a table with one row per name, shared with its siblings of the same names.
    Deeper dicts are flattened into labelled dotted names first. A list of flat dicts (one record per
    item, such as a quality record per unit) makes its own table, one row per item.

    Examples
    --------
    >>> t = metric_tables({"oracle_r2": 0.877, "reference_k4": {"n_spikes": 31, "r2": 0.871}})
    >>> t[0]["rows"], t[1]["header"], t[1]["rows"]
    ([['R² of the true model', '0.877']], ['', 'spikes found', 'R² of the fit'], [['reference solver, K = 4', '31', '0.871']])
    """
    scalars: list[list[str]] = []
    records: dict[tuple[str, ...], list[tuple[str, dict]]] = {}
    named: dict[tuple[str, ...], list[tuple[str, dict]]] = {}
    row_tables: list[dict[str, Any]] = []
    for key, value in metrics.items():
        if _is_record_list(value):  # one record per item (a quality table per unit): its own table
            row_tables.append(_record_list_table(key, value))
            continue
        if _scalar(value):
            scalars.append([label_of(key), format_value(key, value)])
            continue
        flat = _flatten(value)
        if not flat:
            continue
        if sum(k.rsplit(".", 1)[-1] in LABELS for k in flat) * 2 >= len(flat):
            if all(_scalar(v) for v in value.values()) and not _is_block(value):
                records.setdefault(("record",), []).append((key, flat))
            else:  # a block of its own (the whisking classifier): its own quantity/value table
                rows = [[label_of(k), format_value(k, v)] for k, v in flat.items()]
                named.setdefault(("block", key), []).append((key, {"rows": rows}))
        else:
            named.setdefault(tuple(flat), []).append((key, flat))
    tables: list[dict[str, Any]] = []
    if scalars:
        tables.append({"title": title, "header": ["quantity", "value"], "rows": scalars})
    for group in records.values():
        columns: list[str] = []
        for _, flat in group:
            columns += [k for k in flat if k not in columns]
        tables.append(
            {
                "title": "",
                "header": ["", *(_with_unit(k) for k in columns)],
                "rows": [
                    [label_of(key), *(format_value(k, flat[k], bare=True) if k in flat else "–" for k in columns)]
                    for key, flat in group
                ],
            }
        )
    for names, group in named.items():
        if names[0] == "block":
            key, block = group[0]
            tables.append({"title": label_of(key), "header": ["quantity", "value"], "rows": block["rows"]})
            continue
        tables.append(
            {
                "title": "",
                "names": True,  # rows named by data (regressors, apps, layers), not by keys
                "header": ["", *(_with_unit(key) for key, _ in group)],
                "rows": [[name, *(format_value(key, flat[name], bare=True) for key, flat in group)] for name in names],
            }
        )
    return tables + row_tables


def _is_record_list(value: Any) -> bool:
    """A non-empty list of flat dicts (records), such as one quality record per unit."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and all(_scalar(x) for x in v.values()) for v in value)
    )


def _record_list_table(key: str, records: list[dict]) -> dict[str, Any]:
    """One row per record, one column per field; a ``unit`` field names the rows."""
    columns = [c for c in dict.fromkeys(k for r in records for k in r) if c != "unit"]
    names = [f"unit {r['unit']}" if "unit" in r else str(i) for i, r in enumerate(records)]
    return {
        "title": label_of(key),
        "names": True,
        "header": ["", *(_with_unit(c) for c in columns)],
        "rows": [
            [name, *(format_value(c, r[c], bare=True) if c in r else "–" for c in columns)]
            for name, r in zip(names, records)
        ],
    }


def _is_block(value: dict) -> bool:
    """A dict shown as its own table rather than as one row of a records table (many entries, or lists)."""
    return len(value) > 8 or any(isinstance(v, list) for v in value.values())


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _with_unit(key: str) -> str:
    spec = _label(key)
    unit = f" ({spec.unit})" if spec.unit and not spec.fmt.endswith("%") else ""
    return label_of(key) + unit
