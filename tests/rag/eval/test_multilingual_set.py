"""The German/French retrieval check: the committed questions, and the passage splitting and
anchor resolution that bench/multilingual.py runs on the Debian Reference (no Debian data here)."""

import json

import pytest

from rag.eval.multilingual import (
    ANCHOR_WORDS,
    LANGS,
    AnchorNotFoundError,
    Block,
    Passage,
    Question,
    fold,
    html_blocks,
    load_questions,
    parse_questions,
    passage_id,
    passages,
    resolve_anchors,
    split_long,
    words,
)

QUESTIONS = load_questions()

CHAPTER = """<html><body>
<div class="navheader"><p>Vorherige Seite Nächste Seite</p></div>
<div class="chapter">
  <div class="titlepage"><h1 class="title"><a id="x"/>Kapitel 9. Systemtipps</h1></div>
  <div class="toc"><p><b>Inhaltsverzeichnis</b></p><dl class="toc"><dt>9.1. Tipps für die Konsole</dt></dl></div>
  <p>Dieses Kapitel beschreibt Tipps.</p>
  <div class="section">
    <div class="titlepage"><h2 class="title">9.1. Tipps für die <code>Konsole</code></h2></div>
    <p>Das Programm <code class="literal">screen</code>(1) hält
       Sitzungen am Leben.</p>
    <pre class="screen">$ screen -r
geheimer Befehl</pre>
    <div class="table"><p class="title"><b>Tabelle 9.1</b></p>
      <div class="table-contents"><table class="table"><tr><td><p>Tabellenzelle</p></td></tr></table></div></div>
    <div class="note"><table border="0" summary="Note"><tr><th>Anmerkung</th></tr>
      <tr><td><p>Eine Anmerkung&#160;: wichtig.</p></td></tr></table></div>
    <div class="section">
      <div class="titlepage"><h3 class="title">9.1.1. Unterabschnitt</h3></div>
      <p>Tief unten.</p>
    </div>
  </div>
  <div class="section">
    <div class="titlepage"><h2 class="title">9.2. Zweiter Abschnitt</h2></div>
    <p>Wieder oben.</p>
  </div>
</div>
<div class="navfooter"><p>Startseite</p></div>
</body></html>"""

CH = "Kapitel 9. Systemtipps"
S1 = "9.1. Tipps für die Konsole"


def test_the_committed_questions_parse_with_unique_ids():
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS)
    assert all(q.id.startswith(q.lang + "-q") for q in QUESTIONS)


@pytest.mark.parametrize("lang", LANGS)
def test_at_least_fifty_questions_per_language(lang):
    assert sum(q.lang == lang for q in QUESTIONS) >= 50


def test_anchors_are_short_and_not_in_their_question():
    low, high = ANCHOR_WORDS
    assert [q.id for q in QUESTIONS if not low <= words(q.anchor) <= high] == []
    assert [q.id for q in QUESTIONS if fold(q.anchor) in fold(q.question)] == []


def test_questions_are_not_repeated():
    assert len({fold(q.question) for q in QUESTIONS}) == len(QUESTIONS)


def _line(**row) -> str:
    base = {"id": "de-q001", "lang": "de", "question": "Wie geht das?", "anchor": "eins zwei drei vier fünf"}
    return json.dumps({**base, **row})


@pytest.mark.parametrize(
    "line, message",
    [
        (_line(lang="es"), "lang must be one of"),
        (_line(anchor="zu kurz"), "anchor must be 5-15 words; got 2"),
        (_line(anchor=" ".join(["wort"] * 16)), "got 16"),
        (_line(question="Was heißt eins zwei  drei vier FÜNF hier?"), "holds its anchor"),
        ('{"id": "de-q001"}', "not a question object"),
        ("kein json", "line 1"),
    ],
)
def test_a_bad_question_line_is_refused_with_its_reason(line, message):
    with pytest.raises(ValueError, match=message):
        parse_questions([line])


def test_a_repeated_id_is_refused():
    with pytest.raises(ValueError, match="id 'de-q001' repeated"):
        parse_questions([_line(), "", _line()])


