"""The attacks of docs/SECURITY.md, each against a live app over raw HTTP (fake models).

An attacker here knows more than a real one could: the server's folders, every file
in them, and the victim's document id. None of it must get them a byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import app
from ingest.sessions import EVICTED, SessionLimitError, SessionStore, claim, claim_uploads, clean_name, sweep
from ingest.settings import Settings
from rag.pipeline import Models

from .fakes import HASH_GATE, HashEmbedder, ScriptedGenerator

SECRET = "The vault code of Harbor Labs is 7731-ALPHA."
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """A raw HTTP client of one Gradio session (what curl does, with a session hash)."""

    def __init__(self, base: str):
        self.base = base
        self.session = secrets.token_hex(8)
        self.http = httpx.Client(base_url=base, timeout=60)

    def upload(self, path: Path) -> str:
        """Gradio's upload route, as the browser uses it; returns the stored path."""
        with open(path, "rb") as f:
            r = self.http.post("/gradio_api/upload", files={"files": (path.name, f)})
        r.raise_for_status()
        return r.json()[0]

    def call(self, api: str, *data) -> tuple[str, object]:
        """(event kind, data) of /gradio_api/call/<api>: 'complete' or 'error'."""
        r = self.http.post(f"/gradio_api/call/{api}", json={"data": list(data), "session_hash": self.session})
        r.raise_for_status()
        kind, payload = "error", None
        with self.http.stream("GET", f"/gradio_api/call/{api}/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind in ("complete", "error"):
                    payload = json.loads(line[6:]) if line[6:] not in ("", "null") else None
                    return kind, payload
        return kind, payload

    def file(self, path: str | Path) -> bytes:
        """What the file route serves for `path` (b"" when it refuses)."""
        r = self.http.get(f"/gradio_api/file={path}")
        return r.content if r.status_code == 200 else b""


def file_data(path: str | Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


@pytest.fixture
def live(tmp_path):
    """The app with fake models on a free port; yields (demo, base url)."""
    gen = ScriptedGenerator([("vault code", "The vault code is 7731-ALPHA [1].")])
    models = Models(Settings(mode="hybrid", public="1", **HASH_GATE), embedder=HashEmbedder(), reranker=None, reranker_reason="off in tests", generator=gen)
    demo = app.build_app(models)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(models.settings))
    yield demo, f"http://127.0.0.1:{port}"
    demo.close()


def test_a_second_session_gets_no_byte_of_the_first_ones_upload(live, tmp_path):
    demo, base = live
    secret = tmp_path / "vault.txt"
    secret.write_text(SECRET)
    alice = Api(base)
    kind, (_, report, documents, *_) = alice.call("upload", [file_data(alice.upload(secret))])
    assert kind == "complete" and "vault.txt | indexed" in report
    kind, (_, chat, *_) = alice.call("ask", "What is the vault code?", "hybrid", 5)
    assert "7731-ALPHA" in json.dumps(chat)

    mallory = Api(base)
    private = demo.handlers.root.parents[1]  # the process's private folder
    targets = [demo.handlers.uploads, private, demo.handlers.root, *[p for p in private.rglob("*")]]
    assert any(p.name == "chunks.jsonl" for p in targets) and any(".uploads" in p.parts and p.is_file() for p in targets)
    for target in targets:
        kind, out = mallory.call("upload", [file_data(target)])
        assert kind == "error" or "indexed" not in out[1], f"{target} was indexed for another session"
        assert b"7731" not in mallory.file(target), f"{target} is served"
    kind, (_, documents, *_) = mallory.call("documents")
    assert documents["data"] == []
    kind, (_, chat, sources, passages, details, *_) = mallory.call("ask", "What is the vault code?", "hybrid", 5)
    assert "7731" not in json.dumps([chat, sources, passages]) and "vault.txt" not in sources
    mallory.call("remove", hashlib.sha256(SECRET.encode()).hexdigest())  # alice's document id
    kind, (_, documents, *_) = alice.call("documents")
    assert [r[0] for r in documents["data"]] == ["vault.txt"], "alice keeps her document"
    assert not any(p.is_dir() and p.parent == demo.handlers.uploads for p in demo.handlers.uploads.iterdir()), "the raw upload left Gradio's cache"


def test_the_directory_upload_of_the_report_is_refused_with_a_message(live):
    demo, base = live
    kind, out = Api(base).call("upload", [file_data(demo.handlers.uploads)])
    assert kind == "complete", out
    assert "not a file uploaded to this page" in out[1] and "0 added" in out[1]
    assert not any(str(demo.handlers.uploads) == p for s in demo.temp_file_sets for p in s), "no folder left in Gradio's file lists"


def test_claim_uploads_takes_only_regular_files_gradio_stored(tmp_path):
    uploads, dest = tmp_path / "uploads", tmp_path / "session" / ".uploads"
    (uploads / "h1").mkdir(parents=True)
    (uploads / "h2").mkdir()
    good = uploads / "h1" / "notes.txt"
    good.write_text("fine")
    unlisted = uploads / "h2" / "other.txt"
    unlisted.write_text("someone else's")
    link = uploads / "h2" / "link.txt"
    link.symlink_to(good)
    dest.parent.mkdir()
    stored = {str(good), str(link), str(uploads / "h2")}
    accepted, refused = claim_uploads([str(good), str(unlisted), str(link), str(uploads / "h2"), str(uploads), "/etc/passwd"], uploads, stored, dest)
    assert [(p.parent, name) for p, name in accepted] == [(dest, "notes.txt")]
    assert accepted[0][0].read_text() == "fine" and not good.exists() and not (uploads / "h1").exists()
    assert [r["path"] for r in refused] == ["other.txt", "link.txt", "h2", "uploads", "passwd"]
    assert all(r["reason"] == "not a file uploaded to this page" for r in refused)


def test_names_lose_bidirectional_controls():
    assert clean_name("/x/invoice\u202eexe.txt") == "invoiceexe.txt"
    assert clean_name("a\u2066b\u200f.md") == "ab.md"
    assert clean_name("..\\..\\evil.txt") == "evil.txt"
    assert clean_name(".") == "unnamed"


# ---------------------------------------------------------------- hostile uploads


class TokenCountingEmbedder(HashEmbedder):
    """The hash embedder with MiniLM's real tokenizer for the token cap: tokenising a
    whole 50 MB line at once is what drove the app to 8 GB."""

    max_tokens = 254

    def __init__(self):
        super().__init__()
        from tokenizers import Tokenizer

        from ingest.models import DEFAULT_EMBEDDER, resolve

        self._tokenizer = Tokenizer.from_file(str(Path(resolve(DEFAULT_EMBEDDER, "SOURCED_EMBEDDER")) / "tokenizer.json"))

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def _words(n_bytes: int) -> str:
    words, size, i = [], 0, 0
    while size < n_bytes:
        words.append(f"w{i % 9973}x")
        size += len(words[-1]) + 1
        i += 1
    return " ".join(words)[:n_bytes]


HOSTILE = {
    "heading-24kb.md": lambda: "# a " + "# " * 12000 + "b",
    "heading-1mb.md": lambda: "# a " + "# " * 500_000 + "b",
    "one-line-5mb.txt": lambda: _words(5_000_000),
    "one-line-50mb.txt": lambda: _words(50_000_000),
    "word-10mb.md": lambda: "a" * 10_000_000,
}


@pytest.mark.slow  # loads the real tokenizer
def test_hostile_uploads_are_bounded_while_the_server_answers(tmp_path):
    models = Models(Settings(mode="hybrid", public="1", **HASH_GATE), embedder=TokenCountingEmbedder(), reranker=None, generator=ScriptedGenerator())
    demo = app.build_app(models)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(models.settings))
    base, latencies, done = f"http://127.0.0.1:{port}", [], threading.Event()

    def poll():  # another client, asking the queue's status all along
        with httpx.Client(base_url=base, timeout=30) as other:
            while not done.is_set():
                t = time.perf_counter()
                other.get("/gradio_api/queue/status").raise_for_status()
                latencies.append(time.perf_counter() - t)
                time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for name, build in HOSTILE.items():
            path = tmp_path / name
            path.write_text(build())
            api = Api(base)
            t = time.perf_counter()
            kind, out = api.call("upload", [file_data(api.upload(path))])
            seconds = time.perf_counter() - t
            assert kind == "complete", out
            row = next(line for line in out[1].splitlines() if line.startswith(f"| {name} |"))
            # bounded, not fast: the 5 MB line is indexed whole (4,537 passages, each one
            # tokenized, embedded and counted: 7 s on a quiet 2-core machine, 16 s in a busy
            # CI run); unbounded, the 50 MB line took minutes and 8 GB
            assert seconds < 40, f"{name}: {seconds:.1f} s"
            assert "skipped: " in row or int(row.split("indexed, ")[1].split()[0].replace(",", "")) <= models.settings.max_chunks, row
            print(f"{name}: {seconds:.1f} s, {row}")
    finally:
        done.set()
        poller.join()
        demo.close()
    assert max(latencies) < 1.0, f"queue/status took up to {max(latencies):.2f} s while the uploads ran"


