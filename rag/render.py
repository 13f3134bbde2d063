"""How answers and upload reports are shown in the web app: Markdown for the chat
(citation links with the quote on hover), HTML for the sources panel (the verified
quote highlighted), rows for the ranked-passages table, and plain-words details.

Pure functions from Sourced's own objects to text. Everything that came from a
document, a question or the model is escaped here: nothing a user uploads or a model
writes is ever rendered as HTML.
"""

from __future__ import annotations

import html
import re
from pathlib import Path


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
        section = f" · {html.escape(chunk.section.split(' > ')[-1])}" if chunk is not None and chunk.section else ""
        head = f'<div class="head"><span class="n">{label}</span><b>{html.escape(source)}</b> · page {page}{section}</div>'
        blocks.append(f'<div class="source"{anchor}>{head}<p>{_highlight(chunk.text if chunk else quote, quote)}</p></div>')
    return '<div class="sources">' + "".join(blocks) + "</div>"


def cite_links(answer) -> str:
    """The answer with each [n] a link to its source in the panel; hovering it shows
    the file, the page and the supporting quote."""
    by_n = {c.n: c for c in answer.citations}

    def link(m: re.Match) -> str:
        c = by_n.get(int(m.group(1)))
        if c is None:
            return m.group(0)
        quote = " ".join(c.quote.split())
        quote = quote if len(quote) <= 200 else quote[:197] + "…"
        title = f"{c.source}, page {c.page}: {quote}".replace('"', "'").replace("\\", "/")
        return f'[\\[{c.n}\\]](#source-{c.n} "{title}")'

    return re.sub(r"\[(\d+)\]", link, chat_markdown(answer.text))


def _highlight(text: str, quote: str) -> str:
    at = text.find(quote) if quote else -1
    if at < 0:
        return html.escape(text)
    return html.escape(text[:at]) + "<mark>" + html.escape(quote) + "</mark>" + html.escape(text[at + len(quote) :])


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
    fields = [("Timings", timings or "–"), ("Embedder", m.get("embedder", "–")), ("Reranker", reranker), ("LLM", m.get("llm", "–"))]
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
