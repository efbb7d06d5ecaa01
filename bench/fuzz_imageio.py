"""Fuzz the one image loader: check_upload and load_image on mutated images, for a bounded time.

    .venv/bin/python bench/fuzz_imageio.py [--seconds 60] [--max-len 65536] [--max-pixels 4000000]
                                           [--engine auto|atheris|random] [--seed 0] [--crash-dir DIR]

The seed corpus is generated here: small valid photos of every kind the loader
must accept (JPEG RGB / grey / CMYK / progressive / EXIF-rotated / MPO, PNG
RGB / RGBA / palette with transparency / 16-bit / animated, WebP lossy /
lossless / RGBA / animated) and files it must refuse (empty, text, HTML, SVG,
PDF, GIF, BMP, TIFF, a truncated JPEG, a 50000x50000 PNG header, polyglots).

With atheris installed (``pip install -e '.[fuzz]'``) the inputs come from
libFuzzer, guided by the coverage of Pillow's Python plugins and of
engine.imageio; without it (or with --engine random) a plain random-mutation
loop does bit flips, interesting integers, truncations, insertions, deletions
and splices between seeds. Both repair PNG chunk checksums on half of the
PNG-looking inputs, so mutations reach the chunk parsers instead of stopping at
the CRC check.

Each input goes through check_upload (the upload path) and load_image (the path
for stored files, which also reads BMP / TIFF / GIF). Accepted: an RGB uint8
array (H, W, 3) of the size check_upload reported. Refused: an ImageError. Any
other exception, a wrong array, or load_image refusing what check_upload
accepted is a crash: it is printed, the input saved under --crash-dir, and the
run exits with status 1. At the end it prints how many inputs were tried,
accepted, refused and crashed.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import struct
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

try:  # optional: pip install -e '.[fuzz]'
    import atheris
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None

if atheris is not None:
    # Pillow's Python side (the format plugins, EXIF / TIFF tag parsing) and the loader are
    # instrumented for coverage; the C decoders (libjpeg, zlib, libwebp) are not.
    with atheris.instrument_imports(include=["PIL", "engine.imageio"]):
        from PIL import Image

        Image.init()  # import every plugin now, inside the instrumented block
        from engine.imageio import ImageError, check_upload, load_image
else:
    from PIL import Image

    from engine.imageio import ImageError, check_upload, load_image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# =========================================================================== seed corpus


def _save(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _raw_png(width: int, height: int, depth: int, colour_type: int, rows: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def seed_corpus() -> dict[str, bytes]:
    """Small inputs, valid and invalid, named for the report."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    frames = [Image.new("RGB", (16, 12), colour) for colour in ("red", "blue", "green")]
    rgba = Image.new("RGBA", (16, 12), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (4, 4, 12, 8))
    palette = Image.new("P", (16, 12), 0)
    palette.putpalette([0, 255, 0, 255, 0, 0] + [0, 0, 0] * 254)
    palette.paste(1, (4, 4, 12, 8))
    rotated = photo.copy()
    exif = rotated.getexif()
    exif[0x0112] = 6
    seeds = {
        "jpeg": _save(photo, "JPEG", quality=80),
        "jpeg-progressive": _save(photo, "JPEG", progressive=True),
        "jpeg-grey": _save(photo.convert("L"), "JPEG"),
        "jpeg-cmyk": _save(photo.convert("CMYK"), "JPEG"),
        "jpeg-exif-rotated": _save(rotated, "JPEG", exif=exif),
        "mpo": _save(frames[0], "MPO", save_all=True, append_images=frames[1:2]),
        "png": _save(photo, "PNG"),
        "png-rgba": _save(rgba, "PNG"),
        "png-palette-transparent": _save(palette, "PNG", transparency=0),
        "png-grey16": _raw_png(8, 4, 16, 0, (b"\x00" + b"\x80\x00" * 8) * 4),
        "png-rgb16": _raw_png(4, 2, 16, 2, (b"\x00" + b"\x12\x34\x56\x78\x9a\xbc" * 4) * 2),
        "png-animated": _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100),
        "webp": _save(photo, "WEBP", quality=60),
        "webp-lossless-rgba": _save(rgba, "WEBP", lossless=True),
        "webp-animated": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100),
        "gif": _save(frames[0], "GIF"),
        "bmp": _save(frames[0], "BMP"),
        "tiff": _save(photo, "TIFF"),
        "empty": b"",
        "text": b"hello, this is not a photo\n",
        "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        "svg": b"<svg xmlns='http://www.w3.org/2000/svg'><rect width='1' height='1'/></svg>",
        "pdf": b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
        "jpeg-truncated": _save(photo, "JPEG")[:300],
        "png-bomb-header": PNG_SIGNATURE + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(bytes(50001 * 4))) + _png_chunk(b"IEND", b""),
        "jpeg-html-comment": _jpeg_with_comment(photo, b"<script>alert(1)</script>"),
        "png-zip-appended": _save(photo, "PNG") + _tiny_zip(),
    }
    return seeds


