"""Reader of DeepFashion's Category and Attribute Prediction benchmark (DeepFashion-C).

Every file is text, whitespace separated: line 1 the row count, line 2 the column
names (the header), then one row per line. The header decides the layout: each
file's line 2 is looked up in KNOWN_HEADERS (a small, explicit table) and a header
that is not there is an error naming the file and the header, never a guess.

Category-and-Attribute root
    img/...jpg
    Anno/list_category_cloth.txt  category_name category_type    50 rows; type 1 upper, 2 lower, 3 full
    Anno/list_category_img.txt    image_name category_label      label: 1-based row of list_category_cloth
    Anno/list_attr_cloth.txt      attribute_name attribute_type  the name may hold spaces ("a-line dress");
                                                                 the type (ATTRIBUTE_TYPES) is the last token
    Anno/list_attr_img.txt        image_name attribute_labels    one label per attribute: 1 present, -1 absent,
                                                                 0 unknown
                              or  image_name <attribute> ...     the same rows, one named column per attribute
    Anno/list_bbox.txt            image_name x_1 y_1 x_2 y_2
    Anno/list_landmarks.txt       image_name clothes_type variation_type (visibility x y) * n   (FLD's rows)
                              or  image_name clothes_type (visibility x y) * n
    Eval/list_eval_partition.txt  image_name evaluation_status   train / val / test

list_category_cloth.txt and list_category_img.txt are required and list_category_img
names the records, in its order; the other files are used when present (an
attribute image list needs the attribute list, to check its column count).
list_attr_img.txt is streamed into one int8 matrix: the real one holds 289,222
rows of 1,000 labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from engine.data.deepfashion import (
    ATTR_CLOTH,
    ATTR_IMG,
    CATEGORY_CLOTH,
    CATEGORY_IMG,
    EVAL_PARTITION,
    FLD_BBOX,
    FLD_LANDMARKS,
    SPLITS,
    _parse_float,
    _parse_garment_type,
    _parse_int,
    _read_bbox_file,
    _read_landmark_file,
    _read_partition_file,
    _table_rows,
)
from engine.types import NUM_SLOTS, SLOT_INDEX, SLOTS_BY_TYPE, Box, GarmentType, Visibility

#: attribute_type codes of list_attr_cloth.txt.
ATTRIBUTE_TYPES = {1: "texture", 2: "fabric", 3: "shape", 4: "part", 5: "style"}
#: variation_type codes of the landmark files.
VARIATION_TYPES = {1: "normal pose", 2: "medium pose", 3: "large pose", 4: "medium zoom-in", 5: "large zoom-in"}
#: attribute labels of list_attr_img.txt.
ATTRIBUTE_LABELS = (1, -1, 0)  # present, absent, unknown

#: Stands, as the last column of a known header, for 1..8 numbered landmark triples:
#: landmark_visibility_i landmark_location_x_i landmark_location_y_i.
LANDMARK_TRIPLES = "<landmark triples>"
#: Stands, as the last column of a known header, for one named column per attribute.
ATTRIBUTE_COLUMNS = "<one column per attribute>"


@dataclass(frozen=True)
class KnownHeader:
    """One known line 2: the file that carries it (for messages) and its column names."""

    file: str
    columns: tuple[str, ...]


#: Every header the Category-and-Attribute reader accepts, by layout name.
KNOWN_HEADERS: dict[str, KnownHeader] = {
    "category_cloth": KnownHeader("list_category_cloth.txt", ("category_name", "category_type")),
    "category_img": KnownHeader("list_category_img.txt", ("image_name", "category_label")),
    "attr_cloth": KnownHeader("list_attr_cloth.txt", ("attribute_name", "attribute_type")),
    "attr_img": KnownHeader("list_attr_img.txt", ("image_name", "attribute_labels")),
    "attr_img_columns": KnownHeader("list_attr_img.txt", ("image_name", ATTRIBUTE_COLUMNS)),
    "bbox": KnownHeader("list_bbox.txt", ("image_name", "x_1", "y_1", "x_2", "y_2")),
    "landmarks": KnownHeader("list_landmarks.txt", ("image_name", "clothes_type", "variation_type", LANDMARK_TRIPLES)),
    "landmarks_no_variation": KnownHeader("list_landmarks.txt", ("image_name", "clothes_type", LANDMARK_TRIPLES)),
    "partition": KnownHeader(
        "Category-and-Attribute's (and FLD's) list_eval_partition.txt", ("image_name", "evaluation_status")
    ),
}


@dataclass
class CategoryAttributeRecord:
    """One image of DeepFashion-C.

    ``category`` is a 0-based index into CategoryAttributeSet.category_names and
    ``garment_type`` that category's type. ``attributes`` (A,) int8 holds 1 / -1 / 0
    (present / absent / unknown) per attribute, a row of CategoryAttributeSet.attributes;
    None without attribute files. Landmarks (points (8, 2) float32, visibility (8,)
    int64 over LANDMARK_SLOTS, mapped by the landmark row's own ``landmark_type``)
    are None without a landmark row; ``variation`` is None too when the file has no
    variation_type column.
    """

    image_path: Path
    category: int
    garment_type: GarmentType
    attributes: np.ndarray | None = None
    box: Box | None = None
    split: str | None = None
    landmark_type: GarmentType | None = None
    variation: int | None = None
    points: np.ndarray | None = None
    visibility: np.ndarray | None = None


@dataclass
class CategoryAttributeSet:
    root: Path
    category_names: list[str]
    category_types: list[GarmentType]
    records: list[CategoryAttributeRecord]
    attribute_names: list[str] | None = None
    attribute_types: list[int] | None = None
    attributes: np.ndarray | None = None  # (len(records), A) int8; row i is records[i].attributes

    def split(self, name: str) -> list[CategoryAttributeRecord]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}: expected one of {', '.join(SPLITS)}")
        return [record for record in self.records if record.split == name]


# --------------------------------------------------------------------------- headers


def read_header(path: "str | Path") -> tuple[str, ...]:
    """Line 2 of a DeepFashion file, split on whitespace."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; expected a DeepFashion annotation file here")
    with path.open() as handle:
        handle.readline()
        header = handle.readline()
    if not header.strip():
        raise ValueError(f"{path}, line 2: expected the column names, got an empty line")
    return tuple(header.split())


