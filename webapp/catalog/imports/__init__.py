"""Safe parsing of merchandisers' catalog imports: product CSVs, image archives, image folders, DeepFashion lists.

Pure Python, no Django: the admin / API views call these functions and store
the good rows themselves. Nothing here touches a database. Everything a
merchandiser can get wrong comes back as a message that names what to fix
(a RowError or a string); exceptions are kept for programmer errors.

What lives where (import from this package; the modules are its layout):

- ``rows``: what every source shares: ``RowError``, ``ProductRow``,
  ``CsvParseResult``, the field limits (``MAX_LENGTHS`` ...), ``IMAGE_EXTENSIONS``,
  ``normalize_image_path``, ``garment_type_of_category`` and its table.
- ``csv_products``: ``parse_product_csv``, the product sheet.
- ``archives``: ``extract_images`` (a hostile zip / tar) and
  ``collect_folder_images`` (a server folder), with ``ExtractResult``.
- ``deepfashion_lists``: ``parse_deepfashion_shop_list``, the shop images of
  DeepFashion's In-shop and Consumer-to-shop benchmarks as product rows.

Image paths in rows and the keys of the image mappings are normalised the same
way, so the caller matches a row's image to a file with a plain dict lookup.
"""
from __future__ import annotations

from webapp.catalog.imports.archives import ExtractResult, collect_folder_images, extract_images
from webapp.catalog.imports.csv_products import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, parse_product_csv
from webapp.catalog.imports.deepfashion_lists import INSHOP_BBOX, INSHOP_PARTITION, parse_deepfashion_shop_list
from webapp.catalog.imports.rows import (
    CATEGORY_GARMENT_TYPES,
    DEFAULT_CURRENCY,
    IMAGE_EXTENSIONS,
    MAX_LENGTHS,
    MAX_PRICE,
    CsvParseResult,
    GiB,
    KiB,
    MiB,
    ProductRow,
    RowError,
    garment_type_of_category,
    normalize_image_path,
)

__all__ = [
    "CATEGORY_GARMENT_TYPES",
    "DEFAULT_CURRENCY",
    "IMAGE_EXTENSIONS",
    "INSHOP_BBOX",
    "INSHOP_PARTITION",
    "MAX_LENGTHS",
    "MAX_PRICE",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "GiB",
    "KiB",
    "MiB",
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
