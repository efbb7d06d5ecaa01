"""In-shop and Category-and-Attribute readers on small files in the published layouts."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data.category_attribute import detect_layout, read_category_attribute
from engine.data.inshop import read_inshop
from engine.types import SLOT_INDEX, Box, GarmentType, Visibility

LANDMARK_COLUMNS = "  ".join(
    f"landmark_visibility_{i}  landmark_location_x_{i}  landmark_location_y_{i}" for i in range(1, 9)
)


def _write(root, name, header, rows):
    """A DeepFashion table: the row count, the header, then the rows (as published: runs of spaces)."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{len(rows)}\n{header}\n" + "".join(row + "\n" for row in rows))
    return path


# --------------------------------------------------------------------------- In-shop

UPPER = "img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg"
UPPER_SIDE = "img/WOMEN/Blouses_Shirts/id_00000001/02_2_side.jpg"
LOWER = "img/MEN/Denim/id_00000080/01_1_front.jpg"
FULL = "img/WOMEN/Dresses/id_00000002/02_4_full.jpg"

INSHOP = {
    "Anno/list_bbox_inshop.txt": (
        "image_name  clothes_type  pose_type  x_1  y_1  x_2  y_2",
        [
            f"{UPPER}  1  1  50  49  208  235",
            f"{UPPER_SIDE}  1  2  47  51  210  237",
            f"{LOWER}  2  1  70  20  180  250",
            f"{FULL}  3  4  60  10  200  250",
        ],
    ),
    "Eval/list_eval_partition.txt": (
        "image_name  item_id  evaluation_status",
        [
            f"{UPPER}  id_00000001  query",
            f"{UPPER_SIDE}  id_00000001  gallery",
            f"{LOWER}  id_00000080  train",
            f"{FULL}  id_00000002  gallery",
        ],
    ),
    "Anno/list_landmarks_inshop.txt": (
        "image_name  clothes_type  variation_type  " + LANDMARK_COLUMNS,
        [
            # upper: six triples, collar collar sleeve sleeve hem hem
            f"{UPPER}  1  1  0 101 75  0 152 74  1 62 140  0 190 141  0 90 230  2 0 0",
            # lower: four triples, zero-padded to eight
            f"{LOWER}  2  2  0 80 25  0 170 26  0 75 245  1 175 244" + "  0 0 0" * 4,
            # full: eight triples
            f"{FULL}  3  1  " + "  ".join(f"0 {10 * i} {20 * i}" for i in range(1, 9)),
        ],
    ),
}


def _inshop(root, drop=()):
    for name, (header, rows) in INSHOP.items():
        if name not in drop:
            _write(root, name, header, rows)
    return root


def test_inshop_reads_published_layout(tmp_path):
    data = read_inshop(_inshop(tmp_path))
    assert [image.image_path for image in data.images] == [tmp_path / n for n in (UPPER, UPPER_SIDE, LOWER, FULL)]
    assert [image.item_id for image in data.images] == ["id_00000001", "id_00000001", "id_00000080", "id_00000002"]
    assert [image.garment_type for image in data.images] == [
        GarmentType.UPPER, GarmentType.UPPER, GarmentType.LOWER, GarmentType.FULL
    ]
    assert [image.pose for image in data.images] == [1, 2, 1, 4]
    assert data.images[3].pose_name == "zoom-out"
    assert data.images[0].box == Box(50, 49, 208, 235)
    assert [image.image_path.name for image in data.query] == ["02_1_front.jpg"]
    assert [image.item_id for image in data.gallery] == ["id_00000001", "id_00000002"]
    assert [image.image_path.name for image in data.split("train")] == ["01_1_front.jpg"]
    assert data.item_ids() == ["id_00000001", "id_00000080", "id_00000002"]
    with pytest.raises(ValueError, match="unknown split"):
        data.split("test")

    upper, side, lower, full = data.images
    assert side.points is None and side.visibility is None and side.landmark_type is None
    # upper: the fifth triple is the left hem, not the left waistline
    assert upper.variation == 1 and upper.landmark_type == GarmentType.UPPER
    np.testing.assert_allclose(upper.points[SLOT_INDEX["left_collar"]], (101, 75))
    np.testing.assert_allclose(upper.points[SLOT_INDEX["left_hem"]], (90, 230))
    assert upper.visibility[SLOT_INDEX["right_hem"]] == Visibility.ABSENT
    assert upper.visibility[SLOT_INDEX["left_sleeve"]] == Visibility.OCCLUDED
    assert upper.visibility[SLOT_INDEX["left_waistline"]] == Visibility.ABSENT
    # lower: the first triple is the left waistline; padding is ignored
    assert lower.variation == 2
    np.testing.assert_allclose(lower.points[SLOT_INDEX["left_waistline"]], (80, 25))
    np.testing.assert_allclose(lower.points[SLOT_INDEX["right_hem"]], (175, 244))
    assert lower.visibility[SLOT_INDEX["left_collar"]] == Visibility.ABSENT
    # full: all eight in LANDMARK_SLOTS order
    np.testing.assert_allclose(full.points, [[10 * i, 20 * i] for i in range(1, 9)])
    assert (full.visibility == Visibility.VISIBLE).all()


