"""Sourced's web app: layout and wiring only; `ingest` and `rag` do the work.

Each browser session gets its own collection folder under the private root
(ingest.sessions), held in `gr.State` and deleted when the session ends (tab closed,
state expired, server stopped, or evicted to make room). Uploads are taken only from
Gradio's own upload cache and moved into the session's folder. One `Models` is shared
by every session and loads lazily, so the page is up before any model is. The
threat model and what is enforced where: docs/SECURITY.md.

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
from pathlib import Path

import gradio as gr

from ingest import IngestError
from ingest import index as index_store
from ingest.models import ModelUnavailableError
from ingest.pipeline import Limits, ingest, remove
from ingest.sessions import EVICTED, Session, SessionStore, claim, claim_uploads, default_root
from ingest.settings import MODES, Settings
from rag.pipeline import Collection, Models, ask
from rag.render import chat_markdown, cite_links, render_details, render_passages, render_report, render_sources

log = logging.getLogger("sourced.app")

SAMPLE = Path(__file__).resolve().parent / "assets" / "sourced-sample.md"
SAMPLE_QUESTIONS = [
    "How long does a full charge take?",
    "What tyre pressure should the front tyre have?",
    "How often should I lubricate the chain?",
]
SESSION_TTL_S = 3 * 3600  # an idle API session's documents live this long
QUEUE_SIZE = 64  # requests waiting beyond this are refused, not queued forever
CONCURRENCY = 2  # events running at once; the LLM itself serialises its calls
PASSAGE_COLUMNS = ["#", "File", "Page", "BM25 rank", "Dense rank", "Fused", "Rerank", "Passage"]
DOCUMENT_COLUMNS = ["File", "Pages", "Chunks", "Added"]
# Defence in depth beside sanitising: the page loads no image from another origin,
# so an image a model (or a document) smuggles into an answer fetches nothing.
HEAD = """<meta http-equiv="Content-Security-Policy" content="img-src 'self' data: blob:">"""
CSS = """
.gradio-container { max-width: 1180px !important; margin: 0 auto; }
#title h1 { margin-bottom: 0; }
#title p { margin-top: .25rem; color: var(--body-text-color-subdued); }
.sources .source { border-left: 3px solid var(--color-accent); padding: .4rem .8rem; margin: .6rem 0; }
.sources .head { font-size: .9em; color: var(--body-text-color-subdued); margin-bottom: .25rem; }
.sources .n { font-weight: 600; color: var(--color-accent); margin-right: .35rem; }
.sources p { margin: 0; }
.sources mark { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: 2px; }
#remove-row { align-items: flex-end; }
.sources .empty { color: var(--body-text-color-subdued); }
"""


@contextlib.contextmanager
def user_errors():
    """The one place where domain errors become messages for the user."""
    try:
        yield
    except (IngestError, ModelUnavailableError, ValueError) as e:
        log.info("shown to the user: %s", e)
        raise gr.Error(html.escape(str(e)), title="Sourced", print_exception=False) from e


# ---------------------------------------------------------------- handlers


class Handlers:
    """The app's event handlers, bound to the shared models and one app's sessions.

    Bound methods (not partials) so that Gradio sees their signatures and type
    hints: it injects `gr.Request` and `gr.Progress` by looking at them.

    Args:
        root: where this app's session folders go.
        uploads: Gradio's upload cache; only files Gradio stored there are taken.
    """

    def __init__(self, models: Models, settings: Settings, root: Path, uploads: Path | None = None):
        self.models = models
        self.settings = settings
        self.sessions = SessionStore(root, settings.max_sessions, int(settings.max_sessions_mb * 2**20))
        self.root = self.sessions.root
        self.uploads = Path(uploads) if uploads else self.root.parent / ".gradio-uploads"
        self.demo: gr.Blocks | None = None  # set by build_app: Gradio's record of uploads and running events
        self.stored: set[str] = set()  # the paths Gradio's upload route wrote (demo.upload_file_set)

    def open_session(self, session: Session | None, request: gr.Request | None = None, create: bool = False) -> Session:
        """The caller's session. Only an upload creates its folder (`create`); a
        visitor whose session was evicted is told so, once."""
        if session is not None and session.live:
            return session
        if session is not None and session.ended == EVICTED:
            gr.Warning(EVICTED)
        key = getattr(request, "session_hash", None) or (session.key if session else secrets.token_hex(16))
        return self.sessions.create(key) if create else self.sessions.get(key)

    def end_session(self, request: gr.Request) -> None:
        """demo.unload: the tab was closed or reloaded; delete its collection now."""
        if request is not None and request.session_hash:
            self.sessions.end(request.session_hash)

    def close_session(self, session: Session | None) -> None:
        """gr.State's delete_callback: the session's documents go with it."""
        self.sessions.end(session)

    def upload_files(self, files: list[str] | None, session: Session | None, request: gr.Request = None, progress=gr.Progress()):
        """Index uploaded files into the session's collection; report each file."""
        paths = [str(f) for f in files or []]
        if not paths:
            return session, "No files received.", *self.documents(session), None
        with user_errors():
            session = self.open_session(session, request, create=True)
            try:
                claimed, refused = claim_uploads(paths, self.uploads, self.stored, session.uploads)
            finally:
                self._forget(paths)
            report = self._index(session, claimed, request, progress)
        report.skipped = refused + report.skipped
        return session, render_report(report), *self.documents(session), None

    def try_sample(self, session: Session | None, request: gr.Request = None, progress=gr.Progress()):
        """Index the bundled sample document and suggest a question it answers."""
        with user_errors():
            session = self.open_session(session, request, create=True)
            session.uploads.mkdir(exist_ok=True)
            copy = session.uploads / f"sample-{secrets.token_hex(4)}{SAMPLE.suffix}"
            shutil.copyfile(SAMPLE, copy)
            report = self._index(session, [(copy, SAMPLE.name)], request, progress)
        return session, render_report(report), *self.documents(session), None, SAMPLE_QUESTIONS[0]

    def _index(self, session: Session, files: list[tuple[Path, str]], request, progress):
        """Ingest `files` ([(path, shown name)]) into the session's collection within
        the app's limits; keep the copies of the files indexed, delete the rest."""
        s = self.settings
        names = {str(p): name for p, name in files}
        with self.sessions.using(session):
            limits = Limits(
                max_chunks=s.max_chunks,
                deadline=time.monotonic() + max(0.0, s.max_ingest_s - session.spent_s),
                cancelled=lambda: not session.live or self._client_left(request),
            )
            started = time.monotonic()
            try:
                report = ingest(list(names), session.folder, self.models.embedder, **s.ingest_options(), names=names,
                                progress=lambda fraction, message: progress(fraction, desc=message), limits=limits, folders=False, create=False)
            finally:
                session.spent_s += time.monotonic() - started
            kept = {a["path"]: a["doc_id"] for a in report.added}
            for p, _ in files:
                if str(p) in kept:
                    p.rename(session.uploads / f"{kept[str(p)]}{p.suffix}")
                else:
                    p.unlink(missing_ok=True)
            _prune_uploads(session, self.models.embedder.name)
        for entry in report.skipped:
            entry["path"] = names.get(entry["path"], entry["path"])
        return report

    def _forget(self, paths: list[str]) -> None:
        """Take the request's paths out of Gradio's own file lists: what was accepted now
        lives in a session folder, what was refused (a folder, say) is not Gradio's to
        serve, and its shutdown clean-up would fail on a folder."""
        self.stored.difference_update(paths)
        for files in getattr(self.demo, "temp_file_sets", []):
            files.difference_update(paths)

    def _client_left(self, request) -> bool:
        """True when the client of this running event has gone: Gradio marks its events
        not alive when the client's stream closes."""
        queue, key = getattr(self.demo, "_queue", None), getattr(request, "session_hash", None)
        if queue is None or not key:
            return False
        return any(e.session_hash == key and not e.alive for jobs in queue.active_jobs if jobs for e in jobs)

    def documents(self, session: Session | None):
        """The session's documents: table rows, and the choices of the remove menu."""
        docs = []
        if session is not None and session.live:
            with user_errors():
                docs = index_store.read_documents(session.folder, self.models.embedder.name)
        rows = [[d["source"], d["pages"], d["chunks"], d["added"].replace("T", " ")] for d in docs]
        choices = [(f"{d['source']} ({d['chunks']} chunks)", d["doc_id"]) for d in docs]
        return rows, gr.Dropdown(choices=choices, value=None)

    def remove_document(self, doc_id: str | None, session: Session | None, request: gr.Request = None):
        session = self.open_session(session, request)
        if not doc_id or not session.live:
            return session, "Choose a document to remove.", *self.documents(session)
        with user_errors(), self.sessions.using(session):
            removed = remove(session.folder, {doc_id}, self.models.embedder.name, self.settings.ann, self.settings.ann_threshold)
            _prune_uploads(session, self.models.embedder.name)
        return session, f"Removed the document ({removed} chunks).", *self.documents(session)

    def clear_collection(self, session: Session | None, request: gr.Request = None):
        """Forget every document and the conversation; the next upload starts a new folder."""
        self.sessions.end(session, "cleared")
        session = self.open_session(None, request)
        return session, "The collection is empty.", *self.documents(session), [], render_sources(None), [], ""

    def respond(self, question: str, chat: list[dict] | None, session: Session | None, mode: str, top_k: int, request: gr.Request = None):
        """Stream an answer into the chat, then show the verified answer and its sources.
        Everything shown from the model passes `chat_markdown`, while it streams too."""
        session = self.open_session(session, request)
        chat = list(chat or [])
        if not (question or "").strip():
            gr.Warning("Type a question about your documents first.")
            yield chat, question, gr.skip(), gr.skip(), gr.skip(), session
            return
        history = [{"role": m["role"], "content": _text(m["content"])} for m in chat]
        chat += [{"role": "user", "content": chat_markdown(question)}, {"role": "assistant", "content": "_Searching your documents…_"}]
        yield chat, "", gr.skip(), gr.skip(), gr.skip(), session
        with user_errors():
            if session.collection is None:
                session.collection = Collection(session.folder, self.models)
            for kind, value in ask(session.collection, question, history, mode=mode, top_k=int(top_k)):
                if kind == "status":
                    chat[-1] = {"role": "assistant", "content": f"_{chat_markdown(value)}…_"}
                elif kind == "draft":
                    chat[-1] = {"role": "assistant", "content": chat_markdown(value)}
                elif kind == "answer":  # the verified answer replaces what streamed
                    chat[-1] = {"role": "assistant", "content": cite_links(value)}
                    yield chat, "", render_sources(value), render_passages(value), render_details(value), session
                    return
                else:
                    continue
                yield chat, "", gr.skip(), gr.skip(), gr.skip(), session


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
    private = claim(settings.private_dir or default_root())
    # Gradio's uploads go under the private root too: swept after a crash like the rest
    os.environ["GRADIO_TEMP_DIR"] = str(private.uploads)
    h = Handlers(models, settings, private.sessions / secrets.token_hex(4), uploads=private.uploads)
    atexit.register(h.sessions.close)

    with gr.Blocks(title="Sourced", delete_cache=(1800, 1800)) as demo:
        demo.handlers = h  # for tests and for apps that embed this one
        h.demo, h.stored = demo, demo.upload_file_set
        session = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=h.close_session)
        gr.Markdown("# Sourced\nAsk your documents. Every answer quotes and cites the file and page it comes from. Your files stay private to this session.", elem_id="title")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                files = gr.File(label="Drop PDF, TXT or Markdown files", file_count="multiple")
                sample = gr.Button("Try the sample", variant="secondary")
                report = gr.Markdown("Upload files to build your private collection, or try the sample (an e-bike owner's guide).")
                documents = gr.Dataframe(headers=DOCUMENT_COLUMNS, value=[], label="Your documents", interactive=False, max_height=240)
                with gr.Row(elem_id="remove-row"):
                    doc_choice = gr.Dropdown(label="Remove a document", choices=[], scale=3)
                    remove_btn = gr.Button("Remove", scale=1, min_width=80)
                clear_btn = gr.Button("Clear collection", variant="stop", size="sm")
                with gr.Accordion("Settings", open=False):
                    mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval mode", info="rerank falls back to hybrid when no reranker is available")
                    top_k = gr.Slider(1, 10, value=settings.top_k, step=1, label="Passages per answer (top-k)")
            with gr.Column(scale=3, min_width=420):
                chat = gr.Chatbot(label="Chat", height=420, placeholder="Upload documents or try the sample, then ask a question.", feedback_options=None, buttons=["copy", "copy_all"])
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask a question about your documents", show_label=False, scale=5, autofocus=True, submit_btn=False)
                    ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                gr.Examples([[q] for q in SAMPLE_QUESTIONS], inputs=[question], label="Questions the sample answers")
                sources = gr.HTML(render_sources(None))
                with gr.Accordion("Ranked passages", open=False):
                    passages = gr.Dataframe(headers=PASSAGE_COLUMNS, value=[], interactive=False, wrap=True, max_height=360)
                with gr.Accordion("Answer details", open=False):
                    details = gr.Markdown("Timings and models appear here after an answer.")

        doc_outputs = [session, report, documents, doc_choice]
        files.upload(h.upload_files, [files, session], [*doc_outputs, files], api_name="upload")
        sample.click(h.try_sample, [session], [*doc_outputs, files, question], api_name="sample")
        remove_btn.click(h.remove_document, [doc_choice, session], doc_outputs, api_name="remove")
        clear_btn.click(h.clear_collection, [session], [*doc_outputs, chat, sources, passages, details], api_name="clear")
        ask_outputs = [chat, question, sources, passages, details, session]
        ask_inputs = [question, chat, session, mode, top_k]
        question.submit(h.respond, ask_inputs, ask_outputs, api_name="ask")
        ask_btn.click(h.respond, ask_inputs, ask_outputs, api_visibility="private")
        demo.load(h.documents, [session], [documents, doc_choice], api_name="documents")
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
    models = Models(settings)
    demo = build_app(models, settings)
    # a stop signal (docker stop, a Space restart) ends the server like Ctrl-C, so the
    # atexit cleanup still deletes every session's documents
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