def detect_layout(
    path: "str | Path", accepted: Sequence[str], table: Mapping[str, KnownHeader] = KNOWN_HEADERS
) -> str:
    """The name of the first layout in ``accepted`` whose header is ``path``'s line 2.

    Raises ValueError naming the file and its header when none matches, and saying
    which other file's header it is when the table knows it (say, the two category
    files swapped).
    """
    path = Path(path)
    header = read_header(path)
    for name in accepted:
        if _header_matches(header, table[name].columns):
            return name
    expected = "; ".join(f"{' '.join(table[name].columns)!r}" for name in accepted)
    others = [
        known.file
        for name, known in table.items()
        if name not in accepted and ATTRIBUTE_COLUMNS not in known.columns and _header_matches(header, known.columns)
    ]
    hint = f" (that is the header of {others[0]})" if others else ""
    raise ValueError(f"{path}, line 2: unknown header {' '.join(header)!r}{hint}; expected {expected}")


def _header_matches(header: Sequence[str], columns: Sequence[str]) -> bool:
    if columns and columns[-1] in (LANDMARK_TRIPLES, ATTRIBUTE_COLUMNS):
        fixed, rest = tuple(columns[:-1]), tuple(header[len(columns) - 1 :])
        if tuple(header[: len(fixed)]) != fixed:
            return False
        if columns[-1] == ATTRIBUTE_COLUMNS:
            return len(rest) >= 1 and rest != ("attribute_labels",)
        n = len(rest) // 3
        return 1 <= n <= NUM_SLOTS and rest == _triple_names(n)
    return tuple(header) == tuple(columns)


def _triple_names(n: int) -> tuple[str, ...]:
    names: list[str] = []
    for i in range(1, n + 1):
        names += [f"landmark_visibility_{i}", f"landmark_location_x_{i}", f"landmark_location_y_{i}"]
    return tuple(names)


# --------------------------------------------------------------------------- reader