def test_inshop_landmarks_are_optional(tmp_path):
    data = read_inshop(_inshop(tmp_path, drop=("Anno/list_landmarks_inshop.txt",)))
    assert len(data.images) == 4 and all(image.points is None for image in data.images)


def _second_row(file, row):
    """The fixture file with its second row (line 4) replaced."""
    header, rows = INSHOP[file]
    return header, rows[:1] + [row] + rows[2:]


BBOX, PARTITION = "Anno/list_bbox_inshop.txt", "Eval/list_eval_partition.txt"


@pytest.mark.parametrize(
    "file, row, message",
    [
        (BBOX, f"{UPPER_SIDE}  1  2  47  51  210", "7 columns, got 6"),
        (BBOX, f"{UPPER_SIDE}  1  2  47  5x  210  237", "expected a number, got '5x'"),
        (BBOX, f"{UPPER_SIDE}  1  9  47  51  210  237", "pose_type 9"),
        (BBOX, f"{UPPER_SIDE}  4  2  47  51  210  237", "unknown FLD clothes type 4"),
        (BBOX, f"{UPPER_SIDE}  1  2  210  51  47  237", "empty box"),
        (PARTITION, f"{UPPER_SIDE}  id_00000001  val", "evaluation_status 'val'"),
        (PARTITION, f"{UPPER_SIDE}  id_00000001", "expected at least 3 columns"),
        (PARTITION, f"{UPPER_SIDE}  id_00000001  gallery  extra", "expected 3 columns"),
        (PARTITION, "img/none.jpg  id_1  train", "has no row in"),
    ],
)
def test_inshop_malformed_line_names_file_and_line(tmp_path, file, row, message):
    _inshop(tmp_path)
    _write(tmp_path, file, *_second_row(file, row))
    with pytest.raises(ValueError) as error:
        read_inshop(tmp_path)
    text = str(error.value)
    assert file.split("/")[-1] in text and "line 4" in text and message in text, text


def test_inshop_unknown_header(tmp_path):
    _inshop(tmp_path)
    header = "image_pair_name_1  image_pair_name_2  item_id  evaluation_status"  # Consumer-to-shop's
    _write(tmp_path, "Eval/list_eval_partition.txt", header, [])
    with pytest.raises(ValueError) as error:
        read_inshop(tmp_path)
    text = str(error.value)
    assert "list_eval_partition.txt, line 2: unknown header 'image_pair_name_1" in text
    assert "Consumer-to-shop" in text and "image_name item_id evaluation_status" in text


def test_inshop_row_count_mismatch(tmp_path):
    _inshop(tmp_path)
    path = tmp_path / "Anno/list_bbox_inshop.txt"
    path.write_text("5" + path.read_text()[1:])
    with pytest.raises(ValueError, match=r"list_bbox_inshop.txt, line 1: says 5 rows but the file has 4"):
        read_inshop(tmp_path)


# --------------------------------------------------------------------------- Category and Attribute

