"""The vocabulary of ingestion: a loaded page and the chunk cut from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """Text of one page (PDF), one form-feed page (text) or one section (Markdown).

    `page` is 1-based. `section` is the heading path that the text sits under
    ("Leave > Parental leave"), empty when the format has none. `ocr` is true when
    the text was recognised from an image of the page, not read from a text layer.
    """

    source: str
    page: int
    text: str
    section: str = ""
    ocr: bool = False


@dataclass(frozen=True)
class Chunk:
    """A passage of a page: the unit that is indexed, retrieved and cited.

    `text` is a verbatim slice `page_text[start:end]` of its page, so quotes taken
    from it are quotes from the document. `doc_id` is the content hash of the file.
    `lang` is the detected language of the text (an ISO 639-1 code, "" when unknown)
    and `ocr` is carried over from its page.
    """

    chunk_id: str
    doc_id: str
    source: str
    page: int
    start: int
    end: int
    text: str
    section: str = ""
    lang: str = ""
    ocr: bool = False

    @property
    def indexed_text(self) -> str:
        """What the lexical and dense indexes see: the heading path gives context."""
        return f"{self.section}\n{self.text}" if self.section else self.text

    def to_dict(self) -> dict:
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "source": self.source,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "section": self.section,
            "lang": self.lang,
            "ocr": self.ocr,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        """Fields added after an index was written (lang, ocr) take their defaults."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
