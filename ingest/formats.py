"""What a file is, decided by its content, and what a zip container may cost before it is opened.

`FORMATS` is the one list of what Sourced reads. `SUPPORTED_SUFFIXES` (what folder
walks and the upload widget accept) and `SUPPORTED_NAMES` (what messages tell users
to use) are derived from it, so adding a format is one line here plus its loader.

Word, PowerPoint and Excel files are zip packages of XML parts. A zip says in its
central directory how large each part unpacks, and Python's `zipfile` never returns
more bytes than that (a part that lies fails its CRC check), so the sizes checked
here bound what any parser can be fed: a 4 GiB zip bomb is refused in milliseconds,
before python-docx, python-pptx or openpyxl see it. The XML parts of an Office
package never declare a DTD (the packaging standard, ECMA-376 Part 2, forbids it),
so one that does is refused before parsing too: that is where entity expansion
("billion laughs") and external entities (XXE) live. The parsers are safe without
this check (lxml expands no external entity and stops amplification; openpyxl reads
through defusedxml); it turns an obscure parser error into a plain refusal. Encrypted Office files are not
zips at all but OLE compound files holding an `EncryptedPackage` stream; old binary
.doc/.xls/.ppt files are OLE files too. Both are recognised and refused by name.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from .errors import LoadError

# Past these a package is more likely an attack than a document: the largest real
# Word/Excel files unpack to some tens of MB of XML, and parsing 256 MB of XML into
# a tree needs several GB, well over the parser's memory limit.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
# XML deflates ~5-20x, a repetitive sheet up to ~60x; a bomb of zeros ~1000x.
# Only packages that unpack past 16 MB are held to it, so small files never are.
MAX_ZIP_RATIO = 100
RATIO_CHECKED_FROM = 16 * 1024 * 1024

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")  # OLE directory names are UTF-16
_DOCTYPES = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
PROLOG_BYTES = 4096  # a DTD sits in the prolog, before the root element: this much of each part is read
_PACKAGE_PREFIX = {"word/": "docx", "ppt/": "pptx", "xl/": "xlsx"}


@dataclass(frozen=True)
class Format:
    """One kind of file Sourced reads. `kind` names its loader; `label` is what
    messages call one ("not a Word file"); `short` is its name in the list of types."""

    kind: str
    label: str
    short: str
    suffixes: tuple[str, ...]

    @property
    def package(self) -> bool:
        """True for the Office formats, which are zip packages."""
        return self.kind in _PACKAGE_PREFIX.values()


FORMATS = (
    Format("pdf", "PDF", "PDF", (".pdf",)),
    # macro-enabled variants (.docm, .pptm, .xlsm) are read the same way: their text
    # is indexed and their macros are never loaded, let alone run
    Format("docx", "Word file", "Word (.docx)", (".docx", ".docm")),
    Format("pptx", "PowerPoint file", "PowerPoint (.pptx)", (".pptx", ".pptm")),
    Format("xlsx", "Excel workbook", "Excel (.xlsx)", (".xlsx", ".xlsm")),
    Format("csv", "CSV file", "CSV", (".csv", ".tsv")),
    Format("html", "HTML page", "HTML", (".html", ".htm")),
    Format("text", "text file", ".txt", (".txt", ".text")),
    Format("markdown", "Markdown file", ".md", (".md", ".markdown")),
)
SUPPORTED_SUFFIXES = frozenset(s for f in FORMATS for s in f.suffixes)
SUPPORTED_NAMES = ", ".join(f.short for f in FORMATS[:-1]) + " or " + FORMATS[-1].short
_BY_SUFFIX = {s: f for f in FORMATS for s in f.suffixes}
_BY_KIND = {f.kind: f for f in FORMATS}


def for_suffix(suffix: str) -> Format | None:
    """The format a (lower-case) suffix such as ".docx" names, or None."""
    return _BY_SUFFIX.get(suffix)


def for_kind(kind: str) -> Format | None:
    """The format of a kind `sniff` returns ("pdf", "docx", ...), or None."""
    return _BY_KIND.get(kind)


def looks_like_pdf(data: bytes) -> bool:
    """PDF readers accept the signature anywhere in the first 1024 bytes."""
    return b"%PDF-" in data[:1024]


def sniff(data: bytes) -> str:
    """What container `data` is, from its bytes alone.

    Returns "pdf"; "docx", "pptx" or "xlsx" (a zip holding word/, ppt/ or xl/ parts);
    "zip" (another zip); "badzip" (starts like a zip but cannot be opened);
    "encrypted" (an OLE file holding an encrypted Office package); "ole" (another OLE
    file: .doc, .xls, .ppt); or "" (none of these: text, HTML or unknown binary).
    """
    if looks_like_pdf(data):
        return "pdf"
    if data.startswith(OLE_MAGIC):
        return "encrypted" if _ENCRYPTED_STREAM in data else "ole"
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return "badzip"
    for prefix, kind in _PACKAGE_PREFIX.items():
        if any(n.startswith(prefix) for n in names):
            return kind
    return "zip"


_WHAT = {
    "pdf": "a PDF",
    "docx": "a Word file (.docx)",
    "pptx": "a PowerPoint file (.pptx)",
    "xlsx": "an Excel workbook (.xlsx)",
    "zip": "a zip archive",
    "badzip": "a damaged zip archive",
    "encrypted": "a password-protected Office file",
    "ole": "an old binary Office file (.doc, .xls or .ppt)",
}


def check(data: bytes, fmt: Format, found: str, name: str) -> None:
    """Refuse `data` unless its content is what `fmt` (from its suffix) says it is.

    `found` is `sniff(data)`. An Office package is also held to the zip limits here.
    PDFs and text are checked by their loaders (the signature, the share of binary bytes).

    Raises:
        LoadError: naming what the content really is and what to do about it.
    """
    if not fmt.package:
        other = for_kind(found)
        if other is not None and other is not fmt and fmt.kind != "pdf":  # a PDF's own loader says "not a PDF"
            raise LoadError(name, f"not a {fmt.label}: the content is {_WHAT[found]}; rename it to {other.suffixes[0]}")
        return
    if found == fmt.kind:
        check_zip(data, fmt, name)
    elif found == "encrypted":
        raise LoadError(name, f"the {fmt.label} is encrypted with a password; remove the password and upload it again")
    elif found == "ole":
        raise LoadError(name, f"not a {fmt.label} ({fmt.suffixes[0]}): this is {_WHAT[found]}; save it as {fmt.suffixes[0]} and upload that")
    elif found == "badzip":
        raise LoadError(name, f"the {fmt.label} is damaged: it is not a readable zip package")
    elif found in _WHAT:
        hint = f"; rename it to {for_kind(found).suffixes[0]}" if for_kind(found) else ""
        raise LoadError(name, f"not a {fmt.label}: the content is {_WHAT[found]}{hint}")
    else:
        raise LoadError(name, f"not a {fmt.label}: the content is not an Office (zip) package")


def check_zip(data: bytes, fmt: Format, name: str) -> None:
    """Refuse a package with too many parts, or that unpacks too large or too far.

    Only the central directory is read, then the first PROLOG_BYTES of each XML part.
    """
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        infos = package.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise LoadError(name, f"the {fmt.label} is damaged: it is not a readable zip package ({e})") from e
    if len(infos) > MAX_ZIP_MEMBERS:
        raise LoadError(name, f"the {fmt.label} holds {len(infos):,} parts; the limit is {MAX_ZIP_MEMBERS:,}: the file was not read")
    unpacked = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if unpacked > MAX_UNZIPPED_BYTES:
        raise LoadError(
            name, f"the {fmt.label} unpacks to {unpacked / 2**20:,.0f} MB, more than the {MAX_UNZIPPED_BYTES >> 20} MB limit (a zip bomb?); the file was not read"
        )
    if unpacked > RATIO_CHECKED_FROM and unpacked > MAX_ZIP_RATIO * packed:
        raise LoadError(
            name, f"the {fmt.label} unpacks {unpacked / packed:,.0f} times larger than it is (the limit is {MAX_ZIP_RATIO}x; a zip bomb?); the file was not read"
        )
    try:
        with_dtd = next((i.filename for i in infos if i.filename.lower().endswith((".xml", ".rels")) and _declares_dtd(package, i)), None)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as e:
        raise LoadError(name, f"the {fmt.label} is damaged: a part cannot be unpacked ({e})") from e
    if with_dtd:
        raise LoadError(
            name, f"the {fmt.label}'s part {with_dtd} declares a DTD, which Office files never do (an XML entity attack?); the file was not read"
        )


def _declares_dtd(package: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    with package.open(info) as part:
        head = part.read(PROLOG_BYTES)
    return any(d in head for d in _DOCTYPES)  # XML spells it in capitals
