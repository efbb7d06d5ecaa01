"""The admin's model reports: written by `python -m engine report`, listed and rendered for staff only."""
from __future__ import annotations

import io

import pytest
from PIL import Image

pytestmark = pytest.mark.django_db


@pytest.fixture
def reports(tmp_path, settings):
    settings.STREETSHOP_REPORTS_DIR = tmp_path / "reports"
    folder = tmp_path / "reports" / "aligner-fld-test"
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    (folder / "detection_rate.png").write_bytes(buffer.getvalue())
    (folder / "report.md").write_text(
        "# Aligner report\n\n| figure | value |\n|---|---|\n| NE | 0.0183 |\n\n"
        "![Detection rate](detection_rate.png)\n\n![secret](../../etc/passwd)\n\n<script>alert(1)</script>\n"
    )
    (tmp_path / "reports" / "not-a-report").mkdir()
    (tmp_path / "secret.png").write_bytes(buffer.getvalue())
    return folder


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("merch", password="pw", is_staff=True, is_superuser=True))
    return client


def test_reports_are_listed_and_rendered_for_staff(staff, reports):
    listing = staff.get("/admin/catalog/product/reports/").content.decode()
    assert "aligner-fld-test" in listing and "Aligner report" in listing
    assert "not-a-report" not in listing  # a folder without report.md is not a report
    page = staff.get("/admin/catalog/product/reports/aligner-fld-test/").content.decode()
    assert "<td>0.0183</td>" in page  # the Markdown table became an HTML table
    assert 'src="/admin/catalog/product/reports/aligner-fld-test/detection_rate.png"' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "image outside the report folder, not shown" in page
    image = staff.get("/admin/catalog/product/reports/aligner-fld-test/detection_rate.png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"


def test_nothing_outside_a_report_folder_is_served(staff, reports):
    for url in ("/admin/catalog/product/reports/aligner-fld-test/..%2F..%2Fsecret.png",
                "/admin/catalog/product/reports/..%2Fsecret.png/x.png"):
        response = staff.get(url, follow=True)  # ends on a 404 or the admin's "no such product" page
        assert response.get("Content-Type", "").startswith("text/html")
    assert staff.get("/admin/catalog/product/reports/aligner-fld-test/report.md").status_code == 404
    assert staff.get("/admin/catalog/product/reports/no-such-report/").status_code == 404


def test_reports_are_for_staff_only(client, django_user_model, reports):
    assert client.get("/admin/catalog/product/reports/").status_code == 302
    client.force_login(django_user_model.objects.create_user("shopper", password="pw"))
    assert client.get("/admin/catalog/product/reports/aligner-fld-test/detection_rate.png").status_code == 302