# ---------------------------------------------------------------- streaming


def test_the_stream_never_carries_a_foreign_image_or_html(tmp_path):
    leak = "http://127.0.0.1:9/leak?q=secret"
    gen = ScriptedGenerator([("vault code", f"The code is 7731-ALPHA ![x]({leak}) <img src={leak}> [1].")])
    models = Models(Settings(mode="hybrid", public="1", **HASH_GATE), embedder=HashEmbedder(), reranker=None, generator=gen)
    h = app.Handlers(models, models.settings, tmp_path / "sessions")
    from .test_app import upload

    doc = tmp_path / "vault.txt"
    doc.write_text(SECRET)
    tab, *_ = upload(h, [doc])
    outputs = list(h.respond("What is the vault code?", tab, "hybrid", 5))
    shown = [out[1][-1]["content"] for out in outputs if out[1]]
    assert any("7731-ALPHA" in s for s in shown[:-1]), "the answer streamed"
    assert not any(leak in s or "<img" in s for s in shown), [s for s in shown if leak in s or "<img" in s]


# ---------------------------------------------------------------- sessions


def test_the_idlest_session_is_evicted_first_and_busy_ones_never(tmp_path):
    store = SessionStore(tmp_path, max_sessions=2, max_bytes=1 << 30)
    a, b = store.create("a"), store.create("b")
    store.get("a")  # a was used after b
    with store.using(b):
        c = store.create("c")  # b is busy, so a goes although b is older
    assert a.ended == EVICTED and not a.folder.exists() and b.live and c.live
    with store.using(b), store.using(c), pytest.raises(SessionLimitError, match="try again"):
        store.create("d")


