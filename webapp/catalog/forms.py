"""The admin's import form: a CSV with an archive or a server folder, or a DeepFashion benchmark's shop list."""
from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.db import transaction

from webapp.catalog.models import JobKind
from webapp.catalog.services import start_job

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
        """Keep the uploads beside the job and queue the import for a worker; returns the queued job.

        The worker parses, stores the good rows, reports the bad ones on the job page,
        and queues the new images for indexing; the merchandiser's request returns at once.
        """
        data = self.cleaned_data
        name = data["csv_file"].name if data["source"] == "csv" else f"DeepFashion {data['source']} list"
        job = start_job(JobKind.IMPORT, 0, f"import {name}", user)
        folder = Path(settings.VAR_DIR) / "imports" / "jobs" / str(job.pk)
        folder.mkdir(parents=True, exist_ok=True)
        spec = {"source": data["source"], "folder": str(data["folder_path"]) if data.get("folder_path") else None}
        if data["source"] == "csv":
            spec["csv_path"] = _keep(data["csv_file"], folder / "products.csv")
            if data.get("archive"):
                spec["archive_path"] = _keep(data["archive"], folder / "images.archive")
        transaction.on_commit(lambda: enqueue_import(job.pk, spec))
        return job


def enqueue_import(job_id: int, spec: dict) -> None:
    from workers.tasks import import_catalog

    import_catalog.delay(job_id, spec)


def _keep(upload, path: Path) -> str:
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return str(path)


def _allowed_folder(text: str) -> Path:
    folder = Path(text).expanduser().resolve()
    roots = [Path(r).resolve() for r in settings.STREETSHOP_IMPORT_ROOTS]
    if not any(folder == r or r in folder.parents for r in roots):
        raise forms.ValidationError(f"{folder} is outside the allowed import folders ({', '.join(map(str, roots))}).")
    if not folder.is_dir():
        raise forms.ValidationError(f"{folder} is not a folder on the server.")
    return folder
