"""Property-based tests (hypothesis): the image loader, the letterbox geometry, the DeepFashion readers.

- The loader never raises anything but ImageError, whatever the bytes, and
  always gives an (H, W, 3) uint8 array for the photos it accepts.
- Letterbox: to_canvas / to_image are inverse, a box's inside lands in the
  canvas content rect, the crop is zero outside it.
- normalised_error: zero for identical points, symmetric, blind to invisible
  slots (even NaN there), scale invariant, a triangle inequality.
- Annotation readers: any text in any of their files gives a result or a
  ValueError naming the file and the line; write_fld -> read_fld round trips.

Settings are bounded (examples per test, no deadline) so the file runs in well
under a minute on two cores.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.data.category_attribute import read_category_attribute
from engine.data.deepfashion import (
    Consumer2ShopImage,
    Consumer2ShopPair,
    LandmarkRecord,
    read_consumer2shop,
    read_fld,
    write_consumer2shop,
    write_fld,
)
from engine.data.inshop import read_inshop
from engine.geometry import Letterbox, letterbox, normalised_error
from engine.imageio import ImageError, check_upload, load_image
from engine.types import NUM_JOINTS, NUM_SLOTS, SLOT_INDEX, SLOTS_BY_TYPE, Box, GarmentType, Visibility

#: Pillow warns about every corrupt EXIF block or large header these inputs hold; the outcome is what is tested.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::PIL.Image.DecompressionBombWarning")

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# =========================================================================== the image loader


def _save(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def _seed_images() -> list[bytes]:
    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    rotated = photo.copy()
    exif = rotated.getexif()
    exif[0x0112] = 8
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    return [
        _save(photo, "JPEG"), _save(photo, "JPEG", progressive=True), _save(rotated, "JPEG", exif=exif),
        _save(photo.convert("CMYK"), "JPEG"), _save(photo, "PNG"), _save(photo.convert("P"), "PNG", transparency=3),
        _save(photo.convert("RGBA"), "PNG"), _save(photo, "WEBP"), _save(photo.convert("RGBA"), "WEBP", lossless=True),
        _save(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        _save(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        _save(photo, "TIFF"), _save(photo, "GIF"), _save(photo, "BMP"),
    ]


SEEDS = _seed_images()
MAGIC = [b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
         b"RIFF\x00\x01\x00\x00WEBPVP8 ", b"RIFF\x00\x01\x00\x00WEBPVP8L", b"RIFF\x00\x01\x00\x00WEBPVP8X",
         b"GIF89a", b"BM", b"II*\x00", b"MM\x00*"]


def _loader_outcome(data: bytes) -> None:
    """Both entry points: an ImageError with a message, or a well-formed RGB array."""
    try:
        checked = check_upload(data)
    except ImageError as error:
        assert str(error)
    else:
        assert checked.format in ("JPEG", "PNG", "WEBP") and checked.width > 0 and checked.height > 0
    try:
        array = load_image(data)
    except ImageError as error:
        assert str(error)
    else:
        assert isinstance(array, np.ndarray) and array.dtype == np.uint8
        assert array.ndim == 3 and array.shape[2] == 3 and array.shape[0] > 0 and array.shape[1] > 0


@BOUNDED
@given(st.binary(max_size=2048))
def test_the_loader_raises_only_image_errors_on_arbitrary_bytes(data):
    _loader_outcome(data)


@BOUNDED
@given(st.sampled_from(MAGIC), st.binary(max_size=2048))
def test_the_loader_raises_only_image_errors_on_bytes_that_start_like_an_image(magic, tail):
    _loader_outcome(magic + tail)


@BOUNDED
@given(st.sampled_from(range(len(SEEDS))), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       st.integers(0, 10**6), st.booleans())
def test_the_loader_raises_only_image_errors_on_damaged_images(seed, edits, cut, truncate):
    data = bytearray(SEEDS[seed])
    for position, value in edits:
        data[position % len(data)] = value
    if truncate:
        data = data[: cut % len(data)]
    _loader_outcome(bytes(data))


MODES = {
    "JPEG": ["RGB", "L", "CMYK"],
    "PNG": ["RGB", "L", "LA", "RGBA", "P", "1", "I;16"],
    "WEBP": ["RGB", "RGBA"],
}


@st.composite
def valid_images(draw):
    kind = draw(st.sampled_from(sorted(MODES)))
    mode = draw(st.sampled_from(MODES[kind]))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), "RGBA").convert(mode)
    options = {}
    if kind == "JPEG" and draw(st.booleans()):
        exif = image.getexif()
        exif[0x0112] = draw(st.integers(1, 8))
        options["exif"] = exif
    if kind == "WEBP":
        options["lossless"] = draw(st.booleans())
    if mode == "P" and draw(st.booleans()):
        options["transparency"] = draw(st.integers(0, 255))
    orientation = options["exif"][0x0112] if "exif" in options else 1
    return _save(image, kind, **options), kind, width, height, orientation


@BOUNDED
@given(valid_images())
def test_valid_images_of_every_mode_become_hxwx3_uint8(generated):
    data, kind, width, height, orientation = generated
    checked = check_upload(data)
    expected = (width, height) if orientation < 5 else (height, width)  # 5..8 turn the photo a quarter
    assert checked.format == kind and (checked.width, checked.height) == expected
    array = load_image(data)
    assert array.dtype == np.uint8 and array.shape == (expected[1], expected[0], 3)


# =========================================================================== geometry

coordinates = st.floats(-2000, 2000, allow_nan=False, allow_infinity=False)
lengths = st.floats(0.5, 4000, allow_nan=False, allow_infinity=False)
sizes = st.sampled_from([16, 64, 96, 224, 512])


@st.composite
def boxes(draw) -> Box:
    x0, y0 = draw(coordinates), draw(coordinates)
    return Box(x0, y0, x0 + draw(lengths), y0 + draw(lengths))


def _tolerance(*values) -> float:
    """float32 arithmetic: a few ulps of the largest magnitude involved."""
    return 1e-5 * max(1.0, *(abs(float(v)) for v in values)) * 8


@BOUNDED
@given(boxes(), sizes, st.lists(st.tuples(coordinates, coordinates), min_size=1, max_size=8))
def test_letterbox_to_canvas_and_to_image_are_inverse(box, size, points):
    transform = Letterbox.for_box(box, size)
    points = np.array(points, np.float32)
    back = transform.to_image(transform.to_canvas(points))
    scale_up = max(1.0, 1 / transform.scale)  # canvas rounding error, seen in photo pixels
    tolerance = _tolerance(*points.ravel(), *box.as_tuple(), size) * scale_up
    assert np.abs(back - points).max() <= tolerance
    canvas = np.array(points, np.float32) % size
    again = transform.to_canvas(transform.to_image(canvas))
    assert np.abs(again - canvas).max() <= _tolerance(*box.as_tuple(), size) * max(1.0, transform.scale)
    normalised = transform.to_normalised(points)
    assert np.abs(transform.from_normalised(normalised) - points).max() <= tolerance * 2


@BOUNDED
@given(boxes(), sizes, st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8))
def test_points_inside_the_box_land_inside_the_canvas_content_rect(box, size, fractions):
    transform = Letterbox.for_box(box, size)
    x0, y0, x1, y1 = transform.content_rect()
    eps = 1e-9 * size  # (size - side * scale) / 2 may come out a rounding error below 0
    assert -eps <= x0 <= x1 <= size + eps and -eps <= y0 <= y1 <= size + eps
    assert max(x1 - x0, y1 - y0) == pytest.approx(size, rel=1e-6)  # the longest side fills the canvas
    assert x0 == pytest.approx(size - x1, abs=1e-6) and y0 == pytest.approx(size - y1, abs=1e-6)  # centred
    u = np.array(fractions, np.float64)
    inside = np.stack([box.x0 + u[:, 0] * box.width, box.y0 + u[:, 1] * box.height], axis=1).astype(np.float32)
    canvas = transform.to_canvas(inside)
    eps = _tolerance(*box.as_tuple(), size) * max(1.0, transform.scale)
    assert (canvas[:, 0] >= x0 - eps).all() and (canvas[:, 0] <= x1 + eps).all()
    assert (canvas[:, 1] >= y0 - eps).all() and (canvas[:, 1] <= y1 + eps).all()


@FEW
@given(st.integers(4, 80), st.integers(4, 80), st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(1, 255)),
       st.floats(-20, 60), st.floats(-20, 60), st.floats(2, 120), st.floats(2, 120), st.sampled_from([32, 64]))
def test_letterbox_crop_is_zero_outside_the_content_and_the_photo(width, height, colour, x0, y0, w, h, size):
    image = np.empty((height, width, 3), np.uint8)
    image[:] = colour
    box = Box(x0, y0, x0 + w, y0 + h)
    canvas, transform = letterbox(image, box, size)
    assert canvas.shape == (size, size, 3) and canvas.dtype == np.uint8
    cx0, cy0, cx1, cy1 = transform.content_rect()
    mask = np.zeros((size, size), bool)
    mask[int(round(cy0)):int(round(cy1)), int(round(cx0)):int(round(cx1))] = True
    assert canvas[~mask].max(initial=0) == 0  # padding is zero
    # Canvas pixels well inside both the content rect and the photo show the photo's colour.
    ys, xs = np.mgrid[0:size, 0:size]
    photo = transform.to_image(np.stack([xs + 0.5, ys + 0.5], axis=-1).astype(np.float32))
    margin = 1.5 / transform.scale + 1.5
    deep = (mask & (photo[..., 0] > margin) & (photo[..., 0] < width - margin)
            & (photo[..., 1] > margin) & (photo[..., 1] < height - margin)
            & (xs > cx0 + 1) & (xs < cx1 - 2) & (ys > cy0 + 1) & (ys < cy1 - 2))
    if deep.any():
        assert np.abs(canvas[deep].astype(int) - colour).max() <= 1


points8 = st.lists(st.tuples(coordinates, coordinates), min_size=NUM_SLOTS, max_size=NUM_SLOTS).map(
    lambda p: np.array(p, np.float32))
visibility8 = st.lists(st.booleans(), min_size=NUM_SLOTS, max_size=NUM_SLOTS).map(np.array)
crop_sizes = st.floats(1, 5000)


@BOUNDED
@given(points8, points8, points8, visibility8, crop_sizes, crop_sizes, st.floats(0.01, 100))
def test_normalised_error_properties(a, b, c, visible, width, height, k):
    if not visible.any():
        assert np.isnan(normalised_error(a, b, visible, width, height))
        return
    ab = normalised_error(a, b, visible, width, height)
    assert normalised_error(a, a, visible, width, height) == 0
    assert ab >= 0 and ab == normalised_error(b, a, visible, width, height)  # symmetric
    # invisible slots are ignored, even when they hold garbage
    junk = a.copy()
    junk[~visible] = np.array([np.nan, np.inf], np.float32)
    assert normalised_error(junk, b, visible, width, height) == ab
    # scale invariant: points and crop size scaled together
    scaled = normalised_error(a.astype(np.float64) * k, b.astype(np.float64) * k, visible, width * k, height * k)
    assert scaled == pytest.approx(ab, rel=1e-9, abs=1e-12)
    # a mean of distances: the triangle inequality
    assert ab <= normalised_error(a, c, visible, width, height) + normalised_error(c, b, visible, width, height) + 1e-9


# =========================================================================== annotation readers

INTERESTING_TOKENS = ["0", "1", "2", "3", "4", "7", "-1", "0.5", "1.0", "12.25", "1e400", "nan", "inf", "-inf",
                      "9" * 40, "img/a.jpg", "img/b.jpg", "train", "val", "test", "query", "gallery", "x", "",
                      "id_00000001", "1_000", "٣"]
tokens = st.one_of(st.sampled_from(INTERESTING_TOKENS),
                   st.text(st.characters(blacklist_categories=("Cs",)), max_size=6))
lines = st.lists(tokens, max_size=30).map(" ".join)


@st.composite
def annotation_texts(draw, header: str) -> str:
    """Mostly file-shaped text (a count, the right header or not, rows of plausible tokens), sometimes anything."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(st.characters(blacklist_categories=("Cs",)), max_size=400))
    rows = draw(st.lists(lines, max_size=6))
    count = draw(st.one_of(st.just(str(len([r for r in rows if r.split()]))), st.integers(-2, 9).map(str), tokens))
    head = draw(st.one_of(st.just(header), lines))
    return "\n".join([count, head, *rows]) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n"]))


