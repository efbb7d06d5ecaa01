"""Catalog imports: product CSVs, hostile archives, server folders and DeepFashion shop lists.

Every input is built here in tmp_path; nothing needs Django.
"""
from __future__ import annotations

import codecs
import io
import os
import stat
import tarfile
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from engine.types import GarmentType
from webapp.catalog.imports import (
    archives,
    collect_folder_images,
    extract_images,
    garment_type_of_category,
    normalize_image_path,
    parse_deepfashion_shop_list,
    parse_product_csv,
)

HEADER = "sku,title,price,image"


def _jpeg(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, "PNG")
    return buffer.getvalue()


def _errors_by_line(result) -> dict[int | None, set[str | None]]:
    found: dict[int | None, set[str | None]] = {}
    for error in result.errors:
        found.setdefault(error.line, set()).add(error.column)
    return found


def _all_files(root: Path) -> set[Path]:
    return {Path(dirpath) / name for dirpath, _, names in os.walk(root) for name in names}


# =========================================================================== CSV


def test_good_csv_with_every_column_and_loose_header_names():
    text = (
        " SKU ,Title,PRICE,Image,Images,Brand,currency,Category,Garment Type,product-url,Attributes,Active\n"
        "S1,Blue shirt,12.50,shirts/blue.jpg,shirts\\blue_back.jpg|./shirts/blue.jpg,Acme,usd,Shirts,,"
        "https://shop.example/s1,cotton; long sleeve;Cotton,no\n"
        'S2,"Dress, red",0,dresses/red.png,,,,,full,,,\n'
    )
    result = parse_product_csv(text.encode())
    assert result.errors == [] and result.warnings == []
    assert result.encoding == "utf-8" and result.delimiter == ","
    first, second = result.rows
    assert (first.line, first.sku, first.title, first.price) == (2, "S1", "Blue shirt", Decimal("12.50"))
    assert first.images == ["shirts/blue.jpg", "shirts/blue_back.jpg"] and first.image == "shirts/blue.jpg"
    assert first.garment_type is GarmentType.UPPER  # from the category
    assert (first.brand, first.currency, first.category) == ("Acme", "USD", "Shirts")
    assert first.product_url == "https://shop.example/s1"
    assert first.attributes == ["cotton", "long sleeve"] and first.active is False
    assert (second.line, second.title, second.price, second.currency) == (3, "Dress, red", Decimal("0.00"), "EUR")
    assert second.garment_type is GarmentType.FULL and second.active is True
    assert (second.brand, second.category, second.product_url, second.attributes) == ("", "", "", [])


def test_bad_rows_get_errors_on_their_spreadsheet_lines_and_good_rows_are_kept():
    text = "\n".join([
        "sku,title,price,image,category,garment_type,product_url,brand",
        "A1,Good shirt,12.50,a.jpg,Shirts,,,",            # 2 ok
        "A2,Bad price,12.505,b.jpg,,upper,,",              # 3
        ",Missing sku,5,c.jpg,,upper,,",                   # 4
        'A3,=HYPERLINK("http://x"),5,d.jpg,,upper,,',      # 5 formula in the title
        "A1,Duplicate,5,e.jpg,,upper,,",                   # 6 duplicate of line 2
        "A4,Bad url,5,f.jpg,,upper,javascript:alert(1),",  # 7
        "A5,Bad type,5,g.jpg,,middle,,",                   # 8
        "A6,Hat,5,h.jpg,Hats,,,",                          # 9 no garment type for hats
        'A7,"Two\nlines",5,i.jpg,,lower,,',                # 10 (two physical lines, one spreadsheet row)
        "A8,Negative,-3,j.jpg,,lower,,",                   # 11
        "A9,Dash price,-,k.jpg,,lower,,",                  # 12
        "A10,Traversal,5,../l.jpg,,lower,,",               # 13
        "A11,Brand formula,5,m.jpg,,lower,,@SUM(1)",       # 14
        "A12,Shirt, blue,5,o.jpg,,upper,,,x",              # 15 unquoted comma: one value too many
        "",                                                # 16 blank: skipped, still counted
        'A13,Good skirt,"7,5",skirts/n.jpg,Skirts,,,',     # 17 ok
        "A14,No image,5,,,lower,,",                        # 18
        "A15," + "x" * 301 + ",5,o.jpg,,lower,,",          # 19
    ])
    result = parse_product_csv(text.encode())
    assert [(row.line, row.sku, row.price) for row in result.rows] == [(2, "A1", Decimal("12.50")), (17, "A13", Decimal("7.50"))]
    errors_by_line = _errors_by_line(result)
    assert None in errors_by_line.pop(15)  # the row-level error, plus whatever the shifted cells cause
    assert errors_by_line == {
        3: {"price"}, 4: {"sku"}, 5: {"title"}, 6: {"sku"}, 7: {"product_url"}, 8: {"garment_type"},
        9: {"garment_type"}, 10: {"title"}, 11: {"price"}, 12: {"price"}, 13: {"image"}, 14: {"brand"},
        18: {"image"}, 19: {"title"},
    }
    messages = {(error.line, error.column): error.message for error in result.errors}
    assert "line 2" in messages[(6, "sku")]
    assert "more than 2 decimals" in messages[(3, "price")]
    assert "negative" in messages[(11, "price")] and "not a number" in messages[(12, "price")]
    assert "formula" in messages[(5, "title")] and "formula" in messages[(14, "brand")]
    assert "'Hats'" in messages[(9, "garment_type")] and "upper, lower or full" in messages[(8, "garment_type")]
    assert "at most 300" in messages[(19, "title")] and ".." in messages[(13, "image")]
    assert "unquoted delimiter" in messages[(15, None)]
    assert str(result.errors[0]).startswith("line 3, column price: ")


