"""Small catalogs for the product's tests, built from the synthetic consumer-to-shop set."""
from __future__ import annotations

from pathlib import Path

from webapp.catalog import imports
from webapp.catalog.importing import import_rows


def import_synthetic_catalog(root: Path) -> tuple[list[int], dict[str, list[Path]]]:
    """Import the shop images of a synthetic consumer-to-shop set; returns the new image ids and,
    per SKU (item id), the street photos of that item."""
    parsed = imports.parse_deepfashion_shop_list(root, "consumer2shop")
    assert not parsed.errors, parsed.errors
    for row in parsed.rows:
        row.price = 10 + int(row.sku[-3:])  # prices to filter on: 11, 12, ...
    job, image_ids = import_rows(parsed, imports.collect_folder_images(root), description="test catalog")
    streets: dict[str, list[Path]] = {}
    for path in sorted(root.glob("img/*/*/consumer_*.jpg")):
        streets.setdefault(path.parent.name, []).append(path)
    return image_ids, streets
