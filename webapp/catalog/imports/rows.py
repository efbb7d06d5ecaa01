"""What every import source shares: row and result shapes, field limits, image paths, garment types.

- ``RowError``, ``ProductRow``, ``CsvParseResult``: what the CSV and DeepFashion
  parsers return; everything a merchandiser can get wrong is a RowError.
- ``MAX_LENGTHS``, ``MAX_PRICE``, ``DEFAULT_CURRENCY``: the catalog models' limits,
  so a row that passes here fits there; ``IMAGE_EXTENSIONS`` and the size units.
- ``normalize_image_path``: image paths in rows and the keys of the image
  mappings are normalised the same way (posix separators, NFC, no "." parts),
  so the caller matches a row's image to a file with a plain dict lookup.
- ``garment_type_of_category`` and its table ``CATEGORY_GARMENT_TYPES``.

The private helpers at the bottom (text cell checks, image names) are used by
the sibling modules too; this module imports none of them, so there is no cycle.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from engine.types import GarmentType

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")

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

_FORMULA_STARTS = ("=", "+", "-", "@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")


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


# =========================================================================== image paths and garment types


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


# =========================================================================== helpers shared with the sibling modules


def _category_word_type(word: str) -> GarmentType | None:
    for candidate in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        if candidate in CATEGORY_GARMENT_TYPES:
            return CATEGORY_GARMENT_TYPES[candidate]
    return None


class _CellError(ValueError):
    """A cell's problem; the message is shown after the line and column."""


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


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


__all__ = [
    "CATEGORY_GARMENT_TYPES",
    "DEFAULT_CURRENCY",
    "IMAGE_EXTENSIONS",
    "MAX_LENGTHS",
    "MAX_PRICE",
    "GiB",
    "KiB",
    "MiB",
    "CsvParseResult",
    "ProductRow",
    "RowError",
    "garment_type_of_category",
    "normalize_image_path",
]
