"""Sourced's web app: layout and wiring only; `ingest` and `rag` do the work.

Two modes (Settings.is_public):

- **Local library** (the default on a person's own machine): collections live in a
  library folder (ingest.library, SOURCED_LIBRARY) and survive reloads and restarts,
  with their conversations. Each is an ordinary index folder that `python -m ingest`
  and `python -m rag ask|search|tune --index` open too; a collection can be tuned here.
- **Public** (on a Hugging Face Space, or SOURCED_PUBLIC=1): each browser session gets
  its own private collection folder under the private root (ingest.sessions), deleted
  when the session ends. The threat model: docs/SECURITY.md.

In both, uploads are taken only from Gradio's own upload cache and moved into the
collection's folder. One `Models` is shared by every tab and loads lazily, so the
page is up before any model is.

    python app.py      # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)
"""

from __future__ import annotations

import atexit
import contextlib
import html
import logging
import os
import secrets
import shutil
import signal
import threading
import time
from collections import deque
from pathlib import Path

import gradio as gr

from ingest import IngestError
from ingest import index as index_store
from ingest.library import Library, default_library
from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.models import ModelUnavailableError
from ingest.pipeline import Limits, ingest, remove
from ingest.sessions import EVICTED, Session, SessionStore, claim, claim_uploads, default_root
from ingest.settings import MODES, Settings
from rag.pageview import PageCache, locate
from rag.pipeline import Collection, Models, ask, log_timings_to
from rag.render import answer_markdown, chat_markdown, plural, render_details, render_page_view, render_passages, render_report, render_sources

log = logging.getLogger("sourced.app")

SAMPLE = Path(__file__).resolve().parent / "assets" / "sourced-sample.md"
SAMPLE_QUESTIONS = [
    "How long does a full charge take?",
    "What tyre pressure should the front tyre have?",
    "How often should I lubricate the chain?",
]
SESSION_TTL_S = 3 * 3600  # an idle API session's documents live this long (public mode)
QUEUE_SIZE = 64  # requests waiting beyond this are refused, not queued forever
CONCURRENCY = 2  # events running at once; the LLM itself serialises its calls
STOPPED = "_Stopped._"
PASSAGE_COLUMNS = ["#", "File", "Page", "BM25 rank", "Dense rank", "Fused", "Rerank", "Passage"]
PASSAGE_WIDTHS = ["4%", "14%", "6%", "9%", "9%", "8%", "8%", "42%"]
DOCUMENT_COLUMNS = ["File", "Pages", "Chunks"]
# Defence in depth beside sanitising: the page loads no image from another origin,
# so an image a model (or a document) smuggles into an answer fetches nothing.
HEAD = """<meta http-equiv="Content-Security-Policy" content="img-src 'self' data: blob:">"""
CSS = """
#title h1 { margin-bottom: 0; }
#title p { margin-top: .25rem; color: var(--body-text-color-subdued); }
.sources .source { border-left: 3px solid var(--color-accent); padding: .4rem .8rem; margin: .6rem 0; }
.sources .head { font-size: .9em; color: var(--body-text-color-subdued); margin-bottom: .25rem; }
.sources .n { font-weight: 600; color: var(--color-accent); margin-right: .35rem; }
.sources .ocr { font-size: .75em; font-weight: 600; border: 1px solid currentColor; border-radius: 3px; padding: 0 .25em; margin-left: .35rem; }
.sources p { margin: 0; }
.sources mark { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: 2px; }
.sources .empty { color: var(--body-text-color-subdued); }
.sources [data-cite] { cursor: pointer; }
.sources [data-cite]:hover { background: var(--background-fill-secondary); }
.pageview .head { font-size: .9em; color: var(--body-text-color-subdued); margin: .25rem 0; }
.pageview .note { font-size: .9em; color: var(--body-text-color-subdued); border-left: 3px solid #f59e0b; padding-left: .6rem; }
.pageview .empty { color: var(--body-text-color-subdued); font-size: .9em; }
.pageview .page { position: relative; margin: .5rem auto; box-shadow: 0 1px 4px rgba(0,0,0,.25); }
.pageview .page img { display: block; width: 100%; height: auto; }
.pageview .hl { position: absolute; background: rgba(250, 204, 21, .38); outline: 2px solid rgba(234, 179, 8, .9); border-radius: 2px; pointer-events: none; }
.pageview .pagetext { white-space: pre-wrap; font-family: inherit; font-size: .95em; max-height: 640px; overflow: auto; background: var(--background-fill-secondary); padding: .8rem; }
.pageview mark { background: #fde68a; color: inherit; }
.tune progress { width: 100%; accent-color: var(--color-accent); }
.tune { font-size: .9em; }
#waiting p { color: var(--body-text-color-subdued); font-size: .9em; margin: 0; }
.tight { align-items: flex-end; }
"""


