"""Turn files into a searchable index: load -> chunk -> embed -> index (BM25 + FAISS)."""

import os

# PyTorch's OpenMP threads spin while they wait for work. On a machine where another
# process holds a core, a spinning thread burns its time slice: measured on 2 cores
# beside one busy process, one MiniLM query took 455 ms with 2 threads and 15 ms with
# one; with passive waiting, 17 ms (batch embedding: 7-12 -> 21 chunks/s). It must be
# set before torch loads; everything that loads torch imports this package first.
# A value the user set wins.
OMP_WAIT_DEFAULTED = "OMP_WAIT_POLICY" not in os.environ  # so a command that holds the cores alone may choose otherwise
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import IndexCorruptError, IndexMismatchError, IngestCancelled, IngestError, LoadError
from .types import Chunk, Page

__all__ = ["Chunk", "Page", "IngestError", "IngestCancelled", "LoadError", "IndexMismatchError", "IndexCorruptError"]
