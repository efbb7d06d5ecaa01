"""Model quality reports (``python -m engine report ... --out <reports dir>/<name>``) shown in the admin.

Each report is a folder with ``report.md``, ``metrics.json`` and its PNG plots.
The admin lists the folders under settings.STREETSHOP_REPORTS_DIR and renders
a report's Markdown; its images are served from that folder only (by file
name, never by path), to staff only.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import markdown
from django.conf import settings

REPORT_FILE = "report.md"
#: A report folder's or a plot's name: letters, digits, dot, dash, underscore; no path separators.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ReportEntry:
    name: str
    title: str
    modified: dt.datetime
    path: Path


def reports_dir() -> Path:
    return Path(settings.STREETSHOP_REPORTS_DIR)


def list_reports() -> list[ReportEntry]:
    """The report folders, newest first."""
    root = reports_dir()
    if not root.is_dir():
        return []
    entries = []
    for folder in root.iterdir():
        report = folder / REPORT_FILE
        if SAFE_NAME.match(folder.name) and report.is_file():
            first = report.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
            title = first[0].lstrip("# ").strip() if first else folder.name
            modified = dt.datetime.fromtimestamp(report.stat().st_mtime, tz=dt.timezone.utc)
            entries.append(ReportEntry(folder.name, title, modified, folder))
    return sorted(entries, key=lambda entry: entry.modified, reverse=True)


def report_folder(name: str) -> Path | None:
    if not SAFE_NAME.match(name):
        return None
    folder = reports_dir() / name
    return folder if (folder / REPORT_FILE).is_file() else None


def render_report(name: str, image_url) -> str | None:
    """The report's Markdown as HTML, its image links pointing at ``image_url(report, file)``."""
    folder = report_folder(name)
    if folder is None:
        return None
    text = (folder / REPORT_FILE).read_text(encoding="utf-8", errors="replace")

    def relink(match: re.Match) -> str:
        alt, target = match.group(1), match.group(2)
        if SAFE_NAME.match(target):
            return f"![{alt}]({image_url(name, target)})"
        return f"[{alt}: image outside the report folder, not shown]"

    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", relink, text)
    # The reports are written by the engine on this server; escape raw HTML anyway.
    return markdown.markdown(_escape_html(text), extensions=["tables", "fenced_code"])


def report_image(name: str, filename: str) -> Path | None:
    folder = report_folder(name)
    if folder is None or not SAFE_NAME.match(filename) or not filename.lower().endswith(".png"):
        return None
    path = folder / filename
    return path if path.is_file() else None


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
