"""HTML pages: the main text, with headings as sections (pages as in `ingest.documents`).

Read with lxml's HTML parser and `no_network=True`: it expands no entity of a DOCTYPE
and loads nothing (no script, frame, image or style sheet; none is even looked at:
scripts, styles, frames and navigation are dropped before the text is read). Why not
a boilerplate remover such as trafilatura or readability: measured on Debian's
"Users and Groups" manual (a DocBook page), trafilatura 2.3 kept none of its five
headings, and readability-lxml 0.9 kept only its list of users (no heading), and
the navigation of a plain test page. The rules here are structural, so they behave the same in any language:
the page's <main> (or single <article>), less navigation, page header and footer,
asides and anything marked hidden.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from .documents import Block, outline_pages, reading
from .errors import LoadError
from .loaders import clean_text, decode, looks_binary
from .types import Page

# Never text: code, styling, embedded and interactive content, and the page's own navigation.
_DROPPED = ("script", "style", "noscript", "template", "head", "iframe", "frame", "frameset", "object", "embed",
            "applet", "svg", "canvas", "nav", "aside", "button", "select", "textarea", "input", "dialog")
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
# Elements that end a paragraph (their text is a block of its own).
_BLOCK = {"p", "div", "li", "dt", "dd", "pre", "blockquote", "tr", "caption", "figcaption", "section", "article", "main",
          "table", "ul", "ol", "dl", "form", "fieldset", "address", "details", "summary", "hr", "body", "center"}
_CELL = {"td", "th"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I)
_WHITE = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]{0,200}\?>")


def load_html(data: bytes, name: str, *, max_pages: int = 0) -> list[Page]:
    """HTML: the main text, with its headings as sections (see the module doc for pages).

    The main text is the page's <main> (or its single <article>) when it has one, else
    its <body>, less navigation, page headers and footers, asides and anything marked
    hidden. A table row becomes one "cell | cell" line.
    """
    from lxml import etree
    from lxml import html as lxml_html

    text = _without_dtd(_XML_DECLARATION.sub("", _decode_html(data, name), count=1))
    parser = lxml_html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
    with reading(name, "HTML page"):
        try:
            root = lxml_html.document_fromstring(text, parser=parser)
        except etree.ParserError as e:  # "Document is empty"
            raise LoadError(name, "no text found in the file") from e
    if any("Excessive depth" in e.message for e in parser.error_log):
        raise LoadError(name, "the HTML nests elements more than 256 deep, past the parser's limit: the page is malformed, and was not read")
    etree.strip_elements(root, *_DROPPED, with_tail=False)
    main = _main_region(root)
    for el in list(main.iter()):
        if el is not main and _is_boilerplate(el, main):
            el.drop_tree()
    pages = outline_pages(_html_blocks(main), name)
    if not pages:
        raise LoadError(name, "no text found in the file: the HTML page holds only navigation, scripts or markup")
    return pages


def _without_dtd(text: str) -> str:
    """The page less a DOCTYPE's internal subset ("[<!ENTITY ...>]"): HTML parsers expand
    none of it, but would show its tail ("]>") as text."""
    start = text.lstrip()[:9].upper()
    if start != "<!DOCTYPE":
        return text
    open_at, close_at = text.find("["), text.find(">")
    if 0 <= open_at < close_at:  # the subset's first declaration closes after its '['
        end = text.find("]>", open_at)
        return text[end + 2 :] if end >= 0 else ""
    return text


def _decode_html(data: bytes, name: str) -> str:
    """Text of an HTML file: its declared charset when it has one, else as plain text is decoded."""
    declared = _META_CHARSET.search(data[:4096])
    if declared and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            codec = codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            codec = None
        if codec and "utf-16" not in codec and "utf-32" not in codec:
            if looks_binary(data[:65536]):
                raise LoadError(name, "this looks like a binary file, not an HTML page")
            return data.decode(codec, errors="replace")
    return decode(data, name)


def _main_region(root):
    for found in (root.xpath("//main | //*[@role='main']"), root.xpath("//article")):
        if len(found) == 1:
            return found[0]
    body = root.find("body")
    return body if body is not None else root


def _is_boilerplate(el, main) -> bool:
    if not isinstance(el.tag, str):
        return False
    if el.get("hidden") is not None or el.get("aria-hidden") == "true" or (el.get("role") or "").lower() in _BOILERPLATE_ROLES:
        return True
    if el.tag in ("header", "footer"):  # the page's own header and footer; an article's are kept
        return not any(a.tag in ("article", "main") for a in el.iterancestors())
    return False


def _html_blocks(main) -> Iterator[Block]:
    """Blocks of `main` in reading order, walked without recursion (any depth is safe)."""
    from lxml import etree

    buf: list[str] = []
    level = pre = 0

    def add(text: str | None) -> None:  # HTML's white space is a space, except in <pre>
        if text:
            buf.append(text if pre else _WHITE.sub(" ", text))

    def flush() -> Iterator[Block]:
        nonlocal level
        text = clean_text("".join(buf)).strip()
        buf.clear()
        if text:
            yield Block(" ".join(text.split()) if level else text, level)
        level = 0

    for event, el in etree.iterwalk(main, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _HEADINGS or tag in _BLOCK:
                yield from flush()
                level = _HEADINGS.get(tag, 0)
            pre += tag == "pre"
            if tag == "br":
                buf.append("\n")
            else:
                add(el.text)
        else:
            pre -= tag == "pre"
            if tag in _CELL:
                buf.append(" | ")
            if tag in _HEADINGS or tag in _BLOCK:
                if tag == "tr":
                    row = "".join(buf).strip().removesuffix("|").strip()
                    buf[:] = [row]
                yield from flush()
            if el is not main:
                add(el.tail)
    yield from flush()
