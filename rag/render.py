"""How answers and upload reports are shown in the web app: Markdown for the chat
(citation links with the quote on hover), HTML for the sources panel (the verified
quote highlighted), rows for the ranked-passages table, and plain-words details.

Pure functions from Sourced's own objects to text. Everything that came from a
document, a question or the model is escaped here: nothing a user uploads or a model
writes is ever rendered as HTML.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from rag.pageview import quote_span, target


def chat_markdown(text: str) -> str:
    """Text for the chat's Markdown: HTML is shown as text, never rendered, so no tag
    from a document, a question or the model can load anything (the model's Markdown
    links and images were already stripped by rag.citations.strip_foreign_links)."""
    return html.escape(text, quote=False)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 chunk', '2 chunks', '1,200 passages'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def render_report(report) -> str:
    """Per-file results of an upload as a Markdown table."""
    rows = [f"| {_md(a['source'])} | indexed, {plural(a['chunks'], 'chunk')} |" for a in report.added]
    rows += [f"| {_md(Path(s['path']).name)} | skipped: {_md(s['reason'])} |" for s in report.skipped]
    summary = f"{len(report.added)} added, {len(report.skipped)} skipped; {plural(report.total_chunks, 'chunk')} in the collection ({report.seconds:.1f} s)."
    return "\n".join(["| File | Result |", "| --- | --- |", *rows, "", summary])


def _md(text: str) -> str:
    return html.escape(str(text)).replace("|", "\\|")


def render_sources(answer) -> str:
    """Cited passages with the quote highlighted; the closest passages when none is cited."""
    if answer is None:
        return '<div class="sources"><p class="empty">Sources appear here after an answer.</p></div>'
    by_id = {h.chunk.chunk_id: h.chunk for h in answer.hits}
    if answer.citations:
        title = "Sources"
        items = [(f"[{c.n}]", by_id.get(c.chunk_id), c.quote, c.source, c.page) for c in answer.citations]
    else:
        if not answer.hits:
            return '<div class="sources"><h4>No passages</h4><p class="empty">Nothing in your collection matched. Upload files or try the sample first.</p></div>'
        title = "Closest passages"
        items = [(f"{i}.", h.chunk, "", h.chunk.source, h.chunk.page) for i, h in enumerate(answer.hits, 1)]
    blocks = [f"<h4>{title}</h4>"]
    for label, chunk, quote, source, page in items:
        anchor = f' id="source-{label.strip("[].")}"' if answer.citations else ""
        cite = f' data-cite="{html.escape(target(chunk.chunk_id, *quote_span(chunk, quote)))}" title="Show page {page} with the quote highlighted" tabindex="0" role="button"' if chunk else ""
        section = f" · {html.escape(chunk.section.split(' > ')[-1])}" if chunk is not None and chunk.section else ""
        ocr = ' <span class="ocr" title="read by OCR from a scanned page: characters may be misread">OCR</span>' if chunk and chunk.ocr else ""
        head = f'<div class="head"><span class="n">{label}</span><b>{html.escape(source)}</b> · page {page}{ocr}{section}</div>'
        blocks.append(f'<div class="source"{anchor}{cite}>{head}<p>{_highlight(chunk.text if chunk else quote, quote)}</p></div>')
    return '<div class="sources">' + "".join(blocks) + "</div>"


def cite_links(answer) -> str:
    """The answer with each [n] a link that opens its page with the quote highlighted
    (`#cite-` and the citation's `rag.pageview.target`: the chunk and the quote's
    offsets, so a link in an old message still opens its own page); hovering it shows
    the file, the page and the supporting quote."""
    by_n = {c.n: c for c in answer.citations}
    chunks = {h.chunk.chunk_id: h.chunk for h in answer.hits}

    def link(m: re.Match) -> str:
        c = by_n.get(int(m.group(1)))
        return m.group(0) if c is None else _cite_link(c, chunks.get(c.chunk_id))

    return re.sub(r"\[(\d+)\]", link, chat_markdown(answer.text))


def _cite_link(c, chunk) -> str:
    quote = " ".join(c.quote.split())
    quote = quote if len(quote) <= 200 else quote[:197] + "…"
    title = f"{c.source}, page {c.page}{' (OCR)' if c.ocr else ''}: {quote}".replace('"', "'").replace("\\", "/")
    href = f"#cite-{target(c.chunk_id, *quote_span(chunk, c.quote))}" if chunk else f"#source-{c.n}"
    return f'[\\[{c.n}\\]]({href} "{title}")'


QUOTE_LABEL = "Quoted from your documents (no sentence of the generated answer was supported by them):"
UNSUPPORTED_LABEL = "Not supported by your documents:"


def answer_markdown(answer) -> str:
    """The chat message for a finished answer: the short direct answer first (its [n]
    linked, cite_links), then each supporting quote verbatim with its file and page,
    then, struck through under UNSUPPORTED_LABEL, what the model wrote that no source
    supports. A quoted fallback (Answer.fallback) says it is a quote, not an answer."""
    chunks = {h.chunk.chunk_id: h.chunk for h in answer.hits}
    lead = cite_links(answer)
    if answer.fallback == "quote":
        c = answer.citations[0]
        parts = [f"_{QUOTE_LABEL}_", f"> {lead}  \n> — {_md_text(c.source)}, page {c.page}{' (OCR)' if c.ocr else ''}"]
    else:
        parts = [lead]
        quotes = [f"> \u201c{_md_text(' '.join(c.quote.split()))}\u201d — {_md_text(c.source)}, page {c.page}{' (OCR)' if c.ocr else ''} {_cite_link(c, chunks.get(c.chunk_id))}"
                  for c in answer.citations]
        if quotes:
            parts.append("  \n".join(quotes))
    if answer.unsupported:
        parts.append(f"**{UNSUPPORTED_LABEL}**  \n" + "  \n".join(f"~~{_md_text(u)}~~" for u in answer.unsupported))
    return "\n\n".join(parts)


def _md_text(text: str) -> str:
    """Document or model text shown literally inside Markdown: HTML escaped (chat_markdown)
    and Markdown's own marks backslash-escaped, so a quote never formats or links."""
    return re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", chat_markdown(text))


