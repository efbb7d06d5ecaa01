"""Store parsed import rows: products, categories and images, with an error per bad row.

Parsing and archive safety live in webapp.catalog.imports (no Django there); this module
only writes what parsed cleanly. Each row is its own transaction, so a bad row
never loses the good ones, and re-importing a file updates products by SKU.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Mapping

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from engine.imageio import ImageError, check_upload
from webapp.catalog import imports
from webapp.catalog.imports import CsvParseResult, ProductRow
from webapp.catalog.indexing import start_job
from webapp.catalog.models import Category, Job, JobError, JobKind, JobStatus, Product, ProductImage

log = logging.getLogger(__name__)


def run_import(job_id: int, source: str, csv_path: str | None = None, archive_path: str | None = None,
               folder: str | None = None) -> list[int]:
    """A queued import (the worker's part): parse, store the good rows, report the bad ones.

    ``source`` is "csv" (with an archive or a server folder) or a DeepFashion list kind
    ("inshop", "consumer2shop") read from ``folder``. Returns the new image ids (to index).
    """
    from django.conf import settings

    job = Job.objects.get(pk=job_id)
    scratch = Path(settings.VAR_DIR) / "imports" / "jobs" / str(job_id)
    try:
        if source == "csv":
            parsed = imports.parse_product_csv(Path(csv_path).read_bytes())
            images, problems = _csv_images(archive_path, folder, scratch / "images")
        else:
            parsed = imports.parse_deepfashion_shop_list(folder, source)
            images, problems = imports.collect_folder_images(folder), []
        _, new_images = import_rows(parsed, images, extra_errors=problems, job=job)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the images are in the media folder now
    return new_images


def import_rows(
    parsed: CsvParseResult, images: Mapping[str, Path], user=None, description: str = "", extra_errors=(),
    job: Job | None = None,
) -> tuple[Job, list[int]]:
    """Store every good row; returns the import job and the ids of the new images (to index)."""
    total = len(parsed.rows) + _row_error_count(parsed)
    if job is None:
        job = start_job(JobKind.IMPORT, total, description, user)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, total=total)
    errors = [JobError(job=job, line=e.line, reference=e.column or e.file or "", message=e.message)
              for e in parsed.errors]
    errors += [JobError(job=job, reference="archive", message=message) for message in extra_errors]
    new_images: list[int] = []
    done = 0
    for row in parsed.rows:
        try:
            new_images += _store_row(row, images)
            done += 1
        except RowProblem as problem:
            errors.append(JobError(job=job, line=row.line, reference=row.sku, message=str(problem)))
    JobError.objects.bulk_create(errors)
    failed = len({e.line for e in errors if e.line is not None})
    summary = f"{done} products stored, {failed} rows refused, {len(new_images)} images to index"
    if parsed.warnings:
        summary += "; " + "; ".join(parsed.warnings)
    Job.objects.filter(pk=job.pk).update(
        done=done, failed=failed, status=JobStatus.DONE if done or not errors else JobStatus.FAILED,
        finished=timezone.now(), message=summary,
    )
    job.refresh_from_db()
    return job, new_images


class RowProblem(ValueError):
    """A row that parsed but cannot be stored (an image missing or unreadable)."""


def _store_row(row: ProductRow, images: Mapping[str, Path]) -> list[int]:
    files = []
    for name in row.images:
        path = images.get(name)
        if path is None:
            raise RowProblem(f"image {name!r} is not in the archive or folder; add it or fix the path")
        try:
            files.append((name, check_upload(Path(path).read_bytes())))
        except (ImageError, OSError) as error:
            raise RowProblem(f"image {name!r}: {error}") from None
    try:
        return _store_product(row, files)
    except (SuspiciousFileOperation, OSError) as error:  # rolled back; one row never stops the import
        raise RowProblem(f"the images could not be stored ({error}); check the SKU {row.sku!r}") from None


def _store_product(row: ProductRow, files) -> list[int]:
    with transaction.atomic():
        product = _upsert_product(row)
        known = set(product.images.values_list("source_name", flat=True))
        created = []
        for position, (name, photo) in enumerate(files):
            if name in known:
                continue
            image = ProductImage(product=product, position=position, width=photo.width, height=photo.height,
                                 source_name=name)
            image.image.save(f"{slugify(product.sku) or 'item'}-{position}.{photo.extension}",
                             ContentFile(photo.data), save=False)
            image.save()
            created.append(image.pk)
    return created


def _upsert_product(row: ProductRow) -> Product:
    category = _category(row.category, row.garment_type.value) if row.category else None
    product, _ = Product.objects.update_or_create(
        sku=row.sku,
        defaults={
            "title": row.title, "brand": row.brand, "price": row.price, "currency": row.currency,
            "product_url": row.product_url, "category": category, "garment_type": row.garment_type.value,
            "attributes": row.attributes, "active": row.active,
        },
    )
    return product


def _category(name: str, garment_type: str) -> Category:
    category = Category.objects.filter(name__iexact=name).first()
    if category is None:
        base = slugify(name)[:120] or "category"
        slug, n = base, 1
        while Category.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        category = Category.objects.create(name=name, slug=slug, garment_type=garment_type)
    return category


def _csv_images(archive_path: str | None, folder: str | None, target: Path):
    from django.conf import settings

    if archive_path:
        result = imports.extract_images(archive_path, target)
        return result.files, result.errors
    return imports.collect_folder_images(folder, allowed_roots=settings.STREETSHOP_IMPORT_ROOTS), []


def _row_error_count(parsed: CsvParseResult) -> int:
    return len({e.line for e in parsed.errors if e.line is not None})