def read_category_attribute(root: "str | Path", split: str | None = None) -> CategoryAttributeSet:
    """Read a Category-and-Attribute layout under ``root``; ``split`` keeps train / val / test records only."""
    root = Path(root)
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    category_names, category_types = _read_categories(root / CATEGORY_CLOTH)
    labels = _read_category_labels(root / CATEGORY_IMG, len(category_names))

    partition: dict[str, str] = {}
    if (root / EVAL_PARTITION).exists():
        detect_layout(root / EVAL_PARTITION, ("partition",))
        partition = _read_partition_file(root / EVAL_PARTITION)
    elif split is not None:
        raise FileNotFoundError(f"{root / EVAL_PARTITION}: missing; it is needed to keep the {split!r} split")
    if split is not None:
        labels = [(name, label) for name, label in labels if partition.get(name) == split]

    attribute_names = attribute_types = matrix = None
    if (root / ATTR_CLOTH).exists():
        attribute_names, attribute_types = _read_attribute_list(root / ATTR_CLOTH)
    if (root / ATTR_IMG).exists():
        if attribute_names is None:
            raise FileNotFoundError(
                f"{root / ATTR_CLOTH}: missing; it names the columns of {root / ATTR_IMG} and must come with it"
            )
        row_of, all_rows = _read_attribute_labels(root / ATTR_IMG, attribute_names)
        # the matrix follows the kept records; an image without a row gets all-0 (unknown) labels
        rows = np.array([row_of.get(name, -1) for name, _ in labels], np.int64)
        if len(rows) == len(all_rows) and (rows == np.arange(len(rows))).all():
            matrix = all_rows  # the usual case: the same images in the same order, no copy
        else:
            matrix = np.zeros((len(labels), len(attribute_names)), np.int8)
            matrix[rows >= 0] = all_rows[rows[rows >= 0]]

    boxes: dict[str, Box] = {}
    if (root / FLD_BBOX).exists():
        detect_layout(root / FLD_BBOX, ("bbox",))
        boxes = _read_bbox_file(root / FLD_BBOX)
    landmarks = _read_landmarks(root / FLD_LANDMARKS) if (root / FLD_LANDMARKS).exists() else {}

    records = []
    for i, (name, label) in enumerate(labels):
        landmark = landmarks.get(name)
        record = CategoryAttributeRecord(
            image_path=root / name,
            category=label,
            garment_type=category_types[label],
            attributes=None if matrix is None else matrix[i],
            box=boxes.get(name),
            split=partition.get(name),
        )
        if landmark is not None:
            record.landmark_type, record.variation, record.points, record.visibility = landmark
        records.append(record)
    return CategoryAttributeSet(
        root=root,
        category_names=category_names,
        category_types=category_types,
        records=records,
        attribute_names=attribute_names,
        attribute_types=attribute_types,
        attributes=matrix,
    )


def _read_categories(path: Path) -> tuple[list[str], list[GarmentType]]:
    detect_layout(path, ("category_cloth",))
    names, types = [], []
    for line_number, tokens in _table_rows(path, min_columns=2):
        names.append(" ".join(tokens[:-1]))
        types.append(_parse_garment_type(path, line_number, tokens[-1]))
    return names, types


def _read_category_labels(path: Path, num_categories: int) -> list[tuple[str, int]]:
    """(image name, 0-based category) per row, in file order."""
    detect_layout(path, ("category_img",))
    labels = []
    for line_number, tokens in _table_rows(path, min_columns=2):
        if len(tokens) != 2:
            raise ValueError(
                f"{path}, line {line_number}: expected 2 columns (image_name category_label), got {len(tokens)}"
            )
        label = _parse_int(path, line_number, tokens[1], "category_label")
        if not 1 <= label <= num_categories:
            raise ValueError(
                f"{path}, line {line_number}: category_label {label} outside 1..{num_categories} "
                f"(the rows of {CATEGORY_CLOTH})"
            )
        labels.append((tokens[0], label - 1))
    return labels


def _read_attribute_list(path: Path) -> tuple[list[str], list[int]]:
    detect_layout(path, ("attr_cloth",))
    names, types = [], []
    for line_number, tokens in _table_rows(path, min_columns=2):
        code = _parse_int(path, line_number, tokens[-1], "attribute_type")
        if code not in ATTRIBUTE_TYPES:
            known = ", ".join(f"{k} ({v})" for k, v in ATTRIBUTE_TYPES.items())
            raise ValueError(f"{path}, line {line_number}: attribute_type {code} must be one of {known}")
        names.append(" ".join(tokens[:-1]))
        types.append(code)
    return names, types


def _read_attribute_labels(path: Path, attribute_names: Sequence[str]) -> tuple[dict[str, int], np.ndarray]:
    """Stream list_attr_img.txt into ({image name: row}, (rows, A) int8 matrix of 1 / -1 / 0)."""
    layout = detect_layout(path, ("attr_img", "attr_img_columns"))
    num_attributes = len(attribute_names)
    if layout == "attr_img_columns":
        _check_attribute_columns(path, read_header(path)[1:], attribute_names)
    count = _row_count(path)
    # Each row holds at least a name and A labels of two characters: more rows than that cannot fit.
    most = path.stat().st_size // (2 * max(num_attributes, 1) + 2)
    if count > most:
        raise ValueError(f"{path}, line 1: says {count} rows, but a file of {path.stat().st_size} bytes holds at most {most}")
    matrix = np.zeros((count, num_attributes), np.int8)
    row_of: dict[str, int] = {}
    for line_number, tokens in _stream_rows(path, count):
        if len(tokens) - 1 != num_attributes:
            raise ValueError(
                f"{path}, line {line_number}: expected {num_attributes} attribute labels "
                f"({ATTR_CLOTH} lists {num_attributes} attributes), got {len(tokens) - 1}"
            )
        try:
            values = np.array(tokens[1:], dtype=np.int64)
        except ValueError:  # name the bad token
            values = np.array([_parse_int(path, line_number, t, "attribute label") for t in tokens[1:]], np.int64)
        bad = ~np.isin(values, ATTRIBUTE_LABELS)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{path}, line {line_number}: label {values[k]} of attribute {attribute_names[k]!r} "
                "must be 1 (present), -1 (absent) or 0 (unknown)"
            )
        row = len(row_of)
        matrix[row] = values
        row_of[tokens[0]] = row
    return row_of, matrix