def _fld_records(root: Path) -> list[LandmarkRecord]:
    records = []
    for k, garment_type in enumerate(GarmentType):
        visibility = np.full(NUM_SLOTS, Visibility.ABSENT)
        for slot in SLOTS_BY_TYPE[garment_type]:
            visibility[SLOT_INDEX[slot]] = 0
        records.append(LandmarkRecord(root / f"img/{k}.jpg", garment_type, 1, np.full((NUM_SLOTS, 2), 10.0), visibility,
                                      box=Box(1, 2, 30, 40), joints=np.ones((NUM_JOINTS, 3)), split="val"))
    return records


def _write_fld(root: Path) -> None:
    write_fld(root, _fld_records(root))


def _write_c2s(root: Path) -> None:
    images = [Consumer2ShopImage(root / "img/c.jpg", GarmentType.UPPER, "consumer", Box(0, 0, 9, 9)),
              Consumer2ShopImage(root / "img/s.jpg", GarmentType.UPPER, "shop", Box(1, 1, 9, 9))]
    write_consumer2shop(root, images, [Consumer2ShopPair(root / "img/c.jpg", root / "img/s.jpg", "id_1", "train")],
                        category_names=["Tee"], attribute_names=["floral"])


def _write_inshop(root: Path) -> None:
    (root / "Anno").mkdir(parents=True)
    (root / "Eval").mkdir(parents=True)
    (root / "Anno/list_bbox_inshop.txt").write_text(
        "1\nimage_name clothes_type pose_type x_1 y_1 x_2 y_2\nimg/a.jpg 1 1 0 0 10 10\n")
    (root / "Eval/list_eval_partition.txt").write_text("1\nimage_name item_id evaluation_status\nimg/a.jpg id_1 train\n")


