"""One photo reader for every part that takes a patient's photo (the CLI's ``face fit``, the app's Face
card): a file or the bytes of an upload, decoded with Pillow to (h, w, 3) uint8 RGB with its EXIF
orientation applied (a phone's portrait photo is stored sideways with an orientation tag), and the lens's
35 mm-equivalent focal length when EXIF gives it.

Nothing is written or logged here: a photo is patient data (docs/face-fit.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from injectmap.anatomy.errors import UserFacing

#: project choice: a 50-megapixel camera's full frame; a larger image is refused before it is decoded
#: (Pillow's own decompression-bomb guard only warns below 89 megapixels)
MAX_PIXELS = 50_000_000
#: the formats a photo may come in
FORMATS = ("JPEG", "PNG")


class PhotoError(UserFacing, ValueError):
    """A file that is not a photo this program reads (the message says why)."""


@dataclass(frozen=True)
class Photo:
    """A decoded photo: ``rgb`` (h, w, 3) uint8, upright; ``focal_35mm`` from EXIF (None without)."""

    rgb: np.ndarray
    focal_35mm: float | None = None


def read_photo(source: Path | bytes) -> Photo:
    """A JPEG or PNG photo from a path or bytes, upright (EXIF orientation applied).

    Raises
    ------
    PhotoError
        Not a JPEG or PNG image, unreadable, or larger than :data:`MAX_PIXELS`.
    OSError
        A path that cannot be read.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    fh = io.BytesIO(source) if isinstance(source, bytes | bytearray) else open(Path(source), "rb")  # noqa: SIM115
    with fh:
        try:
            im = Image.open(fh)
        except UnidentifiedImageError:
            raise PhotoError("not an image (a JPEG or PNG photo is needed)") from None
        with im:
            if im.format not in FORMATS:
                raise PhotoError(f"a {im.format or 'unknown'} image: a JPEG or PNG photo is needed")
            if im.width * im.height > MAX_PIXELS:
                raise PhotoError(f"the image is {im.width} x {im.height} pixels: at most "
                                 f"{MAX_PIXELS // 1_000_000} megapixels")
            focal = _focal_35mm(im)
            try:
                rgb = ImageOps.exif_transpose(im).convert("RGB")
            except (OSError, SyntaxError, ValueError) as exc:  # a truncated or corrupt file
                raise PhotoError(f"the image cannot be decoded ({type(exc).__name__})") from None
            return Photo(np.asarray(rgb), focal)


def _focal_35mm(im) -> float | None:  # type: ignore[no-untyped-def]
    try:
        val = im.getexif().get_ifd(0x8769).get(0xA405)  # Exif IFD: FocalLengthIn35mmFilm
        return float(val) if val else None
    except Exception:  # noqa: BLE001 - unreadable EXIF: no focal length
        return None


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB array as PNG bytes (for the app's display; nothing is written to disk)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