def test_missing_required_columns_is_one_file_level_error_listing_missing_and_found():
    result = parse_product_csv(b"sku,name,cost\nA1,Shirt,5\n")
    assert result.rows == []
    [error] = result.errors
    assert error.line is None and result.file_errors == [error]
    assert "title, price, image" in error.message and "Found: sku, name, cost" in error.message


def test_images_column_can_replace_image_and_unknown_columns_are_a_warning():
    result = parse_product_csv(b"sku,title,price,images,colour,category\nA1,Shirt,5,a.jpg;b.webp,red,Shirt\n")
    assert result.errors == [] and result.rows[0].images == ["a.jpg", "b.webp"]
    assert result.warnings == ["Ignored unknown column(s): colour."]


def test_cp1252_file_is_read_with_a_warning():
    result = parse_product_csv(f"{HEADER},garment_type\nB1,Robe d'été,19.90,robe.jpg,full\n".encode("cp1252"))
    assert result.errors == [] and result.rows[0].title == "Robe d'été"
    assert result.encoding == "cp1252" and "cp1252" in result.warnings[0]


def test_a_utf8_file_with_one_cp1252_line_keeps_its_utf8_rows_and_names_the_line():
    """Rows pasted from two exports: the UTF-8 rows must not become mojibake ("Ã©")."""
    raw = (f"{HEADER},garment_type\nB1,Robe d'été,19.90,robe.jpg,full\n".encode()
           + "B2,Café crème,9.90,cafe.jpg,upper\n".encode("cp1252")
           + "B3,Jupe plissée,12,jupe.jpg,lower\n".encode())
    result = parse_product_csv(raw)
    assert result.errors == []
    assert [row.title for row in result.rows] == ["Robe d'été", "Café crème", "Jupe plissée"]
    assert result.encoding == "utf-8 (cp1252 on line 3)"
    assert "mixes encodings" in result.warnings[0] and "line 3" in result.warnings[0]


