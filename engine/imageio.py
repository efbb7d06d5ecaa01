"""The one image loader: files, bytes or arrays in, RGB uint8 arrays out.

It applies EXIF orientation (phone photos), refuses decompression bombs and
broken files with an ``ImageError`` that says what to fix.
"""
from __future__ import annotations

import io
import re
import struct
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
    """Return the photo as an (H, W, 3) RGB uint8 array.

    Only the first frame of an animated image is read; 16-bit images are scaled
    to 8 bits (not clipped) and transparent ones are flattened onto white.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source)
    return _decode(source, max_pixels, SUPPORTED_FORMATS)


def _decode(source: "str | Path | bytes", max_pixels: int, formats: "tuple[str, ...]") -> np.ndarray:
    name = "uploaded image" if isinstance(source, (bytes, bytearray)) else str(source)
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    accepted = "JPEG, PNG or WebP"
    try:
        # Image.open reads the header only; it refuses a header of more than twice
        # Image.MAX_IMAGE_PIXELS itself (DecompressionBombError), below that we check.
        with Image.open(stream, formats=list(formats)) as image:
            # MPO: a JPEG with more pictures after the first (Android Ultra HDR gain maps, cameras' previews)
            kind = "JPEG" if image.format == "MPO" else image.format
            if kind not in formats:
                raise ImageError(f"{name}: format {image.format} is not supported; use {accepted}")
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name}: {width}x{height} pixels is more than the {max_pixels:,} allowed; resize the photo"
                )
            return _pil_to_rgb(ImageOps.exif_transpose(image))
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"{name}: refused without decoding, its header announces too many pixels ({error}); "
            f"at most {max_pixels:,} pixels are allowed, resize the photo"
        ) from None
    except _DECODE_ERRORS as error:
        raise ImageError(f"{name}: not a readable image ({error}); upload a {accepted} photo") from None


#: What Pillow raises on a damaged or hostile file: besides OSError, bad values in headers or EXIF
#: (TypeError: a TIFF strip offset stored as bytes, found by bench/fuzz_imageio.py).
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError, struct.error, TypeError)


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    """RGB uint8 from any Pillow mode: 16-bit greys scaled to 8 bits, alpha flattened onto white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        grey = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(flat)
    return np.asarray(image.convert("RGB"))


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
    accepted = "JPEG, PNG or WebP"
    if not data:
        raise ImageError(f"the file is empty; upload a {accepted} photo")
    if len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    detected = sniff_format(data)
    if detected is None:
        raise ImageError(
            f"the file is {_describe(data)}, not a {accepted} photo (told by its content, not its name); "
            "upload one of those"
        )
    foreign = _foreign_content(data)
    if foreign is not None:
        raise ImageError(
            f"the file is a {detected} that also holds {foreign} (a polyglot file), which is refused; "
            f"upload a plain {accepted} photo (re-save it with a photo editor)"
        )
    # The pixel count is checked from the header before decoding; the size returned is the
    # decoded photo's, after EXIF orientation, which is the frame landmarks are drawn in.
    height, width = _decode(bytes(data), max_pixels, tuple(UPLOAD_FORMATS)).shape[:2]
    return CheckedUpload(bytes(data), detected, width, height)


def too_large(size: int, max_bytes: int) -> ImageError:
    """The refusal of a file of ``size`` bytes (MB = 2**20 bytes, as file browsers count them)."""

    def text(n: int, decimals: int) -> str:
        return f"{n / 2**20:.{decimals}f} MB" if max_bytes >= 2**20 else f"{n / 1024:.{decimals}f} KB"

    return ImageError(
        f"the file is {text(size, 1)}, more than the {text(max_bytes, 0)} allowed; "
        "upload a smaller JPEG, PNG or WebP photo"
    )


def sniff_format(data: bytes) -> str | None:
    """JPEG, PNG or WEBP from the magic bytes; None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


#: What other formats' readers look for, and where: browsers sniff markup and PDF readers
#: look for their header in the first KiB; PHP runs a tag anywhere; zip readers (jar, docx,
#: apk) start from the directory at the end. Markers are long enough (with the character
#: after them) that compressed pixel data holds one by chance about once in a million photos.
_HEAD_MARKERS = (
    (re.compile(rb"<(?:!doctype\s+html|html|head|body|script|iframe|object|embed)[\s>/]", re.I), "an HTML page"),
    (re.compile(rb"<svg[\s>/]", re.I), "an SVG drawing"),
    (re.compile(rb"%PDF-"), "a PDF document"),
)
_ANYWHERE_MARKERS = (
    (re.compile(rb"<(?:script|html|iframe)[\s>/]", re.I), "HTML or a script"),
    (re.compile(rb"<\?php[\s]", re.I), "PHP code"),
)
_ZIP_END = b"PK\x05\x06"


def _foreign_content(data: bytes) -> str | None:
    """What else an image file is besides an image (a polyglot), or None."""
    head = data[:1024]
    for pattern, what in _HEAD_MARKERS:
        if pattern.search(head):
            return what
    for pattern, what in _ANYWHERE_MARKERS:
        if pattern.search(data):
            return what
    tail_start = max(0, len(data) - (22 + 65535))
    end = data.rfind(_ZIP_END, tail_start)
    # A zip's end record: 22 bytes and its comment, exactly up to the end of the file.
    if end >= 0 and end + 22 <= len(data) and end + 22 + struct.unpack_from("<H", data, end + 20)[0] == len(data):
        return "a zip archive (a .jar, .docx, .apk ...)"
    return None


def _describe(data: bytes) -> str:
    """What a file that is not an accepted photo seems to be, for the message."""
    head = data[:1024]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%PDF-"):
        return "a PDF document"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "a HEIC/HEIF photo (an iPhone's default; choose 'Most Compatible' or export it as JPEG)"
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        return "a video or ISO media file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive or Office document"
    if b"<svg" in text:
        return "an SVG drawing"
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text or b"<script" in text:
        return "an HTML page"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "an XML or markup file"
    if b"\x00" in head:
        return "of an unknown kind"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if not (error.reason == "unexpected end of data" and len(head) == 1024):  # not just a character cut at 1 KiB
            return "of an unknown kind"
    return "a text file"


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
