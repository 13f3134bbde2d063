"""Parse untrusted files in a child process, under a wall-clock and a memory limit.

Why a child process: a hostile or broken file can make a parser loop for minutes or
allocate gigabytes. pypdf guards some cases itself (stream inflation stops at 75 MB,
cyclic page trees are detected), but not every path, and a thread cannot be killed.
A child can: it runs `ingest.loaders.load` with RLIMIT_AS set before pypdf is even
imported, and is killed when it overruns its time. One hostile file then costs at
most `timeout_s` seconds and `memory_mb` megabytes, and the app keeps serving: the
parse holds no lock of the app's interpreter (a Markdown heading that made a regex
run for 11 s froze every other request while it ran in-process). Text and Markdown
go through the child too; starting it costs ~40 ms.

Why JSON: the child parsed untrusted bytes, so what it returns is untrusted too.
It comes back as JSON (plain strings and numbers) and is validated here; nothing
from the child is ever unpickled.

Protocol: `python -m ingest.sandbox` reads one JSON request on stdin
({"path", "name", "max_bytes", "max_pages", "max_chars", "memory_mb", "ocr"}) and writes one
JSON reply on stdout: {"pages": [{"page", "text", "section", "ocr"}, ...]} or
{"error": kind, "reason": str}. A file with more than `max_chars` characters of text
is refused in the child, so the app never receives (or chunks) a 50 MB reply.

OCR (scanned pages, ingest.ocr) takes seconds a page, so the child reports it on
stderr, one line per page (PROGRESS, then "done total"): the parent passes it on to
`progress` and, when a page's OCR starts, allows OCR_SECONDS_PER_PAGE more seconds
on top of `timeout_s`. `stop()` is asked while the child runs, so the caller's own
limits (the app's indexing deadline, a session that ended) end a long OCR too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import LoadError
from .loaders import DEFAULT_MAX_BYTES, DEFAULT_MAX_PAGES, check_size
from .loaders import load as load_in_process
from .ocr import DEFAULT_OCR, SECONDS_PER_PAGE, OcrOptions, OcrProgress
from .types import Page

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 2048
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
PROGRESS = "\x1esourced-ocr "  # starts the child's progress lines on stderr
OCR_SECONDS_PER_PAGE = SECONDS_PER_PAGE
STOPPED = "not indexed: the time allowed for indexing ran out while this file was read (SOURCED_MAX_INGEST_S)"


def load(
    path: str | Path,
    *,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    max_chars: int | None = None,
    ocr: OcrOptions = DEFAULT_OCR,
    progress: OcrProgress | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[Page]:
    """`ingest.loaders.load`, run in a limited child process.

    Args:
        timeout_s: the limit for parsing, plus OCR_SECONDS_PER_PAGE for each page OCRed.
        progress: (pages OCRed, pages to OCR), as the child reports them.
        stop: asked every 0.1 s; True kills the child (LoadError STOPPED), and an
            exception it raises (IngestCancelled) is raised once the child is gone.

    Raises:
        LoadError: whatever `loaders.load` raises, and also when parsing takes longer
            than its time, needs more than `memory_mb` of memory, or yields more
            than `max_chars` characters of text.
    """
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError(f"parse limits must be positive; got timeout_s={timeout_s}, memory_mb={memory_mb}")
    path = Path(path)
    name = name or path.name
    check_size(path, name, max_bytes)  # refuse a 5 GB upload before starting anything
    if max_chars is not None and max_chars < 1:
        raise LoadError(name, "not indexed: the collection has no room left (its passage limit is reached)")
    request = {"path": str(path.resolve()), "name": name, "max_bytes": max_bytes, "max_pages": max_pages, "max_chars": max_chars,
               "memory_mb": memory_mb, "ocr": ocr.to_dict()}
    reply = _run_child(request, name, timeout_s, memory_mb, progress, stop)
    return _pages_from_reply(reply, name)


def _run_child(request: dict, name: str, timeout_s: float, memory_mb: int, progress: OcrProgress | None = None, stop: Callable[[], bool] | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        close_fds=True,
    )
    watcher = _Watcher(proc, progress)
    try:
        try:
            proc.stdin.write(json.dumps(request).encode())
            proc.stdin.close()
        except BrokenPipeError:  # the child died at once: its exit code says why, below
            pass
        out = watcher.wait(timeout_s, stop)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pages = f" and {watcher.total} page(s) of OCR" if watcher.total else ""
        raise LoadError(name, f"parsing{pages} took longer than {watcher.allowed(timeout_s):g} s; the file may be malformed") from None
    except _Stopped:
        proc.kill()
        proc.wait()
        raise LoadError(name, STOPPED) from None
    except BaseException:  # KeyboardInterrupt, the caller's thread unwinding, stop() raising: leave no child behind
        proc.kill()
        proc.wait()
        raise
    err = watcher.stderr()
    try:
        reply = json.loads(out)
    except ValueError:
        reply = None
    if isinstance(reply, dict) and ("pages" in reply or "error" in reply):
        if reply.get("error") == "memory":
            raise LoadError(name, f"parsing needed more than {memory_mb} MB of memory; the file may be malformed")
        return reply
    # The child died without a reply: a crash in C code, or an allocation failure
    # that Python could not even report.
    tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    if "MemoryError" in tail[0] or proc.returncode in (-6, -9, -11):
        raise LoadError(name, f"parsing needed more than {memory_mb} MB of memory; the file may be malformed")
    raise LoadError(name, f"the parser stopped unexpectedly (exit code {proc.returncode}); the file may be malformed")


class _Stopped(Exception):
    """stop() said so."""


class _Watcher:
    """Reads the child's stdout (the reply) and stderr (progress lines, then anything
    a library printed) in threads, so neither pipe fills while the parent waits."""

    def __init__(self, proc: subprocess.Popen, progress: OcrProgress | None):
        self.proc, self.progress = proc, progress
        self.started = 0  # OCR pages begun: each adds OCR_SECONDS_PER_PAGE to the time allowed
        self.total = 0
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._threads = [threading.Thread(target=lambda: self._out.append(proc.stdout.read()), daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            text = line.decode("utf-8", "replace")
            if text.startswith(PROGRESS):
                try:
                    done, total = (int(x) for x in text[len(PROGRESS):].split())
                except ValueError:
                    continue
                self.started, self.total = min(done + 1, total), total
                if self.progress:
                    self.progress(done, total)
            elif sum(map(len, self._err)) < 65536:  # keep the tail small: a library may print a lot
                self._err.append(line)

    def allowed(self, timeout_s: float) -> float:
        return timeout_s + OCR_SECONDS_PER_PAGE * self.started

    def wait(self, timeout_s: float, stop: Callable[[], bool] | None) -> bytes:
        start = time.monotonic()
        while True:
            try:
                self.proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - start > self.allowed(timeout_s):
                    raise
                if stop is not None and stop():
                    raise _Stopped() from None
        for t in self._threads:
            t.join(timeout=5)
        return b"".join(self._out)

    def stderr(self) -> bytes:
        return b"".join(self._err)


def _pages_from_reply(reply: dict, name: str) -> list[Page]:
    if "error" in reply:
        raise LoadError(name, str(reply.get("reason", "the file could not be read")))
    pages = []
    for p in reply["pages"]:
        if not (isinstance(p, dict) and isinstance(p.get("page"), int) and isinstance(p.get("text"), str) and isinstance(p.get("section", ""), str)):
            raise LoadError(name, "the parser returned malformed output")
        pages.append(Page(name, p["page"], p["text"], p.get("section", ""), bool(p.get("ocr", False))))
    return pages


# ---------------------------------------------------------------- the child


def _limit_memory(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _die_with_parent() -> None:
    """Linux: if the ingest process is killed, its parser child goes too."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _report(done: int, total: int) -> None:
    sys.stderr.write(f"{PROGRESS}{done} {total}\n")
    sys.stderr.flush()


def _child_main() -> int:
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        return 1
    # Only the reply goes to the real stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    request = json.loads(sys.stdin.read())
    _limit_memory(int(request["memory_mb"]))
    try:
        pages = load_in_process(request["path"], max_bytes=request["max_bytes"], name=request["name"], max_pages=request["max_pages"],
                                ocr=OcrOptions(**request.get("ocr", {})), progress=_report)
        chars, limit = sum(len(p.text) for p in pages), request.get("max_chars")
        if limit is not None and chars > limit:
            raise LoadError(request["name"], f"the file holds {chars:,} characters of text, more than the {limit:,} that fit in what is left of the collection's passage limit; split it, or raise SOURCED_MAX_CHUNKS")
        reply = {"pages": [{"page": p.page, "text": p.text, "section": p.section, "ocr": p.ocr} for p in pages]}
    except LoadError as e:
        reply = {"error": "load", "reason": e.reason}
    except MemoryError:
        reply = {"error": "memory"}
    try:
        out.write(json.dumps(reply, ensure_ascii=False))
        out.flush()
    except MemoryError:  # the pages fit but their JSON does not
        sys.stderr.write("MemoryError\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
