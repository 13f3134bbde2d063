"""Write small, valid PDFs with a real text layer, so tests need no data files."""

from __future__ import annotations

from pathlib import Path


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_from_objects(objects: list[bytes]) -> bytes:
    """A PDF with objects 1..n (object 1 is the catalog) and a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def wrap(words: list[str], width: int) -> list[str]:
    """Words filled into lines of at most `width` characters (a longer word stands alone)."""
    lines, line = [], ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return lines


def write_pdf(path: str | Path, pages: list[str], *, password: str | None = None) -> Path:
    """One PDF page per string (lines wrapped at ~80 characters, Helvetica 11 pt).

    With `password`, the file is encrypted (RC4, no empty-password access) by pypdf.
    """
    objects: list[bytes] = []
    n_pages = len(pages)
    # 1: catalog, 2: pages, 3: font, then (page, contents) pairs
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        lines = []
        for para in text.split("\n"):
            lines += wrap(para.split(), 80)
        ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"] + [f"({_escape(l)}) Tj T*" for l in lines] + ["ET"]
        stream = "\n".join(ops).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    path = Path(path)
    path.write_bytes(pdf_from_objects(objects))
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(path))
        writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
        with open(path, "wb") as f:
            writer.write(f)
    return path


def write_scanned_pdf(path: str | Path, source: bytes, pages: list[int] | None = None, dpi: int = 150) -> Path:
    """An image-only PDF (no text layer, like a scan): the given 1-based pages of the
    PDF `source`, rendered by pypdfium2 in grey and saved by PIL."""
    import io

    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(source)
    numbers = pages or list(range(1, len(pdf) + 1))
    images = [pdf[n - 1].render(scale=dpi / 72, grayscale=True).to_pil() for n in numbers]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    path = Path(path)
    path.write_bytes(out.getvalue())
    return path