# The page view's js_on_load: a click on a citation (a `#cite-` link in the chat, or a
# source card's data-cite) anywhere on the page becomes this component's click event
# with the citation (rag.pageview.target); after each update the highlight is scrolled to.
PAGE_VIEW_JS = """
window.sourcedOpenCitation = (cite) => trigger('click', {cite: cite});
if (!window.sourcedCitationClicks) {
    window.sourcedCitationClicks = true;
    const open = (event) => {
        const el = event.target.closest && event.target.closest('a[href^="#cite-"], [data-cite]');
        if (!el || (event.type === 'keydown' && event.key !== 'Enter' && event.key !== ' ')) return;
        event.preventDefault();
        event.stopPropagation();
        window.sourcedOpenCitation(el.dataset.cite || decodeURIComponent(el.getAttribute('href').slice(6)));
    };
    document.addEventListener('click', open, true);
    document.addEventListener('keydown', open, true);
}
watch('value', () => {
    const spot = element.querySelector('.hl, mark, .note') || element;
    spot.scrollIntoView({block: 'center'});
});
"""


def picker_types_only(upload: gr.File) -> gr.File:
    """Let `upload.file_types` set only the browser's file picker (`accept=`, and the
    drop filter), which refuse a wrong file before it is sent; the server leaves the
    type to ingest, which checks each file by content and reports it. (gr.File itself
    refuses the whole batch when one file has a wrong type, losing the per-file report.
    An instance patch, not a subclass: a gr.File subclass makes Gradio write app.pyi.)"""
    from gradio.utils import NamedString

    check = upload._process_single_file
    upload._process_single_file = lambda f: NamedString(f.path) if upload.type == "filepath" else check(f)
    return upload


def accepted_types(suffixes) -> str:
    """The file types ingest reads, in words for the upload box's hint."""
    return "Accepted: " + " ".join(sorted(suffixes)) + "."


USER_ERRORS = (IngestError, ModelUnavailableError, ValueError)  # domain errors, shown to the user in words


@contextlib.contextmanager
def user_errors():
    """The one place where domain errors become messages for the user."""
    try:
        yield
    except USER_ERRORS as e:
        log.info("shown to the user: %s", e)
        raise gr.Error(html.escape(str(e)), title="Sourced", print_exception=False) from e


class Tab:
    """One browser tab: its collection, its conversation, and the questions waiting
    behind the one being answered. Lives in `gr.State`, the same object for every
    event (a plain class: Gradio serialises dataclass values of a State)."""

    def __init__(self, session: Session | None = None):
        self.session = session
        self.chat: list[dict] = []
        self.pending: deque[str] = deque()
        self.answering = False
        self.stop = False
        self.reply: dict | None = None  # the answer streaming now
        self.pages = PageCache()  # the pages this tab's page view rendered
        self.lock = threading.Lock()

    def __deepcopy__(self, memo) -> "Tab":
        return Tab()  # gr.State copies its initial value for each new tab: a fresh one


# ---------------------------------------------------------------- handlers