def _write_category_attribute(root: Path) -> None:
    (root / "Anno").mkdir(parents=True)
    (root / "Eval").mkdir(parents=True)
    files = {
        "Anno/list_category_cloth.txt": "1\ncategory_name category_type\nTee 1\n",
        "Anno/list_category_img.txt": "1\nimage_name category_label\nimg/a.jpg 1\n",
        "Anno/list_attr_cloth.txt": "1\nattribute_name attribute_type\nfloral 1\n",
        "Anno/list_attr_img.txt": "1\nimage_name attribute_labels\nimg/a.jpg 1\n",
        "Anno/list_bbox.txt": "1\nimage_name x_1 y_1 x_2 y_2\nimg/a.jpg 0 0 5 5\n",
        "Eval/list_eval_partition.txt": "1\nimage_name evaluation_status\nimg/a.jpg train\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)


READERS = {
    "fld": (_write_fld, lambda root: read_fld(root)),
    "consumer2shop": (_write_c2s, read_consumer2shop),
    "inshop": (_write_inshop, read_inshop),
    "category_attribute": (_write_category_attribute, lambda root: read_category_attribute(root, split="train")),
}


def _files_of(kind: str) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        READERS[kind][0](Path(folder))
        return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*.txt"))


READER_FILES = [(kind, name) for kind in READERS for name in _files_of(kind)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(READER_FILES), st.data())
def test_annotation_readers_on_any_text_raise_only_value_errors_naming_file_and_line(target, data):
    kind, name = target
    write, read = READERS[kind]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write(root)
        path = root / name
        header = path.read_text().splitlines()[1]
        path.write_text(data.draw(annotation_texts(header), label="text"), encoding="utf-8")
        try:
            read(root)
        except (ValueError, FileNotFoundError, MemoryError) as error:
            message = str(error)  # this file's or, for a consistency check, the file it disagrees with
            assert not isinstance(error, MemoryError) and str(root) + "/" in message and "line" in message, message


@pytest.mark.parametrize("count", ["-1", "99999999999999"])
def test_a_bad_row_count_in_list_attr_img_names_the_file(tmp_path, count):
    _write_category_attribute(tmp_path)
    path = tmp_path / "Anno/list_attr_img.txt"
    path.write_text(f"{count}\nimage_name attribute_labels\nimg/a.jpg 1\n")
    with pytest.raises(ValueError, match=f"{path}, line 1"):
        read_category_attribute(tmp_path)


def test_a_bad_category_type_in_consumer2shop_names_the_file_and_line(tmp_path):
    _write_c2s(tmp_path)
    path = tmp_path / "Anno/list_category_cloth.txt"
    path.write_text("1\ncategory_name category_type\nTee 0\n")
    with pytest.raises(ValueError, match=f"{path}, line 3"):
        read_consumer2shop(tmp_path)


@st.composite
def fld_records(draw, root: Path) -> tuple[list[LandmarkRecord], bool]:
    n = draw(st.integers(0, 5))
    names = draw(st.lists(st.from_regex(r"img/[A-Za-z0-9_]{1,8}/[A-Za-z0-9_.-]{1,10}\.jpg", fullmatch=True),
                          min_size=n, max_size=n, unique=True))
    with_boxes, with_joints = draw(st.booleans()), draw(st.booleans())
    hundredths = st.integers(-10_000, 500_000).map(lambda v: v / 100)
    records = []
    for name in names:
        garment_type = draw(st.sampled_from(list(GarmentType)))
        points = np.zeros((NUM_SLOTS, 2), np.float32)
        visibility = np.full(NUM_SLOTS, int(Visibility.ABSENT), np.int64)
        for slot in SLOTS_BY_TYPE[garment_type]:
            i = SLOT_INDEX[slot]
            points[i] = (draw(hundredths), draw(hundredths))
            visibility[i] = draw(st.integers(0, 2))
        box = None
        if with_boxes:
            x0, y0 = draw(hundredths), draw(hundredths)
            box = Box(x0, y0, x0 + draw(st.integers(1, 10_000)) / 100, y0 + draw(st.integers(1, 10_000)) / 100)
        joints = None
        if with_joints:
            joints = np.array([(draw(hundredths), draw(hundredths), draw(st.integers(0, 1))) for _ in range(NUM_JOINTS)],
                              np.float32)
        records.append(LandmarkRecord(root / name, garment_type, draw(st.integers(1, 5)), points, visibility,
                                      box=box, joints=joints, split=draw(st.sampled_from(["train", "val", "test"]))))
    return records, draw(st.booleans())


@BOUNDED
@given(st.data())
def test_write_fld_then_read_fld_gives_the_records_back(data):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        records, pad = data.draw(fld_records(root), label="records")
        write_fld(root, records, pad=pad)
        back = read_fld(root)
        assert len(back) == len(records)
        for original, read in zip(records, back):
            assert read.image_path == original.image_path and read.garment_type is original.garment_type
            assert read.variation == original.variation and read.split == original.split
            assert np.array_equal(read.visibility, original.visibility)
            assert np.array_equal(read.points, original.points)
            if original.box is None:
                assert read.box is None
            else:
                assert read.box.as_tuple() == pytest.approx(original.box.as_tuple(), abs=1e-9)
            if original.joints is None:
                assert read.joints is None
            else:
                assert np.array_equal(read.joints, original.joints)
        for split in ("train", "val", "test"):
            assert [r.image_path for r in read_fld(root, split)] == [r.image_path for r in records if r.split == split]

