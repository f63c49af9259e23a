"""Folders of numbered image frames (PNG, TIFF, JPEG, BMP) read as one lazy ``(T, H, W[, 3])`` stack.

A sequence is named in one of three ways:

- a **folder**: every image file in it, in numeric order of the numbers in their names (natural
  order: ``1.png, 2.png, …, 10.png, …, 18077.png``; zero-padded names sort the same way);
- a **printf pattern** as FFmpeg takes it: ``frames/%05d.png`` (``%d`` for unpadded numbers);
- a **glob**: ``frames/cam0_*.tif`` (natural order of the matching names).

:class:`ImageSequence` decodes frames only when sliced, so :class:`~neurocine.io.video.VideoReader`
reads it a chunk at a time like a video. 8- and 16-bit gray, RGB and palette images are read (RGBA
and palette images as RGB, alpha dropped). An unreadable file and a frame whose size differs from
the first frame's raise :class:`~neurocine.errors.InputError` naming the file.
"""

from __future__ import annotations

import glob as globbing
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError

__all__ = ["IMAGE_EXTENSIONS", "ImageSequence", "is_image_sequence", "list_frames", "read_frame"]

#: Extensions of single-image files read as frames (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")

_PRINTF = re.compile(r"%(0?)(\d*)d")


def is_image_sequence(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an image sequence: a folder, a ``%05d`` pattern or a glob.

    Examples
    --------
    >>> is_image_sequence("frames/%05d.png"), is_image_sequence("cam/*.tif"), is_image_sequence("face.mp4")
    (True, True, False)
    """
    text = str(path)
    return Path(text).is_dir() or bool(_PRINTF.search(Path(text).name)) or any(c in text for c in "*?[")


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frames(path: str | os.PathLike) -> list[Path]:
    """The frame files of a sequence (folder, ``%05d`` pattern or glob), in frame order.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of Path

    Raises
    ------
    InputError
        No image file found, or a folder that mixes image types.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in (1, 2, 10): _ = (d / f"{i}.png").write_bytes(b"")
    >>> [p.name for p in list_frames(d)]
    ['1.png', '2.png', '10.png']
    >>> [p.name for p in list_frames(d / "%d.png")]
    ['1.png', '2.png', '10.png']
    """
    text = str(path)
    p = Path(text)
    if p.is_dir():
        files = [f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
        kinds = sorted({f.suffix.lower().replace("jpeg", "jpg").replace("tiff", "tif") for f in files})
        if len(kinds) > 1:
            raise InputError(
                f"{path}: the folder mixes image types ({', '.join(kinds)}); expected frames of one type "
                f"(name them with a pattern such as {p / '%05d.png'} or a glob)"
            )
        what = f"image files ({', '.join(IMAGE_EXTENSIONS)})"
    elif _PRINTF.search(p.name):
        match = _PRINTF.search(p.name)
        assert match is not None  # checked just above
        zero, width = match.group(1), match.group(2)
        digits = rf"\d{{{int(width)}}}" if zero and width else r"\d+"
        regex = re.compile(re.escape(p.name[: match.start()]) + f"({digits})" + re.escape(p.name[match.end() :]) + "$")
        folder = p.parent
        if not folder.is_dir():
            raise InputError(f"{path}: no such folder {folder}; expected a folder of numbered frames")
        found = [(int(m.group(1)), f) for f in folder.iterdir() if (m := regex.match(f.name)) and f.is_file()]
        files = [f for _, f in sorted(found, key=lambda nf: (nf[0], nf[1].name))]
        what = f"files matching {p.name}"
    else:
        files = [Path(f) for f in globbing.glob(text) if Path(f).is_file()]
        what = "files matching the glob"
    if not files:
        raise InputError(f"{path}: no {what}; expected numbered image frames ({', '.join(IMAGE_EXTENSIONS)})")
    if p.is_dir() or not _PRINTF.search(p.name):  # a pattern's files are already in the order of their numbers
        files = sorted(files, key=lambda f: _natural_key(f.name))
    return files


def read_frame(path: Path, index: int | None = None) -> np.ndarray:
    """One image as ``(H, W)`` gray or ``(H, W, 3)`` RGB; InputError naming the file when it cannot be read."""
    where = f"{path}" + (f" (frame {index})" if index is not None else "")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = np.asarray(tifffile.imread(path))
        else:
            from PIL import Image

            with Image.open(path) as opened:
                opened.load()
                img: Image.Image = opened
                if img.mode in ("1", "LA", "La"):
                    img = img.convert("L")
                elif img.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F", "RGB"):
                    img = img.convert("RGB")
                arr = np.asarray(img)
    except Exception as exc:  # PIL, tifffile and the OS raise many kinds
        raise InputError(
            f"{where}: cannot be read as an image ({type(exc).__name__}: {exc}); expected a readable frame"
        ) from None
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        raise InputError(f"{where}: image has shape {arr.shape}; expected one gray (H, W) or RGB (H, W, 3) frame")
    return arr


class ImageSequence:
    """A lazy ``(T, H, W)`` or ``(T, H, W, 3)`` stack over numbered image files.

    Parameters
    ----------
    path : str or Path
        A folder, a ``%05d`` pattern or a glob (see the module notes).

    Attributes
    ----------
    files : list of Path
        The frames in order.
    shape : tuple of int
    dtype : numpy dtype
        The first frame's.
    rate, timestamps : None
        Image files carry no clock; give ``fps`` or a timestamps file to the reader.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3): Image.fromarray(np.full((4, 5), i, np.uint8)).save(d / f"{i + 1}.png")
    >>> seq = ImageSequence(d)
    >>> seq.shape, seq[1:3][:, 0, 0].tolist()
    ((3, 4, 5), [1, 2])
    """

    rate: float | None = None
    timestamps: np.ndarray | None = None

    def __init__(self, path: str | os.PathLike) -> None:
        self.source = str(path)
        self.files = list_frames(path)
        first = read_frame(self.files[0], 0)
        self.frame_shape = first.shape
        self.dtype = first.dtype
        self.shape = (len(self.files),) + tuple(first.shape)

    def __len__(self) -> int:
        return len(self.files)

    def _frame(self, i: int) -> np.ndarray:
        arr = read_frame(self.files[i], i)
        if arr.shape != self.frame_shape:

            def size(s: tuple) -> str:
                return f"{s[1]}x{s[0]}" + (" RGB" if len(s) == 3 else " gray")

            raise InputError(
                f"{self.files[i]}: frame {i} is {size(arr.shape)}; expected {size(self.frame_shape)} like the "
                f"first frame {self.files[0].name} (every frame of a sequence has one size)"
            )
        return arr.astype(self.dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._frame(int(key) % len(self))
        if not isinstance(key, slice):
            raise IndexError(f"ImageSequence: index {key!r}; expected an int or a slice of frames")
        idx = range(*key.indices(len(self)))
        out = np.empty((len(idx),) + self.frame_shape, self.dtype)
        for k, i in enumerate(idx):
            out[k] = self._frame(i)
        return out

    def __repr__(self) -> str:
        return f"ImageSequence({self.source!r}, {len(self)} frames, {self.shape[1:]}, {self.dtype})"