class Handlers:
    """The app's event handlers, bound to the shared models and one app's collections.

    Bound methods (not partials) so that Gradio sees their signatures and type
    hints: it injects `gr.Request` and `gr.Progress` by looking at them.

    Args:
        root: where this app's public session folders go.
        uploads: Gradio's upload cache; only files Gradio stored there are taken.
        library: the local library; None = public mode.
    """

    def __init__(self, models: Models, settings: Settings, root: Path, uploads: Path | None = None, library: Library | None = None):
        self.models = models
        self.settings = settings
        self.library = library
        self.sessions = SessionStore(root, settings.max_sessions, int(settings.max_sessions_mb * 2**20), settings.milvus_token)
        self.root = self.sessions.root
        self.uploads = Path(uploads) if uploads else self.root.parent / ".gradio-uploads"
        self.demo: gr.Blocks | None = None  # set by build_app: Gradio's record of uploads and running events
        self.stored: set[str] = set()  # the paths Gradio's upload route wrote (demo.upload_file_set)
        self.tunes: dict[str, object] = {}  # collection folder -> its latest rag.tune.TuneJob

    # -- whose collection

    def open_session(self, tab: Tab, request: gr.Request | None = None, create: bool = False) -> Session:
        """The tab's collection. Public: the visitor's session (only an upload creates its
        folder; an evicted visitor is told so, once). Local: the collection the tab has
        open, else the one opened last; an upload into an empty library makes one."""
        if self.library is not None:
            session = tab.session if tab.session is not None and tab.session.live else self.library.current()
            if session is None and create:
                session = self.library.create()
            tab.session = session or Session("", self.library.root / ".none")
            return tab.session
        if tab.session is not None and tab.session.live:
            return tab.session
        if tab.session is not None and tab.session.ended == EVICTED:
            gr.Warning(EVICTED)
        key = getattr(request, "session_hash", None) or (tab.session.key if tab.session else secrets.token_hex(16))
        tab.session = self.sessions.create(key) if create else self.sessions.get(key)
        return tab.session

    def using(self, session: Session):
        return self.library.using(session) if self.library is not None else self.sessions.using(session)

    def collection(self, session: Session) -> Collection:
        """The session's open collection, with its own tuned models when it has them."""
        models = self.models.for_collection(session.folder)
        if session.collection is None or session.collection.models is not models:
            session.collection = Collection(session.folder, models)
        return session.collection

    def end_session(self, request: gr.Request) -> None:
        """demo.unload: the tab was closed or reloaded; in public mode its collection goes now."""
        if self.library is None and request is not None and request.session_hash:
            self.sessions.end(request.session_hash)

    def close_tab(self, tab: Tab | None) -> None:
        """gr.State's delete_callback: in public mode the session's documents go with it."""
        if self.library is None and tab is not None:
            self.sessions.end(tab.session)

    # -- documents

    def upload_files(self, files: list[str] | None, tab: Tab, request: gr.Request = None, progress=gr.Progress()):
        """Index uploaded files into the tab's collection; report each file."""
        paths = [str(f) for f in files or []]
        if not paths:
            return tab, "No files received.", *self.documents(tab), None
        with user_errors():
            session = self.open_session(tab, request, create=True)
            try:
                claimed, refused = claim_uploads(paths, self.uploads, self.stored, session.uploads)
            finally:
                self._forget(paths)
            report = self._index(session, claimed, request, progress)
        report.skipped = refused + report.skipped
        return tab, render_report(report), *self.documents(tab), None

    def try_sample(self, tab: Tab, request: gr.Request = None, progress=gr.Progress()):
        """Index the bundled sample document and suggest a question it answers."""
        with user_errors():
            session = self.open_session(tab, request, create=True)
            session.uploads.mkdir(exist_ok=True)
            copy = session.uploads / f"sample-{secrets.token_hex(4)}{SAMPLE.suffix}"
            shutil.copyfile(SAMPLE, copy)
            report = self._index(session, [(copy, SAMPLE.name)], request, progress)
        return tab, render_report(report), *self.documents(tab), None, SAMPLE_QUESTIONS[0]

    def _index(self, session: Session, files: list[tuple[Path, str]], request, progress):
        """Ingest `files` ([(path, shown name)]) into the collection within the app's
        limits (public mode); keep the copies of the files indexed, delete the rest."""
        s = self.settings
        names = {str(p): name for p, name in files}
        embedder = self.models.for_collection(session.folder).embedder
        with self.using(session):
            public = self.library is None
            limits = Limits(
                max_chunks=s.max_chunks if public else None,
                deadline=time.monotonic() + max(0.0, s.max_ingest_s - session.spent_s) if public else None,
                cancelled=lambda: not session.live or self._client_left(request),
            )
            started = time.monotonic()
            try:
                report = ingest(list(names), session.folder, embedder, **s.ingest_options(), names=names,
                                progress=lambda fraction, message: progress(fraction, desc=message), limits=limits, folders=False, create=False)
            finally:
                session.spent_s += time.monotonic() - started
            kept = {a["path"]: a["doc_id"] for a in report.added}
            for p, _ in files:
                if str(p) in kept:
                    p.rename(session.uploads / f"{kept[str(p)]}{p.suffix}")
                else:
                    p.unlink(missing_ok=True)
            _prune_uploads(session, embedder.name)
        for entry in report.skipped:
            entry["path"] = names.get(entry["path"], entry["path"])
        return report

    def _forget(self, paths: list[str]) -> None:
        """Take the request's paths out of Gradio's own file lists: what was accepted now
        lives in a collection folder, what was refused (a folder, say) is not Gradio's to
        serve, and its shutdown clean-up would fail on a folder."""
        self.stored.difference_update(paths)
        for files in getattr(self.demo, "temp_file_sets", []):
            files.difference_update(paths)

    def _client_left(self, request) -> bool:
        """True when the client of this running event has gone: Gradio marks its events
        not alive when the client's stream closes. (A local library keeps indexing.)"""
        queue, key = getattr(self.demo, "_queue", None), getattr(request, "session_hash", None)
        if queue is None or not key or self.library is not None:
            return False
        return any(e.session_hash == key and not e.alive for jobs in queue.active_jobs if jobs for e in jobs)

    def _documents_of(self, session: Session | None) -> list[dict]:
        if session is None or not session.live:
            return []
        with user_errors():
            return index_store.read_documents(session.folder, self.models.for_collection(session.folder).embedder.name)

    def documents(self, tab: Tab | None):
        """The collection's documents: table rows, the remove menu, the collection menu,
        whether the sample's questions apply, and the modes that can run."""
        tab = tab or Tab()
        session = tab.session if tab.session is not None else (self.library.current() if self.library else None)
        docs = self._documents_of(session)
        rows = [[d["source"], d["pages"], d["chunks"]] for d in docs]
        choices = [(f"{d['source']} ({plural(d['chunks'], 'chunk')})", d["doc_id"]) for d in docs]
        sample_only = bool(docs) and all(d["source"] == SAMPLE.name for d in docs)
        return rows, gr.Dropdown(choices=choices, value=None), self.collection_menu(session), gr.Column(visible=sample_only), self.mode_choice(session)

    def collection_menu(self, session: Session | None):
        if self.library is None:
            return gr.Dropdown(visible=False)
        choices = [(e.name, e.slug) for e in self.library.entries()]
        value = session.key if session is not None and session.live else None
        info = f"Folder: {session.folder}" if value else "Upload files to start your first collection."
        return gr.Dropdown(choices=choices, value=value, info=info)

    def mode_choice(self, session: Session | None):
        """The retrieval modes that can run for this collection; why rerank cannot, in words."""
        try:
            models = self.models.for_collection(session.folder) if session is not None and session.live else self.models
        except ValueError:  # a tuned encoder gone: asking will say so
            models = self.models
        can, reason = models.can_rerank()
        modes = [m for m in MODES if m != "rerank" or can]
        value = self.settings.mode if self.settings.mode in modes else "hybrid"
        info = "rerank: a cross-encoder reads each candidate with the question" if can else f"Reranking is unavailable: {reason}. Tuning a collection trains one."
        return gr.Radio(choices=modes, value=value, info=info)

    def remove_document(self, doc_id: str | None, tab: Tab, request: gr.Request = None):
        session = self.open_session(tab, request)
        docs = {d["doc_id"]: d["source"] for d in self._documents_of(session)}
        if not doc_id or doc_id not in docs:
            return tab, "Choose a document to remove.", *self.documents(tab)
        with user_errors(), self.using(session):
            embedder = self.models.for_collection(session.folder).embedder.name
            removed = remove(session.folder, {doc_id}, embedder, self.settings.ann, self.settings.ann_threshold, storage=self.settings.storage())
            _prune_uploads(session, embedder)
        return tab, f"Removed {html.escape(docs[doc_id])} ({plural(removed, 'chunk')}).", *self.documents(tab)

    def clear_collection(self, tab: Tab, request: gr.Request = None):
        """Public: forget every document and the conversation; the next upload starts a
        new folder. Local: delete the open collection; the tab opens another."""
        tab = tab or Tab()
        with user_errors():
            if self.library is not None:
                session = self.open_session(tab, request)
                if session.live:
                    name = self.library.name(session.key)
                    self.library.delete(session.key)
                    message = f"Deleted the collection {html.escape(name)}."
                else:
                    message = "There is no collection to delete."
                tab.session = None
                self.open_session(tab, request)
                tab.chat = self._saved_chat(tab)
            else:
                self.sessions.end(tab.session, "cleared")
                tab.session, tab.chat = None, []
                self.open_session(tab, request)
                message = "The collection is empty."
        return tab, message, *self.documents(tab), tab.chat, render_sources(None), [], ""

    # -- the local library

    def open_tab(self, tab: Tab, request: gr.Request = None):
        """demo.load: the tab's collection (local: the one opened last) and its conversation."""
        tab = tab or Tab()
        self.open_session(tab, request)
        tab.chat = self._saved_chat(tab)
        return tab, *self.documents(tab), tab.chat

    def switch_collection(self, key: str | None, tab: Tab, request: gr.Request = None):
        tab = tab or Tab()
        if self.library is not None and key and (tab.session is None or tab.session.key != key):
            with user_errors():
                tab.session = self.library.open(key)
            tab.chat = self._saved_chat(tab)
        return tab, *self.documents(tab), tab.chat, render_sources(None), [], ""

    def new_collection(self, name: str, tab: Tab, request: gr.Request = None):
        tab = tab or Tab()
        with user_errors():
            if self.library is None:
                raise ValueError("collections are made only in local-library mode")
            tab.session = self.library.create(name)
        tab.chat = []
        message = f"Created the collection {html.escape(self.library.name(tab.session.key))}; upload files into it."
        return tab, message, *self.documents(tab), tab.chat, render_sources(None), [], "", ""

    def rename_collection(self, name: str, tab: Tab, request: gr.Request = None):
        tab = tab or Tab()
        with user_errors():
            session = self.open_session(tab, request)
            if self.library is None or not session.live:
                raise ValueError("open a collection first")
            self.library.rename(session.key, name)
        return tab, f"Renamed the collection to {html.escape(self.library.name(session.key))}.", *self.documents(tab), ""

    def _saved_chat(self, tab: Tab) -> list[dict]:
        """Local: the open collection's saved conversation; public: the tab's own."""
        if self.library is None:
            return tab.chat
        return self.library.chat(tab.session.key) if tab.session is not None and tab.session.live else []

    # -- tuning (local library only)

    def start_tune(self, minutes: float, tab: Tab, request: gr.Request = None):
        """Tune the open collection in the background for `minutes`; searches go on
        against the current generation until the tuned one is complete."""
        from rag.tune import TuneJob, TuneOptions

        tab = tab or Tab()
        with user_errors():
            session = self.open_session(tab, request)
            if self.library is None or not session.live:
                raise ValueError("open a collection with documents in it first")
            job = TuneJob(session.folder, self.settings, TuneOptions(time_budget_s=60 * float(minutes)), generator=self.models.generator).start()
        self.tunes[str(session.folder)] = job
        # busy while it runs: the collection cannot be deleted under the job
        threading.Thread(target=self._hold, args=(session, job), name=f"tune-{session.key}", daemon=True).start()
        return self.tune_status(tab)

    def _hold(self, session: Session, job) -> None:
        with self.using(session):
            job.wait()

    def cancel_tune(self, tab: Tab):
        job = self._tune_job(tab)
        if job is not None:
            job.cancel()
        return self.tune_status(tab)

    def _tune_job(self, tab: Tab | None):
        session = tab.session if tab is not None else None
        return self.tunes.get(str(session.folder)) if session is not None else None

    def tune_status(self, tab: Tab):
        """The tune panel: a progress bar while a job runs, its verdict after; the
        timer that polls it runs only while a job does."""
        job = self._tune_job(tab)
        running = job is not None and job.state == "running"
        if job is None:
            text = "Trains the search models on this collection's own passages (50 or more). Questions keep working meanwhile."
        elif running:
            text = f'<progress value="{job.fraction:.3f}" max="1"></progress> {job.fraction:.0%} · {html.escape(job.message)}'
        elif job.state == "done":
            text = html.escape(job.verdict)
        else:
            text = f"Tuning {job.state}: {html.escape(job.error)}. The collection is unchanged."
        return gr.HTML(f'<div class="tune">{text}</div>'), gr.Timer(active=running), gr.Button(visible=not running), gr.Button(visible=running)

    # -- asking

    def submit(self, question: str, tab: Tab, request: gr.Request = None):
        """Enter or Ask: the question joins the tab's queue at once (the box is free for
        the next one); `answer` works through the queue."""
        tab = tab or Tab()
        queued = self._enqueue(question, tab)
        return tab, "" if queued else question, self._waiting(tab)

    def respond(self, question: str, tab: Tab, mode: str, top_k: int, request: gr.Request = None):
        """Ask and answer in one call (the `/ask` API): `submit`, then `answer`."""
        tab = tab or Tab()
        if not self._enqueue(question, tab):
            yield tab, tab.chat, gr.skip(), gr.skip(), gr.skip(), "", gr.skip(), gr.skip()
            return
        yield from self.answer(tab, mode, top_k, request)

    def _enqueue(self, question: str, tab: Tab) -> bool:
        """Put `question` in the tab's queue; an empty one is refused with a warning."""
        if not (question or "").strip():
            gr.Warning("Type a question about your documents first.")
            return False
        with tab.lock:
            tab.pending.append(question)
        return True

    def answer(self, tab: Tab, mode: str, top_k: int, request: gr.Request = None):
        """Answer the tab's queued questions in order, streaming each into the chat; the
        verified answer then replaces what streamed and fills the sources. Everything
        shown from the model passes `chat_markdown`, while it streams too."""
        tab = tab or Tab()
        with tab.lock:
            if tab.answering:  # the running loop takes this question in its turn
                yield tab, tab.chat, gr.skip(), gr.skip(), gr.skip(), self._waiting(tab), gr.skip(), gr.skip()
                return
            tab.answering, tab.stop = True, False
        outputs = (gr.skip(), gr.skip(), gr.skip())
        try:
            while True:
                with tab.lock:
                    if tab.stop or not tab.pending:
                        tab.answering = False
                        break
                    question = tab.pending.popleft()
                for outputs in self._answer_one(tab, question, mode, int(top_k), request):
                    yield tab, tab.chat, *outputs, self._waiting(tab), gr.Button(visible=False), gr.Button(visible=True)
        finally:
            with tab.lock:
                tab.answering, tab.reply = False, None
        yield tab, tab.chat, *outputs, self._waiting(tab), gr.Button(visible=True), gr.Button(visible=False)

    def _answer_one(self, tab: Tab, question: str, mode: str, top_k: int, request):
        """Yields (sources, passages, details) as `question` is answered into tab.chat."""
        skip = (gr.skip(), gr.skip(), gr.skip())
        session = self.open_session(tab, request)
        history = [{"role": m["role"], "content": _text(m["content"])} for m in tab.chat]
        reply = tab.reply = {"role": "assistant", "content": "_Searching your documents…_"}
        tab.chat += [{"role": "user", "content": chat_markdown(question)}, reply]
        yield skip
        try:
            with contextlib.closing(ask(self.collection(session), question, history, mode=mode, top_k=top_k)) as events:
                for kind, value in events:
                    if tab.stop:
                        return
                    if kind == "status":
                        reply["content"] = f"_{chat_markdown(value)}…_"
                    elif kind == "draft":
                        reply["content"] = chat_markdown(value)
                    elif kind == "answer":  # the verified answer replaces what streamed
                        reply["content"] = answer_markdown(value)
                        self._keep_chat(tab)
                        yield render_sources(value), render_passages(value), render_details(value)
                        return
                    else:
                        continue
                    yield skip
        except USER_ERRORS as e:  # shown in the chat, and the queue goes on
            log.info("shown to the user: %s", e)
            reply["content"] = f"**Could not answer:** {chat_markdown(str(e))}"
            self._keep_chat(tab)
            yield skip

    def show_page(self, tab: Tab, event: gr.EventData, request: gr.Request = None) -> str:
        """A citation was clicked (PAGE_VIEW_JS): its page, with the quote highlighted."""
        tab = tab or Tab()
        cite = (getattr(event, "_data", None) or {}).get("cite", "")
        session = self.open_session(tab, request)
        if not session.live:
            return render_page_view(error="This collection has no documents now; ask again after uploading them.")
        try:
            index, _ = self.collection(session).snapshot()
            return render_page_view(locate(index.chunks, cite, session.folder, tab.pages))
        except USER_ERRORS as e:
            log.info("page view: %s", e)
            return render_page_view(error=f"The page cannot be shown: {e}")

    def close_page(self, tab: Tab) -> str:
        """The documents or the conversation changed: the page view empties, and the
        pages this tab rendered are forgotten."""
        if tab is not None:
            tab.pages.clear()
        return render_page_view()

    def stop(self, tab: Tab):
        """Stop: the streaming answer ends where it is and the queue is emptied."""
        tab = tab or Tab()
        with tab.lock:
            tab.stop = True
            tab.pending.clear()
            if tab.reply is not None and STOPPED not in tab.reply["content"]:
                tab.reply["content"] += f"\n\n{STOPPED}"
        self._keep_chat(tab)
        return tab.chat, self._waiting(tab), gr.Button(visible=True), gr.Button(visible=False)

    def clear_chat(self, tab: Tab):
        tab = tab or Tab()
        tab.chat = []
        self._keep_chat(tab)
        return tab.chat, render_sources(None), [], ""

    def _keep_chat(self, tab: Tab) -> None:
        if self.library is not None and tab.session is not None and tab.session.live:
            self.library.save_chat(tab.session.key, tab.chat)

    def _waiting(self, tab: Tab) -> str:
        waiting = list(tab.pending)
        if not waiting:
            return ""
        shown = " · ".join(f"“{html.escape(q if len(q) <= 80 else q[:77] + '…')}”" for q in waiting[:3])
        return f"Next: {shown}" + (f" and {len(waiting) - 3} more" if len(waiting) > 3 else "") + f" ({plural(len(waiting), 'question')} waiting)"


