"""Safe parsing of merchandisers' catalog imports: product CSVs, image archives, image folders, DeepFashion lists.

Pure Python, no Django: the admin / API views call these functions and store
the good rows themselves. Nothing here touches a database. Everything a
merchandiser can get wrong comes back as a message that names what to fix
(a RowError or a string); exceptions are kept for programmer errors.

- ``parse_product_csv``: the product sheet. Line numbers are the spreadsheet's
  row numbers (header = 1), so "line 7" is row 7 in Excel / LibreOffice.
- ``extract_images``: a zip / tar(.gz/.bz2/.xz) of images, treated as hostile:
  no path leaves ``dest_dir``, no links or devices, sizes checked from the
  metadata before anything is written and counted again while copying.
- ``collect_folder_images``: images already on the server, without following
  symlinks out of the folder.
- ``parse_deepfashion_shop_list``: the shop images of DeepFashion's In-shop and
  Consumer-to-shop benchmarks as product rows (price unknown: None).

Image paths in rows and the keys of the image mappings are normalised the same
way (``normalize_image_path``: posix separators, NFC, no "." parts), so the
caller matches a row's image to a file with a plain dict lookup.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
import secrets
import stat
import tarfile
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import BinaryIO, Callable, Collection, Iterator, Literal, Sequence
from urllib.parse import urlsplit

from engine.data.deepfashion import EVAL_PARTITION, read_consumer2shop
from engine.types import GarmentType

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")
REQUIRED_COLUMNS: tuple[str, ...] = ("sku", "title", "price", "image")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "images", "brand", "currency", "category", "garment_type", "product_url", "attributes", "active",
)
#: Characters, not bytes: the max_length of the catalog models' fields (Product, Category,
#: ProductImage.source_name for an image path), so a row that passes here fits there.
MAX_LENGTHS: dict[str, int] = {
    "sku": 64, "title": 300, "brand": 120, "category": 120, "product_url": 500, "attribute": 64, "image": 300,
}
#: Largest price a DecimalField(max_digits=10, decimal_places=2) holds.
MAX_PRICE = Decimal("99999999.99")
DEFAULT_CURRENCY = "EUR"

#: Garment type of a category word. DeepFashion's 50 categories with the clothes
#: types of its list_category_cloth.txt (so a coat is "full", as there), plus the
#: folder names of the In-shop / Consumer-to-shop sets and common shop words.
CATEGORY_GARMENT_TYPES: dict[str, GarmentType] = {
    **dict.fromkeys(
        "anorak blazer blouse bomber button down cardigan flannel halter henley hoodie jacket jersey parka peacoat "
        "poncho sweater tank tee top turtleneck shirt tshirt polo sweatshirt vest camisole pullover knitwear".split()
        + ["button down", "t shirt"],
        GarmentType.UPPER,
    ),
    **dict.fromkeys(
        "capris chinos culottes cutoffs gauchos jeans jeggings jodhpurs joggers leggings sarong shorts skirt "
        "sweatpants sweatshorts trunks trousers pants".split(),
        GarmentType.LOWER,
    ),
    **dict.fromkeys(
        "caftan cape coat coverup dress jumpsuit kaftan kimono nightdress onesie robe romper shirtdress sundress "
        "playsuit".split(),
        GarmentType.FULL,
    ),
}

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_FORMULA_STARTS = ("=", "+", "-", "@")
_PRICE = re.compile(r"([0-9]*)(?:[.,]([0-9]*))?")
_NUMBER_LIKE = re.compile(r"-[0-9.,]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")
_DELIMITERS = (",", ";", "\t")
_COPY_CHUNK = 256 * KiB
_RATIO_MIN_BYTES = 1 * MiB  # below this, a high compression ratio cannot hurt


# =========================================================================== results


@dataclass(frozen=True)
class RowError:
    """A problem a merchandiser can fix.

    ``line`` is the row as a spreadsheet numbers it (header = 1) or, for
    DeepFashion lists, the line of ``file``; None means the whole file.
    ``column`` is the canonical column name (e.g. "price"), None for the whole row.
    """

    line: int | None
    column: str | None
    message: str
    file: str | None = None

    def __str__(self) -> str:
        where = [self.file] if self.file else []
        where += [f"line {self.line}"] if self.line is not None else []
        where += [f"column {self.column}"] if self.column else []
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass
class ProductRow:
    """One good product row, ready for the Django side to store.

    ``price`` is None only for DeepFashion lists (the benchmarks carry no prices);
    a CSV row always has one. Optional text fields are "" when absent (Django's
    CharField convention). ``images`` are normalised relative posix paths, first
    one the main image. ``line`` is where the row came from (see RowError).
    """

    line: int
    sku: str
    title: str
    price: Decimal | None
    images: list[str]
    garment_type: GarmentType
    currency: str = DEFAULT_CURRENCY
    brand: str = ""
    category: str = ""
    product_url: str = ""
    attributes: list[str] = field(default_factory=list)
    active: bool = True

    @property
    def image(self) -> str:
        return self.images[0]


@dataclass
class CsvParseResult:
    """Good rows, per-row / per-file errors and warnings (e.g. the encoding assumed)."""

    rows: list[ProductRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def file_errors(self) -> list[RowError]:
        """Errors about the whole file (no line): when present, usually nothing could be read."""
        return [error for error in self.errors if error.line is None]


@dataclass
class ExtractResult:
    """Extracted images by their normalised archive name; errors (refused entries, file-level
    problems) and skipped entries (not images: harmless, shown for information)."""

    files: dict[str, Path] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# =========================================================================== product CSV


def parse_product_csv(data: "bytes | str | os.PathLike | BinaryIO", *, max_rows: int = 50_000) -> CsvParseResult:
    """Parse a product sheet into good rows and per-row errors (good rows are kept even when others fail).

    ``data`` is the file's bytes, a path, or a binary file object (an upload).
    File-level problems (not a CSV, missing columns, too many rows) give one
    error with ``line`` None and no rows, so a broken file is never half imported.
    """
    result = CsvParseResult()
    raw = _read_bytes(data)
    text, result.encoding, problem = _decode(raw)
    if problem:
        result.errors.append(RowError(None, None, problem))
        return result
    if result.encoding not in ("utf-8", "utf-16"):
        result.warnings.append(
            f"The file is not valid UTF-8; it was read as {result.encoding}. Check accented letters "
            "(é, ü, ñ ...) in the products, and save the sheet as 'CSV UTF-8' to avoid this."
        )
    if not text.strip():
        result.errors.append(RowError(None, None, "The file is empty: line 1 must be the header (sku, title, price, image ...)."))
        return result
    result.delimiter = _detect_delimiter(text)
    try:
        _parse_records(csv.reader(io.StringIO(text, newline=""), delimiter=result.delimiter), result, max_rows)
    except csv.Error as error:
        result.rows.clear()
        result.errors.append(RowError(None, None, f"The file is not a readable CSV ({error}); nothing was imported."))
    return result


def normalize_image_path(text: str) -> str:
    """A safe relative posix path, or ValueError saying why not.

    Shared by CSV cells and archive / folder names so both sides match. Backslashes
    count as separators (Windows users and hostile archives both use them); "."
    and empty parts are dropped; "..", absolute paths, drive letters, NUL and
    control characters are refused. Unicode is NFC (macOS archives store NFD).
    """
    if _CONTROL.search(text):
        raise ValueError("contains a control character (NUL, line break, tab ...)")
    name = unicodedata.normalize("NFC", text.strip()).replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise ValueError("is an absolute path; give a path relative to the archive or folder, e.g. shirts/blue.jpg")
    if "://" in name:
        raise ValueError("is a URL; give the path of the image inside the uploaded archive or folder")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError("contains '..'; paths must stay inside the archive or folder")
    if not parts:
        raise ValueError("is empty")
    return "/".join(parts)


def garment_type_of_category(category: str) -> GarmentType | None:
    """The garment type a category name implies (CATEGORY_GARMENT_TYPES), None when unknown or
    ambiguous. Whole name first ('Button-Down'), then its words, which must agree
    ('Blouses_Shirts' -> upper; 'Jackets_Coats' -> None: DeepFashion calls a coat full)."""
    words = re.sub(r"[^a-z0-9]+", " ", category.lower()).split()
    whole = CATEGORY_GARMENT_TYPES.get(" ".join(words))
    if whole is not None:
        return whole
    found = {t for t in (_category_word_type(word) for word in words) if t is not None}
    return found.pop() if len(found) == 1 else None


# =========================================================================== archives and folders


def extract_images(
    archive_path: "str | os.PathLike",
    dest_dir: "str | os.PathLike",
    *,
    max_files: int = 20_000,
    max_total_bytes: int = 2 * GiB,
    max_file_bytes: int = 50 * MiB,
    max_ratio: float = 200,
) -> ExtractResult:
    """Extract the .jpg/.jpeg/.png/.webp images of a zip or tar(.gz/.bz2/.xz) into ``dest_dir``.

    The archive is hostile until proven otherwise. Its kind comes from its content,
    not its name. Before anything is written, its metadata is checked: more than
    ``max_files`` entries (files and folders), an unpacked total (all entries,
    images or not) over ``max_total_bytes`` or a compression ratio over ``max_ratio``
    (a bomb) refuse the whole archive. Single entries are refused (error) for
    unsafe names, links, devices, being over ``max_file_bytes`` or not being an
    image inside; non-image names are skipped. Copying counts bytes again, so a
    header that lies about sizes cannot get more than it declared onto the disk,
    and each target path is resolved and checked to be inside ``dest_dir``.
    """
    archive_path, dest = Path(archive_path), Path(dest_dir)
    result = ExtractResult()
    limits = _Limits(max_files, max_total_bytes, max_file_bytes, max_ratio)
    if not archive_path.is_file():
        result.errors.append(f"{archive_path.name}: the uploaded archive is missing or not a file.")
        return result
    try:
        if zipfile.is_zipfile(archive_path):
            entries_of = _ZipEntries
        elif tarfile.is_tarfile(archive_path):
            entries_of = _TarEntries
        else:
            result.errors.append(f"{archive_path.name}: not a zip or tar archive; upload a .zip, .tar or .tar.gz of the images.")
            return result
        dest.mkdir(parents=True, exist_ok=True)
        _extract_entries(entries_of, archive_path, dest.resolve(), limits, result)
    except _ArchiveRefused as refused:
        result.files.clear()
        result.errors.append(f"{archive_path.name}: {refused} Nothing was extracted.")
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, ValueError) as error:
        # A damaged archive (truncated download, bad compression stream). Files already
        # written are complete and checked, so they stay; the error says the rest is lost.
        result.errors.append(f"{archive_path.name}: the archive is damaged ({error}); extraction stopped.")
    return result


def collect_folder_images(
    folder: "str | os.PathLike", *, allowed_roots: Sequence["str | os.PathLike"] | None = None
) -> dict[str, Path]:
    """The images under a server-side folder, by normalised relative posix name.

    Symlinked folders are not entered and a symlinked file counts only when it
    resolves inside the folder (the mapped path is then its target), so naming a
    folder never exposes files outside it. ``allowed_roots``, when given, is where
    the Django side lets merchandisers point (ValueError outside them).
    """
    root = Path(folder).resolve()
    if allowed_roots is not None and not any(root.is_relative_to(Path(r).resolve()) for r in allowed_roots):
        raise ValueError(f"{folder} is outside the folders allowed for imports")
    if not root.is_dir():
        raise ValueError(f"{folder} is not a folder on the server")
    images: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            target = _folder_file_target(path, root)
            if target is None:
                continue
            try:
                name = normalize_image_path(path.relative_to(root).as_posix())
            except ValueError:
                continue
            if _is_image_name(name) and not _is_junk_name(name):
                images.setdefault(name, target)
    return images


# =========================================================================== DeepFashion lists


INSHOP_PARTITION = "Eval/list_eval_partition.txt"
INSHOP_BBOX = "Anno/list_bbox_inshop.txt"
_INSHOP_PARTITION_HEADER = ("image_name", "item_id", "evaluation_status")
_INSHOP_BBOX_HEADER = ("image_name", "clothes_type", "pose_type", "x_1", "y_1", "x_2", "y_2")
_INSHOP_SPLITS = ("train", "query", "gallery")


def parse_deepfashion_shop_list(
    root: "str | os.PathLike",
    kind: Literal["inshop", "consumer2shop"],
    *,
    splits: Collection[str] | None = None,
) -> CsvParseResult:
    """One ProductRow per item of a DeepFashion benchmark, from its SHOP images.

    sku = item id; images = the item's shop images as written in the lists
    (relative to the folder holding ``img/``), deduplicated in file order;
    garment_type from clothes_type (most common over the item's images, else
    from the category folder); category = the folder above the item folder
    (``img/WOMEN/Dresses/id_00000002/..`` -> "Dresses"); title = category + id.
    price is None: the benchmarks have no prices (the one source where a row may
    lack one). ``splits`` keeps only those evaluation_status values (In-shop:
    train / query / gallery; Consumer-to-shop: train / val / test; None: all).

    In-shop: Eval/list_eval_partition.txt (or at the root) and, optional,
    Anno/list_bbox_inshop.txt (or at the root); every In-shop image is a shop
    image. Consumer-to-shop: read with engine.data.deepfashion.read_consumer2shop
    (the project's reader); the shop image of a pair is image_pair_name_2.
    """
    root = Path(root)
    if kind == "inshop":
        return _inshop_rows(root, splits)
    if kind == "consumer2shop":
        return _consumer2shop_rows(root, splits)
    raise ValueError(f"unknown DeepFashion list kind {kind!r}: expected 'inshop' or 'consumer2shop'")


# =========================================================================== CSV helpers


class _CellError(ValueError):
    """A cell's problem; the message is shown after the line and column."""


def _read_bytes(data: "bytes | str | os.PathLike | BinaryIO") -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    return data.read()


def _decode(raw: bytes) -> tuple[str, str | None, str | None]:
    """(text, encoding, problem). UTF-8 (BOM or not) or UTF-16 with a BOM (Excel's
    'Unicode text'); otherwise cp1252, the usual Windows export, else latin-1."""
    if raw.startswith(b"PK\x03\x04"):
        return "", None, "This is an Excel workbook (.xlsx) or a zip, not a CSV; save the sheet as 'CSV UTF-8' and upload that."
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16", None
        except UnicodeDecodeError:
            return "", None, "The file starts like UTF-16 but is not valid UTF-16; save the sheet as 'CSV UTF-8'."
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, encoding = raw.decode("latin-1"), "latin-1"
    if "\x00" in text:
        return "", None, (
            "The file contains NUL bytes: it is not a text CSV (UTF-16 without BOM, or a binary file?); "
            "save the sheet as 'CSV UTF-8'."
        )
    return text, encoding, None


def _detect_delimiter(text: str) -> str:
    """csv.Sniffer's guess if it reads the header at least as well as the others, else
    the delimiter that makes the most known column names of line 1 (ties: , ; tab)."""
    sample = text[: 16 * KiB]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        sniffed = ","
    first_line = sample.splitlines()[0] if sample.splitlines() else ""
    candidates = [sniffed] + [d for d in _DELIMITERS if d != sniffed]
    return max(candidates, key=lambda d: (_known_column_count(first_line, d), -candidates.index(d)))


def _known_column_count(line: str, delimiter: str) -> int:
    try:
        cells = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return 0
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    return sum(_column_key(cell) in known for cell in cells)


def _column_key(name: str) -> str:
    """'Garment Type', 'garment-type', ' GARMENT_TYPE ' -> 'garment_type'."""
    return re.sub(r"[\s_\-]+", "_", name.strip().lower()).strip("_")


def _parse_records(reader: Iterator[list[str]], result: CsvParseResult, max_rows: int) -> None:
    """Header, then one record per spreadsheet row (line = record number + 1, header = 1)."""
    header = next(reader, [])
    columns, problem = _map_header(header, result)
    if problem:
        result.errors.append(RowError(None, None, problem))
        return
    first_line_of_sku: dict[str, int] = {}
    data_rows = 0
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank row (spreadsheets keep them); numbering still counts it
        data_rows += 1
        if data_rows > max_rows:
            result.rows.clear()
            result.errors[:] = [RowError(None, None, f"The file has more than {max_rows} product rows; split it into several files.")]
            return
        row, errors = _parse_row(cells, columns, len(header), line)
        errors += _duplicate_sku_error(_cell(cells, columns, "sku").strip(), line, first_line_of_sku)
        result.errors.extend(errors)
        if row is not None and not errors:
            result.rows.append(row)


def _map_header(header: list[str], result: CsvParseResult) -> tuple[dict[str, int], str | None]:
    """Column name -> index, or a file-level problem (missing / repeated columns)."""
    columns: dict[str, int] = {}
    unknown, repeated = [], []
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    for index, name in enumerate(header):
        key = _column_key(name)
        if not key:
            continue
        if key in columns:
            repeated.append(name.strip())
        elif key in known:
            columns[key] = index
        else:
            unknown.append(name.strip())
    found = ", ".join(cell.strip() for cell in header if cell.strip()) or "(none)"
    missing = [c for c in REQUIRED_COLUMNS if c not in columns and not (c == "image" and "images" in columns)]
    if missing:
        return columns, (
            f"The header (line 1) lacks the required column(s) {', '.join(missing)}. Found: {found}. "
            "Required: sku, title, price, image (or images)."
        )
    if repeated:
        return columns, f"The header (line 1) repeats the column(s) {', '.join(repeated)}; keep one of each."
    if unknown:
        result.warnings.append(f"Ignored unknown column(s): {', '.join(unknown)}.")
    return columns, None


def _parse_row(cells: list[str], columns: dict[str, int], width: int, line: int) -> tuple[ProductRow | None, list[RowError]]:
    """Every cell checked (all of a row's problems at once, not just the first)."""
    errors: list[RowError] = []

    def take(column: str, parse, *args):
        try:
            return parse(_cell(cells, columns, column), *args)
        except _CellError as error:
            errors.append(RowError(line, column, str(error)))
            return None

    if any(cell.strip() for cell in cells[width:]):
        errors.append(RowError(line, None, (
            f"the row has {len(cells)} values but the header has {width} columns; a value probably contains "
            "an unquoted delimiter (e.g. a comma in a title, or a price 12,50 in a comma-separated file): quote it."
        )))
    sku = take("sku", _text, "sku", True)
    title = take("title", _text, "title", True)
    price = take("price", _price)
    brand = take("brand", _text, "brand", False)
    category = take("category", _text, "category", False)
    currency = take("currency", _currency)
    product_url = take("product_url", _url)
    attributes = take("attributes", _attributes)
    active = take("active", _active)
    images = _row_images(cells, columns, line, errors)
    garment_type = take("garment_type", _garment_type, category or "")
    if errors:
        return None, errors
    return ProductRow(
        line=line, sku=sku, title=title, price=price, images=images, garment_type=garment_type,
        currency=currency, brand=brand, category=category, product_url=product_url,
        attributes=attributes, active=active,
    ), errors


def _cell(cells: list[str], columns: dict[str, int], column: str) -> str:
    index = columns.get(column)
    return cells[index] if index is not None and index < len(cells) else ""


def _duplicate_sku_error(sku: str, line: int, first_line_of_sku: dict[str, int]) -> list[RowError]:
    """The first row with a SKU owns it, valid or not, so fixing that row never creates a new clash."""
    if not sku:
        return []
    first = first_line_of_sku.setdefault(sku, line)
    if first == line:
        return []
    return [RowError(line, "sku", f"SKU {sku!r} is already used on line {first}; each product needs its own SKU.")]


def _text(value: str, column: str, required: bool) -> str:
    """A single-line text cell: formula-looking starts refused (CSV injection when the
    catalog is exported and opened in a spreadsheet), control characters refused."""
    _refuse_formula(value, column)
    text = value.strip()
    if not text:
        if required:
            raise _CellError(f"{column} is empty; every product needs one.")
        return ""
    if _CONTROL.search(text):
        raise _CellError(f"{column} contains a line break, tab or other control character; keep it on one line.")
    limit = MAX_LENGTHS[column]
    if len(text) > limit:
        raise _CellError(f"{column} is {len(text)} characters long; at most {limit} are allowed.")
    return text


def _refuse_formula(value: str, column: str) -> None:
    """Checked on the stripped text too: a stored value is stripped, and would be exported so."""
    if value.startswith(("\t", "\r")):
        first = "a tab" if value.startswith("\t") else "a carriage return"
    elif value.strip().startswith(_FORMULA_STARTS):
        first = repr(value.strip()[0])
    else:
        return
    raise _CellError(
        f"{column} starts with {first}, which spreadsheets may run as a formula; remove that first character."
    )


def _price(value: str) -> Decimal:
    text = value.strip()
    if not text:
        raise _CellError("price is empty; write the price, e.g. 12.50 (0 for a free product).")
    if _NUMBER_LIKE.fullmatch(text):
        raise _CellError(f"price {text!r} is negative; it must be 0 or more.")
    match = _PRICE.fullmatch(text)
    if not match or not (match.group(1) or match.group(2)):
        raise _CellError(
            f"price {text!r} is not a number; write e.g. 12.50 or 12,50, without currency signs or thousands separators."
        )
    whole, decimals = match.group(1) or "0", match.group(2) or ""
    if len(decimals) > 2:
        raise _CellError(f"price {text!r} has more than 2 decimals.")
    price = Decimal(f"{whole}.{decimals or '0'}").quantize(Decimal("0.01"))
    if price > MAX_PRICE:
        raise _CellError(f"price {text!r} is too large (at most {MAX_PRICE}).")
    return price


def _currency(value: str) -> str:
    text = value.strip().upper()
    if not text:
        return DEFAULT_CURRENCY
    if not _CURRENCY.fullmatch(text):
        raise _CellError(f"currency {value.strip()!r} is not a three-letter ISO 4217 code such as EUR, USD or GBP.")
    return text


def _url(value: str) -> str:
    text = _text(value, "product_url", False)
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or re.search(r"\s", text):
        raise _CellError(f"product_url {text[:80]!r} must be a web address starting with http:// or https://.")
    return text


def _attributes(value: str) -> list[str]:
    attributes: list[str] = []
    for part in value.split(";"):
        if not part.strip():
            continue
        word = _text(part, "attribute", False)
        if word.lower() not in (a.lower() for a in attributes):
            attributes.append(word)
    return attributes


def _active(value: str) -> bool:
    text = value.strip().lower()
    if not text or text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _CellError(f"active {value.strip()!r} must be true or false (also 1/0, yes/no).")


def _garment_type(value: str, category: str) -> GarmentType:
    text = value.strip().lower()
    if text:
        try:
            return GarmentType(text)
        except ValueError:
            raise _CellError(f"garment_type {value.strip()!r} must be upper, lower or full.") from None
    guessed = garment_type_of_category(category)
    if guessed is None:
        what = f"category {category!r} has no known garment type" if category else "category is empty"
        raise _CellError(f"garment_type is empty and {what}; write upper, lower or full.")
    return guessed


def _category_word_type(word: str) -> GarmentType | None:
    for candidate in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        if candidate in CATEGORY_GARMENT_TYPES:
            return CATEGORY_GARMENT_TYPES[candidate]
    return None


def _row_images(cells: list[str], columns: dict[str, int], line: int, errors: list[RowError]) -> list[str]:
    """The image and images cells, split on ';' or '|', checked, normalised and deduplicated."""
    images: list[str] = []
    for column in ("image", "images"):
        value = _cell(cells, columns, column)
        try:
            _refuse_formula(value, column)
        except _CellError as error:
            errors.append(RowError(line, column, str(error)))
            continue
        for part in re.split(r"[;|]", value):
            if not part.strip():
                continue
            try:
                name = _image_name(part)
            except _CellError as error:
                errors.append(RowError(line, column, str(error)))
                continue
            if name not in images:
                images.append(name)
    if not images and not any(e.line == line and e.column in ("image", "images") for e in errors):
        errors.append(RowError(line, "image", "no image; give at least one image path, e.g. shirts/blue.jpg."))
    return images


def _image_name(text: str) -> str:
    try:
        name = normalize_image_path(text)
    except ValueError as error:
        raise _CellError(f"image path {text.strip()[:120]!r} {error}.") from None
    if len(name) > MAX_LENGTHS["image"]:
        raise _CellError(f"image path is {len(name)} characters long; at most {MAX_LENGTHS['image']} are allowed.")
    if not _is_image_name(name):
        raise _CellError(f"image {name!r} must be a {', '.join(IMAGE_EXTENSIONS)} file.")
    return name


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _is_junk_name(name: str) -> bool:
    """macOS archive litter: __MACOSX/ folders and ._name AppleDouble files (named .jpg, not images)."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._")


# =========================================================================== archive helpers


class _ArchiveRefused(Exception):
    """The whole archive is refused (too many entries, too big, a bomb)."""


@dataclass(frozen=True)
class _Limits:
    max_files: int
    max_total_bytes: int
    max_file_bytes: int
    max_ratio: float


@dataclass
class _Entry:
    """An archive entry, reduced to what the checks need; ``open`` gives its bytes."""

    name: str
    kind: str  # 'file' | 'dir' | 'symlink' | 'hardlink' | 'device'
    size: int
    compressed_size: int | None  # None: not known per entry (tar)
    open: Callable[[], BinaryIO]


def _extract_entries(entries_of, archive_path: Path, dest: Path, limits: _Limits, result: ExtractResult) -> None:
    """Check all metadata first, then copy the accepted entries one by one."""
    with entries_of(archive_path, limits) as entries:
        _check_archive(entries, archive_path, limits)
        accepted = [accepted for accepted in (_accept_entry(e, limits, result) for e in entries) if accepted]
        total = 0
        for entry, name in accepted:
            total = _extract_one(entry, name, dest, limits, total, result)


def _check_archive(entries: list[_Entry], archive_path: Path, limits: _Limits) -> None:
    """Whole-archive refusals, from the metadata alone."""
    if len(entries) > limits.max_files:
        raise _ArchiveRefused(f"it has more than {limits.max_files} entries (files and folders); split it.")
    total = sum(entry.size for entry in entries)
    if total > limits.max_total_bytes:
        raise _ArchiveRefused(f"it unpacks to {total} bytes, more than the {limits.max_total_bytes} allowed.")
    for entry in entries:
        if entry.kind == "file" and entry.compressed_size is not None:
            _check_ratio(entry.size, entry.compressed_size, limits, f"entry {entry.name!r}")
    _check_ratio(total, archive_path.stat().st_size, limits, "the archive")


def _check_ratio(size: int, compressed: int, limits: _Limits, what: str) -> None:
    if size >= _RATIO_MIN_BYTES and size > limits.max_ratio * max(compressed, 1):
        raise _ArchiveRefused(
            f"{what} expands {size / max(compressed, 1):.0f} times (more than {limits.max_ratio:g}): "
            "it looks like a decompression bomb."
        )


def _accept_entry(entry: _Entry, limits: _Limits, result: ExtractResult) -> tuple[_Entry, str] | None:
    """(entry, safe name) to extract, or None with an error / skip noted. Directories pass silently."""
    if entry.kind == "dir":
        return None
    try:
        name = normalize_image_path(entry.name)
    except ValueError as error:
        result.errors.append(f"{entry.name!r}: refused, the name {error}.")
        return None
    if entry.kind != "file":
        result.errors.append(f"{name}: refused, a {entry.kind} (only plain image files are extracted).")
        return None
    if not _is_image_name(name) or _is_junk_name(name):
        result.skipped.append(f"{name}: skipped, not a {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} image.")
        return None
    if entry.size > limits.max_file_bytes:
        result.errors.append(f"{name}: refused, {entry.size} bytes is more than the {limits.max_file_bytes} allowed per image.")
        return None
    return entry, name


def _extract_one(entry: _Entry, name: str, dest: Path, limits: _Limits, total: int, result: ExtractResult) -> int:
    """Copy one entry to dest/name through a temporary file; returns the new running total."""
    if name in result.files:
        result.errors.append(f"{name}: refused, the archive holds this name twice (the first was kept).")
        return total
    target = dest / name
    if not target.resolve().is_relative_to(dest):
        result.errors.append(f"{name}: refused, it would be written outside the destination folder.")
        return total
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(dest) or target.is_symlink() or target.is_dir():
            result.errors.append(f"{name}: refused, its place in the destination folder is taken by a link or folder.")
            return total
        with entry.open() as source:
            written = _copy_checked(source, target, entry.size, limits, total)
    except _EntryRefused as error:
        result.errors.append(f"{name}: refused, {error}.")
        return total
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as error:
        result.errors.append(f"{name}: could not be extracted ({error}).")
        return total
    except RuntimeError:  # zipfile: encrypted entry
        result.errors.append(f"{name}: refused, it is encrypted; zip the images without a password.")
        return total
    except NotImplementedError:  # zipfile: e.g. Deflate64 from Windows Explorer
        result.errors.append(f"{name}: could not be extracted, unsupported compression method; re-zip with standard Deflate.")
        return total
    result.files[name] = target
    return total + written


class _EntryRefused(Exception):
    """One entry refused while copying (its temporary file is already removed)."""


def _copy_checked(source: BinaryIO, target: Path, declared: int, limits: _Limits, total: int) -> int:
    """Stream into a temporary file next to ``target``, counting bytes against the declared
    size and the limits, checking the image signature; rename only when all is well."""
    temporary = target.parent / f".part-{secrets.token_hex(8)}"
    # O_EXCL | O_NOFOLLOW: never through a planted link; mode 0o666 lets the umask decide, as for any upload
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    written = 0
    try:
        with os.fdopen(handle, "wb") as out:
            first = True
            while chunk := source.read(_COPY_CHUNK):
                if first and not _looks_like_image(chunk):
                    raise _EntryRefused("its content is not a JPEG, PNG or WebP image")
                first = False
                written += len(chunk)
                if written > min(declared, limits.max_file_bytes) or total + written > limits.max_total_bytes:
                    raise _EntryRefused("it holds more data than its header declared or the limits allow")
                out.write(chunk)
        if first:
            raise _EntryRefused("it is empty")
        os.replace(temporary, target)
        return written
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _looks_like_image(head: bytes) -> bool:
    return (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


class _ZipEntries:
    """Context manager: the zip's entries. A zip's metadata is its central directory, so
    listing costs nothing; the mode in external_attr tells links and devices apart."""

    def __init__(self, path: Path, limits: _Limits):
        self.archive = zipfile.ZipFile(path)

    def __enter__(self) -> list[_Entry]:
        return [
            _Entry(info.filename, _zip_kind(info), info.file_size, info.compress_size, partial(self.archive.open, info))
            for info in self.archive.infolist()
        ]

    def __exit__(self, *exc) -> None:
        self.archive.close()


def _zip_kind(info: zipfile.ZipInfo) -> str:
    if info.is_dir():
        return "dir"
    mode = info.external_attr >> 16
    if info.create_system != 3 or not stat.S_IFMT(mode) or stat.S_ISREG(mode):
        return "file"  # the unix file type is only there when made on unix, and may be left out
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "device"


class _TarEntries:
    """Context manager: the tar's entries, read header by header. Listing a compressed tar
    decompresses the data between headers, so it stops as soon as the count, the declared
    total or the ratio is over a limit, before a bomb costs more than the limit."""

    def __init__(self, path: Path, limits: _Limits):
        self.path, self.limits = path, limits
        self.archive = tarfile.open(path, "r:*")

    def __enter__(self) -> list[_Entry]:
        entries, total, archive_size = [], 0, self.path.stat().st_size
        while (member := self.archive.next()) is not None:
            entries.append(_Entry(member.name, _tar_kind(member), member.size, None, partial(self._open, member)))
            if len(entries) > self.limits.max_files:
                break  # _check_archive refuses it
            total += member.size  # tarfile decompresses past this much to reach the next header
            if total > self.limits.max_total_bytes:
                break
            _check_ratio(total, archive_size, self.limits, "the archive")
        return entries

    def _open(self, member: tarfile.TarInfo) -> BinaryIO:
        source = self.archive.extractfile(member)
        if source is None:
            raise OSError("no data")
        return source

    def __exit__(self, *exc) -> None:
        self.archive.close()


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.isreg():
        return "file"
    return "device"  # character / block device, FIFO, or an unknown type


def _folder_file_target(path: Path, root: Path) -> Path | None:
    """The file to read for ``path``: itself when a regular file, its target when a symlink
    that stays inside ``root``; None otherwise."""
    try:
        if path.is_symlink():
            target = path.resolve(strict=True)
            return target if target.is_relative_to(root) and target.is_file() else None
        return path if stat.S_ISREG(path.lstat().st_mode) else None
    except (OSError, RuntimeError):  # broken link, loop, permission
        return None


# =========================================================================== DeepFashion helpers


def _inshop_rows(root: Path, splits: Collection[str] | None) -> CsvParseResult:
    """In-shop lists; no project reader exists for them, so a minimal tolerant one is here."""
    result = CsvParseResult()
    partition_path = _first_existing(root, INSHOP_PARTITION)
    bbox_path = _first_existing(root, INSHOP_BBOX)
    partition_label, bbox_label = _label(root, partition_path), _label(root, bbox_path)
    partition = _read_listing(root, partition_path, _INSHOP_PARTITION_HEADER, result.errors)
    types_by_image: dict[str, GarmentType] = {}
    if bbox_path.exists():
        for line, tokens in _read_listing(root, bbox_path, _INSHOP_BBOX_HEADER, result.errors):
            try:
                types_by_image[tokens[0]] = GarmentType.from_fld_code(int(tokens[1]))
            except ValueError:
                message = f"clothes_type {tokens[1]!r} must be 1 (upper), 2 (lower) or 3 (full)."
                result.errors.append(RowError(line, "clothes_type", message, bbox_label))
    else:
        result.warnings.append(f"{INSHOP_BBOX} is missing: garment types come from the category folders.")
    items: dict[str, _Item] = {}
    for line, (image_name, item_id, split) in partition:
        if split not in _INSHOP_SPLITS:
            message = f"evaluation_status {split!r} must be train, query or gallery."
            result.errors.append(RowError(line, "evaluation_status", message, partition_label))
        elif splits is None or split in splits:
            garment_type = types_by_image.get(image_name)
            _add_item_image(items, item_id, image_name, line, garment_type, partition_label, result)
    _finish_items(items, result)
    return result


def _consumer2shop_rows(root: Path, splits: Collection[str] | None) -> CsvParseResult:
    """Consumer-to-shop through the project's reader (it stops at the first malformed line,
    whose message names the file and line)."""
    result = CsvParseResult()
    try:
        dataset = read_consumer2shop(root)
    except (OSError, ValueError) as error:
        result.errors.append(RowError(None, None, f"{error}; nothing was imported."))
        return result
    items: dict[str, _Item] = {}
    for index, pair in enumerate(dataset.pairs):
        if splits is not None and pair.split not in splits:
            continue
        try:
            name = pair.shop.relative_to(root).as_posix()
        except ValueError:  # an absolute name in the file
            name = pair.shop.as_posix()
        try:
            image = dataset.image(pair.shop)
        except KeyError:
            image = None
        line = index + 3  # the pair's line; exact when the file has no blank lines (the reader skips them)
        if image is not None and image.source != "shop":
            message = f"{name} is the shop image of this pair but its bbox row has source_type 2 (consumer); left out."
            result.errors.append(RowError(line, "image_pair_name_2", message, EVAL_PARTITION))
            continue
        garment_type = image.garment_type if image else None
        _add_item_image(items, pair.item_id, name, line, garment_type, EVAL_PARTITION, result)
    _finish_items(items, result)
    return result


@dataclass
class _Item:
    """A DeepFashion item being gathered: its first line, shop images and their clothes types."""

    line: int
    file: str
    images: list[str] = field(default_factory=list)
    types: list[GarmentType] = field(default_factory=list)


def _add_item_image(items: dict[str, _Item], item_id: str, image_name: str, line: int,
                    garment_type: GarmentType | None, file: str, result: CsvParseResult) -> None:
    try:
        name = normalize_image_path(image_name)
    except ValueError as error:
        result.errors.append(RowError(line, "image_name", f"image {image_name!r} {error}.", file))
        return
    item = items.setdefault(item_id, _Item(line, file))
    if name not in item.images:
        item.images.append(name)
        if garment_type is not None:
            item.types.append(garment_type)


def _finish_items(items: dict[str, _Item], result: CsvParseResult) -> None:
    """One ProductRow per item: most common clothes type (ties: first seen), else the category's."""
    for item_id, item in items.items():
        parts = item.images[0].split("/")
        category = parts[-3] if len(parts) >= 3 else ""
        try:
            sku = _text(item_id, "sku", True)
        except _CellError as error:
            result.errors.append(RowError(item.line, "item_id", str(error), item.file))
            continue
        garment_type = Counter(item.types).most_common(1)[0][0] if item.types else garment_type_of_category(category)
        if garment_type is None:
            message = f"item {item_id}: no clothes_type for its images, and category {category!r} has no known garment type."
            result.errors.append(RowError(item.line, "clothes_type", message, item.file))
            continue
        title = f"{category.replace('_', ' ')} {item_id}".strip()
        result.rows.append(ProductRow(
            line=item.line, sku=sku, title=title, price=None, images=item.images,
            garment_type=garment_type, category=category[: MAX_LENGTHS["category"]],
        ))


