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


def upload(handlers: app.Handlers, paths, session=None):
    return handlers.upload_files(stage(handlers, paths), session)


def request(session_hash: str):
    """What Gradio passes as gr.Request, as far as the handlers look at it."""
    return SimpleNamespace(session_hash=session_hash)


def unlink(markdown: str) -> str:
    """The answer text with its citation links turned back into plain [n] markers."""
    return re.sub(r'\[\\\[(\d+)\\\]\]\(#source-\d+ "[^"]*"\)', r"[\1]", markdown)


def ask_all(handlers, question, chat=None, session=None, mode="hybrid", top_k=5):
    """Run the streaming handler to the end; return every yielded output tuple."""
    return list(handlers.respond(question, chat or [], session, mode, top_k))


def test_build_app_loads_no_model():
    models = Models(Settings())
    demo = app.build_app(models)
    assert isinstance(demo, gr.Blocks)
    assert models._embedder is None and models._generator is None
    names = {d.api_name for d in demo.fns.values()}
    assert {"upload", "sample", "ask", "remove", "clear", "documents"} <= names


def test_upload_reports_every_file_and_keeps_going(handlers, docs, bad_files):
    paths = [docs["pdf"], bad_files["fake"], docs["md"], bad_files["empty"], bad_files["locked"]]
    session, report, rows, menu, cleared = upload(handlers, [str(p) for p in paths], None)
    assert "| handbook.pdf | indexed, 3 chunks |" in report
    assert "| kestrel-guide.md | indexed," in report
    assert "| fake.pdf | skipped: not a PDF" in report
    assert "| empty.txt | skipped: the file is empty" in report
    assert "| locked.pdf | skipped: the PDF is encrypted" in report
    assert "2 added, 3 skipped" in report
    assert sorted(r[0] for r in rows) == ["handbook.pdf", "kestrel-guide.md"]
    assert rows[[r[0] for r in rows].index("handbook.pdf")][1:3] == [3, 3]  # pages, chunks
    assert len(menu.choices) == 2 and cleared is None
    assert session.folder.parent == handlers.root


def test_a_later_upload_keeps_what_is_indexed(handlers, docs, bad_files):
    session, *_ = upload(handlers, [str(docs["pdf"])], None)
    session, report, rows, *_ = upload(handlers, [str(bad_files["fake"]), str(docs["md"])], session)
    assert "1 added, 1 skipped" in report
    assert sorted(r[0] for r in rows) == ["handbook.pdf", "kestrel-guide.md"]


def test_answer_streams_then_cites_file_and_page(handlers, docs):
    session, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])], None)
    outputs = ask_all(handlers, QUESTION, session=session)
    replies = [out[0][-1]["content"] for out in outputs]
    streamed = [r for r in replies if r.startswith("Every employee")]
    assert len(streamed) > 3, "the answer should arrive in pieces"
    assert all(a in b for a, b in zip(streamed, streamed[1:])), "each piece extends the last"
    chat, box, sources, passages, details, _ = outputs[-1]
    assert chat[-2] == {"role": "user", "content": QUESTION}
    assert unlink(chat[-1]["content"]) == "Every employee receives 27 days of paid annual leave per year [1]."
    assert box == ""
    assert "<b>handbook.pdf</b> · page 3" in sources
    assert "<mark>Every employee receives 27 days of paid annual leave per year.</mark>" in sources
    assert passages[0][1:3] == ["handbook.pdf", "3"]
    assert "fake-scripted-llm" in details and "reranking is off in tests" in details
    assert "total" in details


def test_follow_up_passes_the_conversation(handlers, docs, scripted):
    session, *_ = upload(handlers, [str(docs["pdf"])], None)
    chat = ask_all(handlers, QUESTION, session=session)[-1][0]
    # what Gradio 6 hands back: content as a list of typed parts
    chat = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in chat]
    ask_all(handlers, "and what about parental leave?", chat=chat, session=session)
    rewrite_prompt = next(p for p in scripted.prompts if "Last question: and what about parental leave?" in str(p))
    assert f"User: {QUESTION}" in rewrite_prompt
    assert "Assistant: Every employee receives 27 days" in rewrite_prompt


def test_unanswerable_question_shows_closest_passages(handlers, docs):
    session, *_ = upload(handlers, [str(docs["pdf"])], None)
    chat, _, sources, *_ = ask_all(handlers, "Which rocket engine powers the lunar lander?", session=session)[-1]
    assert chat[-1]["content"].startswith("The documents do not say.")
    assert "Closest passages" in sources and "handbook.pdf" in sources


def test_settings_change_mode_and_top_k(handlers, docs):
    session, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])], None)
    passages = ask_all(handlers, QUESTION, session=session, mode="bm25", top_k=2)[-1][3]
    assert 1 <= len(passages) <= 2
    assert all(row[4] == "–" for row in passages), "bm25 mode has no dense rank"


def test_empty_question_changes_nothing(handlers):
    with pytest.warns(UserWarning, match="Type a question"):
        ((chat, box, *_),) = ask_all(handlers, "   ")
    assert chat == [] and box == "   "