def _prune_uploads(session: Session, embedder: str) -> None:
    """Delete the kept upload copies of documents no longer in the collection
    (removed, or replaced by a new version)."""
    if not session.uploads.is_dir():
        return
    indexed = {d["doc_id"] for d in index_store.read_documents(session.folder, embedder)}
    for f in session.uploads.iterdir():
        if f.stem not in indexed:
            f.unlink(missing_ok=True)


def _text(content) -> str:
    """Chat message content as plain text (Gradio 6 hands back lists of parts)."""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content).strip()
    return html.unescape(str(content))


# ---------------------------------------------------------------- layout


def build_app(models: Models | None = None, settings: Settings | None = None) -> gr.Blocks:
    """The Blocks UI. Pass `models` (real or fake) to share them; nothing loads here."""
    settings = settings or (models.settings if models else Settings.from_env())
    models = models or Models(settings)
    public = settings.is_public()
    private = claim(settings.private_dir or default_root())
    # Gradio's uploads go under the private root too: swept after a crash like the rest
    os.environ["GRADIO_TEMP_DIR"] = str(private.uploads)
    library = None if public else Library(settings.library or default_library(), settings.milvus_token)
    h = Handlers(models, settings, private.sessions / secrets.token_hex(4), uploads=private.uploads, library=library)
    atexit.register(h.sessions.close)
    where = "Your files stay private to this session." if public else f"Your collections are kept in {library.root}."

    with gr.Blocks(title="Sourced", delete_cache=(1800, 1800)) as demo:
        demo.handlers = h  # for tests and for apps that embed this one
        h.demo, h.stored = demo, demo.upload_file_set
        tab = gr.State(Tab(), time_to_live=SESSION_TTL_S if public else None, delete_callback=h.close_tab)
        gr.Markdown(f"# Sourced\nAsk your documents. Every answer quotes and cites the file and page it comes from. {where}", elem_id="title")
        with gr.Sidebar(width=360, open=True):
            collection = gr.Dropdown(label="Collection", choices=[], interactive=True, visible=not public, elem_id="collection")
            with gr.Row(elem_classes="tight", visible=not public):
                name_box = gr.Textbox(placeholder="Name of a new collection", show_label=False, scale=3, max_length=80, container=False)
                new_btn = gr.Button("New", size="sm", scale=1, min_width=56)
                rename_btn = gr.Button("Rename", size="sm", scale=1, min_width=56)
            files = picker_types_only(gr.File(label="Drop documents", file_count="multiple", file_types=sorted(SUPPORTED_SUFFIXES), elem_id="upload"))
            sample = gr.Button("Try the sample", variant="secondary", size="sm")
            report = gr.Markdown(f"Upload files to build your collection, or try the sample (an e-bike owner's guide). {accepted_types(SUPPORTED_SUFFIXES)}")
            documents = gr.Dataframe(headers=DOCUMENT_COLUMNS, value=[], label="Documents", interactive=False, max_height=240, elem_id="documents", column_widths=["50%", "23%", "27%"])
            with gr.Row(elem_classes="tight"):
                doc_choice = gr.Dropdown(label="Remove a document", choices=[], scale=3)
                remove_btn = gr.Button("Remove", scale=1, min_width=80)
            clear_label = "Clear collection" if public else "Delete collection"
            clear_btn = gr.Button(clear_label, variant="stop", size="sm")
            with gr.Row(visible=False) as confirm_row:
                gr.Markdown("Delete every document and the conversation of this collection?")
                confirm_btn = gr.Button(f"Yes, {clear_label.lower()}", variant="stop", size="sm")
                cancel_btn = gr.Button("Cancel", size="sm")
            with gr.Accordion("Settings", open=False):
                mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval mode")
                top_k = gr.Slider(1, 10, value=settings.top_k, step=1, label="Passages per answer (top-k)")
            with gr.Accordion("Tune this collection", open=False, visible=not public):
                minutes = gr.Radio([5, 15, 30], value=15, label="Minutes to spend")
                tune_info = gr.HTML("")
                with gr.Row():
                    tune_btn = gr.Button("Start tuning", size="sm")
                    cancel_tune_btn = gr.Button("Cancel tuning", size="sm", variant="stop", visible=False)
                tune_timer = gr.Timer(1.0, active=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chat = gr.Chatbot(label="Chat", height=520, placeholder="Upload documents or try the sample, then ask a question.", feedback_options=None, buttons=["copy", "copy_all"])
                with gr.Row(elem_classes="tight"):
                    question = gr.Textbox(placeholder="Ask a question about your documents", show_label=False, scale=5, autofocus=True, submit_btn=False)
                    ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=70)
                    stop_btn = gr.Button("Stop", variant="stop", scale=1, min_width=70, visible=False)
                    clear_chat_btn = gr.Button("Clear chat", scale=1, min_width=70, size="sm")
                waiting = gr.Markdown("", elem_id="waiting")
                with gr.Column(visible=False) as sample_examples:
                    gr.Examples([[q] for q in SAMPLE_QUESTIONS], inputs=[question], label="Questions the sample answers")
            with gr.Column(scale=2, min_width=320):
                sources = gr.HTML(render_sources(None))
                with gr.Accordion("Answer details", open=False):
                    details = gr.Markdown("Timings and models appear here after an answer.")
        page_view = gr.HTML(render_page_view(), elem_id="page-view", js_on_load=PAGE_VIEW_JS)
        with gr.Accordion("Ranked passages", open=False):
            passages = gr.Dataframe(headers=PASSAGE_COLUMNS, value=[], interactive=False, wrap=True, max_height=360, column_widths=PASSAGE_WIDTHS)

        docs_out = [documents, doc_choice, collection, sample_examples, mode]
        reset_out = [chat, sources, passages, details]
        hidden = {"show_progress": "hidden"}
        files.upload(h.upload_files, [files, tab], [tab, report, *docs_out, files], api_name="upload", show_progress_on=[files])
        sample.click(h.try_sample, [tab], [tab, report, *docs_out, files, question], api_name="sample", show_progress_on=[files])
        removed = remove_btn.click(h.remove_document, [doc_choice, tab], [tab, report, *docs_out], api_name="remove", **hidden)
        clear_btn.click(lambda: gr.Row(visible=True), None, confirm_row, api_visibility="private", **hidden)
        cancel_btn.click(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private", **hidden)
        cleared = confirm_btn.click(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private", **hidden).then(
            h.clear_collection, [tab], [tab, report, *docs_out, *reset_out], api_name="clear", **hidden)
        switched = collection.input(h.switch_collection, [collection, tab], [tab, *docs_out, *reset_out], api_name="open_collection", **hidden)
        created = new_btn.click(h.new_collection, [name_box, tab], [tab, report, *docs_out, *reset_out, name_box], api_name="new_collection", **hidden)
        rename_btn.click(h.rename_collection, [name_box, tab], [tab, report, *docs_out, name_box], api_name="rename_collection", **hidden)

        answer_out = [tab, chat, sources, passages, details, waiting, ask_btn, stop_btn]
        for trigger in (question.submit, ask_btn.click):
            trigger(h.submit, [question, tab], [tab, question, waiting], trigger_mode="multiple", concurrency_limit=None, api_visibility="private", **hidden).then(
                h.answer, [tab, mode, top_k], answer_out, concurrency_id="answer", api_visibility="private", **hidden)
        api_ask = gr.Button(visible=False)
        api_ask.click(h.respond, [question, tab, mode, top_k], answer_out, api_name="ask", concurrency_id="answer", **hidden)
        stop_btn.click(h.stop, [tab], [chat, waiting, ask_btn, stop_btn], concurrency_limit=None, api_name="stop", **hidden)
        chat_cleared = clear_chat_btn.click(h.clear_chat, [tab], reset_out, api_name="clear_chat", **hidden)
        page_view.click(h.show_page, [tab], page_view, api_visibility="private", show_progress="minimal")
        for changed in (removed, cleared, switched, created, chat_cleared):  # the page shown may be gone
            changed.then(h.close_page, [tab], page_view, api_visibility="private", **hidden)
        demo.load(h.open_tab, [tab], [tab, *docs_out, chat], api_name="documents", **hidden)
        if not public:
            tune_out = [tune_info, tune_timer, tune_btn, cancel_tune_btn]
            tune_btn.click(h.start_tune, [minutes, tab], tune_out, api_name="tune", **hidden)
            cancel_tune_btn.click(h.cancel_tune, [tab], tune_out, api_name="cancel_tune", **hidden)
            tune_timer.tick(h.tune_status, [tab], tune_out, api_visibility="private", **hidden).then(
                lambda t: h.mode_choice(t.session if t else None), [tab], mode, api_visibility="private", **hidden)
            for event in (demo.load, collection.input):
                event(h.tune_status, [tab], tune_out, api_visibility="private", **hidden)
        demo.unload(h.end_session)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch_options(settings: Settings) -> dict:
    """launch() arguments for a public deployment: bounded uploads, no extra paths,
    only deliberate (gr.Error) messages shown to users."""
    return {
        "max_file_size": settings.max_bytes,
        "show_error": False,
        "theme": gr.themes.Soft(primary_hue="teal", neutral_hue="slate", font=[gr.themes.LocalFont("IBM Plex Sans"), "ui-sans-serif", "system-ui", "sans-serif"]),
        "css": CSS,
        "head": HEAD,
    }


def warm(models: Models) -> None:
    """Load the models in the background so the first question does not wait for them."""
    for name in ("embedder", "generator", "reranker"):
        try:
            getattr(models, name)
        except Exception as e:  # surfaced to the user when the model is actually needed
            log.warning("could not load the %s yet: %s", name, e)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        settings = Settings.from_env()
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if settings.log:
        log_timings_to(settings.log)
    models = Models(settings)
    demo = build_app(models, settings)
    log.info("Sourced runs in %s mode", "public" if settings.is_public() else f"local-library mode ({demo.handlers.library.root})")
    # a stop signal (docker stop, a Space restart) ends the server like Ctrl-C, so the
    # atexit cleanup still deletes every public session's documents
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        demo.launch(prevent_thread_lock=True, **launch_options(settings))
        # after launch, so loading the models never delays the page
        threading.Thread(target=warm, args=(models,), name="warm-models", daemon=True).start()
        demo.block_thread()
    except KeyboardInterrupt:  # stopped while still starting up
        demo.close()


if __name__ == "__main__":
    main()
