"""Hostile and malformed PDFs, written in milliseconds from a few bytes.

Each builder writes a file that attacks one part of a PDF parser: stream inflation,
object nesting, the page tree, the cross-reference table, the page count.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from .pdfgen import pdf_from_objects, write_pdf

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _one_page(contents: bytes, *, extra_page_keys: bytes = b"", extra_objects: tuple[bytes, ...] = ()) -> bytes:
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R " + extra_page_keys + b" >>"
    return pdf_from_objects(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, contents, _FONT, *extra_objects]
    )


def _stream(data: bytes, dictionary: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), dictionary) + data + b"\nendstream"


def zeros_deflate(n_mb: int) -> bytes:
    """A zlib stream that inflates to `n_mb` MiB of zeros, built without compressing them:
    after a full flush, deflate emits the same bytes for every further MiB of zeros."""
    block = bytes(1 << 20)
    c = zlib.compressobj(9)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush(zlib.Z_FINISH)[:-4]
    n = n_mb << 20
    adler32 = ((n % 65521) << 16) | 1  # of n zero bytes: a stays 1, b counts the bytes
    return first + repeat * (n_mb - 1) + end + adler32.to_bytes(4, "big")


def decompression_bomb(path: Path, n_mb: int = 4096) -> Path:
    """A 4 MB file whose page content stream inflates to `n_mb` MiB (4 GiB by default)."""
    path.write_bytes(_one_page(_stream(zeros_deflate(n_mb), b"/Filter /FlateDecode")))
    return path


def nested_arrays(path: Path, depth: int = 100_000) -> Path:
    """A page whose dictionary holds `depth` nested arrays [[[[...]]]]: read with the page."""
    nest = b"[" * depth + b"]" * depth
    path.write_bytes(_one_page(_stream(b"BT /F1 11 Tf 50 700 Td (Nested) Tj ET"), extra_page_keys=b"/Nested " + nest))
    return path


def circular_page_tree(path: Path) -> Path:
    """A /Pages node whose /Kids include itself and its parent."""
    path.write_bytes(
        pdf_from_objects(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>",
            ]
        )
    )
    return path


def broken_xref(path: Path, text: str = "Recovered despite a broken xref table") -> Path:
    """A readable page whose xref table points at the wrong offsets everywhere."""
    good = _one_page(_stream(b"BT /F1 11 Tf 50 700 Td (%s) Tj ET" % text.encode()))
    i = good.index(b"xref\n")
    path.write_bytes(good[:i] + good[i:].replace(b"00000 n", b"99999 n").replace(b"startxref\n", b"startxref\n9"))
    return path


def image_only(path: Path) -> Path:
    """A scanned-page look-alike: one grey image drawn over the page, no text operators."""
    image = _stream(bytes([128]) * 64, b"/Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceGray /BitsPerComponent 8")
    pdf = _one_page(_stream(b"q 612 0 0 842 0 0 cm /Im1 Do Q"), extra_objects=(image,))
    path.write_bytes(pdf.replace(b"/Font << /F1 5 0 R >>", b"/Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >>", 1))
    return path


def whitespace_only(path: Path) -> Path:
    """One page whose only text operator shows spaces."""
    path.write_bytes(_one_page(_stream(b"BT /F1 11 Tf 50 700 Td (          ) Tj ET")))
    return path


def many_pages(path: Path, n: int = 3000) -> Path:
    """A real n-page PDF (one short line per page), about 250 bytes a page."""
    return write_pdf(path, [f"Page {i} of a very long file." for i in range(1, n + 1)])