def test_html_blocks_keep_prose_under_its_headings_and_skip_the_rest():
    blocks = html_blocks(CHAPTER)
    assert blocks == [
        Block((CH,), "Dieses Kapitel beschreibt Tipps."),
        Block((CH, S1), "Das Programm screen(1) hält Sitzungen am Leben."),
        Block((CH, S1), "Eine Anmerkung : wichtig."),
        Block((CH, S1, "9.1.1. Unterabschnitt"), "Tief unten."),
        Block((CH, "9.2. Zweiter Abschnitt"), "Wieder oben."),
    ]
    text = " ".join(b.text for b in blocks)
    for left_out in ("Inhaltsverzeichnis", "geheimer Befehl", "Tabellenzelle", "Tabelle 9.1", "Startseite", "Vorherige"):
        assert left_out not in text


def _sentences(n: int, word: str) -> str:
    return " ".join(f"{word}{i} a b c d e f g h i." for i in range(n))  # 10 words each


def test_paragraphs_are_packed_within_a_section_and_never_across_a_heading():
    a, b = ("T", "A"), ("T", "B")
    blocks = [Block(a, _sentences(2, "x")), Block(a, _sentences(2, "y")), Block(a, _sentences(1, "z")), Block(b, _sentences(3, "w"))]
    out = passages(blocks, "de", min_words=30, max_words=60)
    assert [(p.title, words(p.text)) for p in out] == [("T > A", 50), ("T > B", 30)], "the short remainder z joins the passage before it"
    assert out[0].text.startswith("x0") and out[0].text.endswith("z0 a b c d e f g h i.")


def test_a_short_remainder_that_does_not_fit_is_dropped():
    blocks = [Block(("A",), _sentences(6, "x")), Block(("A",), _sentences(1, "y"))]
    out = passages(blocks, "fr", min_words=30, max_words=60)
    assert [words(p.text) for p in out] == [60]
    assert passages([Block(("A",), "zu kurz")], "de") == []


def test_long_paragraphs_are_cut_at_sentence_ends():
    text = _sentences(25, "s")
    pieces = split_long(text, max_words=100)
    assert [words(p) for p in pieces] == [100, 100, 50]
    assert all(p.endswith(".") for p in pieces)
    assert [words(p) for p in split_long(" ".join(["w"] * 250), max_words=100)] == [100, 100, 50], "one endless sentence"
    with pytest.raises(ValueError, match="min_words=50, max_words=10"):
        passages([], "de", min_words=50, max_words=10)


def test_passage_ids_come_from_the_text_alone():
    text = _sentences(5, "x")
    first = passages([Block(("A",), text)], "de")[0]
    again = passages([Block(("B",), _sentences(5, "q")), Block(("A",), text)], "de")
    assert first.id == passage_id("de", text) == again[1].id
    assert first.id.startswith("de-") and len(first.id) == 15
    assert passage_id("de", "a  b") == passage_id("de", "a b") != passage_id("fr", "a b")
    twice = passages([Block(("A",), text), Block(("B",), text)], "de")
    assert len(twice) == 1, "an identical passage is kept once"


CORPUS = [
    Passage("fr-1", "", "Ne donnez jamais le mot de passe de l’administrateur à d’autres personnes."),
    Passage("fr-2", "", "La taille d’un tube est toujours nulle, il ne stocke pas de données."),
    Passage("fr-3", "", "Rappel : ne donnez jamais le mot de passe de l'administrateur à personne."),
]


def test_anchors_resolve_to_every_passage_holding_them():
    questions = [
        Question("fr-q001", "fr", "Puis-je partager le mot de passe root ?", "Ne  donnez jamais le MOT de passe de l'administrateur"),
        Question("fr-q002", "fr", "Un FIFO garde-t-il des données ?", "la taille d’un tube est toujours nulle"),
    ]
    assert resolve_anchors(questions, CORPUS) == {"fr-q001": {"fr-1": 1, "fr-3": 1}, "fr-q002": {"fr-2": 1}}


def test_an_anchor_matching_nothing_stops_the_build_naming_it():
    questions = [Question("fr-q009", "fr", "Question ?", "cette phrase ne figure nulle part ici")]
    with pytest.raises(AnchorNotFoundError, match="fr-q009.*cette phrase ne figure"):
        resolve_anchors(questions, CORPUS)
