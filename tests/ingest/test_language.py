"""Language detection, per-language analysis for BM25, and which languages an embedder knows."""

from ingest import language
from ingest.lexical import chunk_tokens, query_tokens, tokenize
from ingest.types import Chunk

GERMAN = "Der Paketmanager installiert die Pakete und löst dabei alle Abhängigkeiten automatisch auf, bevor das System neu gestartet wird."
FRENCH = "Le gestionnaire de paquets installe les paquets et résout automatiquement toutes les dépendances avant le redémarrage du système."
ENGLISH = "The package manager installs the packages and resolves every dependency automatically before the system restarts."


def test_a_passage_is_detected_and_a_guess_is_unknown():
    assert language.language_of(GERMAN) == "de"
    assert language.language_of(FRENCH) == "fr"
    assert language.language_of(ENGLISH) == "en"
    assert language.language_of("737-31-1860") == ""  # no letters
    assert language.language_of("B. F. Skinner") == ""  # a name: the detector only guesses
    assert language.detect("") == ("", 0.0)


def test_tag_sets_each_chunks_language():
    chunks = [Chunk(f"c{i}", "d", "x.txt", 1, 0, len(t), t) for i, t in enumerate((GERMAN, ENGLISH))]
    assert [c.lang for c in language.tag(chunks)] == ["de", "en"]


def test_german_is_stemmed_the_german_way_never_the_english_way():
    assert tokenize("Pakete Paketen", "de") == ["pak", "pak"]
    assert tokenize("Pakete", "en") == ["paket"]  # what the English rules made of it
    assert tokenize("die Abhängigkeiten", "de") == ["abhang"]  # German stop word dropped, German stem
    assert tokenize("installing the packages") == ["instal", "packag"]  # English unchanged, "" = English
    assert tokenize("installing the packages", "en") == tokenize("installing the packages")
    assert tokenize("Pakete", "ja") == ["pakete"]  # no Snowball stemmer: plain lower-cased words


def test_chunks_are_indexed_in_their_own_language():
    de = Chunk("c1", "d", "x.txt", 1, 0, 6, "Pakete", lang="de")
    en = Chunk("c2", "d", "x.txt", 1, 0, 8, "Pakete")
    assert chunk_tokens([de, en]) == [["pak"], ["paket"]]


def test_an_unsure_query_is_analysed_in_every_collection_language_without_their_stop_words():
    assert query_tokens("Pakete packages", ("de", "en")) == ["pak", "paket", "packag"]  # one term when both agree
    assert "comment" not in query_tokens("comment installer", ("fr", "en"))  # French for "how"
    assert query_tokens("the installed packages", ("en",)) == tokenize("the installed packages")


def test_query_languages_trust_a_confident_detection_only_inside_the_collection():
    question = "Wie installiere ich ein Paket mit allen Abhängigkeiten auf dem System?"
    assert language.query_languages(question, ("de", "en")) == ("de",)
    assert language.query_languages(question, ("en",)) == ("en",)  # no German passage: the detection cannot help
    assert language.query_languages("Skinner", ("de", "en")) == ("de", "en")
    assert language.query_language(question, ("en",)) == "en"
    assert language.query_language("Skinner", ("fr",)) == "fr"


def test_collection_languages_ignore_a_stray_passage():
    assert language.collection_languages(["de"] * 97 + ["en"] * 3) == ("de",)
    assert language.collection_languages(["de"] * 60 + [""] * 40) == ("de", "en")  # unknown counts as English
    assert language.collection_languages([]) == ()


def test_which_languages_an_embedder_knows():
    assert language.embedder_languages("sentence-transformers/all-MiniLM-L6-v2") == ("en",)
    assert language.embedder_languages("intfloat/multilingual-e5-small") == language.ALL
    assert language.embedder_languages("/models/my-multilingual-encoder") == language.ALL
    assert language.embedder_languages("/models/tuned-minilm") == ("en",)
    assert language.embedder_languages("anything", "en,de") == ("en", "de")
    assert language.embedder_languages("sentence-transformers/all-MiniLM-L6-v2", "all") == language.ALL
    assert language.covers(("en",), "en") and not language.covers(("en",), "de")
    assert language.covers(language.ALL, "ar") and language.covers(("en",), "")


def test_a_page_is_detected_from_three_samples_unless_they_name_two_languages(monkeypatch):
    calls = []
    real = language.language_of.__wrapped__
    monkeypatch.setattr(language, "language_of", lambda text: calls.append(text) or real(text))
    same = [Chunk(f"c{i}", "d", "x.txt", 1, i, i + 1, GERMAN) for i in range(40)]
    assert {c.lang for c in language.tag(same)} == {"de"} and len(calls) == 3
    calls.clear()
    mixed = [Chunk(f"m{i}", "d", "x.txt", 2, i, i + 1, GERMAN if i < 5 else ENGLISH) for i in range(10)]
    assert [c.lang for c in language.tag(mixed)] == ["de"] * 5 + ["en"] * 5 and len(calls) == 3 + 10
    codes = [Chunk(f"z{i}", "d", "x.txt", 3, i, i + 1, f"w{i}x 737-31-{i}") for i in range(30)]
    assert {c.lang for c in language.tag(codes)} == {""}, "no linguistic content is no language"
