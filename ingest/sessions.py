"""Private collections of the web app's visitors: one root, swept, capped.

Layout of the private root (SOURCED_PRIVATE_DIR; by default `sourced-private-<uid>` in
the system temp folder):

    p-<pid>-<random>/     one running process's data
        .lock             held (flock) by that process while it lives; the kernel
                          releases it on any exit, kill -9 included
        uploads/          Gradio's upload cache (GRADIO_TEMP_DIR points here)
        sessions/<app>/<key>/
                          one visitor's collection folder, key = hash of the session id;
                          `.uploads/` in it holds the files they uploaded

At start-up every process folder whose lock can be taken belongs to a process that
is gone, and is deleted with everything in it: a restart after a crash leaves no
visitor's documents behind. (A process folder, not the whole root, is one process's
own, so two servers, or two test apps, can share a root.)

`SessionStore` keeps one app's live sessions within a count and a total size; when
a new one would pass either, the session idle the longest is deleted first and its
visitor is told on their next request.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import stat
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .backends import discard
from .errors import IngestError

log = logging.getLogger(__name__)

UPLOADS = ".uploads"  # inside a session folder: dot-named, so the index ignores it
EVICTED = "Your documents were removed to make room for other visitors (the server keeps a limited number of sessions, oldest idle first). Upload them again to continue."
ENDED = "This session has ended and its documents were deleted. Upload them again to continue."


class SessionLimitError(IngestError):
    """Every session slot is busy; a new visitor has to wait."""


# ---------------------------------------------------------------- the private root


@dataclass(frozen=True)
class ProcessFolder:
    """This process's folder under the private root, locked for its lifetime."""

    path: Path
    lock_fd: int

    @property
    def uploads(self) -> Path:
        return self.path / "uploads"

    @property
    def sessions(self) -> Path:
        return self.path / "sessions"


_claimed: dict[Path, ProcessFolder] = {}
_claim_lock = threading.Lock()


def default_root() -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / f"sourced-private-{os.getuid()}"  # one per user: the root is 0700


