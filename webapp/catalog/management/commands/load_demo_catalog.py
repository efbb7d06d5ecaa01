"""``python manage.py load_demo_catalog``: a demo shop built from the synthetic consumer-to-shop set.

It writes the set in DeepFashion's consumer-to-shop layout and imports its shop
images through the same DeepFashion import the admin offers; titles, brands,
prices and attributes are added so the shop looks like one. The street photos
of the same items are kept in var/demo/queries/ to try the search with.
"""
from __future__ import annotations

import random
import shutil
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand

from engine.data.sources import retrieval_set
from engine.data.synthetic import generate_consumer2shop
from engine.data.synthetic.textures import COLOUR_NAMES
from webapp.catalog import imports
from webapp.catalog.importing import import_rows

BRANDS = ["Northline", "Maison Vert", "Urban Loom", "Kestrel", "Atelier Sol", "Blue Harbor", "Fjord & Co", "Lumen"]
PRICE_RANGES = {"upper": (19, 89), "lower": (29, 119), "full": (39, 189)}


class Command(BaseCommand):
    help = "Create a demo catalog (products, categories, images) from synthetic shop photos."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=300)
        parser.add_argument("--seed", type=int, default=20261127)
        parser.add_argument("--if-empty", action="store_true", help="do nothing when the catalog has products")

    def handle(self, *args, **options):
        from webapp.catalog.models import Product

        if options["if_empty"] and Product.objects.exists():
            self.stdout.write("the catalog already has products; demo catalog not loaded")
            return
        source = settings.VAR_DIR / "demo" / "consumer2shop"
        if source.exists():
            shutil.rmtree(source)
        self.stdout.write(f"drawing {options['products']} demo items into {source} ...")
        generate_consumer2shop(source, options["products"], consumer_per_item=1, seed=options["seed"],
                               workers=2, split="train", progress=True)
        parsed = imports.parse_deepfashion_shop_list(source, "consumer2shop")
        _dress_up(parsed.rows, source, random.Random(options["seed"]))
        job, new_images = import_rows(parsed, imports.collect_folder_images(source),
                                      description="demo catalog (synthetic consumer-to-shop)")
        queries = _keep_street_photos(source, settings.VAR_DIR / "demo" / "queries")
        self.stdout.write(self.style.SUCCESS(
            f"{job.message}. Street photos to try: {queries} ({len(list(queries.glob('*.jpg')))} files)"
        ))


def _dress_up(rows, source, rng: random.Random) -> None:
    """Give each demo item what a real shop has: a readable title, a brand, a price, attributes."""
    data = retrieval_set(source)
    attributes_of = {}
    for image in data.images:
        if image.source == "shop" and image.attributes is not None and data.attribute_names:
            attributes_of[image.item_id] = [n for n, on in zip(data.attribute_names, image.attributes) if on]
    for row in rows:
        words = attributes_of.get(row.sku, [])
        colour = next((w for w in words if w in _COLOURS), "")
        row.attributes = [w.replace("_", " ") for w in words]
        row.brand = rng.choice(BRANDS)
        low, high = PRICE_RANGES[row.garment_type.value]
        row.price = Decimal(rng.randrange(low, high)) + Decimal("0.90")
        row.currency = "EUR"
        noun = row.category.replace("_", " ").lower() or "garment"
        row.title = " ".join(part for part in (colour.capitalize(), noun, row.sku.replace("id_", "#")) if part)


_COLOURS = set(COLOUR_NAMES)


def _keep_street_photos(source, target):
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("img/*/*/consumer_*.jpg")):
        shutil.copy(path, target / f"{path.parent.name}_{path.name}")
    return target