def test_remove_and_clear(handlers, docs):
    session, _, rows, menu, _ = upload(handlers, [str(docs["pdf"]), str(docs["md"])], None)
    pdf_id = next(value for label, value in menu.choices if label.startswith("handbook.pdf"))
    session, message, rows, menu = handlers.remove_document(pdf_id, session)
    assert "Removed the document (3 chunks)" in message
    assert [r[0] for r in rows] == ["kestrel-guide.md"]
    sources = ask_all(handlers, QUESTION, session=session)[-1][2]
    assert "handbook.pdf" not in sources
    old = session.folder
    session, message, rows, menu, chat, *_ = handlers.clear_collection(session)
    assert rows == [] and chat == [] and not old.exists()
    assert session.folder != old and not session.folder.exists(), "a new folder comes with the next upload, never the old one"


def test_sessions_are_private_and_deleted(handlers, docs):
    a = handlers.open_session(None, request("browser-a"))
    b = handlers.open_session(None, request("browser-b"))
    assert a.folder != b.folder and a.folder.parent == b.folder.parent == handlers.root
    assert handlers.open_session(None, request("../../etc")).folder.parent == handlers.root
    a, *_ = upload(handlers, [str(docs["pdf"])], a)
    assert handlers.documents(b)[0] == []
    assert "No documents are indexed yet" in ask_all(handlers, QUESTION, session=b)[-1][0][-1]["content"]
    handlers.end_session(request("browser-a"))  # the tab closed
    assert not a.folder.exists()
    b, *_ = upload(handlers, [str(docs["md"])], b)
    assert b.folder.is_dir()
    handlers.close_session(b)  # gr.State expired
    assert not b.folder.exists() and len(handlers.sessions) == 0


def test_domain_errors_become_user_messages(handlers, docs, tmp_path):
    session, *_ = upload(handlers, [str(docs["pdf"])], None)
    other = Models(handlers.settings, embedder=HashEmbedder(dim=32), reranker=None, generator=ScriptedGenerator())
    other.embedder.name = "another-embedder"
    mismatched = app.Handlers(other, handlers.settings, handlers.root)
    with pytest.raises(gr.Error, match="built with embedder"):
        upload(mismatched, [str(docs["md"])], session)


def test_sources_escape_document_html(handlers, tmp_path, scripted):
    evil = tmp_path / "evil.txt"
    evil.write_text("Annual leave is <img src=x onerror=alert(1)> 27 days of paid annual leave per year.")
    session, *_ = upload(handlers, [str(evil)], None)
    sources = ask_all(handlers, "How many days of paid annual leave?", session=session)[-1][2]
    assert "<img" not in sources and "&lt;img" in sources


SAMPLE_ANSWERS = {
    "How long does a full charge take?": "A full charge takes about five",
    "What tyre pressure should the front tyre have?": "Inflate the front tyre to 2.5 bar",
    "How often should I lubricate the chain?": "Lubricate the chain every 200 km",
}


def test_sample_is_indexed_and_answers_its_questions(handlers, scripted):
    session, report, rows, _, _, suggested = handlers.try_sample(None)
    assert "sourced-sample.md | indexed" in report and suggested in app.SAMPLE_QUESTIONS
    assert 600 <= len(app.SAMPLE.read_text().split()) <= 1100
    assert set(app.SAMPLE_QUESTIONS) == set(SAMPLE_ANSWERS)
    for question, answer in SAMPLE_ANSWERS.items():
        asked = len(scripted.prompts)
        passages = ask_all(handlers, question, session=session)[-1][3]
        assert answer in passages[0][-1].replace("\n", " "), question
        assert len(scripted.prompts) > asked, f"the evidence gate stopped {question!r}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_upload_ask_and_session_isolation(models, docs):
    from gradio_client import Client, handle_file

    demo = app.build_app(models)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(models.settings))
    try:
        alice = Client(f"http://127.0.0.1:{port}/", verbose=False)
        report, documents, *_ = alice.predict([handle_file(str(docs["pdf"]))], api_name="/upload")
        assert "handbook.pdf | indexed, 3 chunks" in report
        assert [r[0] for r in documents["data"]] == ["handbook.pdf"]
        chat, _, sources, passages, details = alice.predict(QUESTION, api_name="/ask")
        assert unlink(chat[-1]["content"][0]["text"]).endswith("[1].")
        assert "<b>handbook.pdf</b> · page 3" in sources

        bob = Client(f"http://127.0.0.1:{port}/", verbose=False)
        documents, _ = bob.predict(api_name="/documents")
        assert documents["data"] == []
        chat, _, sources, *_ = bob.predict(QUESTION, api_name="/ask")
        assert "No documents are indexed yet" in chat[-1]["content"][0]["text"]
        assert "handbook.pdf" not in sources
        assert len(list(demo.handlers.root.iterdir())) == 1, "bob asked but uploaded nothing: no folder for him"
    finally:
        demo.close()


def test_citations_in_the_answer_link_to_their_source_with_the_quote_on_hover(handlers, docs):
    session, *_ = upload(handlers, [str(docs["pdf"]), str(docs["md"])], None)
    final = ask_all(handlers, QUESTION, session=session)[-1]
    answer_md = final[0][-1]["content"]
    assert '[\\[1\\]](#source-1 "handbook.pdf, page 3: ' in answer_md
    assert 'id="source-1"' in final[2]
