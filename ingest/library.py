"""A person's collections, kept across reloads and restarts: the web app's local mode.

Layout of the library folder (SOURCED_LIBRARY; by default `library/` in the user's
data folder, e.g. ~/.local/share/sourced/library):

    <slug>/                 one collection: an ordinary index folder, so
                            `python -m ingest FILES --index <slug>` and
                            `python -m rag ask|search|tune --index <slug>` open it too
        .collection.json    {"name": the name shown, "created": ISO time}
        .chat.json          its conversation, rewritten atomically after each answer
        .uploads/           the files as uploaded
    .library.json           {"current": slug}: the collection opened last

Dot-named files are ignored by the index. A folder built with the CLI straight into
the library shows up under its folder name. Names are what a person types
("Tax 2025"); slugs are fixed when a collection is made, so renaming never moves a
folder that a command line, a running tune or an open search may be using.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .backends import discard, recorded
from .sessions import Session

META = ".collection.json"
CHAT = ".chat.json"
STATE = ".library.json"
MAX_NAME_CHARS = 80
MAX_CHAT_MESSAGES = 400  # older messages are dropped from the saved conversation
DEFAULT_NAME = "My documents"


def default_library() -> Path:
    import platformdirs

    return platformdirs.user_data_path("sourced", appauthor=False) / "library"


def clean_collection_name(name: str) -> str:
    """A collection name as typed, checked: 1-80 characters, no control characters.

    Raises:
        ValueError: empty or too long.
    """
    name = " ".join("".join(ch for ch in str(name or "") if unicodedata.category(ch) not in ("Cc", "Cf")).split())
    if not name:
        raise ValueError("a collection needs a name; type one first")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a collection name is at most {MAX_NAME_CHARS} characters; got {len(name)}")
    return name


def slug(name: str) -> str:
    """A folder name from a collection name: lower-case ASCII letters, digits and dashes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "collection"


@dataclass(frozen=True)
class Entry:
    """One collection of the library, as listed."""

    slug: str
    name: str
    folder: Path


class Library:
    """The collections under `root`, made, renamed, deleted and opened by name.

    `open` hands out one `Session` per collection for the life of the process, so
    every tab on a collection shares its open search index and its answer cache.
    `milvus_token` drops a deleted collection's rows from a protected Milvus server."""

    def __init__(self, root: str | Path, milvus_token: str = ""):
        self.root = Path(root).expanduser().resolve()
        self.milvus_token = milvus_token
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def entries(self) -> list[Entry]:
        """Every collection, by name (case-insensitive)."""
        found = []
        for folder in self.root.iterdir():
            if folder.is_dir() and not folder.name.startswith("."):
                found.append(Entry(folder.name, _read_json(folder / META).get("name") or folder.name, folder))
        return sorted(found, key=lambda e: (e.name.casefold(), e.slug))

    def create(self, name: str = DEFAULT_NAME) -> Session:
        """A new, empty collection named `name`, opened.

        Raises:
            ValueError: the name is empty, too long, or already taken.
        """
        name = clean_collection_name(name)
        with self._lock:
            self._check_free(name)
            base = slug(name)
            folder = self.root / base
            while folder.exists():
                folder = self.root / f"{base}-{secrets.token_hex(2)}"
            folder.mkdir()
            _write_json(folder / META, {"name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return self.open(folder.name)

    def open(self, key: str) -> Session:
        """The collection `key` (its slug), remembered as the one opened last.

        Raises:
            ValueError: there is no such collection (deleted in another tab, say).
        """
        folder = self._folder(key)
        with self._lock:
            session = self._open.get(key)
            if session is None or not session.live:
                session = self._open[key] = Session(key, folder)
            _write_json(self.root / STATE, {"current": key})
        return session

    def current(self) -> Session | None:
        """The collection opened last, else the first one; None in an empty library."""
        key = _read_json(self.root / STATE).get("current")
        entries = self.entries()
        if key not in {e.slug for e in entries}:
            key = entries[0].slug if entries else None
        return self.open(key) if key else None

    def name(self, key: str) -> str:
        return _read_json(self.root / key / META).get("name") or key

    def rename(self, key: str, name: str) -> None:
        """Show collection `key` as `name`; its folder stays where it is.

        Raises:
            ValueError: the name is empty, too long or taken, or the collection is gone.
        """
        name = clean_collection_name(name)
        with self._lock:
            self._folder(key)
            self._check_free(name, but=key)
            meta = _read_json(self.root / key / META)
            _write_json(self.root / key / META, {**meta, "name": name})

    def delete(self, key: str) -> None:
        """Delete collection `key`: its index, its uploads and its conversation.

        Raises:
            ValueError: it is busy (indexing or being tuned) or already gone.
        """
        with self._lock:
            session = self._open.get(key)
            if session is not None and session.busy:
                raise ValueError("this collection is busy (indexing or tuning); try again when that has finished")
            folder = self._folder(key)
            if session is not None:
                session.ended = "deleted"
            self._open.pop(key, None)
            # rename first: a delete cut short leaves a dot-folder the library ignores,
            # never a half-deleted collection that still lists
            trash = self.root / f".deleted-{key}-{secrets.token_hex(4)}"
            if recorded(folder)["kind"] == "milvus":
                from .milvus import release_folder

                release_folder(folder)  # a Milvus Lite file inside the folder is closed before it moves
            os.rename(folder, trash)
        discard(trash, self.milvus_token)  # a Milvus collection on a server is dropped with it

    @contextlib.contextmanager
    def using(self, session: Session) -> Iterator[Session]:
        """Mark `session` busy (it cannot be deleted) while work runs."""
        with self._lock:
            session.busy += 1
        try:
            yield session
        finally:
            with self._lock:
                session.busy -= 1

    def chat(self, key: str) -> list[dict]:
        """The saved conversation of collection `key` (empty when none or unreadable)."""
        messages = _read_json(self.root / key / CHAT).get("messages", [])
        return [m for m in messages if isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]

    def save_chat(self, key: str, messages: list[dict]) -> None:
        """Keep the last MAX_CHAT_MESSAGES messages of collection `key`'s conversation."""
        if (self.root / key).is_dir():
            kept = [{"role": m["role"], "content": m["content"]} for m in messages if isinstance(m.get("content"), str)]
            _write_json(self.root / key / CHAT, {"messages": kept[-MAX_CHAT_MESSAGES:]})

    def _folder(self, key: str) -> Path:
        """Collection `key`'s folder: a plain name in the library, never a path out of it.

        Raises:
            ValueError: no such collection (deleted in another tab, say).
        """
        folder = self.root / key
        if Path(key).name != key or key.startswith(".") or not folder.is_dir():
            raise ValueError("that collection no longer exists; choose another one")
        return folder

    def _check_free(self, name: str, but: str | None = None) -> None:
        taken = {e.name.casefold() for e in self.entries() if e.slug != but}
        if name.casefold() in taken:
            raise ValueError(f"there is already a collection called {name!r}; choose another name")


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
