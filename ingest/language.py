"""Which language a passage or a question is written in, and what that means for search.

Detection is py3langid (Lui & Baldwin's langid.py, a naive Bayes model over byte
n-grams, 97 languages; its model ships in the wheel as numpy arrays, no pickle). It
is reliable on a passage of a hundred words and unreliable on a three-word query, so
a detection below `MIN_CONFIDENCE` counts as unknown ("") and callers fall back to
what they know (for a query: the collection's main language).

What a language changes:
- BM25 stems with that language's Snowball stemmer where PyStemmer has one and keeps
  plain lower-cased words otherwise (ingest.lexical), so German is never cut with
  the English rules.
- Dense search is trusted only for languages its embedder was trained on
  (`EMBEDDER_LANGUAGES`); for others the hybrid ranking leans on BM25 (rag.retrievers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache

from .types import Chunk

# Posterior probability (py3langid, normalised) under which a detection is a guess:
# measured here, a 100-word German or French passage scores above 0.99, while
# "B. F. Skinner" comes out as Norwegian at 0.12 and "737-31-1860" as 0.02.
MIN_CONFIDENCE = 0.5
# A language needs this share of a collection's passages before queries are also
# stemmed its way (see ingest.lexical.query_tokens): a stray French quotation in an
# English manual should not add French stems to every query.
MIN_SHARE = 0.05
# Characters of a chunk the detector reads: a few sentences decide a language as well
# as a whole chunk does, at a fraction of the cost (detection is linear in its input).
SAMPLE_CHARS = 600
NO_LANGUAGE = "zxx"  # py3langid's label for text without linguistic content (codes, numbers)
MAX_LANGUAGES = 3

# ISO 639-1 code -> PyStemmer (Snowball) algorithm. English is the default for text
# whose language is unknown, as it was before languages were detected.
STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "et": "estonian", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "nl": "dutch", "no": "norwegian", "nb": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}

# Languages an embedder was trained on, by model id: dense scores mean something only
# there. A model not listed is taken at its name: "multilingual" (or a known
# multilingual family) covers every language, anything else is treated as English-only,
# the safe assumption for sentence-transformers models. `Settings.embedder_languages`
# overrides this for a model the table does not know.
ALL = "all"
EMBEDDER_LANGUAGES = {
    "sentence-transformers/all-MiniLM-L6-v2": ("en",),
    "all-MiniLM-L6-v2": ("en",),
    "sentence-transformers/all-mpnet-base-v2": ("en",),
    "intfloat/multilingual-e5-small": ALL,
    "intfloat/multilingual-e5-base": ALL,
    "intfloat/multilingual-e5-large": ALL,
    "BAAI/bge-m3": ALL,
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": ALL,
    "sentence-transformers/LaBSE": ALL,
}
_MULTILINGUAL_HINTS = ("multilingual", "bge-m3", "labse", "xlm-r", "m3-")


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, confidence in [0, 1]); ("", 0.0) for text without letters."""
    if not any(ch.isalpha() for ch in text):
        return "", 0.0
    lang, p = _identifier().classify(text)
    return str(lang), float(p)


@lru_cache(maxsize=4096)
def language_of(text: str, min_confidence: float = MIN_CONFIDENCE) -> str:
    """The detected language, or "" when the detection is only a guess (cached: a query
    is asked about by BM25, by fusion and by the gate)."""
    lang, p = detect(text)
    return lang if p >= min_confidence and lang != NO_LANGUAGE else ""


def tag(chunks: Iterable[Chunk]) -> list[Chunk]:
    """The chunks with `lang` set from their text (heading path included).

    Detection reads at most SAMPLE_CHARS of a chunk, and a page is asked about three of
    its chunks (first, middle, last): when no two of them are confidently in different
    languages, every chunk of the page takes the one found (or none), so a 5 MB
    one-line file costs three detections, not thousands. A page whose samples name two
    languages is detected chunk by chunk.
    """
    chunks = list(chunks)
    pages: dict[tuple, list[int]] = {}
    for i, c in enumerate(chunks):
        pages.setdefault((c.doc_id, c.page, c.section), []).append(i)
    langs = [""] * len(chunks)
    for idxs in pages.values():
        picks = idxs if len(idxs) <= 3 else [idxs[0], idxs[len(idxs) // 2], idxs[-1]]
        found = {language_of(chunks[i].indexed_text[:SAMPLE_CHARS]) for i in picks} - {""}  # unsure samples have no say
        for i in idxs:
            langs[i] = (next(iter(found)) if found else "") if len(found) <= 1 else language_of(chunks[i].indexed_text[:SAMPLE_CHARS])
    return [replace(c, lang=lang) for c, lang in zip(chunks, langs)]


def collection_languages(langs: Iterable[str], min_share: float = MIN_SHARE, most: int = MAX_LANGUAGES) -> tuple[str, ...]:
    """The languages a collection is written in, most passages first: those with at
    least `min_share` of the passages, at most `most`. Unknown ("") counts as English."""
    counts = Counter(lang or "en" for lang in langs)
    total = sum(counts.values())
    if not total:
        return ()
    return tuple(lang for lang, n in counts.most_common(most) if n / total >= min_share)


def query_language(query: str, collection: Sequence[str]) -> str:
    """The query's language when detected with confidence and the collection has passages
    in it, else the collection's main language: a short English question about an English
    manual that the detector calls Latin is still English."""
    lang = language_of(query)
    return lang if lang and lang in collection else (collection[0] if collection else "")


def query_languages(query: str, collection: Sequence[str]) -> tuple[str, ...]:
    """The languages to analyse a query in for BM25: its own when detected with
    confidence and the collection has passages in it, else every language of the
    collection (ingest.lexical.query_tokens)."""
    lang = language_of(query)
    return (lang,) if lang and lang in collection else tuple(collection)


def embedder_languages(model_id: str, setting: str = "auto") -> tuple[str, ...] | str:
    """Languages whose dense scores can be trusted: `ALL`, or a tuple of codes.

    `setting` is `Settings.embedder_languages`: "auto" (look the model up), "all",
    or a comma-separated list of codes ("en,de").
    """
    if setting and setting != "auto":
        return ALL if setting == ALL else tuple(s.strip() for s in setting.split(",") if s.strip())
    if model_id in EMBEDDER_LANGUAGES:
        return EMBEDDER_LANGUAGES[model_id]
    name = model_id.lower()
    return ALL if any(h in name for h in _MULTILINGUAL_HINTS) else ("en",)


def covers(languages: tuple[str, ...] | str, lang: str) -> bool:
    """Whether an embedder covering `languages` can be trusted on text in `lang` ("" = unknown: yes)."""
    return languages == ALL or not lang or lang in languages
