"""What a file is (from its bytes, real samples made here) and how its name is shown and sent."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pillow_heif
import pytest
import xlsxwriter
from PIL import Image
from werkzeug.http import parse_options_header

from client_portal_rp.files import (
    DATA_KINDS,
    DOCUMENT_KINDS,
    FileKind,
    content_disposition,
    safe_display_name,
    sniff,
)

pillow_heif.register_heif_opener()

TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def xlsx_file(tmp_path: Path) -> Path:
    path = tmp_path / "balance.xlsx"
    with xlsxwriter.Workbook(str(path)) as book:
        sheet = book.add_worksheet("Balance")
        sheet.write_row(0, 0, ["Compte", "Libellé", "Solde"])
        sheet.write_row(1, 0, ["401000", "Fournisseurs", -1250.5])
    return path


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("JPEG", FileKind.JPEG),
        ("PNG", FileKind.PNG),
        ("TIFF", FileKind.TIFF),
        ("HEIF", FileKind.HEIC),
    ],
)
def test_sniff_recognises_real_images(tmp_path: Path, fmt: str, kind: FileKind) -> None:
    # Named .bin on purpose: the name plays no part.
    assert sniff(write(tmp_path, "photo.bin", image_bytes(fmt))) is kind


def test_sniff_recognises_big_endian_tiff(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "TIFF")
    little = buffer.getvalue()
    assert little.startswith(b"II*\x00")
    assert sniff(write(tmp_path, "scan.tif", b"MM\x00*" + little[4:])) is FileKind.TIFF


def test_sniff_recognises_pdf_xlsx_and_csv(tmp_path: Path) -> None:
    assert sniff(write(tmp_path, "f.pdf", TINY_PDF)) is FileKind.PDF
    assert sniff(xlsx_file(tmp_path)) is FileKind.XLSX
    fec = b"JournalCode|JournalLib|EcritureNum\nAC|Achats|1\n"
    assert sniff(write(tmp_path, "fec.txt", fec)) is FileKind.CSV
    excel_fr = "Compte;Libellé;Débit\n401000;Fournisseurs éàè;12,50\n".encode("cp1252")
    assert sniff(write(tmp_path, "export.csv", excel_fr)) is FileKind.CSV
    bom = "\ufeffDate,Montant\n2024-01-02,10.00\n".encode()
    assert sniff(write(tmp_path, "bom.csv", bom)) is FileKind.CSV


def test_sniff_csv_sample_cut_mid_character(tmp_path: Path) -> None:
    """A big UTF-8 CSV whose 64 KiB sample ends inside a two-byte character is still CSV."""
    line = "Compte;Libellé\n".encode()
    content = b"x;" + line * 5000
    cut = 64 * 1024
    assert content[:cut].decode("utf-8", "ignore")  # sanity
    # Shift so that the cut falls between the two bytes of "é".
    index = content.index("é".encode(), cut - 40)
    content = b"y" * (cut - index - 1) + content
    assert content[cut - 1 : cut + 1] == "é".encode()
    assert sniff(write(tmp_path, "big.csv", content)) is FileKind.CSV


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("page.csv", b"<html><body>a;b</body></html>"),
        ("polyglot.pdf", b"<html><!-- %PDF-1.4 -->\n" + TINY_PDF),
        (
            "image.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>',
        ),
        ("xml.csv", b'<?xml version="1.0"?>\n<a>1;2</a>'),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64),
        ("prog.pdf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64),
        ("script.csv", b"var a = 1; document.location = 'http://x';\n"),
        ("arrow.csv", b"const f = (a, b) => a;\n"),
        ("shebang.csv", b"#!/bin/sh\nrm -rf /; echo a,b\n"),
        ("plain.txt", b"Bonjour ceci est une lettre\n"),
        ("empty.csv", b""),
        ("binary.csv", bytes(range(1, 32)) + b";,\n"),
        ("avif.heic", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00mif1miafMA1B" + b"\x00" * 32),
    ],
)
def test_sniff_refuses_hostile_and_unknown(tmp_path: Path, name: str, content: bytes) -> None:
    assert sniff(write(tmp_path, name, content)) is None


def test_sniff_refuses_zip_and_macro_workbook(tmp_path: Path) -> None:
    plain = tmp_path / "archive.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("facture.pdf", TINY_PDF)
    assert sniff(plain) is None
    macro = tmp_path / "macro.xlsx"
    with zipfile.ZipFile(xlsx_file(tmp_path)) as source, zipfile.ZipFile(macro, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("xl/vbaProject.bin", b"\x00" * 16)
    assert sniff(macro) is None
    assert sniff(write(tmp_path, "broken.xlsx", b"PK\x03\x04garbage")) is None


def test_kind_sets_and_labels() -> None:
    assert {
        FileKind.PDF,
        FileKind.JPEG,
        FileKind.PNG,
        FileKind.HEIC,
        FileKind.TIFF,
        FileKind.XML,  # an e-invoice's CII or UBL XML (client_portal_rp/einvoices.py)
    } == DOCUMENT_KINDS
    assert {FileKind.CSV, FileKind.XLSX} == DATA_KINDS
    assert FileKind.PDF.mime_type == "application/pdf"
    assert FileKind.XLSX.label == "classeur Excel"
    assert FileKind.HEIC.mime_type == "image/heic"


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\marie\\Documents\\facture.pdf", "facture.pdf"),
        ("relevé\x00.pdf", "relevé.pdf"),
        ("facture\u202egpj.exe", "facturegpj.exe"),  # right-to-left override removed
        ("  bilan\t2024 .pdf ", "bilan 2024 .pdf"),
        ("e\u0301te\u0301.pdf", "été.pdf"),  # NFD (macOS) becomes NFC
        ("", "document"),
        ("..", "document"),
        (".", "document"),
        ("dossier/", "document"),
        ("\u200b\u200b", "document"),
        ("notes.txt\n", "notes.txt"),
    ],
)
def test_safe_display_name(sent: str, shown: str) -> None:
    assert safe_display_name(sent) == shown


def test_safe_display_name_keeps_extension_when_shortened() -> None:
    shown = safe_display_name("é" * 300 + ".pdf")
    assert len(shown) == 150 and shown.endswith("é.pdf")
    no_ext = safe_display_name("x" * 300)
    assert no_ext == "x" * 150


def sent_name(value: str) -> str:
    """The name a client that reads filename* (RFC 6266, as browsers do) saves under."""
    return str(parse_options_header(value)[1]["filename"])


def test_content_disposition_ascii_and_utf8() -> None:
    value = content_disposition('Relevé "mars" à 100%;x=1.pdf', inline=False)
    assert value.startswith("attachment; ")
    assert 'filename="Releve _mars_ a 100_;x=1.pdf"' in value
    assert "filename*=UTF-8''Relev%C3%A9%20%22mars%22%20%C3%A0%20100%25%3Bx%3D1.pdf" in value
    assert sent_name(value) == 'Relevé "mars" à 100%;x=1.pdf'


def test_content_disposition_inline_and_hostile_names() -> None:
    value = content_disposition("../../etc/pass\r\nwd\x00", inline=True)
    assert value.startswith("inline; ")
    assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert 'filename="pass wd"' in value
    only_cjk = content_disposition("日本語.pdf", inline=False)
    assert 'filename="document.pdf"' in only_cjk
    assert sent_name(only_cjk) == "日本語.pdf"
    assert all(ord(c) < 128 for c in only_cjk)