def claim(root: str | Path) -> ProcessFolder:
    """This process's folder under `root` (made once per process), after deleting the
    folders of processes that are gone."""
    root = Path(root).resolve()
    with _claim_lock:
        if root in _claimed:
            return _claimed[root]
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        swept = sweep(root)
        if swept:
            log.info("deleted %d folder(s) left by stopped Sourced processes in %s", swept, root)
        path = root / f"p-{os.getpid()}-{secrets.token_hex(4)}"
        path.mkdir(mode=0o700)
        fd = os.open(path / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        folder = _claimed[root] = ProcessFolder(path, fd)
        folder.uploads.mkdir()
        folder.sessions.mkdir()
        atexit.register(shutil.rmtree, path, ignore_errors=True)  # kill -9 skips this: the next start sweeps
        return folder


def sweep(root: Path) -> int:
    """Delete every process folder in `root` whose owner is gone; returns how many."""
    mine = {f.path for f in _claimed.values()}
    gone = [p for p in root.glob("p-*") if p.is_dir() and p not in mine and not _owner_alive(p)]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return len(gone)


def _owner_alive(folder: Path) -> bool:
    """Whether the process that made `folder` still holds its lock."""
    try:
        fd = os.open(folder / ".lock", os.O_RDWR)
    except FileNotFoundError:  # killed before it took its lock, or half deleted
        return False
    except OSError:  # cannot tell: leave it
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# ---------------------------------------------------------------- uploads


def clean_name(name: str) -> str:
    """A file name safe to show: no directory part, no control or bidirectional
    formatting characters ("invoice\u202eexe.txt" would read as "invoicetxt.exe")."""
    name = Path(str(name).replace("\\", "/")).name
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    return name.strip() or "unnamed"


def claim_uploads(paths: Iterable[str], uploads: Path, stored: set[str], dest: Path) -> tuple[list[tuple[Path, str]], list[dict]]:
    """Move the files Gradio stored for an upload into `dest`; refuse anything else.

    Accepted: a regular file (not a folder, link or device), reached without links,
    directly in a folder of Gradio's upload cache `uploads` (Gradio writes each upload to
    uploads/<content hash>/<name>), and listed in `stored`, the set of paths Gradio's
    upload route wrote. A request that names the cache folder itself, or any other
    path, is refused and never reaches ingest.

    Returns ([(path in dest, shown name)], [{"path": shown name, "reason": ...}]).
    """
    uploads = uploads.resolve()
    dest.mkdir(exist_ok=True)
    accepted, refused = [], []
    for n, raw in enumerate(paths):
        raw = str(raw)
        name = clean_name(raw)
        p = Path(os.path.abspath(raw))
        try:
            regular = stat.S_ISREG(os.lstat(p).st_mode)
        except OSError:
            regular = False
        if not (regular and os.path.realpath(p) == str(p) and p.parent.parent == uploads and raw in stored):
            refused.append({"path": name, "reason": "not a file uploaded to this page"})
            log.warning("refused an upload path that Gradio did not store: %r", raw)
            continue
        target = dest / f"{n:04d}-{secrets.token_hex(4)}{Path(name).suffix.lower()[:16]}"
        try:
            os.rename(p, target)
        except OSError as e:  # taken by a parallel request for the same content
            refused.append({"path": name, "reason": f"cannot read the upload ({e.strerror or e}); upload it again"})
            continue
        stored.discard(raw)
        with contextlib.suppress(OSError):
            p.parent.rmdir()
        accepted.append((target, name))
    return accepted, refused


# ---------------------------------------------------------------- sessions


@dataclass(eq=False)
class Session:
    """One visitor's collection folder and what it has used."""

    key: str
    folder: Path
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0
    spent_s: float = 0.0  # seconds of indexing so far (SOURCED_MAX_INGEST_S)
    size: int = 0  # bytes on disk, measured after each change
    ended: str = ""  # why the folder is gone; empty while the session lives
    collection: object = field(default=None, repr=False)  # the app's open rag.Collection

    @property
    def uploads(self) -> Path:
        return self.folder / UPLOADS

    @property
    def live(self) -> bool:
        return not self.ended and self.folder.is_dir()


class SessionStore:
    """One app's live sessions, under `root`, at most `max_sessions` and `max_bytes`;
    `milvus_token` drops a Milvus-held session's collection from a protected server."""

    def __init__(self, root: Path, max_sessions: int, max_bytes: int, milvus_token: str = ""):
        self.root = Path(root)
        self.milvus_token = milvus_token
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def folder(self, session_id: str) -> Path:
        """A new folder name for `session_id`: hashed, so a client-chosen id can never
        name a path outside the root, and new for every session, so work still running
        for an ended one can never write into its successor's folder."""
        return self.root / f"{hashlib.sha256(session_id.encode()).hexdigest()[:24]}-{secrets.token_hex(4)}"

    def get(self, session_id: str) -> Session:
        """The live session of `session_id`, or an unsaved one with no folder yet
        (asking a question needs no folder; only an upload makes one)."""
        with self._lock:
            return self._touch(session_id) or Session(session_id, self.folder(session_id))

    def create(self, session_id: str) -> Session:
        """The live session of `session_id`, made (with its folder) if needed; makes room
        by ending the session idle the longest.

        Raises:
            SessionLimitError: `max_sessions` sessions are all busy.
        """
        with self._lock:
            found = self._touch(session_id)
            if found is not None:
                return found
            while len(self._sessions) >= self.max_sessions:
                if not self._evict_idlest(keep=session_id):
                    raise SessionLimitError(f"the server is busy with {self.max_sessions} sessions (SOURCED_MAX_SESSIONS); try again in a few minutes")
            session = Session(session_id, self.folder(session_id))
            session.folder.mkdir(mode=0o700, exist_ok=True)
            self._sessions[session_id] = session
            return session

    def _touch(self, session_id: str) -> Session | None:
        """The live session of `session_id`, marked used now; call with the lock held."""
        found = self._sessions.get(session_id)
        if found is None or not found.live:
            return None
        found.last_used = time.monotonic()
        return found

    @contextlib.contextmanager
    def using(self, session: Session) -> Iterator[Session]:
        """Mark `session` busy (never evicted) while work runs; then measure its size
        and end the idlest other sessions while the total is over `max_bytes`."""
        with self._lock:
            session.busy += 1
            session.last_used = time.monotonic()
        try:
            yield session
        finally:
            if session.ended:  # ended while the work ran: remove whatever it left
                discard(session.folder, self.milvus_token)
            size = folder_size(session.folder) if session.live else 0
            with self._lock:
                session.busy -= 1
                session.size = size
                session.last_used = time.monotonic()
                while self.total_bytes() > self.max_bytes:
                    if not self._evict_idlest(keep=session.key):
                        break

    def end(self, session: Session | str | None, reason: str = ENDED) -> None:
        """Delete a session's folder and forget it (the tab closed, its state expired,
        or the visitor cleared it). Work still running for it stops at its next check."""
        if session is None:
            return
        key = session if isinstance(session, str) else session.key
        with self._lock:
            found = self._sessions.pop(key, None)
        for s in {id(s): s for s in (found, session) if isinstance(s, Session)}.values():
            s.ended = s.ended or reason
            discard(s.folder, self.milvus_token)

    def close(self) -> None:
        """Delete every session (the server stops)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.ended = s.ended or ENDED
        shutil.rmtree(self.root, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._sessions)

    def total_bytes(self) -> int:
        return sum(s.size for s in self._sessions.values())

    def _evict_idlest(self, keep: str) -> bool:
        """End the idle session used longest ago (not `keep`); False when none is idle.
        Call with the lock held."""
        idle = [s for s in self._sessions.values() if s.busy == 0 and s.key != keep]
        if not idle:
            return False
        victim = min(idle, key=lambda s: s.last_used)
        del self._sessions[victim.key]
        victim.ended = EVICTED
        discard(victim.folder, self.milvus_token)
        log.info("evicted the session idle for %.0f s to make room", time.monotonic() - victim.last_used)
        return True


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under `folder` (0 when it is gone)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total