CATEGORY_FILES = {
    "Anno/list_category_cloth.txt": (
        "category_name  category_type",
        ["Anorak                       1", "Blazer                       1",
         "Jeans                        2", "Dress                        3"],
    ),
    "Anno/list_category_img.txt": (
        "image_name  category_label",
        ["img/Hooded_Anorak/img_00000001.jpg   1",
         "img/Skinny_Jeans/img_00000002.jpg    3",
         "img/Floral_Dress/img_00000003.jpg    4"],
    ),
    "Anno/list_attr_cloth.txt": (
        "attribute_name  attribute_type",
        ["a-line                       3", "a-line dress                 3",
         "abstract print               1", "cotton                       2", "hooded                       4"],
    ),
    "Anno/list_attr_img.txt": (
        "image_name  attribute_labels",
        ["img/Hooded_Anorak/img_00000001.jpg   -1 -1 -1  1  1",
         "img/Skinny_Jeans/img_00000002.jpg    -1 -1  0  1 -1",
         "img/Floral_Dress/img_00000003.jpg     1  1  1 -1 -1"],
    ),
    "Anno/list_bbox.txt": (
        "image_name  x_1  y_1  x_2  y_2",
        ["img/Hooded_Anorak/img_00000001.jpg   72  79 232 273",
         "img/Skinny_Jeans/img_00000002.jpg    67  59 155 161",
         "img/Floral_Dress/img_00000003.jpg    65  65 156 200"],
    ),
    "Anno/list_landmarks.txt": (
        "image_name  clothes_type  variation_type  " + LANDMARK_COLUMNS,
        ["img/Hooded_Anorak/img_00000001.jpg  1  0  0 146 102  0 173 095  0 094 242  0 205 255  0 136 229  0 177 232",
         "img/Skinny_Jeans/img_00000002.jpg   2  1  0 80 60  0 140 61  1 82 158  0 150 160"],
    ),
    "Eval/list_eval_partition.txt": (
        "image_name  evaluation_status",
        ["img/Hooded_Anorak/img_00000001.jpg   train",
         "img/Skinny_Jeans/img_00000002.jpg    val",
         "img/Floral_Dress/img_00000003.jpg    test"],
    ),
}


def _category(root, drop=(), **replace):
    for name, (header, rows) in CATEGORY_FILES.items():
        if name not in drop:
            header, rows = replace.get(name.split("/")[-1].removesuffix(".txt"), (header, rows))
            _write(root, name, header, rows)
    return root


def test_category_attribute_reads_published_layout(tmp_path):
    data = read_category_attribute(_category(tmp_path))
    assert data.category_names == ["Anorak", "Blazer", "Jeans", "Dress"]
    assert data.category_types == [GarmentType.UPPER, GarmentType.UPPER, GarmentType.LOWER, GarmentType.FULL]
    assert data.attribute_names == ["a-line", "a-line dress", "abstract print", "cotton", "hooded"]
    assert data.attribute_types == [3, 3, 1, 2, 4]
    anorak, jeans, dress = data.records
    assert anorak.image_path == tmp_path / "img/Hooded_Anorak/img_00000001.jpg"
    assert [r.category for r in data.records] == [0, 2, 3]
    assert [r.garment_type for r in data.records] == [GarmentType.UPPER, GarmentType.LOWER, GarmentType.FULL]
    assert [r.split for r in data.records] == ["train", "val", "test"]
    assert anorak.attributes.dtype == np.int8
    np.testing.assert_array_equal(anorak.attributes, [-1, -1, -1, 1, 1])
    np.testing.assert_array_equal(jeans.attributes, [-1, -1, 0, 1, -1])
    np.testing.assert_array_equal(data.attributes, [[-1, -1, -1, 1, 1], [-1, -1, 0, 1, -1], [1, 1, 1, -1, -1]])
    assert jeans.box == Box(67, 59, 155, 161)
    # landmarks: upper's fifth triple is the left hem, lower's first the left waistline; "095" is 95
    assert anorak.landmark_type == GarmentType.UPPER and anorak.variation == 0
    np.testing.assert_allclose(anorak.points[SLOT_INDEX["right_collar"]], (173, 95))
    np.testing.assert_allclose(anorak.points[SLOT_INDEX["left_hem"]], (136, 229))
    assert anorak.visibility[SLOT_INDEX["left_waistline"]] == Visibility.ABSENT
    np.testing.assert_allclose(jeans.points[SLOT_INDEX["left_waistline"]], (80, 60))
    assert jeans.visibility[SLOT_INDEX["left_hem"]] == Visibility.OCCLUDED
    assert dress.points is None and dress.landmark_type is None