def test_sessions_past_the_size_cap_evict_the_idlest(tmp_path):
    store = SessionStore(tmp_path, max_sessions=10, max_bytes=3000)
    a, b = store.create("a"), store.create("b")
    for s in (a, b):
        with store.using(s):
            (s.folder / "data").write_bytes(bytes(2000))
    assert a.ended == EVICTED and b.live and store.total_bytes() == 2000


def test_an_evicted_visitor_is_told(tmp_path, docs):
    from .test_app import upload

    models = Models(Settings(mode="hybrid", public="1", max_sessions=1, **HASH_GATE), embedder=HashEmbedder(), reranker=None, generator=ScriptedGenerator())
    h = app.Handlers(models, models.settings, tmp_path / "sessions")
    first, *_ = upload(h, [docs["md"]])
    upload(h, [docs["pdf"]])
    assert first.session.ended == EVICTED
    with pytest.warns(UserWarning, match="removed to make room"):
        outputs = list(h.respond("How long is the warranty?", first, "hybrid", 3))
    assert "No documents are indexed yet" in outputs[-1][1][-1]["content"]


def test_a_session_that_ends_stops_its_ingest_and_its_folder_stays_gone(tmp_path):
    """The tab closes while a big upload is embedding: the work stops at its next batch."""
    from .test_app import stage

    class Slow(HashEmbedder):
        def embed(self, texts, *, query=False):
            time.sleep(0.05)
            return super().embed(texts, query=query)

    models = Models(Settings(mode="hybrid", public="1"), embedder=Slow(), reranker=None, generator=ScriptedGenerator())
    h = app.Handlers(models, models.settings, tmp_path / "sessions")
    big = tmp_path / "big.txt"
    big.write_text(" ".join(f"Sentence {i} of a long report." for i in range(20000)))
    tab = app.Tab()
    session = h.open_session(tab, app_request("tab-1"), create=True)
    threading.Timer(0.5, h.end_session, args=(app_request("tab-1"),)).start()
    t = time.monotonic()
    with pytest.raises(app.gr.Error, match="session ended"):
        h.upload_files(stage(h, [big]), tab, app_request("tab-1"))
    assert time.monotonic() - t < 5
    time.sleep(0.3)
    assert not session.folder.exists() and list(h.root.iterdir()) == []


