"""The one image loader: files, bytes or arrays in, RGB uint8 arrays out.

It applies EXIF orientation (phone photos), refuses decompression bombs and
broken files with an ``ImageError`` that says what to fix.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Largest photo accepted, in pixels. Bigger files are refused before they are decoded.
MAX_PIXELS = 40_000_000
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


class ImageError(ValueError):
    """A photo that cannot be used; the message says why and what to do."""


def load_image(source: "str | Path | bytes | np.ndarray | Image.Image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return the photo as an (H, W, 3) RGB uint8 array."""
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return np.asarray(source.convert("RGB"))
    name = "uploaded image" if isinstance(source, (bytes, bytearray)) else str(source)
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with Image.open(stream) as image:
            if image.format not in SUPPORTED_FORMATS:
                raise ImageError(f"{name}: format {image.format} is not supported; use JPEG, PNG or WebP")
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name}: {width}x{height} pixels is more than the {max_pixels:,} allowed; resize the photo"
                )
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageError(f"{name}: not a readable image ({error}); upload a JPEG, PNG or WebP photo") from None


#: Formats shoppers and merchandisers may upload, told apart by their first bytes (not the file name).
UPLOAD_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class CheckedUpload:
    data: bytes
    format: str  # "JPEG", "PNG" or "WEBP"
    width: int
    height: int

    @property
    def extension(self) -> str:
        return UPLOAD_FORMATS[self.format]


def check_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> CheckedUpload:
    """Accept an uploaded photo only if it is a JPEG, PNG or WebP that decodes whole.

    The format comes from the bytes, the size and pixel count are checked before
    decoding (a decompression bomb is refused, not decoded), and the photo is then
    decoded once so that a truncated file is refused here, not in a worker.
    """
    if not data:
        raise ImageError("the file is empty; upload a JPEG, PNG or WebP photo")
    if len(data) > max_bytes:
        raise ImageError(f"the file is {len(data) / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB allowed")
    detected = sniff_format(data)
    if detected is None:
        raise ImageError("the file is not a JPEG, PNG or WebP photo (its content says otherwise); upload one of those")
    # load_image checks the pixel count from the header before decoding; the size returned is the
    # decoded photo's, after EXIF orientation, which is the frame landmarks are drawn in.
    height, width = load_image(data, max_pixels=max_pixels).shape[:2]
    return CheckedUpload(data, detected, width, height)


def sniff_format(data: bytes) -> str | None:
    """JPEG, PNG or WEBP from the magic bytes; None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def save_image(image: np.ndarray, path: "str | Path", quality: int = 92) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=quality)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ImageError(f"image array must be uint8, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[..., :3])
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    raise ImageError(f"image array must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