def test_category_attribute_split(tmp_path):
    data = read_category_attribute(_category(tmp_path), split="val")
    assert [r.image_path.name for r in data.records] == ["img_00000002.jpg"]
    np.testing.assert_array_equal(data.records[0].attributes, [-1, -1, 0, 1, -1])
    assert data.attributes.shape == (1, 5)
    assert [r.category for r in read_category_attribute(tmp_path).split("test")] == [3]
    with pytest.raises(ValueError, match="unknown split"):
        read_category_attribute(tmp_path, split="query")


def test_category_attribute_optional_files(tmp_path):
    optional = ("Anno/list_attr_cloth.txt", "Anno/list_attr_img.txt", "Anno/list_bbox.txt",
                "Anno/list_landmarks.txt", "Eval/list_eval_partition.txt")
    data = read_category_attribute(_category(tmp_path, drop=optional))
    assert [r.category for r in data.records] == [0, 2, 3]
    assert data.attribute_names is None and data.attributes is None
    assert all(r.attributes is None and r.box is None and r.split is None and r.points is None for r in data.records)


def test_category_attribute_alternative_layouts(tmp_path):
    """Per-attribute-column header, and landmark rows without variation_type."""
    attr_columns = "image_name  a-line  a-line_dress  abstract_print  cotton  hooded"
    landmarks = (
        "image_name  clothes_type  " + LANDMARK_COLUMNS,
        ["img/Skinny_Jeans/img_00000002.jpg   2  0 80 60  0 140 61  1 82 158  0 150 160",
         "img/Floral_Dress/img_00000003.jpg   3  " + "  ".join(f"0 {i} {i + 1}" for i in range(8))],
    )
    _category(tmp_path, list_attr_img=(attr_columns, _file("list_attr_img")[1]), list_landmarks=landmarks)
    data = read_category_attribute(tmp_path)
    np.testing.assert_array_equal(data.records[2].attributes, [1, 1, 1, -1, -1])
    anorak, jeans, dress = data.records
    assert anorak.points is None
    assert jeans.variation is None and jeans.landmark_type == GarmentType.LOWER
    np.testing.assert_allclose(jeans.points[SLOT_INDEX["right_hem"]], (150, 160))
    np.testing.assert_allclose(dress.points, [[i, i + 1] for i in range(8)])
    assert detect_layout(tmp_path / "Anno/list_landmarks.txt", ("landmarks", "landmarks_no_variation")) == (
        "landmarks_no_variation"
    )


def _file(name):
    """(header, rows) of the fixture file with this stem."""
    return CATEGORY_FILES["Eval/list_eval_partition.txt" if name == "list_eval_partition" else f"Anno/{name}.txt"]


def _replace_row(name, index, row):
    header, rows = _file(name)
    rows = list(rows)
    rows[index] = row
    return header, rows


