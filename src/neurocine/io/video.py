"""Stream frames from video files in bounded-memory chunks (PyAV).

:class:`VideoReader` reads mp4/avi/mov/mkv (anything FFmpeg decodes) and
frame stacks stored as TIFF, ``.npy``, ``.h5``/``.hdf5`` or ``.zarr`` arrays
(through :func:`neurocine.io.imaging.open_stack`), folders of numbered image frames
(:mod:`neurocine.io.image_sequence`: ``frames/``, ``frames/%05d.png``, ``frames/*.tif``) and NWB
``ImageSeries`` (frames inside the file, or an external video file it names). Frames come out time first,
``(n, H, W)`` grayscale (``color="gray"``, the default) or ``(n, H, W, 3)``
RGB, cropped and spatially binned while reading, a chunk at a time, so memory
stays bounded for videos far larger than RAM.

Grayscale fast path
    For planar YUV video (yuv420p, yuv422p, yuv444p, nv12, their ``j``
    full-range variants, gray) the gray frame is a copy of the decoded luma
    plane: no colour conversion at all. Most H.264 camera files are
    *limited range* ("TV range"): luma spans 16-235, not 0-255, so values
    (and motion energy) are 219/255 of what a full-range conversion such as
    OpenCV's ``COLOR_BGR2GRAY`` gives. ``full_range=True`` rescales to 0-255
    (float32) for files flagged limited range; other pixel formats are
    converted by FFmpeg's swscale (``to_ndarray(format="gray")``).

Timestamps
    Per-frame timestamps (seconds) are the decoded presentation times
    (``pts * time_base``), so variable-frame-rate files are handled; a frame
    without a pts gets the previous timestamp plus ``1/fps``.

Image sequences and NWB
    Image files carry no clock: give ``fps`` or ``timestamps`` (a file of one time per frame). They are
    decoded in the background thread too. An NWB ``ImageSeries`` is picked with ``series``; one whose
    frames are in an external video file (``external_file``, relative to the NWB file's folder) is read
    from that file.

Truncated or corrupt files
    A file that cannot be opened, a decode error part way through, or fewer
    decoded frames than the container header announces raise
    :class:`~neurocine.errors.InputError` naming the file and the frame where
    decoding failed. ``allow_truncated=True`` keeps the frames that decoded;
    :attr:`VideoReader.n_decoded` and :attr:`VideoReader.truncated` record
    what happened (pipelines write both to ``summary.json``).

    An mp4/mov keeps its index (the ``moov`` atom: where every frame is) in one
    block, which most cameras and FFmpeg write at the *end* of the file. A file
    cut short before that block has frames but no index: nothing can locate
    them, so ``allow_truncated`` cannot rescue it, and the error says so
    (:func:`mp4_index_lost`). Such a file can often be recovered with
    ``untrunc`` and an intact file from the same camera; files written with the
    index first (``ffmpeg -movflags +faststart``) keep their frames readable
    when cut.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.arrays import block_mean
from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path
from neurocine.runtime import prefetched
from neurocine.validation import check_int

__all__ = [
    "ARRAY_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoChunk",
    "VideoReader",
    "mp4_index_lost",
    "read_frame_times",
    "write_video",
]

#: Extensions decoded with PyAV/FFmpeg (case-insensitive).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
#: Extensions read as stored frame arrays (T, H, W) or (T, H, W, 3); ``.nwb``: an ImageSeries.
ARRAY_EXTENSIONS = (".tif", ".tiff", ".npy", ".h5", ".hdf5", ".zarr", ".nwb")

_LUMA_FORMATS = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv411p",
    "yuvj411p",
    "yuv440p",
    "yuvj440p",
    "yuv410p",
    "nv12",
    "nv21",
    "gray",
    "gray8",
}
_CHUNK_BYTES = 16 * 2**20  # default chunk: about 16 MiB of output frames


@dataclass(frozen=True)
class VideoChunk:
    """A run of consecutive frames.

    Attributes
    ----------
    start : int
        Index of the first frame of the chunk in the whole video.
    frames : ndarray, shape (n, H, W) or (n, H, W, 3)
        uint8 when neither binning nor ``full_range`` applies, else float32.
    timestamps : ndarray, shape (n,)
        Seconds.
    """

    start: int
    frames: np.ndarray
    timestamps: np.ndarray

    @property
    def stop(self) -> int:
        return self.start + len(self.frames)


def mp4_index_lost(path: str | Path) -> tuple[int, int] | None:
    """Whether an mp4/mov file was cut short before its index (``moov`` atom): ``(file size, size announced)``.

    Walks the top-level boxes of the ISO base media file (``ftyp``, ``mdat``, ``moov``, ...), each
    announcing its own size. The index is lost when the file ends inside a box, or after the last
    complete one, without a complete ``moov`` before that point: the frame data were written first
    and the index was to follow.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (int, int) or None
        The file's size in bytes and the size its boxes announce up to the cut (the complete file
        was at least that long; the same number when the file ends exactly after a box and the
        index never came); None for a file with a complete index, and for anything that is not an
        ISO base media file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cut.mp4"
    >>> box = lambda kind, n: (8 + n).to_bytes(4, "big") + kind + bytes(n)
    >>> full = box(b"ftyp", 8) + box(b"mdat", 1000) + box(b"moov", 200)
    >>> _ = p.write_bytes(full[:600])
    >>> mp4_index_lost(p)
    (600, 1024)
    >>> _ = p.write_bytes(full)
    >>> mp4_index_lost(p) is None
    True
    """
    path = Path(path)
    size = path.stat().st_size
    pos, first = 0, True
    with open(path, "rb") as fh:
        while pos + 8 <= size:
            fh.seek(pos)
            head = fh.read(16)
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if first and kind != b"ftyp":
                return None  # not an ISO base media file
            first = False
            if length == 1 and len(head) == 16:  # 64-bit size
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:  # "to the end of the file": a recording that never finished
                return (size, size) if kind != b"moov" else None
            if length < 8:
                return None  # not a box structure
            if pos + length > size:
                return size, pos + length
            if kind == b"moov":
                return None
            pos += length
    return None if first else (size, pos)


def read_frame_times(path: str | os.PathLike, n_frames: int) -> np.ndarray:
    """Timestamps (s) of ``n_frames`` frames from a file: one column (csv, npy, npz ``data``), or the column
    named ``time``, ``times``, ``timestamp`` or ``timestamps`` of a csv with a header.

    Parameters
    ----------
    path : str or Path
    n_frames : int
        Frames the times must cover, one each.

    Returns
    -------
    ndarray, shape (n_frames,), float64, strictly increasing

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "times.csv"
    >>> _ = p.write_text("frame,time" + "".join(f"\\n{i},{t}" for i, t in enumerate([0.0, 0.05, 0.1])))
    >>> read_frame_times(p, 3).tolist()
    [0.0, 0.05, 0.1]
    """
    from neurocine.io.signals import check_timestamps, read_signal_matrix

    matrix = read_signal_matrix(path, dtype=np.float64)
    names = [c.lower() for c in matrix.channels]
    if matrix.data.shape[1] == 1:
        column = 0
    else:
        wanted = [i for i, c in enumerate(names) if c in ("time", "times", "timestamp", "timestamps")]
        if len(wanted) != 1:
            raise InputError(
                f"{path}: {matrix.data.shape[1]} columns ({', '.join(matrix.channels)}); expected one column of "
                f"frame times in seconds, or one named time or timestamps"
            )
        column = wanted[0]
    return check_timestamps(matrix.data[:, column], str(path), n_frames)


def _parse_crop(crop: Any, width: int, height: int, name: str) -> tuple[int, int, int, int]:
    if crop is None:
        return 0, 0, width, height
    try:
        x0, y0, x1, y1 = (int(v) for v in crop)
    except (TypeError, ValueError):
        raise InputError(f"{name}: crop={crop!r}; expected four integers (x0, y0, x1, y1), end exclusive") from None
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InputError(
            f"{name}: crop (x0, y0, x1, y1)={crop!r} is not inside the {width}x{height} frame; "
            f"expected 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}"
        )
    return x0, y0, x1, y1


class VideoReader:
    """Read a video or frame stack in chunks, grayscale by default, cropped and binned while reading.

    Parameters
    ----------
    path : str or Path
        Video file (mp4, avi, mov, mkv, …) or frame array (tif/tiff, npy, h5/hdf5, zarr).
    crop : (x0, y0, x1, y1), optional
        Pixel box kept from each frame (end exclusive), before binning.
    bin : int, default 1
        k×k spatial binning by mean (output float32); rows/columns beyond a multiple of k are dropped.
    color : {"gray", "rgb"}, default "gray"
    full_range : bool, default False
        Rescale limited-range (16-235) luma to 0-255 (float32 output). See the module notes.
    chunk_size : int, optional
        Frames per chunk; by default about 16 MiB of output frames (at most 256).
    allow_truncated : bool, default False
        Keep the frames of a truncated or corrupt file instead of raising. An mp4/mov cut before
        its index (written at the end by most cameras) cannot be read at all; see the module notes.
    key : str, optional
        Dataset name inside an h5/zarr file.
    fps : float, optional
        Frame rate for arrays and image sequences that do not store one (default 30 Hz for them).
    timestamps : str or Path, optional
        Arrays and image sequences: a file of one time (s) per frame (:func:`read_frame_times`).
    series : str, optional
        ``.nwb``: the ImageSeries to read (name or path; default the file's only one).
    axes : str, optional
        Frame arrays (tif/npy/h5/zarr): the stored axis order, as
        :func:`~neurocine.io.imaging.open_stack` takes it (``"YXT"``, ...).
    prefetch : int, default 1
        Chunks decoded ahead in a background thread (0: decode in the caller's thread).

    Attributes
    ----------
    n_frames : int
        Frames announced by the container (exact for most mp4/avi; for mkv and
        webm an estimate from duration × fps, see :attr:`n_frames_exact`).
    fps : float
        Average frame rate (Hz).
    shape : tuple
        ``(H, W)`` or ``(H, W, 3)`` of one output frame (after crop and bin).
    n_decoded : int or None
        Frames delivered by the last complete pass (None before one).
    truncated : bool
        Whether the last pass stopped before the announced frame count.

    Examples
    --------
    >>> from neurocine.io.video import VideoReader
    >>> with VideoReader("face.mp4", bin=2) as video:       # doctest: +SKIP
    ...     for chunk in video.iter_chunks():
    ...         print(chunk.start, chunk.frames.shape, chunk.timestamps[0])
    """

    # set by the _open_* methods
    _kind: str
    n_frames: int
    n_frames_exact: bool
    source_width: int
    source_height: int
    _array_timestamps: np.ndarray | None = None

    def __init__(
        self,
        path: str | Path,
        *,
        crop: Any = None,
        bin: int = 1,
        color: str = "gray",
        full_range: bool = False,
        chunk_size: int | None = None,
        allow_truncated: bool = False,
        key: str | None = None,
        fps: float | None = None,
        timestamps: str | os.PathLike | None = None,
        series: str | None = None,
        axes: str | None = None,
        prefetch: int = 1,
    ) -> None:
        from neurocine.io.image_sequence import is_image_sequence

        self.path = Path(path)
        self.name = str(path)
        if color not in ("gray", "rgb"):
            raise InputError(f"color: got {color!r}, expected 'gray' or 'rgb'")
        self.color = color
        self.bin = check_int("bin", bin)
        self.full_range = bool(full_range)
        self.allow_truncated = bool(allow_truncated)
        self.prefetch = check_int("prefetch", prefetch, minimum=0)
        self.n_decoded: int | None = None
        self.truncated = False
        suffix = self.path.suffix.lower()
        if fps is not None and not (isinstance(fps, (int, float)) and fps > 0 and np.isfinite(fps)):
            raise InputError(f"fps: got {fps!r}, expected a positive frame rate (Hz)")
        self._axes = axes
        if axes is not None and suffix not in ARRAY_EXTENSIONS:
            raise InputError(
                f"axes={axes!r}: only applies to frame arrays ({', '.join(ARRAY_EXTENSIONS)}); {self.name} is not one"
            )
        if series is not None and suffix != ".nwb":
            raise InputError(f"series={series!r}: only applies to .nwb files; {self.name} is not one")
        if (not self.path.exists() and is_image_sequence(path)) or (self.path.is_dir() and suffix != ".zarr"):
            from neurocine.io.image_sequence import ImageSequence

            self._open_array(key, fps, stack=ImageSequence(path))
        elif not self.path.exists():
            raise InputError(
                f"{self.name}: no such file; expected a video ({', '.join(VIDEO_EXTENSIONS)}) "
                f"or a frame array ({', '.join(ARRAY_EXTENSIONS)})"
            )
        elif suffix == ".nwb":
            self._open_nwb(series, fps)
        elif suffix in ARRAY_EXTENSIONS:
            self._open_array(key, fps)
        elif suffix in VIDEO_EXTENSIONS:
            self._open_video()
        else:
            raise InputError(
                f"{self.name}: unsupported extension {suffix!r}; expected a video "
                f"({', '.join(VIDEO_EXTENSIONS)}), a frame array ({', '.join(ARRAY_EXTENSIONS)}) "
                f"or a folder of numbered image frames"
            )
        if timestamps is not None:
            if self._kind == "video":
                raise InputError(
                    f"timestamps={str(timestamps)!r}: applies to frame arrays and image sequences; {self.name} is a "
                    f"video, whose frames carry their own presentation times"
                )
            self._array_timestamps = read_frame_times(timestamps, self.n_frames)
            if fps is None and self.n_frames > 1:
                self.fps = float(1.0 / np.median(np.diff(self._array_timestamps)))
        self.crop = _parse_crop(crop, self.source_width, self.source_height, self.name)
        x0, y0, x1, y1 = self.crop
        if (x1 - x0) < self.bin or (y1 - y0) < self.bin:
            raise InputError(
                f"{self.name}: bin={self.bin} is larger than the {x1 - x0}x{y1 - y0} (cropped) frame; "
                f"expected a bin no larger than the frame"
            )
        self.height = (y1 - y0) // self.bin
        self.width = (x1 - x0) // self.bin
        self.shape = (self.height, self.width) if color == "gray" else (self.height, self.width, 3)
        bytes_per_frame = (
            self.height
            * self.width
            * (1 if color == "gray" else 3)
            * (1 if self.bin == 1 and not self.full_range else 4)
        )
        if chunk_size is None:
            chunk_size = int(min(256, max(1, _CHUNK_BYTES // max(bytes_per_frame, 1))))
        self.chunk_size = check_int("chunk_size", chunk_size)

    # ------------------------------------------------------------------ opening
    def _open_video(self) -> None:
        import av

        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            lost = mp4_index_lost(self.path)
            if lost is not None:
                raise InputError(
                    f"{self.name}: cannot be opened as a video: the file is truncated ({lost[0]} of at "
                    f"least {lost[1]} bytes) and its index (the mp4 moov atom) was at the end, so no frame can be "
                    f"found, even with --allow-truncated; recover it with untrunc and an intact file from the "
                    f"same camera (record with ffmpeg -movflags +faststart to keep the index first)"
                ) from None
            raise InputError(
                f"{self.name}: cannot be opened as a video ({exc.strerror or exc}); "
                f"the file is truncated, corrupt or not a video"
            ) from None
        try:
            if not container.streams.video:
                raise InputError(f"{self.name}: has no video stream; expected a file with one video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = float(rate) if rate else 30.0
            self.source_width, self.source_height = int(stream.width), int(stream.height)
            if self.source_width <= 0 or self.source_height <= 0:
                raise InputError(
                    f"{self.name}: video stream reports size {self.source_width}x{self.source_height}; "
                    f"expected a positive frame size"
                )
            self.pix_fmt = stream.codec_context.pix_fmt or ""
            self.codec = stream.codec_context.name
            if stream.frames:
                self.n_frames, self.n_frames_exact = int(stream.frames), True
            else:
                seconds = None
                if stream.duration is not None and stream.time_base is not None:
                    seconds = float(stream.duration * stream.time_base)
                elif container.duration is not None:
                    seconds = container.duration / 1e6
                self.n_frames = int(round(seconds * self.fps)) if seconds else 0
                self.n_frames_exact = False
                self._duration = seconds
        finally:
            container.close()
        self._kind = "video"
        self._duration = getattr(self, "_duration", None)
        if self.n_frames_exact and self.n_frames == 0:
            raise InputError(f"{self.name}: has 0 frames; expected a video with at least 1 frame")

    def _open_nwb(self, series: str | None, fps: float | None) -> None:
        from neurocine.io.imaging import image_series_external_file, open_stack

        external = image_series_external_file(self.path, series)
        if external is None:
            self._open_array(None, fps, stack=open_stack(self.path, series=series))
            return
        if not external.exists():
            raise InputError(
                f"{self.name}: the ImageSeries names the external file {external}, which does not exist; "
                f"expected the video next to the NWB file (external_file is relative to its folder)"
            )
        self.path, self.name = external, f"{external} (external file of {self.name})"
        if self.path.suffix.lower() in VIDEO_EXTENSIONS:
            self._open_video()
        else:
            self._open_array(None, fps)

    def _open_array(self, key: str | None, fps: float | None, stack: Any = None) -> None:
        from neurocine.io.imaging import open_stack

        if stack is None:
            stack = open_stack(self.path, key=key, axes=self._axes)
        shape = tuple(stack.shape)
        if len(shape) == 4 and shape[-1] == 3:
            self._array_rgb = True
        elif len(shape) == 3:
            self._array_rgb = False
        else:
            raise InputError(f"{self.name}: frame array has shape {shape}; expected (T, H, W) or (T, H, W, 3)")
        self._stack = stack
        self.n_frames, self.n_frames_exact = int(shape[0]), True
        stack_rate = getattr(stack, "rate", None)
        self.fps = float(fps or stack_rate or 30.0)
        self._array_timestamps = getattr(stack, "timestamps", None)
        self.source_height, self.source_width = int(shape[1]), int(shape[2])
        self.pix_fmt = str(np.dtype(stack.dtype))
        self.codec = "images" if type(stack).__name__ == "ImageSequence" else "array"
        self._kind = "array"
        if self.n_frames == 0:
            raise InputError(f"{self.name}: has 0 frames; expected at least 1 frame")

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing stays open between passes; kept for the context-manager protocol."""

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return (
            f"VideoReader({self.name!r}, {self.n_frames} frames{'' if self.n_frames_exact else ' (estimated)'}, "
            f"{self.fps:.3f} fps, {self.width}x{self.height}, {self.color})"
        )

    @property
    def metadata(self) -> dict:
        """Plain-Python description of the source and the output (for summary.json)."""
        return {
            "path": self.name,
            "n_frames": self.n_frames,
            "n_frames_exact": self.n_frames_exact,
            "fps": self.fps,
            "source_size": [self.source_width, self.source_height],
            "output_size": [self.width, self.height],
            "crop": list(self.crop),
            "bin": self.bin,
            "color": self.color,
            "pixel_format": self.pix_fmt,
            "codec": self.codec,
            "n_decoded": self.n_decoded,
            "truncated": self.truncated,
        }

    # ------------------------------------------------------------------ frames
    def _post(self, frames: np.ndarray, limited: bool) -> np.ndarray:
        frames = block_mean(frames, self.bin)
        if self.bin > 1 and frames.dtype != np.float32:
            frames = frames.astype(np.float32)
        if self.full_range and limited and self.color == "gray":
            frames = (frames.astype(np.float32, copy=False) - 16.0) * np.float32(255.0 / 219.0)
        elif self.full_range and frames.dtype != np.float32:
            frames = frames.astype(np.float32)
        return frames

    def iter_chunks(self, start: int = 0, stop: int | None = None) -> Iterator[VideoChunk]:
        """Yield :class:`VideoChunk` objects covering frames ``start`` to ``stop`` (exclusive) in order.

        Video files are decoded in a background thread (PyAV releases the GIL) that
        stays at most ``prefetch`` chunks ahead, so decoding overlaps the caller's
        computation; memory holds ``prefetch + 1`` chunks plus the decoder's buffers.
        After a pass that reached the end, :attr:`n_decoded` and :attr:`truncated` are set.
        """
        start = check_int("start", start, minimum=0)
        if stop is not None:
            stop = check_int("stop", stop, minimum=start)
        if self._kind == "array":
            if self.prefetch and self.codec == "images":  # decoding image files: in the background, like videos
                yield from prefetched(self._iter_array(start, stop), self.prefetch)
            else:
                yield from self._iter_array(start, stop)
        elif self.prefetch == 0:
            yield from self._iter_video(start, stop)
        else:
            yield from prefetched(self._iter_video(start, stop), self.prefetch)

    def _iter_array(self, start: int, stop: int | None) -> Generator[VideoChunk, None, None]:
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        x0, y0, x1, y1 = self.crop
        for a in range(start, stop, self.chunk_size):
            b = min(stop, a + self.chunk_size)
            block = np.asarray(self._stack[a:b])[:, y0:y1, x0:x1]
            if self.color == "gray" and self._array_rgb:
                block = (block[..., 0] * 0.299 + block[..., 1] * 0.587 + block[..., 2] * 0.114).astype(np.float32)
            elif self.color == "rgb" and not self._array_rgb:
                block = np.repeat(block[..., None], 3, axis=-1)
            if self._array_timestamps is not None:
                times = np.asarray(self._array_timestamps[a:b], dtype=np.float64)
            else:
                times = np.arange(a, b, dtype=np.float64) / self.fps
            yield VideoChunk(a, self._post(block, limited=False), times)
        if stop == self.n_frames:
            self.n_decoded, self.truncated = self.n_frames, False

    def _iter_video(self, start: int, stop: int | None) -> Generator[VideoChunk, None, None]:
        import av

        x0, y0, x1, y1 = self.crop
        h, w = y1 - y0, x1 - x0
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.name}: cannot be opened as a video ({exc.strerror or exc})") from None
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 1)
        buf_shape = (self.chunk_size, h, w) if self.color == "gray" else (self.chunk_size, h, w, 3)
        buf = np.empty(buf_shape, np.uint8)
        times = np.empty(self.chunk_size, np.float64)
        n_in = 0  # frames in the buffer
        index = 0  # index of the next decoded frame
        chunk_start = start
        last_time = -1.0 / self.fps
        limited = True
        error: str | None = None
        try:
            decoder = container.decode(stream)
            while stop is None or index < stop:
                try:
                    frame = next(decoder)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    error = exc.strerror or str(exc)
                    break
                if frame.pts is not None:
                    t = float(frame.pts * time_base)
                else:
                    t = last_time + 1.0 / self.fps
                last_time = t
                if index < start:
                    index += 1
                    continue
                fmt = frame.format.name
                if self.color == "gray" and fmt in _LUMA_FORMATS:
                    plane = frame.planes[0]
                    luma = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
                    buf[n_in] = luma[y0:y1, x0:x1]
                    limited = not fmt.startswith("yuvj") and frame.color_range != 2
                else:
                    img = frame.to_ndarray(format="gray" if self.color == "gray" else "rgb24")
                    buf[n_in] = img[y0:y1, x0:x1]
                    limited = False
                times[n_in] = t
                n_in += 1
                index += 1
                if n_in == self.chunk_size:
                    # binning makes a new array; otherwise copy, as the buffer is refilled while the chunk is used
                    frames_out = self._post(buf if self.bin > 1 else buf.copy(), limited)
                    yield VideoChunk(chunk_start, frames_out, times.copy())
                    chunk_start += n_in
                    n_in = 0
        finally:
            container.close()
        if n_in:
            yield VideoChunk(chunk_start, self._post(buf[:n_in].copy(), limited), times[:n_in].copy())
        if stop is not None and index >= stop and error is None:
            return  # a partial pass says nothing about the end of the file
        self._check_end(index, error, last_time)

    def _check_end(self, n_decoded: int, error: str | None, last_time: float) -> None:
        expected = self.n_frames
        if self.n_frames_exact:
            short = n_decoded < expected
        else:  # no frame count in the header (mkv, webm): compare the last timestamp with the duration
            duration = self._duration
            short = duration is not None and duration != 0 and last_time + 3.0 / self.fps < duration * 0.99
        self.n_decoded = n_decoded
        self.truncated = bool(error) or bool(short)
        if self.truncated and not self.allow_truncated:
            why = (
                f"decoding failed at frame {n_decoded} ({error})"
                if error
                else (
                    f"decoding stopped at frame {n_decoded} but the header announces "
                    + (
                        f"{expected} frames"
                        if self.n_frames_exact
                        else f"{self._duration:.2f} s (about {expected} frames; the last decoded frame is at {last_time:.2f} s)"
                    )
                )
            )
            raise InputError(
                f"{self.name}: {why}; the file is truncated or corrupt "
                f"(--allow-truncated keeps the {n_decoded} frames that decoded)"
            )
        if n_decoded == 0:
            raise InputError(f"{self.name}: no frame could be decoded; expected a video with at least 1 frame")
        if self.n_frames_exact is False or self.truncated:
            self.n_frames, self.n_frames_exact = n_decoded, True

    # ------------------------------------------------------------------ conveniences
    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """All frames from ``start`` to ``stop`` as one array (use :meth:`iter_chunks` for long videos)."""
        chunks = [c.frames for c in self.iter_chunks(start, stop)]
        if not chunks:
            raise InputError(f"{self.name}: no frames between {start} and {stop}; the video has {self.n_frames}")
        return np.concatenate(chunks)

    def read_timestamps(self) -> np.ndarray:
        """Presentation time (s) of every frame, in decoding order, without decoding pixels where possible."""
        if self._kind == "array":
            if self._array_timestamps is not None:
                return np.asarray(self._array_timestamps, dtype=np.float64)
            return np.arange(self.n_frames, dtype=np.float64) / self.fps
        import av

        container = av.open(str(self.path))
        pts: list[int] = []
        try:
            stream = container.streams.video[0]
            time_base = stream.time_base  # read while open: PyAV >= 18.1.1 refuses stream attributes after close
            assert time_base is not None  # a demuxed video stream has a time base
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.name}: demuxing failed after {len(pts)} packets ({exc})") from None
        finally:
            container.close()
        return np.sort(np.asarray(pts, dtype=np.float64)) * float(time_base)

    def mean_frame(self, max_frames: int = 500) -> np.ndarray:
        """Mean of up to ``max_frames`` frames from the start of the video (float32, output shape)."""
        total = np.zeros(self.shape, np.float64)
        n = 0
        for chunk in self.iter_chunks(0, min(self.n_frames, max_frames) or max_frames):
            total += chunk.frames.sum(axis=0, dtype=np.float64)
            n += len(chunk.frames)
        return (total / max(n, 1)).astype(np.float32)