def _first_existing(root: Path, relative: str) -> Path:
    """The published place (Eval/..., Anno/...) or, failing that, directly under root."""
    published = root / relative
    return published if published.exists() or not (root / Path(relative).name).exists() else root / Path(relative).name


def _label(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_listing(root: Path, path: Path, header: tuple[str, ...], errors: list[RowError]) -> list[tuple[int, list[str]]]:
    """DeepFashion's listing layout (line 1 a count, line 2 the header, whitespace-separated
    rows): the rows with the header's column count; every bad line becomes an error."""
    label = _label(root, path)
    if not path.exists():
        errors.append(RowError(None, None, f"missing; expected the DeepFashion list at {path}.", label))
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 2 or tuple(lines[1].split()) != header:
        errors.append(RowError(2, None, f"line 2 must be the header '{' '.join(header)}'; is this the right file?", label))
        return []
    rows, data_lines = [], 0
    for line, text in enumerate(lines[2:], start=3):
        tokens = text.split()
        if not tokens:
            continue
        data_lines += 1
        if len(tokens) != len(header):
            errors.append(RowError(line, None, f"expected {len(header)} columns ({' '.join(header)}), got {len(tokens)}.", label))
            continue
        rows.append((line, tokens))
    if lines[0].strip() != str(data_lines):
        errors.append(RowError(1, None, f"says {lines[0].strip()!r} rows but the file has {data_lines}; is it truncated?", label))
    return rows


__all__ = [
    "CATEGORY_GARMENT_TYPES",
    "IMAGE_EXTENSIONS",
    "MAX_LENGTHS",
    "CsvParseResult",
    "ExtractResult",
    "ProductRow",
    "RowError",
    "collect_folder_images",
    "extract_images",
    "garment_type_of_category",
    "normalize_image_path",
    "parse_deepfashion_shop_list",
    "parse_product_csv",
]