@pytest.mark.parametrize(
    "name, row, message",
    [
        ("list_category_img", "img/Skinny_Jeans/img_00000002.jpg  5", "category_label 5 outside 1..4"),
        ("list_category_img", "img/Skinny_Jeans/img_00000002.jpg  0", "category_label 0 outside 1..4"),
        ("list_category_img", "img/Skinny_Jeans/img_00000002.jpg  3  1", "expected 2 columns"),
        ("list_category_img", "img/Skinny_Jeans/img_00000002.jpg  three", "category_label must be an integer"),
        ("list_category_cloth", "Jeans   7", "unknown FLD clothes type 7"),
        ("list_attr_cloth", "abstract print   9", "attribute_type 9"),
        ("list_attr_img", "img/Skinny_Jeans/img_00000002.jpg  -1 -1  0  1", "expected 5 attribute labels"),
        ("list_attr_img", "img/Skinny_Jeans/img_00000002.jpg  -1 -1  0  1  1 1", "got 6"),
        ("list_attr_img", "img/Skinny_Jeans/img_00000002.jpg  -1 -1  2  1 -1", "label 2 of attribute 'abstract print'"),
        ("list_attr_img", "img/Skinny_Jeans/img_00000002.jpg  -1 -1  x  1 -1", "must be an integer, got 'x'"),
        ("list_bbox", "img/Skinny_Jeans/img_00000002.jpg  67  59 155", "5 columns, got 4"),
        ("list_bbox", "img/Skinny_Jeans/img_00000002.jpg  67  59 15a 161", "expected a number, got '15a'"),
        ("list_landmarks", "img/Skinny_Jeans/img_00000002.jpg  2  1  0 80 60  0 140 61", "needs 4"),
        ("list_eval_partition", "img/Skinny_Jeans/img_00000002.jpg  query", "train|val|test"),
    ],
)
def test_category_attribute_malformed_line_names_file_and_line(tmp_path, name, row, message):
    _category(tmp_path, **{name: _replace_row(name, 1, row)})
    with pytest.raises(ValueError) as error:
        read_category_attribute(tmp_path)
    text = str(error.value)
    assert f"{name}.txt, line 4" in text and message in text, text


@pytest.mark.parametrize(
    "name, header, message",
    [
        ("list_category_cloth", "image_name  category_label", "(that is the header of list_category_img.txt)"),
        ("list_category_img", "category_name  category_type", "(that is the header of list_category_cloth.txt)"),
        ("list_bbox", "image_name  x1  y1  x2  y2", "expected 'image_name x_1 y_1 x_2 y_2'"),
        ("list_landmarks", "image_name  clothes_type  variation_type  landmark_visibility_1", "unknown header"),
        ("list_eval_partition", "image_name  item_id  evaluation_status", "'image_name evaluation_status'"),
    ],
)
def test_category_attribute_unknown_header(tmp_path, name, header, message):
    _category(tmp_path, **{name: (header, _file(name)[1])})
    with pytest.raises(ValueError) as error:
        read_category_attribute(tmp_path)
    text = str(error.value)
    assert f"{name}.txt, line 2: unknown header {' '.join(header.split())!r}" in text and message in text, text


def test_category_attribute_count_mismatches(tmp_path):
    # a per-column header that names another number of attributes than list_attr_cloth.txt
    _category(tmp_path, list_attr_img=("image_name  a-line  cotton", CATEGORY_FILES["Anno/list_attr_img.txt"][1]))
    with pytest.raises(ValueError, match=r"list_attr_img.txt, line 2: the header names 2 attribute columns but .* 5"):
        read_category_attribute(tmp_path)
    # a per-column header whose names differ from list_attr_cloth.txt
    _category(tmp_path, list_attr_img=("image_name  a-line  a-line_dress  floral  cotton  hooded",
                                       CATEGORY_FILES["Anno/list_attr_img.txt"][1]))
    with pytest.raises(ValueError, match=r"line 2: column 4 is 'floral' but attribute 3 .* 'abstract print'"):
        read_category_attribute(tmp_path)
    # line 1's row count
    _category(tmp_path)
    path = tmp_path / "Anno/list_attr_img.txt"
    path.write_text("2" + path.read_text()[1:])
    with pytest.raises(ValueError, match=r"list_attr_img.txt, line 1: says 2 rows but the file has more \(line 5\)"):
        read_category_attribute(tmp_path)
    path.write_text("4" + path.read_text()[1:])
    with pytest.raises(ValueError, match=r"list_attr_img.txt, line 1: says 4 rows but the file has 3"):
        read_category_attribute(tmp_path)
    # attribute labels without the attribute list
    (tmp_path / "Anno/list_attr_cloth.txt").unlink()
    with pytest.raises(FileNotFoundError, match="list_attr_cloth.txt: missing"):
        read_category_attribute(tmp_path)