def _highlight(text: str, quote: str) -> str:
    at = text.find(quote) if quote else -1
    if at < 0:
        return html.escape(text)
    return html.escape(text[:at]) + "<mark>" + html.escape(quote) + "</mark>" + html.escape(text[at + len(quote) :])


PAGE_VIEW_EMPTY = "Click a citation, in the answer or among the sources, to see its page with the quote highlighted."


def render_page_view(view=None, error: str = "") -> str:
    """The page view: the cited page as an image with a highlight box per line of the
    quote (each box also in `data-box`, in the image's pixels), or the page's text with
    the quote marked; a note says why nothing is highlighted. The image is one Sourced
    rendered itself (a data: URI); no text of the document is rendered as HTML."""
    if view is None:
        body = f'<p class="empty">{html.escape(error or PAGE_VIEW_EMPTY)}</p>'
        return f'<div class="pageview" data-kind="{"error" if error else "empty"}">{body}</div>'
    of = f" of {view.pages}" if view.pages else ""
    section = f" · {html.escape(view.section.split(' > ')[-1])}" if view.section else ""
    head = f'<div class="head"><b>{html.escape(view.source)}</b> · page {view.page}{of}{section}</div>'
    note = f'<p class="note">{html.escape(view.note)}</p>' if view.note else ""
    attrs = f'data-kind="{view.kind}" data-source="{html.escape(view.source)}" data-page="{view.page}" data-found="{view.found:.2f}"'
    if view.kind == "pdf":
        src = "data:image/jpeg;base64," + base64.b64encode(view.image).decode("ascii")
        boxes = "".join(
            f'<div class="hl" data-box="{b.x},{b.y},{b.w},{b.h}" style="left:{100 * b.x / view.width:.3f}%;top:{100 * b.y / view.height:.3f}%;'
            f'width:{100 * b.w / view.width:.3f}%;height:{100 * b.h / view.height:.3f}%"></div>' for b in view.boxes)
        page = (f'<div class="page" style="max-width:{view.width}px" data-width="{view.width}" data-height="{view.height}">'
                f'<img src="{src}" width="{view.width}" height="{view.height}" alt="Page {view.page} of {html.escape(view.source)}">{boxes}</div>')
        return f'<div class="pageview" {attrs} data-boxes="{len(view.boxes)}">{head}{note}{page}</div>'
    a, b = view.quote_at or (0, 0)
    text = html.escape(view.text[:a]) + "<mark>" + html.escape(view.text[a:b]) + "</mark>" + html.escape(view.text[b:])
    return f'<div class="pageview" {attrs}>{head}{note}<pre class="pagetext">{text}</pre></div>'


def render_passages(answer) -> list[list[str]]:
    """The ranked passages with each stage's evidence, for the explain panel."""

    def num(value, digits=4):
        return "–" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))

    rows = []
    for i, h in enumerate(answer.hits, 1):
        s = h.scores
        excerpt = h.chunk.text if len(h.chunk.text) <= 160 else h.chunk.text[:157] + "…"
        rows.append([str(i), h.chunk.source, str(h.chunk.page), num(s.get("bm25_rank")), num(s.get("dense_rank")), num(s.get("fused")), num(s.get("rerank")), excerpt])
    return rows


def _duration(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def render_details(answer) -> str:
    """Timings per stage and the models that answered, in plain words."""
    timings = " · ".join(f"{k.removesuffix('_ms').replace('_', ' ')} {_duration(v)}" for k, v in answer.timings_ms.items())
    m = answer.models
    reranker = m.get("reranker") or f"none ({m.get('reranker_status') or 'not loaded'})"
    fields = [("Timings", timings or "–"), ("Embedder", m.get("embedder", "–")), ("Reranker", reranker), ("LLM", m.get("llm", "–") + (f" + adapter {m['llm_adapter']}" if m.get("llm_adapter") else ""))]
    if answer.query and answer.query != answer.question:
        fields.append(("Searched for", answer.query))
    lines = [f"**{name}:** {html.escape(str(value))}" for name, value in fields]
    lines += [f"- {html.escape(note)}" for note in answer.notes]
    return "\n\n".join(lines)


def timing_line(answer, mode: str, top_k: int) -> str:
    """One log line per answer (SOURCED_LOG): the stages' milliseconds and what was
    found, never the question or the answer, which stay private."""
    stages = " ".join(f"{k.removesuffix('_ms')}={v:.0f}ms" for k, v in answer.timings_ms.items())
    cached = "cache_ms" in answer.timings_ms
    return (f"mode={mode} top_k={top_k} cached={'yes' if cached else 'no'} passages={len(answer.hits)} "
            f"cited={len(answer.citations)} answerable={'yes' if answer.answerable else 'no'} {stages}")
