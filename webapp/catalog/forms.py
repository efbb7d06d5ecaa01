"""The admin's import form: a CSV with an archive or a server folder, or a DeepFashion benchmark's shop list."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.db import transaction

from webapp.catalog import imports
from webapp.catalog.importing import import_rows
from webapp.catalog.services import enqueue_indexing, start_job
from webapp.catalog.models import JobKind

SOURCES = [("csv", "CSV file + image archive or server folder"),
           ("inshop", "DeepFashion In-shop benchmark folder (shop images)"),
           ("consumer2shop", "DeepFashion Consumer-to-shop benchmark folder (shop images)")]


class ImportForm(forms.Form):
    source = forms.ChoiceField(choices=SOURCES, initial="csv")
    csv_file = forms.FileField(required=False, label="CSV file")
    archive = forms.FileField(required=False, help_text="zip or tar(.gz) with the images the CSV names")
    folder = forms.CharField(
        required=False, help_text="a folder on the server, under one of: "
        + ", ".join(str(p) for p in settings.STREETSHOP_IMPORT_ROOTS),
    )

    def clean(self):
        data = super().clean()
        if data.get("source") == "csv" and not data.get("csv_file"):
            raise forms.ValidationError("Choose the CSV file to import.")
        if data.get("source") == "csv" and not (data.get("archive") or data.get("folder")):
            raise forms.ValidationError("Give the images: an archive, or a folder on the server.")
        if data.get("source") != "csv" and not data.get("folder"):
            raise forms.ValidationError("Give the benchmark's folder on the server (the one holding img/).")
        if data.get("folder"):
            data["folder_path"] = _allowed_folder(data["folder"])
        return data

    def run(self, user):
        """Parse, store the good rows, queue the new images for indexing; returns the import job."""
        data = self.cleaned_data
        with tempfile.TemporaryDirectory(dir=settings.VAR_DIR) as scratch:
            if data["source"] == "csv":
                parsed = imports.parse_product_csv(data["csv_file"].read())
                images, problems = self._images(data, Path(scratch))
                description = f"import {data['csv_file'].name}"
            else:
                parsed = imports.parse_deepfashion_shop_list(data["folder_path"], data["source"])
                images, problems = imports.collect_folder_images(data["folder_path"]), []
                description = f"import DeepFashion {data['source']} from {data['folder_path']}"
            job, new_images = import_rows(parsed, images, user, description, problems)
        if new_images:
            index_job = start_job(JobKind.REINDEX, len(new_images), f"index {len(new_images)} imported images", user)
            transaction.on_commit(lambda: enqueue_indexing(new_images, index_job))
        return job

    def _images(self, data, scratch: Path):
        if data.get("archive"):
            archive = scratch / "upload"
            with open(archive, "wb") as out:
                shutil.copyfileobj(data["archive"], out)
            result = imports.extract_images(archive, scratch / "images")
            return result.files, result.errors
        return imports.collect_folder_images(data["folder_path"], allowed_roots=settings.STREETSHOP_IMPORT_ROOTS), []


def _allowed_folder(text: str) -> Path:
    folder = Path(text).expanduser().resolve()
    roots = [Path(r).resolve() for r in settings.STREETSHOP_IMPORT_ROOTS]
    if not any(folder == r or r in folder.parents for r in roots):
        raise forms.ValidationError(f"{folder} is outside the allowed import folders ({', '.join(map(str, roots))}).")
    if not folder.is_dir():
        raise forms.ValidationError(f"{folder} is not a folder on the server.")
    return folder
