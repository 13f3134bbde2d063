"""Lexical analysis and BM25 Okapi weights as a sparse matrix (pure functions).

Scoring follows rank-bm25's `BM25Okapi` exactly (Robertson & Zaragoza 2009 form,
k1 = 1.5, b = 0.75, negative idf floored to epsilon x mean idf), which stays the
reference in the tests. Instead of looping over every document in Python per query
term, the per-(term, document) weights are precomputed once into a CSR matrix, so a
query is a sum of a few sparse rows: milliseconds at 100k chunks.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

import numpy as np

from .language import STEMMERS

# Chunks in English (or of unknown language) are analysed exactly as before languages
# were detected, so indexes written then stay valid and the version stays.
TOKENIZER_VERSION = "word-lower-stop-snowball-1"
_TOKEN = re.compile(r"\w+", re.UNICODE)

# A short English stop list (function words only): dropping them shrinks postings and
# stops "the" from matching every chunk; content words are never dropped.
STOP_WORDS = frozenset(
    """a an and are as at be been but by for from has have had he her his i if in into is it its
    of on or our she so such than that the their them then there these they this to was we were
    what when where which who whom why will with would you your do does did not no can could
    may might must shall should about above after again all also am any because before being
    below between both during each few further here how just more most nor off once only other
    out over own same some too under until up very""".split()
)


@lru_cache(maxsize=None)
def _stemmer(algorithm: str):
    import Stemmer  # PyStemmer: the Snowball stemmers, in C

    return Stemmer.Stemmer(algorithm)


# Function words of the other languages whose stemmers are most likely needed here,
# from the Snowball project's stop lists (BSD), shortened to words that never carry
# content. Measured on the team's German and French sets (docs/EVAL.md), dropping
# them is worth as much as the stemmer itself: French BM25 nDCG@10 0.719 -> 0.753.
OTHER_STOP_WORDS = {
    "de": frozenset(
        """aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf aus bei
        bin bis bist da damit dann das dass daß dein deine dem den der des dich die dir du durch ein eine einem einen
        einer eines er es euer eure für hatte hatten hier ich ihm ihn ihr ihre im in ist ja jede jedem jeden jeder
        jedes jener jenes jetzt kann kannst können mein meine mich mir mit muss musst müssen nach nicht noch nun nur
        ob oder ohne sehr sein seine sich sie sind so soll sollen sonst um und uns unser unsere unter vom von vor
        wann warum was weil wenn wer werde werden wie wieder wir wird wirst wo zu zum zur über""".split()
    ),
    "fr": frozenset(
        """a à au aux avec ce ces cet cette comment dans de des du elle elles en est et eux il ils je la le les leur
        leurs lui ma mais me même mes moi mon ne nos notre nous on ont ou où par pas peut pour qu quand que quel
        quelle quelles quels qui sa sans se ses si son sont sur ta te tes toi ton tu un une vos votre vous c d j l
        m n s t y été être""".split()
    ),
}


def _analyse(words: list[str], lang: str) -> list[str | None]:
    """One term per word in `lang` (None for a stop word): Snowball-stemmed where
    PyStemmer has the language, the lower-cased word itself where it has not. Unknown
    ("") is English, which is what every chunk was before languages were detected."""
    lang = lang or "en"
    stop = STOP_WORDS if lang == "en" else OTHER_STOP_WORDS.get(lang, frozenset())
    kept = [w for w in words if w not in stop]
    algorithm = STEMMERS.get(lang)
    terms = iter(_stemmer(algorithm).stemWords(kept) if algorithm and kept else kept)
    return [None if w in stop else next(terms) for w in words]


def tokenize(text: str, lang: str = "") -> list[str]:
    """Lower-cased word tokens, analysed for `lang` (an ISO 639-1 code; "" = English):
    English drops stop words and stems; another language with a Snowball stemmer is
    stemmed with its own; any other keeps its words as they are."""
    return [t for t in _analyse(_TOKEN.findall(text.lower()), lang) if t is not None]


def query_tokens(text: str, langs: tuple[str, ...] = ("en",)) -> list[str]:
    """A query's terms when its language is one of `langs` but not known for sure
    (ingest.language.query_terms decides): each word contributes its analysis in each
    language, once per distinct term, and a word that is a stop word in any of them
    is dropped ("comment" is French for "how", and English for a remark). With one
    language this is `tokenize`."""
    langs = langs or ("en",)
    words = _TOKEN.findall(text.lower())
    stop = frozenset().union(*(STOP_WORDS if lang == "en" else OTHER_STOP_WORDS.get(lang, frozenset()) for lang in langs))
    words = [w for w in words if w not in stop]
    analyses = [_analyse(words, lang) for lang in langs]
    terms: list[str] = []
    for i in range(len(words)):
        seen: list[str] = []
        for analysis in analyses:
            if analysis[i] is not None and analysis[i] not in seen:
                seen.append(analysis[i])
        terms += seen
    return terms


def chunk_tokens(chunks) -> list[list[str]]:
    """What the lexical index holds for each chunk: its indexed text in its own language."""
    return [tokenize(c.indexed_text, c.lang) for c in chunks]


def term_counts(token_lists: list[list[str]], vocab: dict[str, int]):
    """Documents x terms CSR matrix of term frequencies; `vocab` grows in place."""
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for tokens in token_lists:
        for term, n in Counter(tokens).items():
            indices.append(vocab.setdefault(term, len(vocab)))
            data.append(n)
        indptr.append(len(indices))
    return csr_matrix(
        (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(token_lists), len(vocab)),
    )


def bm25_weights(tf, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
    """Terms x documents CSR matrix W so that score(q, d) = sum over query tokens t of W[t, d].

    Args:
        tf: documents x terms term-frequency matrix (scipy sparse).
        k1: term-frequency saturation; b: document-length normalisation.
        epsilon: idf floor as a fraction of the mean idf, as rank-bm25 applies to
            terms in more than half the documents (whose Okapi idf is negative).
    """
    from scipy.sparse import csr_matrix

    tf = csr_matrix(tf, dtype=np.float32)
    n_docs, n_terms = tf.shape
    if n_docs == 0 or n_terms == 0:
        return csr_matrix((n_terms, n_docs), dtype=np.float32)
    doc_len = np.asarray(tf.sum(axis=1)).ravel()
    avgdl = doc_len.sum() / n_docs
    df = np.bincount(tf.indices, minlength=n_terms).astype(np.float64)
    present = df > 0  # rank-bm25 only knows terms that occur; a grown vocab may hold dropped ones
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    mean_idf = idf[present].mean() if present.any() else 0.0
    # rank-bm25's floor is epsilon x mean idf. In a collection of one or two chunks the
    # mean itself is negative and every match would score below zero (and be dropped);
    # there, and only there, the floor is epsilon itself so that matching still counts.
    floor = epsilon * mean_idf if mean_idf > 0 else epsilon
    idf = np.where(idf < 0, floor, idf)
    rows = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
    f = tf.data.astype(np.float64)
    norm = k1 * (1 - b + b * doc_len[rows] / avgdl) if avgdl > 0 else k1
    w = idf[tf.indices] * f * (k1 + 1) / (f + norm)
    docs_terms = csr_matrix((w.astype(np.float32), tf.indices, tf.indptr), shape=tf.shape)
    return docs_terms.T.tocsr()


def bm25_scores(weights, vocab: dict[str, int], query_tokens: list[str]) -> np.ndarray:
    """BM25 score of every document for a tokenised query (repeated terms count again)."""
    counts = Counter(vocab[t] for t in query_tokens if t in vocab)
    n_docs = weights.shape[1]
    if not counts:
        return np.zeros(n_docs, dtype=np.float32)
    ids = np.fromiter(counts.keys(), dtype=np.int64)
    mult = np.fromiter(counts.values(), dtype=np.float32)
    return np.asarray(weights[ids].T @ mult).ravel()