def write_video(
    path: str | Path,
    frames,
    *,
    fps: float = 30.0,
    codec: str = "libx264",
    lossless: bool = False,
    crf: int = 18,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Write ``(T, H, W)`` uint8 gray or ``(T, H, W, 3)`` RGB frames (an array or an iterable of chunks).

    Gray frames are written straight into the luma plane (chroma neutral), so with
    ``lossless=True`` (x264 ``qp=0``; or ``codec="ffv1"``) :class:`VideoReader` gives back
    exactly the values written. Height and width must be even for yuv420p. Written to a
    temporary name and renamed, so a failure leaves no partial file.
    """
    import av

    path = Path(path)
    chunks = [frames] if isinstance(frames, np.ndarray) else frames
    with atomic_path(path, suffix=f".tmp{path.suffix}") as tmp:  # av picks the container from the extension
        container = av.open(str(tmp), "w")
        try:
            _encode_chunks(container, chunks, fps=fps, codec=codec, lossless=lossless, crf=crf, pix_fmt=pix_fmt)
        finally:
            container.close()
    return path


# what every current browser plays in an mp4: H.264 in these profiles, 8-bit 4:2:0
_BROWSER_H264_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main", "High"})


def plays_in_browsers(path: str | Path) -> bool:
    """Whether the mp4 ``path`` is H.264 that every current browser plays (Baseline/Main/High profile, yuv420p).

    Lossless x264 (``write_video(..., lossless=True)``) is *High 4:4:4 Predictive* even with yuv420p pixels:
    Chromium plays it, Firefox and Safari on most systems do not. Unreadable files count as not playable.
    """
    import av

    try:
        with av.open(str(path)) as container:
            ctx = container.streams.video[0].codec_context
            fmt = ctx.format.name if ctx.format is not None else None
            return ctx.name == "h264" and ctx.profile in _BROWSER_H264_PROFILES and fmt in ("yuv420p", "yuvj420p")
    except (av.error.FFmpegError, IndexError, OSError):
        return False


def write_browser_copy(source: str | Path, path: str | Path, *, crf: int = 18) -> Path:
    """Re-encode the video ``source`` as High-profile H.264 yuv420p at ``path`` (for a report's ``<video>``).

    Colour is kept (frames decoded as RGB), the frame rate is the source's, and odd heights or widths lose
    their last row or column (yuv420p needs even sizes). Streams a chunk at a time.
    """
    with VideoReader(source, color="rgb") as reader:
        even = (slice(None), slice(0, reader.height // 2 * 2), slice(0, reader.width // 2 * 2))
        return write_video(path, (chunk.frames[even] for chunk in reader.iter_chunks()), fps=reader.fps, crf=crf)


def write_gif(path: str | Path, frames, *, fps: float = 30.0, loop: int = 0) -> Path:
    """Write ``(T, H, W)`` uint8 gray or ``(T, H, W, 3)`` RGB frames as an animated GIF (Pillow).

    GIF stores frame durations in hundredths of a second, so the played rate is
    ``100 / round(100 / fps)`` Hz (30 Hz plays at 33.3 Hz). Written to a temporary
    name and renamed, so a failure leaves no partial file.
    """
    from PIL import Image

    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3) or len(arr) == 0:
        raise InputError(
            f"frames: got {arr.dtype} array of shape {arr.shape}, expected uint8 (T, H, W) or (T, H, W, 3) with T >= 1"
        )
    if not fps > 0:
        raise InputError(f"fps: got {fps}, expected a positive frame rate")
    path = Path(path)
    images = [Image.fromarray(f) for f in arr]
    with atomic_path(path, suffix=".tmp.gif") as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(2, round(1000 / fps / 10) * 10),
            loop=int(loop),
            optimize=False,
        )
    return path


def _encode_chunks(container, chunks, *, fps: float, codec: str, lossless: bool, crf: int, pix_fmt: str) -> None:
    """Encode every frame of ``chunks`` into ``container``'s first (new) video stream and flush it."""
    import av

    stream = None
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.dtype != np.uint8 or chunk.ndim not in (3, 4):
            raise InputError(
                f"frames: got {chunk.dtype} array of shape {chunk.shape}; expected uint8 (T, H, W) or (T, H, W, 3)"
            )
        if stream is None:
            h, w = chunk.shape[1:3]
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(100000))
            stream.width, stream.height = w, h
            stream.pix_fmt = pix_fmt
            if codec == "libx264":
                stream.options = {"qp": "0"} if lossless else {"crf": str(crf)}
        for img in chunk:
            if img.ndim == 2 and pix_fmt == "yuv420p":
                frame = av.VideoFrame(w, h, "yuv420p")
                for i, plane in enumerate(frame.planes):
                    view = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
                    if i == 0:
                        view[:, : plane.width] = img
                    else:
                        view[:] = 128
            else:
                frame = av.VideoFrame.from_ndarray(img, format="gray" if img.ndim == 2 else "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
    if stream is None:
        raise InputError("frames: no frames to write; expected at least one frame")
    for packet in stream.encode():
        container.mux(packet)
