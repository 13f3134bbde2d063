"""Domain errors of ingestion. Each message names the file and says what to do."""


class IngestError(Exception):
    """Base class: something about an input or an index that a user can act on."""


class LoadError(IngestError):
    """A file could not be turned into text; `reason` is shown to the user."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMismatchError(IngestError):
    """An index was built with settings (embedder, schema) this run does not use."""


class IndexCorruptError(IngestError):
    """No generation of an index folder passes its checksums."""


class IngestCancelled(IngestError):
    """Indexing was stopped from outside (the session ended); nothing was written."""