def _jpeg_with_comment(image: Image.Image, comment: bytes) -> bytes:
    data = _save(image, "JPEG")
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def _tiny_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "x")
    return buffer.getvalue()


# =========================================================================== mutation helpers


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk's CRC of a PNG-looking input (stops at the first impossible length)."""
    if not data.startswith(PNG_SIGNATURE):
        return data
    out, position = bytearray(data), len(PNG_SIGNATURE)
    while position + 12 <= len(out):
        length = struct.unpack_from(">I", out, position)[0]
        end = position + 8 + length
        if end + 4 > len(out):
            break
        struct.pack_into(">I", out, end, zlib.crc32(bytes(out[position + 4:end])))
        position = end + 4
    return bytes(out)


INTERESTING_32 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 50000, 65535)


def random_mutation(data: bytes, seeds: list[bytes], rng: random.Random, max_len: int) -> bytes:
    """One to four random edits of ``data``: flips, interesting integers, cuts, inserts, splices."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(8)
        if not out:
            out += rng.randbytes(rng.randint(1, 16))
            continue
        i = rng.randrange(len(out))
        if choice == 0:
            out[i] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
        elif choice == 2 and len(out) >= 4:
            i = rng.randrange(len(out) - 3)
            out[i:i + 4] = struct.pack(rng.choice((">I", "<I")), rng.choice(INTERESTING_32))
        elif choice == 3:
            del out[rng.randrange(len(out)):]  # truncation
        elif choice == 4:
            out[i:i] = rng.randbytes(rng.randint(1, 32))
        elif choice == 5:
            del out[i:i + rng.randint(1, 64)]
        elif choice == 6:
            other = rng.choice(seeds)
            if other:
                j = rng.randrange(len(other))
                out[i:] = other[j:j + rng.randint(1, len(other))]  # splice
        else:
            j = rng.randrange(len(out))
            out[i:i] = out[j:j + rng.randint(1, 64)]  # duplicate a range
    if rng.random() < 0.5:
        out = bytearray(fix_png_crcs(bytes(out)))
    return bytes(out[:max_len])


# =========================================================================== the target


class Fuzzer:
    def __init__(self, max_pixels: int, crash_dir: Path):
        self.max_pixels = max_pixels
        self.crash_dir = crash_dir
        self.counts: Counter[str] = Counter()
        self.crashes: dict[str, str] = {}  # signature -> saved input

    def one_input(self, data: bytes) -> None:
        self.counts["tried"] += 1
        try:
            checked = self._check(data)
            loaded = self._load(data)
            if checked is not None and loaded is None:
                raise AssertionError("load_image refused a photo that check_upload accepted")
            if checked is not None and loaded.shape[:2] != (checked.height, checked.width):
                raise AssertionError(f"check_upload said {checked.width}x{checked.height}, load_image gave {loaded.shape}")
        except Exception as error:  # noqa: BLE001 - anything but ImageError is what we look for
            self._crash(data, error)

    def _check(self, data: bytes):
        try:
            checked = check_upload(data, max_pixels=self.max_pixels)
        except ImageError as error:
            if not str(error):
                raise AssertionError("ImageError without a message") from error
            self.counts["check_upload refused (ImageError)"] += 1
            return None
        self.counts["check_upload accepted"] += 1
        return checked

    def _load(self, data: bytes):
        try:
            array = load_image(data, max_pixels=self.max_pixels)
        except ImageError:
            self.counts["load_image refused (ImageError)"] += 1
            return None
        if not (isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3):
            raise AssertionError(f"load_image returned {type(array).__name__} {getattr(array, 'shape', '')} "
                                 f"{getattr(array, 'dtype', '')}, not (H, W, 3) uint8")
        self.counts["load_image accepted"] += 1
        return array

    def _crash(self, data: bytes, error: Exception) -> None:
        self.counts["crashed"] += 1
        frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        signature = f"{type(error).__name__} at {frame.filename}:{frame.lineno}" if frame else type(error).__name__
        if signature in self.crashes:
            return
        self.crash_dir.mkdir(parents=True, exist_ok=True)
        path = self.crash_dir / f"crash-{hashlib.sha1(data).hexdigest()[:16]}.bin"
        path.write_bytes(data)
        self.crashes[signature] = str(path)
        print(f"\nCRASH {signature}: {error!r} (input saved as {path})", file=sys.stderr)
        traceback.print_exception(error, file=sys.stderr)

    def report(self, engine: str, seconds: float) -> int:
        c = self.counts
        print(f"\nfuzz_imageio: engine {engine}, {seconds:.0f} s, max_pixels {self.max_pixels:,}")
        print(f"  inputs tried:                     {c['tried']} ({c['tried'] / max(seconds, 1e-9):.0f}/s)")
        print(f"  check_upload accepted:            {c['check_upload accepted']}")
        print(f"  check_upload refused (ImageError): {c['check_upload refused (ImageError)']}")
        print(f"  load_image accepted:              {c['load_image accepted']}")
        print(f"  load_image refused (ImageError):  {c['load_image refused (ImageError)']}")
        print(f"  crashed (any other exception or a wrong result): {c['crashed']}")
        if self.crashes:
            for signature, path in self.crashes.items():
                print(f"    {signature}  -> {path}")
            print("RESULT: CRASHES FOUND")
            return 1
        print("RESULT: no crash")
        return 0


# =========================================================================== engines


def run_random(fuzzer: Fuzzer, seeds: dict[str, bytes], seconds: float, max_len: int, seed: int) -> None:
    rng = random.Random(seed)
    pool = list(seeds.values())
    for data in pool:
        fuzzer.one_input(data)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(50):
            fuzzer.one_input(random_mutation(rng.choice(pool), pool, rng, max_len))


def run_atheris(fuzzer: Fuzzer, seeds: dict[str, bytes], seconds: float, max_len: int, seed: int) -> None:
    """libFuzzer drives; the report is printed from inside the callback when the time is up, because
    libFuzzer ends the process with exit() and Python's own exit handlers would not run."""
    corpus = Path(tempfile.mkdtemp(prefix="fuzz-imageio-corpus-"))
    for name, data in seeds.items():
        (corpus / name).write_bytes(data)
    start = time.monotonic()

    def test_one_input(data: bytes) -> None:
        fuzzer.one_input(data)
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            sys.stdout.flush()
            code = fuzzer.report("atheris (libFuzzer, coverage-guided)", elapsed)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def custom_mutator(data: bytes, max_size: int, mutator_seed: int) -> bytes:
        mutated = atheris.Mutate(data, max_size)
        return fix_png_crcs(mutated) if mutator_seed % 2 else mutated

    argv = [sys.argv[0], str(corpus), f"-max_len={max_len}", f"-seed={seed or 1}", "-timeout=20",
            f"-max_total_time={int(seconds) + 30}", "-print_final_stats=0", "-rss_limit_mb=4096"]
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-len", type=int, default=64 * 1024, help="largest input, bytes")
    parser.add_argument("--max-pixels", type=int, default=4_000_000,
                        help="pixel cap passed to the loader (production: 40,000,000; lower = more inputs per second)")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crash-dir", type=Path, default=Path(tempfile.gettempdir()) / "fuzz-imageio-crashes")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # Pillow warns about every corrupt EXIF block and large header
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if atheris is not None else "random"
    if engine == "atheris" and atheris is None:
        parser.error("atheris is not installed: pip install -e '.[fuzz]', or use --engine random")
    if engine == "random" and args.engine == "auto":
        print("atheris is not installed: falling back to the plain random-mutation loop", file=sys.stderr)
    fuzzer = Fuzzer(args.max_pixels, args.crash_dir)
    seeds = seed_corpus()
    start = time.monotonic()
    if engine == "atheris":
        run_atheris(fuzzer, seeds, args.seconds, args.max_len, args.seed)  # does not return
    run_random(fuzzer, seeds, args.seconds, args.max_len, args.seed)
    return fuzzer.report("random mutation (no coverage guidance)", time.monotonic() - start)


if __name__ == "__main__":
    sys.exit(main())
