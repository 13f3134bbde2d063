"""The Gradio app with fake models: handlers called directly, then the live API."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

import app
from ingest.settings import Settings
from rag.pipeline import Models

from .fakes import HASH_GATE, HashEmbedder, ScriptedGenerator
from .pdfgen import write_pdf

QUESTION = "How many days of annual leave do employees get?"


@pytest.fixture
def models(hash_embedder, scripted) -> Models:
    return Models(Settings(mode="hybrid", **HASH_GATE), embedder=hash_embedder, reranker=None, reranker_reason="reranking is off in tests", generator=scripted)


@pytest.fixture
def handlers(models, tmp_path) -> app.Handlers:
    return app.Handlers(models, models.settings, tmp_path / "sessions")


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    d = tmp_path / "bad"
    d.mkdir()
    fake = d / "fake.pdf"
    fake.write_text("this is not a PDF at all")
    empty = d / "empty.txt"
    empty.write_bytes(b"")
    locked = write_pdf(d / "locked.pdf", ["A secret page about leave."], password="hunter2")
    return {"fake": fake, "empty": empty, "locked": locked}


def stage(handlers: app.Handlers, paths) -> list[str]:
    """What Gradio's upload route does: each file written to uploads/<content hash>/<name>
    and recorded as stored; returns the paths an upload event then receives."""
    out = []
    for p in map(Path, paths):
        folder = handlers.uploads / hashlib.sha256(p.read_bytes() + p.name.encode()).hexdigest()
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, folder / p.name)
        handlers.stored.add(str(folder / p.name))
        out.append(str(folder / p.name))
    return out


def upload(handlers: app.Handlers, paths, tab=None):
    """The upload handler's outputs: (tab, report, rows, remove menu, collection menu,
    sample questions, mode choice, cleared file box)."""
    return handlers.upload_files(stage(handlers, paths), tab or app.Tab())


def request(session_hash: str):
    """What Gradio passes as gr.Request, as far as the handlers look at it."""
    return SimpleNamespace(session_hash=session_hash)


def unlink(markdown: str) -> str:
    """The answer text with its citation links turned back into plain [n] markers."""
    return re.sub(r'\[\\\[(\d+)\\\]\]\(#cite-[\w.-]+ "[^"]*"\)', r"[\1]", markdown)


def ask_all(handlers, question, tab=None, mode="hybrid", top_k=5):
    """Run the streaming handler to the end; return every yielded output tuple:
    (tab, chat, sources, passages, details, waiting, ask button, stop button)."""
    return list(handlers.respond(question, tab or app.Tab(), mode, top_k))


def test_build_app_loads_no_model():
    models = Models(Settings())
    demo = app.build_app(models)
    assert isinstance(demo, gr.Blocks)
    assert models._embedder is None and models._generator is None
    names = {d.api_name for d in demo.fns.values()}
    assert {"upload", "sample", "ask", "stop", "remove", "clear", "documents"} <= names


def test_upload_reports_every_file_and_keeps_going(handlers, docs, bad_files):
    paths = [docs["pdf"], bad_files["fake"], docs["md"], bad_files["empty"], bad_files["locked"]]
    tab, report, rows, menu, _, _, _, cleared = upload(handlers, [str(p) for p in paths])
    assert "| handbook.pdf | indexed, 3 chunks |" in report
    assert "| kestrel-guide.md | indexed," in report
    assert "| fake.pdf | skipped: not a PDF" in report
    assert "| empty.txt | skipped: the file is empty" in report
    assert "| locked.pdf | skipped: the PDF is encrypted" in report
    assert "2 added, 3 skipped" in report
    assert sorted(r[0] for r in rows) == ["handbook.pdf", "kestrel-guide.md"]
    assert rows[[r[0] for r in rows].index("handbook.pdf")][1:3] == [3, 3]  # pages, chunks
    assert len(menu.choices) == 2 and cleared is None
    assert tab.session.folder.parent == handlers.root


def test_a_later_upload_keeps_what_is_indexed(handlers, docs, bad_files):
    tab, *_ = upload(handlers, [str(docs["pdf"])])
    tab, report, rows, *_ = upload(handlers, [str(bad_files["fake"]), str(docs["md"])], tab)
    assert "1 added, 1 skipped" in report
    assert sorted(r[0] for r in rows) == ["handbook.pdf", "kestrel-guide.md"]


def test_answer_streams_then_cites_file_and_page(handlers, docs):
    tab, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])])
    outputs = ask_all(handlers, QUESTION, tab)
    replies = [out[1][-1]["content"] for out in outputs]
    streamed = [r for r in replies if r.startswith("Every employee")]
    assert len(streamed) > 3, "the answer should arrive in pieces"
    assert all(a in b for a, b in zip(streamed, streamed[1:])), "each piece extends the last"
    _, chat, sources, passages, details, waiting, ask_button, stop_button = outputs[-1]
    assert chat[-2] == {"role": "user", "content": QUESTION}
    # the direct answer leads; the verbatim quote follows with its file and page (#13, part 2)
    lead, quotes = unlink(chat[-1]["content"]).split("\n\n")[:2]
    assert lead == "Every employee receives 27 days of paid annual leave per year [1]."
    assert quotes.startswith("> \u201cEvery employee receives 27 days") and "handbook.pdf, page 3 [1]" in quotes
    assert waiting == "" and ask_button.visible and not stop_button.visible
    assert outputs[1][7].visible, "Stop shows while the answer streams"
    assert "<b>handbook.pdf</b> · page 3" in sources
    assert "<mark>Every employee receives 27 days of paid annual leave per year.</mark>" in sources
    assert passages[0][1:3] == ["handbook.pdf", "3"]
    assert "fake-scripted-llm" in details and "reranking is off in tests" in details
    assert "total" in details


def test_follow_up_passes_the_conversation(handlers, docs, scripted):
    tab, *_ = upload(handlers, [str(docs["pdf"])])
    ask_all(handlers, QUESTION, tab)
    details = ask_all(handlers, "and what about parental leave?", tab)[-1][4]
    assert "**Searched for:** How many days of parental leave do employees get?" in details, "the follow-up is searched with the tab's conversation"


def test_unanswerable_question_shows_closest_passages(handlers, docs):
    tab, *_ = upload(handlers, [str(docs["pdf"])])
    _, chat, sources, *_ = ask_all(handlers, "Which rocket engine powers the lunar lander?", tab)[-1]
    assert chat[-1]["content"].startswith("The documents do not say.")
    assert "Closest passages" in sources and "handbook.pdf" in sources


def test_settings_change_mode_and_top_k(handlers, docs):
    tab, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])])
    passages = ask_all(handlers, QUESTION, tab, mode="bm25", top_k=2)[-1][3]
    assert 1 <= len(passages) <= 2
    assert all(row[4] == "–" for row in passages), "bm25 mode has no dense rank"


def test_empty_question_changes_nothing(handlers):
    with pytest.warns(UserWarning, match="Type a question"):
        ((_, chat, *_),) = ask_all(handlers, "   ")
    assert chat == []
    with pytest.warns(UserWarning, match="Type a question"):
        tab, box, waiting = handlers.submit("   ", app.Tab())
    assert box == "   " and not tab.pending


def test_remove_and_clear(handlers, docs):
    tab, _, rows, menu, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])])
    pdf_id = next(value for label, value in menu.choices if label.startswith("handbook.pdf"))
    tab, message, rows, menu, *_ = handlers.remove_document(pdf_id, tab)
    assert message == "Removed handbook.pdf (3 chunks)."
    assert [r[0] for r in rows] == ["kestrel-guide.md"]
    assert [label for label, _ in menu.choices] == ["kestrel-guide.md (3 chunks)"]
    sources = ask_all(handlers, QUESTION, tab)[-1][2]
    assert "handbook.pdf" not in sources
    old = tab.session.folder
    tab, message, rows, menu, _, _, _, chat, *_ = handlers.clear_collection(tab)
    assert rows == [] and chat == [] and not old.exists()
    assert tab.session.folder != old and not tab.session.folder.exists(), "a new folder comes with the next upload, never the old one"


def test_sessions_are_private_and_deleted(handlers, docs):
    a, b = app.Tab(), app.Tab()
    handlers.open_session(a, request("browser-a"))
    handlers.open_session(b, request("browser-b"))
    assert a.session.folder != b.session.folder and a.session.folder.parent == b.session.folder.parent == handlers.root
    assert handlers.open_session(app.Tab(), request("../../etc")).folder.parent == handlers.root
    upload(handlers, [str(docs["pdf"])], a)
    assert handlers.documents(b)[0] == []
    assert "No documents are indexed yet" in ask_all(handlers, QUESTION, b)[-1][1][-1]["content"]
    handlers.end_session(request("browser-a"))  # the tab closed
    assert not a.session.folder.exists()
    upload(handlers, [str(docs["md"])], b)
    assert b.session.folder.is_dir()
    handlers.close_tab(b)  # gr.State expired
    assert not b.session.folder.exists() and len(handlers.sessions) == 0


def test_domain_errors_become_user_messages(handlers, docs, tmp_path):
    tab, *_ = upload(handlers, [str(docs["pdf"])])
    other = Models(handlers.settings, embedder=HashEmbedder(dim=32), reranker=None, generator=ScriptedGenerator())
    other.embedder.name = "another-embedder"
    mismatched = app.Handlers(other, handlers.settings, handlers.root)
    with pytest.raises(gr.Error, match="built with embedder"):
        upload(mismatched, [str(docs["md"])], tab)


def test_sources_escape_document_html(handlers, tmp_path, scripted):
    evil = tmp_path / "evil.txt"
    evil.write_text("Annual leave is <img src=x onerror=alert(1)> 27 days of paid annual leave per year.")
    tab, *_ = upload(handlers, [str(evil)])
    sources = ask_all(handlers, "How many days of paid annual leave?", tab)[-1][2]
    assert "<img" not in sources and "&lt;img" in sources


SAMPLE_ANSWERS = {
    "How long does a full charge take?": "A full charge takes about five",
    "What tyre pressure should the front tyre have?": "Inflate the front tyre to 2.5 bar",
    "How often should I lubricate the chain?": "Lubricate the chain every 200 km",
}


def test_sample_is_indexed_and_answers_its_questions(handlers, scripted):
    tab, report, rows, _, _, examples, _, _, suggested = handlers.try_sample(app.Tab())
    assert examples.visible, "the sample's questions show while the collection holds only the sample"
    assert "sourced-sample.md | indexed" in report and suggested in app.SAMPLE_QUESTIONS
    assert 600 <= len(app.SAMPLE.read_text().split()) <= 1100
    assert set(app.SAMPLE_QUESTIONS) == set(SAMPLE_ANSWERS)
    for question, answer in SAMPLE_ANSWERS.items():
        asked = len(scripted.prompts)
        passages = ask_all(handlers, question, tab)[-1][3]
        assert answer in passages[0][-1].replace("\n", " "), question
        assert len(scripted.prompts) > asked, f"the evidence gate stopped {question!r}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_upload_ask_and_session_isolation(models, docs):
    from gradio_client import Client, handle_file

    public = Models(models.settings.replace(public="1"), embedder=models.embedder, reranker=None, generator=models.generator)
    demo = app.build_app(public)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(public.settings))
    try:
        alice = Client(f"http://127.0.0.1:{port}/", verbose=False)
        report, documents, *_ = alice.predict([handle_file(str(docs["pdf"]))], api_name="/upload")
        assert "handbook.pdf | indexed, 3 chunks" in report
        assert [r[0] for r in documents["data"]] == ["handbook.pdf"]
        chat, sources, passages, details, *_ = alice.predict(QUESTION, api_name="/ask")
        assert unlink(chat[-1]["content"][0]["text"]).split("\n\n")[0].endswith("[1].")
        assert "<b>handbook.pdf</b> · page 3" in sources

        bob = Client(f"http://127.0.0.1:{port}/", verbose=False)
        documents, *_ = bob.predict(api_name="/documents")
        assert documents["data"] == []
        chat, sources, *_ = bob.predict(QUESTION, api_name="/ask")
        assert "No documents are indexed yet" in chat[-1]["content"][0]["text"]
        assert "handbook.pdf" not in sources
        assert len(list(demo.handlers.root.iterdir())) == 1, "bob asked but uploaded nothing: no folder for him"
    finally:
        demo.close()


def test_the_upload_box_offers_the_supported_types_and_the_server_reports_each_file(models, docs, tmp_path):
    """file_types set the browser's picker (tests/test_browser.py); a batch that reaches
    the server with a wrong file in it is still reported file by file, not refused whole."""
    from gradio_client import Client, handle_file

    from ingest.loaders import SUPPORTED_SUFFIXES

    demo = app.build_app(Models(models.settings.replace(public="1"), embedder=models.embedder, reranker=None, generator=models.generator))
    (upload_box,) = [b for b in demo.blocks.values() if isinstance(b, gr.File)]
    assert upload_box.file_types == sorted(SUPPORTED_SUFFIXES)
    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ" + b"\0" * 64)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(models.settings))
    try:
        report, *_ = Client(f"http://127.0.0.1:{port}/", verbose=False).predict([handle_file(str(exe)), handle_file(str(docs["pdf"]))], api_name="/upload")
        assert "handbook.pdf | indexed, 3 chunks" in report and "setup.exe | skipped: unsupported file type" in report, report
    finally:
        demo.close()


def test_citations_in_the_answer_link_to_their_page_with_the_quote_on_hover(handlers, docs):
    tab, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])])
    final = ask_all(handlers, QUESTION, tab)[-1]
    answer_md = final[1][-1]["content"]
    link = re.search(r'\[\\\[1\\\]\]\(#cite-([\w.-]+) "handbook.pdf, page 3: ', answer_md)
    assert link, answer_md
    assert 'id="source-1"' in final[2] and f'data-cite="{link.group(1)}"' in final[2]
    # the link opens its page: the PDF kept with the collection, the quote highlighted
    view = handlers.show_page(tab, SimpleNamespace(_data={"cite": link.group(1)}))
    assert 'data-kind="pdf"' in view and 'data-page="3"' in view and 'class="hl"' in view, view[:300]
    assert "data:image/jpeg;base64," in view
    assert tab.pages._pages, "the rendered page is kept for the next click"
    assert 'data-kind="empty"' in handlers.close_page(tab) and not tab.pages._pages


# ---------------------------------------------------------------- the local library


@pytest.fixture
def local(models, tmp_path) -> app.Handlers:
    from ingest.library import Library

    return app.Handlers(models, models.settings, tmp_path / "sessions", library=Library(tmp_path / "library"))


def restart(handlers: app.Handlers) -> app.Handlers:
    """A new app process on the same library folder."""
    from ingest.library import Library

    return app.Handlers(handlers.models, handlers.settings, handlers.root.parent / "sessions-2", uploads=handlers.uploads, library=Library(handlers.library.root))


def test_local_library_keeps_documents_and_chat_across_reloads_and_restarts(local, docs):
    tab, report, rows, _, collections, *_ = upload(local, [str(docs["pdf"])])
    assert "handbook.pdf | indexed" in report
    assert collections.choices == [("My documents", tab.session.key)] and str(tab.session.folder) in collections.info
    ask_all(local, QUESTION, tab)
    local.end_session(request("browser-a"))  # the tab reloads: nothing is deleted
    local.close_tab(tab)
    again = restart(local)
    reloaded, rows, _, collections, *_, chat = again.open_tab(app.Tab())
    assert [r[0] for r in rows] == ["handbook.pdf"] and collections.value == tab.session.key
    assert [m["role"] for m in chat] == ["user", "assistant"] and "27 days" in chat[1]["content"]
    _, chat, sources, *_ = ask_all(again, "and what about parental leave?", reloaded)[-1]
    assert len(chat) == 4, "the follow-up goes on from the saved conversation"


def test_collections_are_made_renamed_switched_and_deleted(local, docs):
    tab, *_ = upload(local, [str(docs["pdf"])])
    first = tab.session.key
    tab, message, rows, _, collections, *_ = local.new_collection("Bike manuals", tab)
    assert "Created the collection Bike manuals" in message and rows == []
    upload(local, [str(docs["md"])], tab)
    assert [name for name, _ in local.documents(tab)[2].choices] == ["Bike manuals", "My documents"]
    with pytest.raises(gr.Error, match="already a collection called"):
        local.new_collection("my documents", tab)
    tab, message, *_ = local.rename_collection("Kestrel", tab)
    assert message == "Renamed the collection to Kestrel." and (local.library.root / tab.session.key).is_dir()
    tab, rows, *_ = local.switch_collection(first, tab)
    assert [r[0] for r in rows] == ["handbook.pdf"]
    tab, message, rows, _, collections, *_ = local.clear_collection(tab)
    assert message == "Deleted the collection My documents." and not (local.library.root / first).exists()
    assert [name for name, _ in collections.choices] == ["Kestrel"] and [r[0] for r in rows] == ["kestrel-guide.md"]


def test_a_library_collection_is_an_index_the_cli_opens(local, docs):
    from rag.pipeline import Collection, answer_once

    tab, *_ = upload(local, [str(docs["pdf"])])
    answer = answer_once(Collection(tab.session.folder, local.models), QUESTION)
    assert answer.citations and answer.citations[0].source == "handbook.pdf"


# ---------------------------------------------------------------- queue and stop


def test_a_question_asked_while_one_streams_waits_visibly_and_is_answered(handlers, docs):
    tab, *_ = upload(handlers, [str(docs["pdf"])])
    handlers.submit(QUESTION, tab)
    stream = handlers.answer(tab, "hybrid", 5)
    for _ in range(4):
        next(stream)
    tab, box, waiting = handlers.submit("How long is the warranty?", tab)
    assert box == "" and waiting == "Next: “How long is the warranty?” (1 question waiting)"
    assert list(handlers.answer(tab, "hybrid", 5))[-1][5] == "Next: “How long is the warranty?” (1 question waiting)", "a second loop only reports"
    outputs = list(stream)
    chat = outputs[-1][1]
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant"]
    assert "27 days" in chat[1]["content"] and chat[2]["content"] == "How long is the warranty?"
    assert outputs[-1][5] == "" and not tab.answering


def test_stop_ends_the_streaming_answer_and_empties_the_queue(handlers, docs):
    tab, *_ = upload(handlers, [str(docs["pdf"])])
    handlers.submit(QUESTION, tab)
    handlers.submit("How long is the warranty?", tab)
    stream = handlers.answer(tab, "hybrid", 5)
    while "Every employee" not in (tab.reply or {}).get("content", ""):
        next(stream)
    chat, waiting, ask_button, stop_button = handlers.stop(tab)
    assert chat[-1]["content"].endswith(app.STOPPED) and waiting == "" and ask_button.visible and not stop_button.visible
    streamed = chat[-1]["content"]
    final = list(stream)[-1]
    assert final[1][-1]["content"] == streamed and len(final[1]) == 2, "nothing more streams and the queue is gone"
    assert not tab.answering


# ---------------------------------------------------------------- tuning from the app


def test_tuning_a_tiny_collection_is_refused_in_words(local, docs):
    tab, *_ = upload(local, [str(docs["pdf"])])
    with pytest.raises(gr.Error, match="too few to tune"):
        local.start_tune(5, tab)
    info, timer, start, cancel = local.tune_status(tab)
    assert "50 or more" in info.value and not timer.active and start.visible and not cancel.visible


def test_the_tune_panel_shows_progress_then_the_verdict(local, docs):
    tab, *_ = upload(local, [str(docs["pdf"])])
    job = SimpleNamespace(state="running", fraction=0.42, message="training the encoder, step 40 of 120", verdict="", error="")
    local.tunes[str(tab.session.folder)] = job
    info, timer, start, cancel = local.tune_status(tab)
    assert '<progress value="0.420" max="1"></progress> 42% · training the encoder, step 40 of 120' in info.value
    assert timer.active and cancel.visible and not start.visible
    job.state, job.verdict = "done", "The tuned encoder was adopted: <b>"
    info, timer, start, cancel = local.tune_status(tab)
    assert "The tuned encoder was adopted: &lt;b&gt;" in info.value and not timer.active and start.visible
    job.state, job.error = "cancelled", "cancelled by the user"
    assert "Tuning cancelled: cancelled by the user. The collection is unchanged." in local.tune_status(tab)[0].value


def test_on_milvus_an_upload_is_answered_with_citations_and_a_removal_reaches_the_answer(models, tmp_path, docs):
    """SOURCED_BACKEND=milvus: the same handlers over a Milvus Lite collection (#17)."""
    from ingest import backends

    settings = models.settings.replace(backend="milvus")
    milvus = Models(settings, embedder=models.embedder, reranker=None, reranker_reason="reranking is off in tests", generator=models.generator)
    handlers = app.Handlers(milvus, settings, tmp_path / "sessions")
    tab, _, rows, menu, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])])
    assert backends.recorded(tab.session.folder)["kind"] == "milvus"
    _, chat, sources, *_ = ask_all(handlers, QUESTION, tab)[-1]
    assert unlink(chat[-1]["content"]).startswith("Every employee receives 27 days of paid annual leave per year [1].")
    assert "<b>handbook.pdf</b> · page 3" in sources
    pdf_id = next(value for label, value in menu.choices if label.startswith("handbook.pdf"))
    tab, message, rows, *_ = handlers.remove_document(pdf_id, tab)
    assert message == "Removed handbook.pdf (3 chunks)." and [r[0] for r in rows] == ["kestrel-guide.md"]
    assert "handbook.pdf" not in ask_all(handlers, QUESTION, tab)[-1][2]
    old = tab.session.folder
    handlers.clear_collection(tab)
    assert not old.exists()