def app_request(session_hash: str):
    from types import SimpleNamespace

    return SimpleNamespace(session_hash=session_hash)


# ---------------------------------------------------------------- the private root


def test_start_up_sweeps_folders_of_dead_processes_and_keeps_live_ones(tmp_path):
    root = tmp_path / "private"
    dead = root / "p-1-dead"
    (dead / "sessions" / "x").mkdir(parents=True)
    (dead / ".lock").touch()
    (dead / "sessions" / "x" / "chunks.jsonl").write_text(SECRET)
    alive = root / "p-2-alive"
    alive.mkdir()
    (alive / ".lock").touch()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", str(alive / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert sweep(root) == 1
        assert not dead.exists() and alive.exists()
        mine = claim(root)
        assert mine.path.parent == root and mine.uploads.is_dir() and claim(root) is mine
        assert sweep(root) == 0, "the claiming process's own folder is never swept"
    finally:
        holder.kill()
        holder.wait()
    assert sweep(root) == 1 and not alive.exists()


SERVER = """
import sys, time
sys.path.insert(0, {root!r})
import app
from ingest.settings import Settings
from rag.pipeline import Models
from tests.fakes import HashEmbedder, ScriptedGenerator

class Slow(HashEmbedder):
    def embed(self, texts, *, query=False):
        time.sleep(0.2)
        return super().embed(texts, query=query)

settings = Settings(mode="hybrid", public="1", private_dir={private!r})
demo = app.build_app(Models(settings, embedder=Slow(), reranker=None, generator=ScriptedGenerator()), settings)
demo.launch(server_name="127.0.0.1", server_port={port}, quiet=True, **app.launch_options(settings))
"""


def quietly(fn, *args) -> None:
    """Run `fn`; the server it talks to is about to be killed."""
    try:
        fn(*args)
    except httpx.HTTPError:
        pass


def start_server(private: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), private=str(private), port=port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the app did not start")


@pytest.mark.slow  # starts the app twice in a subprocess: about 5 s
def test_kill_9_during_an_upload_leaves_nothing_after_a_restart(tmp_path):
    private, port = tmp_path / "private", free_port()
    doc = tmp_path / "report.txt"
    doc.write_text(" ".join(f"Line {i}: {SECRET}" for i in range(3000)))
    server = start_server(private, port)
    try:
        api = Api(f"http://127.0.0.1:{port}")
        stored = api.upload(doc)
        threading.Thread(target=quietly, args=(api.call, "upload", [file_data(stored)]), daemon=True).start()
        deadline = time.monotonic() + 30
        while not list(private.glob("p-*/sessions/*/*/.uploads/*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        before = [p for p in private.rglob("*") if p.is_file() and p.name != ".lock"]
        assert any(".uploads" in p.parts for p in before), "the upload was being indexed"
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    killed = {p.relative_to(private).parts[0] for p in before}
    assert all((private / k).exists() for k in killed), "kill -9 ran no clean-up"
    server = start_server(private, port)
    try:
        assert not any((private / k).exists() for k in killed)
        assert [p for p in private.rglob("*") if p.is_file() and p.name != ".lock"] == []
    finally:
        server.terminate()
        server.wait(timeout=30)