def test_semicolon_delimited_with_decimal_commas(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes("sku;title;price;image;attributes;category\nC1;Jupe;12,50;jupe.jpg;\"a;b\";Skirt\nC2;Pull;3;pull.jpg;;Sweater\n".encode())
    result = parse_product_csv(path)
    assert result.delimiter == ";" and result.errors == []
    assert [(row.sku, row.price) for row in result.rows] == [("C1", Decimal("12.50")), ("C2", Decimal("3.00"))]
    assert result.rows[0].attributes == ["a", "b"]


def test_tab_delimited_file_object():
    result = parse_product_csv(io.BytesIO(b"sku\ttitle\tprice\timage\tgarment type\nT1\tTee\t9.99\ttee.jpg\tUpper\n"))
    assert result.delimiter == "\t" and [row.sku for row in result.rows] == ["T1"]


def test_utf8_bom_is_not_part_of_the_first_column():
    result = parse_product_csv(codecs.BOM_UTF8 + f"{HEADER},category\nD1,Été,5,d.jpg,Dress\n".encode())
    assert result.errors == [] and result.warnings == []
    assert result.rows[0].sku == "D1" and result.rows[0].garment_type is GarmentType.FULL


def test_too_many_rows_and_not_a_csv_are_file_level_errors():
    text = HEADER + ",category\n" + "".join(f"R{i},T,1,r.jpg,Tee\n" for i in range(3))
    result = parse_product_csv(text.encode(), max_rows=2)
    assert result.rows == [] and len(result.file_errors) == 1 and "more than 2" in result.errors[0].message
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<x/>")
    result = parse_product_csv(workbook.getvalue())
    assert result.rows == [] and "Excel" in result.errors[0].message


def test_normalize_image_path_and_category_mapping():
    assert normalize_image_path("./a\\b//c.JPG") == "a/b/c.JPG"
    for bad in ["../x.jpg", "a/../../x.jpg", "/x.jpg", "C:\\x.jpg", "c:x.jpg", "a\x00.jpg", "http://x/y.jpg", " "]:
        with pytest.raises(ValueError):
            normalize_image_path(bad)
    assert garment_type_of_category("Blouses_Shirts") is GarmentType.UPPER
    assert garment_type_of_category("Button-Down") is GarmentType.UPPER
    assert garment_type_of_category("Rompers_Jumpsuits") is GarmentType.FULL
    assert garment_type_of_category("jeans") is GarmentType.LOWER
    assert garment_type_of_category("Jackets_Coats") is None  # DeepFashion: jacket upper, coat full
    assert garment_type_of_category("Hats") is None and garment_type_of_category("") is None


# =========================================================================== archives


def test_zip_with_traversal_links_and_non_images_extracts_only_the_image(tmp_path):
    archive_path = tmp_path / "upload.bin"  # the kind comes from the content, not the name
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("good/ok.jpg", _jpeg())
        archive.writestr("../evil.jpg", _jpeg())
        archive.writestr("..\\evil2.jpg", _jpeg())
        archive.writestr(zipfile.ZipInfo("/abs.jpg"), _jpeg())
        archive.writestr("C:/drive.jpg", _jpeg())
        link = zipfile.ZipInfo("link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "../../etc/passwd")
        archive.writestr("notes.txt", "hello")
        archive.writestr("fake.jpg", "not really a jpeg")
        archive.writestr("__MACOSX/good/._ok.jpg", b"\x00\x05\x16\x07")
        archive.writestr("good/sub/", b"")
    assert "/abs.jpg" in zipfile.ZipFile(archive_path).namelist()
    dest = tmp_path / "dest"
    result = extract_images(archive_path, dest)
    assert result.files == {"good/ok.jpg": dest.resolve() / "good/ok.jpg"}
    assert _all_files(tmp_path) == {archive_path, dest / "good/ok.jpg"}
    assert not Path("/abs.jpg").exists() and not (tmp_path.parent / "evil.jpg").exists()
    text = "\n".join(result.errors)
    for name in ["../evil.jpg", "..\\\\evil2.jpg", "/abs.jpg", "C:/drive.jpg", "link.jpg: refused, a symlink", "fake.jpg"]:
        assert name in text, name
    assert any(s.startswith("notes.txt") for s in result.skipped)
    assert any("__MACOSX" in s for s in result.skipped)


def test_tar_gz_with_symlink_hardlink_and_device_extracts_only_the_image(tmp_path):
    archive_path = tmp_path / "images.tar.gz"
    with tarfile.open(archive_path, "w:gz") as archive:
        _add_tar_file(archive, "shop/ok.png", _png())
        for name, kind in [("shop/sym.jpg", tarfile.SYMTYPE), ("shop/hard.jpg", tarfile.LNKTYPE), ("shop/dev.jpg", tarfile.CHRTYPE)]:
            member = tarfile.TarInfo(name)
            member.type = kind
            member.linkname = "/etc/passwd" if kind != tarfile.CHRTYPE else ""
            archive.addfile(member)
        _add_tar_file(archive, "../../escape.jpg", _jpeg())
    dest = tmp_path / "dest"
    result = extract_images(archive_path, dest)
    assert list(result.files) == ["shop/ok.png"]
    assert _all_files(tmp_path) == {archive_path, dest / "shop/ok.png"}
    text = "\n".join(result.errors)
    assert "sym.jpg: refused, a symlink" in text and "hard.jpg: refused, a hardlink" in text
    assert "dev.jpg: refused, a device" in text and "escape.jpg" in text


def _add_tar_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory) -> Path:
    """100 MB of zeros (a valid JPEG start, so only the size checks can stop it) in a ~100 KB zip."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb.jpg", "w", force_zip64=True) as entry:
            entry.write(_jpeg())
            zeros = bytes(1024 * 1024)
            for _ in range(100):
                entry.write(zeros)
    return path


def test_zip_bomb_is_refused_by_total_size_before_writing(zip_bomb, tmp_path):
    result = extract_images(zip_bomb, tmp_path / "dest", max_total_bytes=10 * 1024 * 1024, max_file_bytes=200 * 1024 * 1024)
    assert result.files == {} and _all_files(tmp_path) == set()
    assert "unpacks to" in result.errors[0] and "Nothing was extracted" in result.errors[0]


def test_zip_bomb_is_refused_by_compression_ratio(zip_bomb, tmp_path):
    result = extract_images(zip_bomb, tmp_path / "dest", max_file_bytes=200 * 1024 * 1024)
    assert result.files == {} and _all_files(tmp_path) == set()
    assert "decompression bomb" in result.errors[0]


def test_tar_gz_bomb_is_refused_by_archive_ratio(tmp_path):
    archive_path = tmp_path / "bomb.tgz"
    with tarfile.open(archive_path, "w:gz") as archive:
        _add_tar_file(archive, "zeros.jpg", _jpeg() + bytes(20 * 1024 * 1024))
    result = extract_images(archive_path, tmp_path / "dest")
    assert result.files == {} and "decompression bomb" in result.errors[0]
    assert _all_files(tmp_path / "dest") == set()


def test_too_many_entries_extracts_nothing(tmp_path):
    archive_path = tmp_path / "many.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for i in range(6):
            archive.writestr(f"{i}.jpg", _jpeg())
    result = extract_images(archive_path, tmp_path / "dest", max_files=5)
    assert result.files == {} and "more than 5 entries" in result.errors[0]
    assert _all_files(tmp_path / "dest") == set()
    assert len(extract_images(archive_path, tmp_path / "dest", max_files=6).files) == 6


def test_oversized_image_is_refused_and_the_rest_extracted(tmp_path):
    archive_path = tmp_path / "sizes.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("small.jpg", _jpeg())
        archive.writestr("large.jpg", _jpeg() + os.urandom(5000))
    result = extract_images(archive_path, tmp_path / "dest", max_file_bytes=3000)
    assert list(result.files) == ["small.jpg"] and "large.jpg: refused" in result.errors[0]
    assert _all_files(tmp_path / "dest") == {tmp_path / "dest/small.jpg"}


def test_zip_header_that_understates_the_size_does_not_get_its_data_written(tmp_path):
    archive_path = tmp_path / "lying.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("liar.jpg", _jpeg() + bytes(100_000))
    data = bytearray(archive_path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = (1000).to_bytes(4, "little")  # uncompressed size: "1000 bytes"
    archive_path.write_bytes(bytes(data))
    assert zipfile.ZipFile(archive_path).getinfo("liar.jpg").file_size == 1000
    result = extract_images(archive_path, tmp_path / "dest", max_file_bytes=2000)
    assert result.files == {} and "liar.jpg" in result.errors[0]
    assert _all_files(tmp_path / "dest") == set()


def test_copy_counts_bytes_against_the_declared_size(tmp_path):
    """The streaming guard itself: a source that delivers more than declared is cut off and removed."""
    limits = archives._Limits(max_files=10, max_total_bytes=10**9, max_file_bytes=10**9, max_ratio=200)
    with pytest.raises(archives._EntryRefused):
        archives._copy_checked(io.BytesIO(_jpeg() + bytes(300_000)), tmp_path / "x.jpg", 1000, limits, 0)
    assert _all_files(tmp_path) == set()


def test_existing_symlink_in_dest_cannot_lead_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(outside, target_is_directory=True)
    archive_path = tmp_path / "a.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("link/x.jpg", _jpeg())
    result = extract_images(archive_path, dest)
    assert result.files == {} and "outside the destination" in result.errors[0]
    assert list(outside.iterdir()) == []


def test_not_an_archive(tmp_path):
    path = tmp_path / "images.zip"
    path.write_text("hello")
    result = extract_images(path, tmp_path / "dest")
    assert result.files == {} and "not a zip or tar" in result.errors[0]


def test_collect_folder_images_does_not_follow_links_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(_jpeg())
    folder = tmp_path / "catalog"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(_jpeg())
    (folder / "sub" / "b.PNG").write_bytes(_png())
    (folder / "notes.txt").write_text("x")
    (folder / "out.jpg").symlink_to(outside / "secret.jpg")
    (folder / "outdir").symlink_to(outside, target_is_directory=True)
    (folder / "alias.jpg").symlink_to(folder / "a.jpg")
    images = collect_folder_images(folder)
    assert images == {
        "a.jpg": folder.resolve() / "a.jpg",
        "alias.jpg": folder.resolve() / "a.jpg",
        "sub/b.PNG": folder.resolve() / "sub/b.PNG",
    }
    with pytest.raises(ValueError, match="outside the folders allowed"):
        collect_folder_images(folder, allowed_roots=[outside])
    with pytest.raises(ValueError, match="not a folder"):
        collect_folder_images(folder / "a.jpg")


# =========================================================================== DeepFashion


def _listing(path: Path, header: str, rows: list[str], count: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{len(rows) if count is None else count}\n{header}\n" + "".join(row + "\n" for row in rows))


INSHOP_ROWS = [
    "img/WOMEN/Dresses/id_00000002/02_1_front.jpg                    id_00000002 train",
    "img/WOMEN/Dresses/id_00000002/02_2_side.jpg                     id_00000002 train",
    "img/MEN/Denim/id_00000080/01_1_front.jpg                        id_00000080 query",
    "img/MEN/Denim/id_00000080/01_2_side.jpg                         id_00000080 gallery",
    "img/MEN/Denim/id_00000080/01_1_front.jpg                        id_00000080 gallery",
    "img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg             id_00000001 gallery",
]
INSHOP_BBOX_ROWS = [
    "img/WOMEN/Dresses/id_00000002/02_1_front.jpg                    3 1 50 49 208 235",
    "img/WOMEN/Dresses/id_00000002/02_2_side.jpg                     3 2 47 31 200 240",
    "img/MEN/Denim/id_00000080/01_1_front.jpg                        2 1 60 80 190 250",
    "img/MEN/Denim/id_00000080/01_2_side.jpg                         2 2 61 81 191 251",
    "img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg             1 1 30 20 220 200",
]


def test_deepfashion_inshop_rows(tmp_path):
    _listing(tmp_path / "Eval/list_eval_partition.txt", "image_name item_id evaluation_status", INSHOP_ROWS)
    _listing(tmp_path / "Anno/list_bbox_inshop.txt", "image_name  clothes_type  pose_type  x_1  y_1  x_2  y_2", INSHOP_BBOX_ROWS)
    result = parse_deepfashion_shop_list(tmp_path, "inshop")
    assert result.errors == []
    assert [(r.sku, r.garment_type, r.category, r.title, r.price, r.line) for r in result.rows] == [
        ("id_00000002", GarmentType.FULL, "Dresses", "Dresses id_00000002", None, 3),
        ("id_00000080", GarmentType.LOWER, "Denim", "Denim id_00000080", None, 5),
        ("id_00000001", GarmentType.UPPER, "Blouses_Shirts", "Blouses Shirts id_00000001", None, 8),
    ]
    assert result.rows[1].images == ["img/MEN/Denim/id_00000080/01_1_front.jpg", "img/MEN/Denim/id_00000080/01_2_side.jpg"]
    kept = parse_deepfashion_shop_list(tmp_path, "inshop", splits={"query", "gallery"})
    assert [row.sku for row in kept.rows] == ["id_00000080", "id_00000001"]


def test_deepfashion_inshop_malformed_lines_name_file_and_line(tmp_path):
    rows = INSHOP_ROWS[:2] + ["img/WOMEN/Dresses/id_00000003/x.jpg id_00000003", "img/WOMEN/Tees/id_00000004/x.jpg id_00000004 holdout"]
    _listing(tmp_path / "list_eval_partition.txt", "image_name item_id evaluation_status", rows, count=7)
    result = parse_deepfashion_shop_list(tmp_path, "inshop")  # no bbox file: types from the category folders
    assert [row.sku for row in result.rows] == ["id_00000002"] and result.rows[0].garment_type is GarmentType.FULL
    assert {(e.file, e.line) for e in result.errors} == {("list_eval_partition.txt", n) for n in (1, 5, 6)}
    assert "Anno/list_bbox_inshop.txt is missing" in result.warnings[0]
    assert any(str(e).startswith("list_eval_partition.txt, line 1: says '7' rows") for e in result.errors)


C2S_BBOX_ROWS = [
    "img/CLOTHING/Blouse/id_00000001/comsumer_01.jpg 1 2 10 20 200 300",
    "img/CLOTHING/Blouse/id_00000001/comsumer_02.jpg 1 2 11 21 201 301",
    "img/CLOTHING/Blouse/id_00000001/shop_01.jpg 1 1 12 22 202 302",
    "img/DRESSES/Dress/id_00000005/comsumer_01.jpg 3 2 13 23 203 303",
    "img/DRESSES/Dress/id_00000005/shop_01.jpg 3 1 14 24 204 304",
    "img/DRESSES/Dress/id_00000005/shop_02.jpg 3 1 15 25 205 305",
]
C2S_PAIRS = [
    "img/CLOTHING/Blouse/id_00000001/comsumer_01.jpg img/CLOTHING/Blouse/id_00000001/shop_01.jpg id_00000001 train",
    "img/CLOTHING/Blouse/id_00000001/comsumer_02.jpg img/CLOTHING/Blouse/id_00000001/shop_01.jpg id_00000001 train",
    "img/DRESSES/Dress/id_00000005/comsumer_01.jpg img/DRESSES/Dress/id_00000005/shop_01.jpg id_00000005 test",
    "img/DRESSES/Dress/id_00000005/comsumer_01.jpg img/DRESSES/Dress/id_00000005/shop_02.jpg id_00000005 test",
]


def test_deepfashion_consumer2shop_rows(tmp_path):
    _listing(tmp_path / "Anno/list_bbox_consumer2shop.txt", "image_name clothes_type source_type x_1 y_1 x_2 y_2", C2S_BBOX_ROWS)
    _listing(tmp_path / "Eval/list_eval_partition.txt", "image_pair_name_1 image_pair_name_2 item_id evaluation_status", C2S_PAIRS)
    result = parse_deepfashion_shop_list(tmp_path, "consumer2shop")
    assert result.errors == []
    assert [(r.sku, r.garment_type, r.category, r.title, r.price) for r in result.rows] == [
        ("id_00000001", GarmentType.UPPER, "Blouse", "Blouse id_00000001", None),
        ("id_00000005", GarmentType.FULL, "Dress", "Dress id_00000005", None),
    ]
    assert result.rows[0].images == ["img/CLOTHING/Blouse/id_00000001/shop_01.jpg"]
    assert result.rows[1].images == ["img/DRESSES/Dress/id_00000005/shop_01.jpg", "img/DRESSES/Dress/id_00000005/shop_02.jpg"]
    assert [row.sku for row in parse_deepfashion_shop_list(tmp_path, "consumer2shop", splits={"test"}).rows] == ["id_00000005"]


def test_deepfashion_consumer2shop_malformed_line_names_file_and_line(tmp_path):
    rows = C2S_BBOX_ROWS[:3] + ["img/DRESSES/Dress/id_00000005/shop_01.jpg 3 1 14 24"]
    _listing(tmp_path / "Anno/list_bbox_consumer2shop.txt", "image_name clothes_type source_type x_1 y_1 x_2 y_2", rows)
    _listing(tmp_path / "Eval/list_eval_partition.txt", "image_pair_name_1 image_pair_name_2 item_id evaluation_status", C2S_PAIRS)
    result = parse_deepfashion_shop_list(tmp_path, "consumer2shop")
    assert result.rows == []
    [error] = result.errors
    assert "list_bbox_consumer2shop.txt, line 6" in error.message


def test_deepfashion_unknown_kind_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="inshop"):
        parse_deepfashion_shop_list(tmp_path, "fld")
