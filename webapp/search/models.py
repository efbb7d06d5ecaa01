"""Shoppers' searches: the photo, the state the worker reports, the garments found and their results.

A search is reachable only through its random UUID (never listed), and is
deleted after the retention period (settings.STREETSHOP_SEARCH_RETENTION_HOURS).
"""
from __future__ import annotations

import uuid

import numpy as np
from django.db import models
from django.utils import timezone


def queued_lease_until():
    """New searches are queued: the recovery leaves them to the broker until this lease runs out."""
    from workers.policy import queued_lease_until as lease

    return lease()


class SearchStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def search_photo_path(instance: "Search", filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"searches/{instance.id.hex[:2]}/{instance.id.hex}.{suffix}"


class Search(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    photo = models.ImageField(upload_to=search_photo_path, max_length=200)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=SearchStatus.choices, default=SearchStatus.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    filters = models.JSONField(default=dict, blank=True, help_text="category, min_price, max_price")
    plugins = models.JSONField(default=dict, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Delivery bookkeeping (workers.policy): a queued or running search whose lease ran out has lost its
    # task and is queued again by workers.recovery; attempts counts deliveries that died with their worker.
    lease_until = models.DateTimeField(null=True, blank=True, default=queued_lease_until, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "searches"

    def __str__(self) -> str:
        return f"search {self.id} ({self.status})"

    def mark_running(self) -> None:
        self.status = SearchStatus.RUNNING
        self.started = timezone.now()
        self.error = ""

    def mark_done(self) -> None:
        self.status = SearchStatus.DONE
        self.finished = timezone.now()

    def mark_failed(self, reason: str) -> None:
        self.status = SearchStatus.FAILED
        self.error = reason[:2000]
        self.finished = timezone.now()


class SearchGarment(models.Model):
    """One garment found in the photo: where it is, what it is, its embedding and its matches."""

    search = models.ForeignKey(Search, on_delete=models.CASCADE, related_name="garments")
    position = models.PositiveSmallIntegerField()
    garment_type = models.CharField(max_length=8)
    box = models.JSONField()  # [x0, y0, x1, y1] in photo pixels
    score = models.FloatField()
    landmarks = models.JSONField(default=dict)  # engine Landmarks.to_dict()
    category = models.CharField(max_length=120, blank=True)
    category_scores = models.JSONField(default=dict, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    embedding = models.BinaryField()
    results = models.JSONField(default=list, blank=True)  # [{"product_id", "image_id", "score"}], best first

    class Meta:
        ordering = ["search_id", "position"]
        unique_together = [("search", "position")]

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(bytes(self.embedding), dtype=np.float32)
