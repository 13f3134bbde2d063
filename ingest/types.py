"""The vocabulary of ingestion: a loaded page and the chunk cut from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """Text of one page (PDF), one form-feed page (text) or one section (Markdown).

    `page` is 1-based. `section` is the heading path that the text sits under
    ("Leave > Parental leave"), empty when the format has none.
    """

    source: str
    page: int
    text: str
    section: str = ""


@dataclass(frozen=True)
class Chunk:
    """A passage of a page: the unit that is indexed, retrieved and cited.

    `text` is a verbatim slice `page_text[start:end]` of its page, so quotes taken
    from it are quotes from the document. `doc_id` is the content hash of the file.
    """

    chunk_id: str
    doc_id: str
    source: str
    page: int
    start: int
    end: int
    text: str
    section: str = ""

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
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})
