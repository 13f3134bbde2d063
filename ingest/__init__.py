"""Turn files into a searchable index: load -> chunk -> embed -> index (BM25 + FAISS)."""

from .errors import IndexCorruptError, IndexMismatchError, IngestError, LoadError
from .types import Chunk, Page

__all__ = ["Chunk", "Page", "IngestError", "LoadError", "IndexMismatchError", "IndexCorruptError"]
