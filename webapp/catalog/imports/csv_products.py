"""The product sheet: ``parse_product_csv`` turns a merchandiser's CSV into good rows and per-row errors.

Line numbers are the spreadsheet's row numbers (header = 1), so "line 7" is
row 7 in Excel / LibreOffice. The encoding (UTF-8, UTF-16 with a BOM, else
cp1252 / latin-1) and the delimiter (, ; tab) are detected; column names are
matched loosely ('Garment Type' = garment_type). Every cell of a row is checked
and all its problems are reported at once.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import urlsplit

from engine.types import GarmentType
from webapp.catalog.imports.rows import (
    DEFAULT_CURRENCY,
    IMAGE_EXTENSIONS,
    MAX_LENGTHS,
    MAX_PRICE,
    CsvParseResult,
    KiB,
    ProductRow,
    RowError,
    _CellError,
    _is_image_name,
    _refuse_formula,
    _text,
    garment_type_of_category,
    normalize_image_path,
)

REQUIRED_COLUMNS: tuple[str, ...] = ("sku", "title", "price", "image")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "images", "brand", "currency", "category", "garment_type", "product_url", "attributes", "active",
)

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_PRICE = re.compile(r"([0-9]*)(?:[.,]([0-9]*))?")
_NUMBER_LIKE = re.compile(r"-[0-9.,]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DELIMITERS = (",", ";", "\t")


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
    if result.encoding.startswith("utf-8 ("):
        result.warnings.append(
            f"The file mixes encodings: it was read as {result.encoding}. Check the accented letters "
            "(é, ü, ñ ...) of those lines, and save the sheet as 'CSV UTF-8' to avoid this."
        )
    elif result.encoding not in ("utf-8", "utf-16"):
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


# =========================================================================== helpers


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
        text, encoding = _decode_legacy(raw)
    if "\x00" in text:
        return "", None, (
            "The file contains NUL bytes: it is not a text CSV (UTF-16 without BOM, or a binary file?); "
            "save the sheet as 'CSV UTF-8'."
        )
    return text, encoding, None


def _decode_legacy(raw: bytes) -> tuple[str, str]:
    """A file that is not all UTF-8: cp1252 (else latin-1), or, when some of its lines are UTF-8
    with accents (rows pasted from two exports), each line in its own encoding, so the UTF-8 rows
    do not turn into mojibake. The encoding then names the lines read otherwise."""
    lines = raw.removeprefix(codecs.BOM_UTF8).splitlines(keepends=True)
    as_utf8 = [_utf8_or_none(line) for line in lines]
    if not any(text is not None and not text.isascii() for text in as_utf8):
        return _decode_one_legacy(raw)
    others = [number for number, text in enumerate(as_utf8, start=1) if text is None]
    decoded = {number: _decode_one_legacy(lines[number - 1]) for number in others}
    # cp1252 maps byte by byte: the other lines read as it together exactly when each line does.
    legacy = "cp1252" if all(encoding == "cp1252" for _, encoding in decoded.values()) else "latin-1"
    text = "".join(text if text is not None else decoded[number][0] for number, text in enumerate(as_utf8, start=1))
    named = ", ".join(map(str, others[:10])) + (", ..." if len(others) > 10 else "")
    return text, f"utf-8 ({legacy} on line{'s' if len(others) > 1 else ''} {named})"


def _decode_one_legacy(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _utf8_or_none(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


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


__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "parse_product_csv",
]