def _check_attribute_columns(path: Path, columns: Sequence[str], attribute_names: Sequence[str]) -> None:
    """A per-attribute-column header names the attributes of list_attr_cloth.txt, spaces written as '_'."""
    if len(columns) != len(attribute_names):
        raise ValueError(
            f"{path}, line 2: the header names {len(columns)} attribute columns but {ATTR_CLOTH} "
            f"lists {len(attribute_names)} attributes"
        )
    for k, (column, name) in enumerate(zip(columns, attribute_names)):
        if column not in (name, "_".join(name.split())):
            raise ValueError(
                f"{path}, line 2: column {k + 2} is {column!r} but attribute {k + 1} of {ATTR_CLOTH} is {name!r}"
            )


def _row_count(path: Path) -> int:
    with path.open() as handle:
        first = handle.readline()
    try:
        count = int(first.strip())
    except ValueError:
        raise ValueError(f"{path}, line 1: expected the number of rows, got {first.rstrip()!r}") from None
    if count < 0:
        raise ValueError(f"{path}, line 1: the number of rows cannot be negative, got {count}")
    return count


def _stream_rows(path: Path, count: int) -> Iterator[tuple[int, list[str]]]:
    """Like _table_rows, for files too large to hold as tokens: (line number, tokens) after the header."""
    seen = 0
    with path.open() as handle:
        handle.readline()  # the count, read by _row_count
        handle.readline()  # the header, checked by detect_layout
        for line_number, line in enumerate(handle, start=3):
            tokens = line.split()
            if not tokens:
                continue
            seen += 1
            if seen > count:
                raise ValueError(f"{path}, line 1: says {count} rows but the file has more (line {line_number})")
            yield line_number, tokens
    if seen != count:
        raise ValueError(f"{path}, line 1: says {count} rows but the file has {seen}")


def _read_landmarks(path: Path) -> dict[str, tuple[GarmentType, int | None, np.ndarray, np.ndarray]]:
    """{image name: (clothes type, variation or None, points, visibility)} for either landmark layout."""
    layout = detect_layout(path, ("landmarks", "landmarks_no_variation"))
    if layout == "landmarks":
        return {
            name: (garment_type, variation, points, visibility)
            for name, garment_type, variation, points, visibility in _read_landmark_file(path)
        }
    landmarks = {}
    for line_number, tokens in _table_rows(path, min_columns=2):
        garment_type = _parse_garment_type(path, line_number, tokens[1])
        points, visibility = _slot_triples(path, line_number, garment_type, tokens[2:])
        landmarks[tokens[0]] = (garment_type, None, points, visibility)
    return landmarks


def _slot_triples(
    path: Path, line_number: int, garment_type: GarmentType, values: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The visibility/x/y triples of a row without variation_type, mapped to slots as FLD rows are."""
    slots = SLOTS_BY_TYPE[garment_type]
    if len(values) not in (3 * len(slots), 3 * NUM_SLOTS):
        raise ValueError(
            f"{path}, line {line_number}: a {garment_type.value} row needs {len(slots)} "
            f"(or {NUM_SLOTS}, zero-padded) visibility/x/y triples after the first 2 columns, got {len(values)} values"
        )
    points = np.zeros((NUM_SLOTS, 2), np.float32)
    visibility = np.full(NUM_SLOTS, int(Visibility.ABSENT), np.int64)
    for k, slot in enumerate(slots):
        code = _parse_int(path, line_number, values[3 * k], f"visibility of {slot}")
        if code not in (0, 1, 2):
            raise ValueError(f"{path}, line {line_number}: visibility {code} of {slot} must be 0, 1 or 2")
        i = SLOT_INDEX[slot]
        visibility[i] = code
        x, y = values[3 * k + 1], values[3 * k + 2]
        points[i] = (_parse_float(path, line_number, x), _parse_float(path, line_number, y))
    return points, visibility


__all__ = [
    "ATTRIBUTE_TYPES",
    "VARIATION_TYPES",
    "KNOWN_HEADERS",
    "KnownHeader",
    "CategoryAttributeRecord",
    "CategoryAttributeSet",
    "read_header",
    "detect_layout",
    "read_category_attribute",
]
