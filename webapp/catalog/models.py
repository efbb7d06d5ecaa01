"""The catalog: categories, products and their images, and the import / index jobs that fill it.

The database is the source of truth. Milvus holds derived vectors keyed by
image id; every image keeps its own embedding here too, so the vector index can
always be rebuilt (or a product re-activated) without running the models again.
"""
from __future__ import annotations

import numpy as np
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from engine.types import GarmentType

GARMENT_TYPE_CHOICES = [(t.value, t.value) for t in GarmentType]


class Category(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=140, unique=True)
    garment_type = models.CharField(
        max_length=8, choices=GARMENT_TYPE_CHOICES, blank=True,
        help_text="The garment type products of this category usually are (used when an import row gives none).",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:140] or "category"
        super().save(*args, **kwargs)


class ProductQuerySet(models.QuerySet):
    def searchable(self):
        return self.filter(active=True)


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    title = models.CharField(max_length=300)
    brand = models.CharField(max_length=120, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    product_url = models.URLField(max_length=500, blank=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products")
    garment_type = models.CharField(max_length=8, choices=GARMENT_TYPE_CHOICES)
    attributes = models.JSONField(default=list, blank=True, help_text="A list of words, e.g. [\"floral\", \"sleeveless\"].")
    active = models.BooleanField(default=True, help_text="Inactive products never appear in search results.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["active", "category"]), models.Index(fields=["price"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.sku})"

    @property
    def main_image(self) -> "ProductImage | None":
        images = list(self.images.all())
        return images[0] if images else None

    @property
    def category_name(self) -> str:
        return self.category.name if self.category_id else ""


class IndexState(models.TextChoices):
    PENDING = "pending"
    INDEXED = "indexed"
    FAILED = "failed"


def queued_lease_until():
    """New images are pending: the recovery leaves them to the broker until this lease runs out."""
    from workers.policy import queued_lease_until as lease

    return lease()


def product_image_path(instance: "ProductImage", filename: str) -> str:
    # A folder per SKU prefix keeps folders small; only letters and digits, so a SKU never makes a path ("..").
    prefix = "".join(c for c in instance.product.sku[:2] if c.isascii() and c.isalnum()).lower()
    return f"products/{prefix or '_'}/{filename}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to=product_image_path, max_length=300)
    position = models.PositiveIntegerField(default=0)
    source_name = models.CharField(max_length=300, blank=True, help_text="the file's name in its import")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    index_state = models.CharField(max_length=8, choices=IndexState.choices, default=IndexState.PENDING, db_index=True)
    index_error = models.TextField(blank=True)
    indexed_with = models.JSONField(default=dict, blank=True, help_text="role -> plugin name@version that indexed it")
    indexed_at = models.DateTimeField(null=True, blank=True)
    extractor_key = models.CharField(max_length=120, blank=True, db_index=True)
    garment = models.JSONField(
        default=dict, blank=True, help_text="The detected garment: box, garment type, landmarks, predictions."
    )
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    # Delivery bookkeeping (workers.policy): a pending image whose lease ran out has lost its task and is
    # queued again by workers.recovery; index_attempts counts deliveries that died with their worker;
    # index_job is the job whose progress the image counts in, whichever delivery indexes it.
    index_lease_until = models.DateTimeField(null=True, blank=True, default=queued_lease_until, editable=False)
    index_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    index_job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                  editable=False)

    class Meta:
        ordering = ["product_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.product.sku} image {self.position}"

    @property
    def vector(self) -> np.ndarray | None:
        return None if self.embedding is None else np.frombuffer(bytes(self.embedding), dtype=np.float32)

    def mark_indexed(self, garment: dict, vector: np.ndarray, plugins: dict[str, str], extractor_key: str) -> None:
        self.garment = garment
        self.embedding = np.asarray(vector, np.float32).tobytes()
        self.indexed_with = plugins
        self.extractor_key = extractor_key
        self.index_state = IndexState.INDEXED
        self.index_error = ""
        self.indexed_at = timezone.now()

    def mark_failed(self, reason: str) -> None:
        self.index_state = IndexState.FAILED
        self.index_error = reason[:2000]


class JobKind(models.TextChoices):
    IMPORT = "import"
    REINDEX = "reindex"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(models.Model):
    """An import or a re-index: progress for the admin and the API, errors per row."""

    kind = models.CharField(max_length=8, choices=JobKind.choices)
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    description = models.CharField(max_length=300, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def progress(self) -> float:
        return round((self.done + self.failed) / self.total, 4) if self.total else (1.0 if self.status == JobStatus.DONE else 0.0)


class JobError(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="errors")
    line = models.PositiveIntegerField(null=True, blank=True, help_text="CSV line (header = line 1)")
    reference = models.CharField(max_length=300, blank=True, help_text="SKU, image or file the error is about")
    message = models.TextField()

    class Meta:
        ordering = ["line", "id"]

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message
