"""Hostile and broken uploads through the one image loader, and valid but odd photos it must convert.

Every refusal is an ImageError whose message says what is wrong and what is
accepted; every acceptance is an (H, W, 3) uint8 RGB array. The decompression
bomb is a real one (a 50000 x 50000 PNG whose data inflates to 312 MB) and is
refused from its header, without Pillow's decoder ever being asked for.
"""
from __future__ import annotations

import contextlib
import io
import struct
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from engine.imageio import MAX_UPLOAD_BYTES, ImageError, check_upload, load_image

ACCEPTED = "JPEG, PNG or WebP"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# =========================================================================== builders


def save(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def photo(size=(48, 32)) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, depth: int = 8, colour_type: int = 0) -> bytes:
    return PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))


def raw_png(width: int, height: int, depth: int, colour_type: int, rows: bytes, extra: bytes = b"") -> bytes:
    return (png_header(width, height, depth, colour_type) + extra + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def jpeg_with_segment(marker: bytes, payload: bytes, image: Image.Image | None = None) -> bytes:
    """A valid JPEG with one more segment (a comment FFFE, an APPn ...) right after SOI."""
    data = save(image or photo(), "JPEG")
    return data[:2] + marker + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Main.class", b"\xca\xfe\xba\xbe")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    """50000 x 50000 1-bit greyscale PNG, every row present: ~300 KB that inflate to 312 MB (2.5 G pixels).

    Built without compressing 312 MB: one block of 1000 rows is deflated with a full flush
    (which resets the compressor, so the same block always compresses to the same bytes)
    and that output repeated, then the final block and the Adler-32 of the whole.
    """
    width = height = 50_000
    row_bytes = 1 + (width + 7) // 8  # filter byte + 1 bit per pixel
    rows_per_block = 1000
    block = bytes(row_bytes * rows_per_block)
    compressor = zlib.compressobj(9)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(height // rows_per_block):
        adler = zlib.adler32(block, adler)
    stream = first + repeat * (height // rows_per_block - 1) + b"\x03\x00" + adler.to_bytes(4, "big")
    # The start of the stream really inflates to the rows (the whole would be 312 MB).
    assert zlib.decompressobj().decompress(stream[: 2 * len(repeat)], 10**7) == bytes(10**7)
    return png_header(width, height, 1, 0) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")


@contextlib.contextmanager
def no_decoding():
    """Fail if Pillow is asked to decode pixel data inside the block."""

    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was asked to decode the image")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "_getdecoder", refuse)
        patch.setattr(ImageFile.ImageFile, "load", refuse)
        yield


def refused(data: bytes, **limits) -> str:
    """check_upload's message for ``data``, which must be refused with one."""
    with pytest.raises(ImageError) as caught:
        check_upload(data, **limits)
    message = str(caught.value)
    assert ACCEPTED in message or "allowed" in message, message  # what is accepted
    return message


# =========================================================================== refused: what is wrong, what is accepted


def test_an_empty_file_is_refused():
    assert "empty" in refused(b"") and ACCEPTED in refused(b"")
    with pytest.raises(ImageError):
        load_image(b"")


@pytest.mark.parametrize("keep", [3, 20, 200, 0.5, -200, -2])
def test_a_truncated_jpeg_is_refused_wherever_it_is_cut(keep):
    data = save(photo((64, 48)), "JPEG", quality=95)
    cut = data[: int(len(data) * keep) if isinstance(keep, float) else keep]
    message = refused(cut)
    assert "not a readable image" in message or "not a JPEG" in message, message
    assert ACCEPTED in message
    with pytest.raises(ImageError):
        load_image(cut)


def test_a_text_file_named_jpg_is_refused_by_its_content():
    message = refused(b"name,price\nshirt,12.50\n")
    assert "a text file, not a JPEG, PNG or WebP photo" in message and "not its name" in message


@pytest.mark.parametrize("data,what", [
    (b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>", "an HTML page"),
    (b"  <html><head><title>x</title></head></html>", "an HTML page"),
    (b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "an SVG drawing"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", "a PDF document"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "a GIF image"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "a HEIC/HEIF photo"),
    (b"PK\x03\x04\x14\x00\x00\x00", "a zip archive"),
    (bytes(range(256)) * 4, "of an unknown kind"),
])
def test_other_kinds_of_file_are_named_and_refused(data, what):
    message = refused(data)
    assert f"the file is {what}" in message and "not a JPEG, PNG or WebP photo" in message, message
    with pytest.raises(ImageError):
        load_image(data)


def test_other_image_formats_are_refused_as_uploads():
    for kind, name in [("GIF", "a GIF image"), ("BMP", "a BMP image"), ("TIFF", "a TIFF image")]:
        message = refused(save(photo(), kind))
        assert name in message and ACCEPTED in message, message


def test_a_file_over_the_size_cap_is_refused_before_anything_is_read():
    huge = b"\xff\xd8\xff\xe0" + bytes(MAX_UPLOAD_BYTES)  # starts like a JPEG
    small_png = save(photo(), "PNG")
    started = time.perf_counter()
    with no_decoding():
        message = refused(huge)
        assert "KB, more than the 0 KB allowed" in refused(small_png, max_bytes=100)
    assert "the file is 20.0 MB, more than the 20 MB allowed" in message and "smaller JPEG, PNG or WebP" in message
    assert time.perf_counter() - started < 1


def test_a_png_decompression_bomb_is_refused_without_being_decoded(png_bomb):
    assert len(png_bomb) < 400_000  # 312 MB of pixel data behind it
    started = time.perf_counter()
    with no_decoding():
        message = refused(png_bomb)
        with pytest.raises(ImageError, match="too many pixels"):
            load_image(png_bomb)
    assert "too many pixels" in message and "40,000,000 pixels are allowed" in message, message
    assert time.perf_counter() - started < 1


def test_a_header_over_our_pixel_cap_but_under_pillows_is_refused_from_the_header():
    # 8000 x 8000 = 64 M pixels: below Pillow's own bomb check, above the loader's 40 M.
    png = png_header(8000, 8000) + png_chunk(b"IDAT", zlib.compress(bytes(8001 * 10))) + png_chunk(b"IEND", b"")
    jpeg = bytearray(save(photo((16, 16)), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 9000, 9000)  # the frame header's height and width
    with no_decoding():
        message = refused(png)
        assert "9000x9000 pixels is more than" in refused(bytes(jpeg))
    assert "8000x8000 pixels is more than the 40,000,000 allowed" in message and "resize" in message


@pytest.mark.parametrize("data,what", [
    (jpeg_with_segment(b"\xff\xfe", b"<script>fetch('/api/v1/jobs')</script>"), "an HTML page"),
    (jpeg_with_segment(b"\xff\xfe", b"%PDF-1.4 1 0 obj <<>> endobj"), "a PDF document"),
    (jpeg_with_segment(b"\xff\xe1", b"http://ns.adobe.com/xap/1.0/\x00<html><body>hi</body></html>"), "an HTML page"),
    (raw_png(2, 2, 8, 0, b"\x00\x00\x00" * 2, png_chunk(b"tEXt", b"Comment\x00<?php system($_GET['c']); ?>")),
     "PHP code"),
    (save(photo(), "PNG") + zip_bytes(), "a zip archive"),  # a PNG that is also a .jar
    (save(photo(), "JPEG") + b"\n<!-- -->\n" + b"\x00" * 2000 + b"<script src=//evil.example/x.js></script>",
     "HTML or a script"),
    (b"\xff\xd8\xff\xe0<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "an SVG drawing"),
])
def test_a_polyglot_is_refused_even_when_it_decodes(data, what):
    message = refused(data)
    assert f"also holds {what}" in message and "polyglot" in message and ACCEPTED in message, message


def test_polyglot_checks_leave_real_photo_metadata_alone():
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>"
           b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
           b"<rdf:Description dc:title='Summer <dress>'/></rdf:RDF></x:xmpmeta><?xpacket end='w'?>")
    assert check_upload(jpeg_with_segment(b"\xff\xe1", xmp)).format == "JPEG"
    # a zip directory that is not at the very end is only bytes
    assert check_upload(save(photo(), "PNG")[:-12] + b"PK\x05\x06" + bytes(30) + save(photo(), "PNG")[-12:]).format == "PNG"


def test_content_that_only_starts_like_an_image_is_refused():
    for data in [PNG_SIGNATURE + b"garbage" * 10, b"RIFF\x10\x00\x00\x00WEBPVP8 garbage", b"\xff\xd8\xff" + bytes(100)]:
        message = refused(data)
        assert "not a readable image" in message and ACCEPTED in message, message


def test_a_bad_checksum_in_a_png_is_refused():
    data = bytearray(save(photo(), "PNG"))
    data[40] ^= 0xFF  # inside IDAT: its CRC no longer matches
    assert "not a readable image" in refused(bytes(data))


# =========================================================================== valid but odd: accepted and converted


def rgb_of(data: bytes, **limits) -> np.ndarray:
    checked = check_upload(data, **limits)
    array = load_image(data)
    assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3
    assert array.shape[:2] == (checked.height, checked.width)
    return array


def test_a_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (20, 10), (0, 255, 255, 0))  # full magenta + yellow: red
    array = rgb_of(save(cmyk, "JPEG", quality=95))
    assert np.abs(array[5, 10].astype(int) - (255, 0, 0)).max() <= 3


def test_greyscale_jpeg_and_png_become_three_equal_channels():
    for kind in ("JPEG", "PNG"):
        array = rgb_of(save(Image.new("L", (12, 8), 90), kind))
        assert (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()
        assert abs(int(array[4, 6, 0]) - 90) <= 1


def test_a_one_bit_png_is_black_and_white():
    image = Image.new("1", (8, 8), 0)
    image.putpixel((3, 3), 1)
    array = rgb_of(save(image, "PNG"))
    assert tuple(array[3, 3]) == (255, 255, 255) and tuple(array[0, 0]) == (0, 0, 0)


def test_a_palette_png_with_transparency_is_flattened_on_white():
    image = Image.new("P", (16, 12), 0)
    image.putpalette([0, 255, 0, 200, 0, 0] + [0, 0, 0] * 254)  # index 0 green (transparent), 1 red
    image.paste(1, (4, 4, 12, 8))
    array = rgb_of(save(image, "PNG", transparency=0))
    assert tuple(array[0, 0]) == (255, 255, 255)  # not the hidden green
    assert tuple(array[6, 6]) == (200, 0, 0)


def test_16_bit_pngs_are_scaled_to_8_bits_not_clipped():
    grey = np.array([[0, 0x1000, 0x8000, 0xFFFF]], dtype=">u2")
    array = rgb_of(raw_png(4, 1, 16, 0, b"\x00" + grey.tobytes()))
    assert array[0, :, 0].tolist() == [0, 0x10, 0x80, 0xFF]
    rgb16 = np.array([[[0xFFFF, 0x8000, 0x0000]]], dtype=">u2")
    assert rgb_of(raw_png(1, 1, 16, 2, b"\x00" + rgb16.tobytes()))[0, 0].tolist() == [255, 128, 0]
    grey_alpha = np.array([[[0x4000, 0xFFFF], [0x4000, 0x0000]]], dtype=">u2")
    assert rgb_of(raw_png(2, 1, 16, 4, b"\x00" + grey_alpha.tobytes()))[0].tolist() == [[64] * 3, [255] * 3]


@pytest.mark.parametrize("options", [{"lossless": True}, {"quality": 90}])
def test_an_rgba_webp_is_flattened_on_white(options):
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))  # transparent, hiding red
    image.paste((0, 0, 255, 255), (4, 4, 12, 12))
    array = rgb_of(save(image, "WEBP", **options))
    assert np.abs(array[0, 0].astype(int) - 255).max() <= 3
    assert np.abs(array[8, 8].astype(int) - (0, 0, 255)).max() <= 8


def test_grey_with_alpha_png_is_flattened_on_white():
    image = Image.new("LA", (4, 4), (30, 255))
    image.putpixel((0, 0), (30, 0))
    array = rgb_of(save(image, "PNG"))
    assert tuple(array[0, 0]) == (255, 255, 255) and tuple(array[2, 2]) == (30, 30, 30)


@pytest.mark.parametrize("kind,options", [
    ("WEBP", {"lossless": True}), ("PNG", {}), ("GIF", {}),
])
def test_an_animated_image_gives_its_first_frame(kind, options):
    frames = [Image.new("RGB", (16, 12), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = save(frames[0], kind, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    array = load_image(data)
    assert array.shape == (12, 16, 3) and tuple(array[6, 8]) == (255, 0, 0)
    if kind != "GIF":  # GIF is read from stored files, not accepted as an upload
        assert tuple(rgb_of(data)[6, 8]) == (255, 0, 0)


def test_an_exif_rotated_jpeg_is_turned_upright():
    image = Image.new("RGB", (60, 40), (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, 10, 10))  # a red mark at the stored top-left
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    array = rgb_of(save(image, "JPEG", exif=exif, quality=95))
    assert array.shape == (60, 40, 3)
    assert array[3, 36, 0] > 200 and array[3, 3, 0] < 50  # the mark is now top-right


def test_a_multi_picture_jpeg_mpo_is_accepted_as_a_jpeg():
    """Android Ultra HDR photos and many cameras' JPEGs carry a second picture (MPF); Pillow calls them MPO."""
    frames = [Image.new("RGB", (32, 24), (200, 10, 10)), Image.new("RGB", (32, 24), (0, 0, 200))]
    data = save(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    checked = check_upload(data)
    assert (checked.format, checked.extension, checked.width, checked.height) == ("JPEG", "jpg", 32, 24)
    assert rgb_of(data)[12, 16, 0] > 150


def test_the_format_comes_from_the_bytes_and_an_upload_keeps_its_bytes():
    data = save(photo(), "WEBP")
    checked = check_upload(bytearray(data))
    assert (checked.format, checked.extension, checked.data) == ("WEBP", "webp", data)
