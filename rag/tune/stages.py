"""Train the retrievers on a collection's own passages (`python -m rag tune`).

1. Questions: judged pairs the user gives, one LLM-written question for some chunks
   (within a share of the time budget) and an inverse-cloze query for up to
   `cloze_max` chunks.
2. Held out: the questions of a share of the passages (judged and LLM ones, never
   cloze) are kept aside, untouched by training.
3. Hard negatives are mined with the current BM25 + dense search, fused as `search()` fuses.
4. The dual encoder is fine-tuned and a cross-encoder trained from the bundled MiniLM.
5. The held-out questions are searched before and after (dense, hybrid, hybrid +
   rerank). A tuned model is adopted only if it is clearly better than what it
   replaces: an undertrained reranker is far worse than none (DESIGN.md).

Every stage leaves its result in the work folder and a rerun with the same inputs
picks up from there, so an interrupted run loses at most a few minutes. A `Tracker`
(rag.tune.progress) hears how far the run is and stops it when it is cancelled; a
cancelled run writes no generation. rag.tune.jobs runs it in the background.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ingest.embedder import Embedder, SentenceTransformerEmbedder
from ingest.index import ANN_THRESHOLD, Index
from ingest.models import pick_device
from ingest.settings import Settings
from ingest.types import Chunk

from ..eval.datasets import Dataset, load_dataset
from ..eval.retrieval import QueryVectors, cached_vectors, corpus_index, embed_with_progress
from ..generate import focus, neutralise
from ..pipeline import Models, collection_settings, search
from ..rerank import CrossEncoderReranker
from ..retrievers import retrievers_for
from .heldout import calibrate_fusion, calibrate_rerank, clearly_better, heldout_qrels, search_heldout
from .progress import Tracker, plan
from .train import TrainConfig, train
from .triples import ORIGINS, Example, cloze_examples, judged_from_jsonl, llm_examples, load_examples, save_examples, split_heldout, with_negatives

MINE_DEPTH = 30  # hard negatives come from the fused top 30
EMBEDDER_SHARE = 0.4  # of the training time left; the cross-encoder gets what remains after it
MIN_PASSAGES = 50  # a fifth of the asked passages is held out: fewer than ~10 questions cannot tell a gain from noise


@dataclass(frozen=True)
class TuneOptions:
    time_budget_s: float = 1800.0  # the whole run: questions, mining, training, re-embedding
    llm_questions: int = 200  # chunks that get an LLM-written question (0: none)
    llm_share: float = 0.25  # at most this share of the budget goes to writing questions
    cloze: bool = True
    cloze_max: int = 1000  # inverse-cloze questions from at most this many chunks (bounds mining and training)
    asked_repeats: int = 2  # judged and LLM questions are worth more than cloze ones: each is trained on this often
    heldout: float = 0.2  # share of the asked passages held out for the before/after check
    seed: int = 0
    device: str | None = None
    embedder: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1.0, batch_size=32, negatives=1, lr=3e-5, max_length=256))
    reranker: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1.0, batch_size=8, negatives=3, lr=3e-5, max_length=256))

    def __post_init__(self) -> None:
        if not self.time_budget_s > 0:
            raise ValueError(f"the time budget must be positive; got time_budget_s={self.time_budget_s}")


def work_folder(cache: str | Path, name: str, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(cache) / "tuned" / f"{name}-{digest}"


def questions(chunks: list[Chunk], judged: list[Example], generator_factory, options: TuneOptions, progress: bool, tracker: Tracker | None = None) -> list[Example]:
    """Judged pairs, then LLM questions for a random sample of chunks, then cloze."""
    from tqdm import tqdm

    tracker = tracker or Tracker()
    rng = random.Random(options.seed)
    out = list(judged)
    if options.llm_questions and generator_factory is not None:
        sample = rng.sample(chunks, min(options.llm_questions, len(chunks)))
        tracker.update(0.0, "loading the model that writes training questions")
        ask = question_writer(generator_factory())
        t0 = time.monotonic()
        limit = options.time_budget_s * options.llm_share
        written = 0  # a disabled tqdm bar does not count
        with tqdm(total=len(sample), desc="writing questions", unit="q", disable=not progress) as bar:

            def each() -> None:
                nonlocal written
                bar.update(1)
                written += 1
                tracker.update(max(written / len(sample), (time.monotonic() - t0) / limit), f"writing training questions, {written} of {len(sample)}")

            out += llm_examples(sample, ask, should_stop=lambda: time.monotonic() - t0 > limit, on_each=each)
    if options.cloze:
        out += cloze_examples(rng.sample(chunks, min(options.cloze_max, len(chunks))), rng)
    return out


def judged_from_dataset(dataset: Dataset) -> list[Example]:
    """Judged pairs from a BEIR dataset's qrels (one example per relevant document)."""
    return [Example(dataset.queries[q], doc, "judged") for q, docs in dataset.qrels.items() if q in dataset.queries for doc, grade in docs.items() if grade > 0]


def question_writer(generator, passage_tokens: int = 200):
    """`ask(passage) -> model output` for rag.tune.triples.llm_examples."""
    import prompts


    def ask(passage: str) -> str:
        text = focus(neutralise(" ".join(passage.split())), "", passage_tokens, generator.count_tokens)
        prompt = prompts.render("question_completion", passage=text)
        return "".join(generator.stream(prompt, max_tokens=40, stop=["\n", "Passage:"]))

    return ask


def mine(examples: list[Example], index: Index, embedder: Embedder, settings: Settings, negatives: int, seed: int, tracker: Tracker | None = None) -> list[Example]:
    """Attach hard negatives from the fused BM25 + dense top `MINE_DEPTH`."""
    tracker = tracker or Tracker()
    queries = [e.query for e in examples]
    for i in range(0, len(queries), 64):  # QueryVectors keeps them: embedded a batch at a time, a cancel waits for one batch
        tracker.update(0.5 * i / len(queries), f"mining hard negatives: embedding questions, {i} of {len(queries)}")
        QueryVectors(embedder, queries[i : i + 64])
    retrievers = retrievers_for(index, QueryVectors(embedder, queries), settings)
    rankings = []
    for i, q in enumerate(queries):
        if i % 16 == 0:
            tracker.update(0.5 + 0.5 * i / len(queries), f"mining hard negatives, question {i + 1} of {len(queries)}")
        rankings.append([h.chunk.chunk_id for h in search(retrievers, q, MINE_DEPTH, "hybrid", settings)[0]])
    relevant: dict[str, set[str]] = {}
    for e in examples:
        relevant.setdefault(e.query, set()).add(e.positive_id)
    chunks = {c.chunk_id: c for c in index.chunks}
    return with_negatives(examples, rankings, chunks, negatives, random.Random(seed), relevant)


def reembed(index: Index, embedder: Embedder, progress: bool, cache_dir: str | Path | None = None, tracker: Tracker | None = None) -> Index:
    """The same chunks and lexical index with vectors from `embedder` (cached under
    `cache_dir` when given, as evaluation caches corpus vectors)."""
    tracker = tracker or Tracker()
    texts = [c.indexed_text for c in index.chunks]
    if cache_dir is None:
        def each(done: int) -> None:
            tracker.update(done / len(texts), f"re-embedding the passages, {done} of {len(texts)}")

        vectors = embed_with_progress(embedder, texts, "re-embedding", progress, batch=64, each=each)
    else:
        vectors = cached_vectors(embedder, texts, cache_dir, index.chunks[0].source if index.chunks else "empty", progress)
    return replace(index, embedder=embedder.name, vectors=vectors, dense=None)


def run(index: Index, judged: list[Example], base_embedder: Embedder, settings: Settings, options: TuneOptions, folder: Path, *, generator_factory=None, progress: bool = True, cache_vectors: bool = False, tracker: Tracker | None = None) -> tuple[dict, Index | None]:
    """Tune on `index`'s chunks; returns the report and the index re-embedded with the
    tuned encoder (None when the encoder was not adopted).

    Raises:
        TuneCancelled: `tracker` was cancelled; the stages finished so far stay in `folder`.
    """
    tracker = tracker or Tracker()
    t0 = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    report: dict = {"folder": str(folder), "device": pick_device(options.device), "options": asdict(options), "seconds": {}}
    reembed_s = _reembed_estimate(index, base_embedder)
    spans = _spans(options, reembed_s, asks=generator_factory is not None)
    examples = _examples(index, judged, base_embedder, settings, options, folder, generator_factory, progress, report["seconds"], tracker, spans)
    train_set, heldout = split_heldout(examples, options.heldout, random.Random(options.seed))
    report["examples"] = {o: sum(e.origin == o for e in train_set) for o in ORIGINS} | {"heldout": len(heldout)}
    qrels = heldout_qrels(heldout)
    tracker.stage(*spans["heldout"], "searching the held-out questions")
    before = search_heldout(qrels, index, base_embedder, settings, tracker)
    report["heldout_before"] = {m: before[m] for m in ("dense", "hybrid")} if before else {}
    deadline = t0 + options.time_budget_s - reembed_s - 0.05 * options.time_budget_s  # 5%: the held-out check
    report["training"] = _train_both(index, train_set, settings, options, folder, deadline, report["device"], progress, tracker, spans)

    t = time.monotonic()
    tracker.stage(*spans["reembed"], "loading the tuned encoder")
    tuned_embedder = SentenceTransformerEmbedder(str(folder / "embedder" / "model"), device=report["device"])
    tuned_index = reembed(index, tuned_embedder, progress, settings.cache if cache_vectors else None, tracker)
    report["seconds"]["reembed"] = round(time.monotonic() - t, 1)
    report.update(_judge(qrels, before, index, base_embedder, tuned_index, tuned_embedder, settings, folder, tracker, spans))
    report["seconds"]["total"] = round(time.monotonic() - t0, 1)
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    return report, (tuned_index if report["adopt_embedder"] else None)


def _spans(options: TuneOptions, reembed_s: float, asks: bool) -> dict[str, tuple[float, float]]:
    """Each stage's part of the progress bar, from the time the budget plans for it;
    the last 1% is left for writing the generation."""
    budget = options.time_budget_s
    before = {"questions": budget * options.llm_share if asks and options.llm_questions else 0.0, "mining": 0.03 * budget, "heldout": 0.01 * budget}
    after = {"reembed": reembed_s, "check_encoder": 0.01 * budget, "check_reranker": 0.04 * budget, "adopt": 0.01 * budget}
    training = max(budget - sum(before.values()) - sum(after.values()), 0.1 * budget)
    return plan(before | {"encoder": EMBEDDER_SHARE * training, "reranker": (1 - EMBEDDER_SHARE) * training} | after)


def _examples(index, judged, embedder, settings, options, folder: Path, generator_factory, progress, seconds: dict, tracker: Tracker, spans: dict) -> list[Example]:
    """Questions with hard negatives, from examples.jsonl when an earlier run made them."""
    cached = folder / "examples.jsonl"
    if cached.exists():
        return load_examples(cached)
    t = time.monotonic()
    tracker.stage(*spans["questions"], "writing training questions")
    asked = questions(index.chunks, judged, generator_factory, options, progress, tracker)
    seconds["questions"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    tracker.stage(*spans["mining"], "mining hard negatives")
    examples = mine(asked, index, embedder, settings, max(options.embedder.negatives, options.reranker.negatives), options.seed, tracker)
    seconds["mining"] = round(time.monotonic() - t, 1)
    save_examples(examples, cached)
    return examples


def _train_both(index: Index, train_set: list[Example], settings: Settings, options: TuneOptions, folder: Path, deadline: float, device: str, progress: bool, tracker: Tracker, spans: dict) -> dict:
    """The encoder gets EMBEDDER_SHARE of the time left, the cross-encoder the rest;
    a model an earlier run finished is reused."""
    texts = {c.chunk_id: c.indexed_text for c in index.chunks}
    weighted = [e for e in train_set if e.origin != "cloze"] * options.asked_repeats + [e for e in train_set if e.origin == "cloze"]
    trained = {}
    for kind, config, share in (("biencoder", options.embedder, EMBEDDER_SHARE), ("cross-encoder", options.reranker, 1.0)):
        name = "encoder" if kind == "biencoder" else "reranker"
        out = folder / ("embedder" if kind == "biencoder" else "reranker")
        tracker.stage(*spans[name], f"loading the {name} to train")
        if (out / "train.json").exists():
            trained[kind] = json.loads((out / "train.json").read_text())
            continue
        budget = max(60.0, (deadline - time.monotonic()) * share)
        trained[kind] = train(kind, settings.embedder, weighted, texts, out, replace(config, seed=options.seed, time_budget_s=budget), device=device, progress=progress, tracker=tracker)
    return trained


def _judge(qrels: dict, before: dict, index, base_embedder, tuned_index, tuned_embedder, settings, folder: Path, tracker: Tracker, spans: dict) -> dict:
    """The held-out check (rag.tune.heldout): adopt the encoder if hybrid search with it is
    clearly better, a fixed fusion if it clearly beats the adaptive default with the
    encoder chosen, and the reranker (at its calibrated weight) if it clearly beats
    the hybrid search it reorders."""
    tracker.stage(*spans["check_encoder"], "checking the tuned encoder on the held-out questions")
    after = search_heldout(qrels, tuned_index, tuned_embedder, settings, tracker)
    encoder = clearly_better(after["hybrid_per_question"], before["hybrid_per_question"]) if qrels else {}
    adopt_embedder = bool(encoder) and encoder["adopt"]
    live_index, live_embedder = (tuned_index, tuned_embedder) if adopt_embedder else (index, base_embedder)
    fusion = calibrate_fusion(qrels, live_index, live_embedder, settings, tracker)
    adopt_fusion = bool(fusion) and fusion["versus_default"]["adopt"]
    live = settings.replace(**fusion["fusion"]) if adopt_fusion else settings
    tracker.stage(*spans["check_reranker"], "loading the trained reranker")
    calibration = calibrate_rerank(qrels, live_index, live_embedder, live, CrossEncoderReranker(str(folder / "reranker" / "model")), tracker)
    return {
        "fusion_calibration": fusion,
        "adopt_fusion": adopt_fusion,
        "fusion": fusion["fusion"] if adopt_fusion else None,
        "heldout_after": {"dense": after["dense"], "hybrid": after["hybrid"], "rerank": calibration["rerank"]} if calibration else {},
        "rerank_calibration": calibration,
        "rerank_weight": calibration.get("weight", 1.0),
        "encoder_versus_untuned": encoder,
        "adopt_embedder": adopt_embedder,
        "adopt_reranker": bool(calibration) and calibration["versus_hybrid"]["adopt"],
        "embedder": str(folder / "embedder" / "model"),
        "reranker": str(folder / "reranker" / "model"),
    }


def check_size(passages: int, folder: str | Path) -> None:
    """Refuse a collection too small to tune meaningfully (MIN_PASSAGES), before any work.

    Raises:
        ValueError: naming the count and the minimum.
    """
    if not passages:
        raise ValueError(f"{folder} holds no passages; index some documents first")
    if passages < MIN_PASSAGES:
        raise ValueError(
            f"{folder} holds {passages} passage{'s' if passages != 1 else ''}, too few to tune: at least {MIN_PASSAGES} are needed, because a fifth of "
            f"the questions is held out to check the result and fewer than about ten cannot tell a real gain from noise. "
            f"Add more documents first; search works well without tuning."
        )


def tune_index(folder: str | Path, settings: Settings, options: TuneOptions, *, pairs: str | None = None, generator=None, progress: bool = True, on_progress: Callable[[float, str], None] | None = None, cancelled: Callable[[], bool] | None = None) -> dict:
    """Tune on an index folder, then write a generation that uses what was adopted.
    A tuned index is tuned further from its own models (rag.pipeline.collection_settings).

    Args:
        generator: writes the synthetic questions; default: the LLM `settings` name.
        progress: tqdm bars on stderr.
        on_progress: `on_progress(fraction, message)` as the run goes, fraction 0..1 of it.
        cancelled: polled at every step, batch and question; True stops the run.

    Raises:
        ValueError: the index is empty or too small (check_size), or changed while
            tuning (a rerun resumes).
        TuneCancelled: `cancelled()` said so; no generation was written.
    """
    from ingest import backends
    from ingest.embedder import embedder_from

    tracker = Tracker(on_progress, cancelled)
    tracker.update(0.0, "loading the collection")
    folder = Path(folder)
    settings = collection_settings(settings, folder)
    embedder = embedder_from(settings)
    index = backends.load(folder, embedder.name, settings.storage())
    if not isinstance(index, Index):  # a Milvus-held collection: train on a copy of it in memory
        index = index.to_index()
    judged = judged_from_jsonl(pairs, index.chunks) if pairs else []  # a broken file is named first: it is the user's next fix
    check_size(len(index), folder)
    key = {"index": str(folder.resolve()), "generation": index.generation, "pairs": _digest(pairs), "embedder": embedder.name, "options": asdict(options)}
    work = work_folder(settings.cache, folder.name, key)
    factory = (lambda: generator) if generator is not None else (lambda: Models(settings, embedder=embedder).generator)
    report, tuned = run(index, judged, embedder, settings, options, work, generator_factory=factory, progress=progress, tracker=tracker)
    if report["adopt_embedder"] or report["adopt_reranker"]:
        tracker.stage(tracker.fraction, 1.0, "writing the tuned generation")  # the last chance to cancel
        adopt(folder, report, tuned, embedder.name, index.generation, ann=(settings.ann, settings.ann_threshold), storage=settings.storage())
    tracker.finish("finished")
    return report


def adopt(folder: Path, report: dict, tuned: Index | None, base_embedder: str, generation: int, ann: tuple[str, int] = ("auto", ANN_THRESHOLD),
          storage=None) -> None:
    """Write a generation that uses the adopted models: the re-embedded index when the
    encoder was adopted, and the manifest's `tuned` record that `rag.pipeline.collection_settings` reads.
    A Milvus-held collection gets its re-embedded vectors in a new Milvus collection
    that the committed record swaps in (ingest.milvus.MilvusBackend.rebuild), or, with
    the encoder kept, a record naming the tuned models over the same rows.

    Raises:
        ValueError: another write landed since tuning began (a rerun redoes only this).
    """
    from ingest import backends
    from ingest import index as store

    with store.write_lock(folder):
        backend = backends.backend_for(folder, storage or backends.LOCAL)
        current = backend.load(folder, writing=True)  # whatever it holds now: only its generation matters
        if current.generation != generation:
            raise ValueError(f"{folder} changed while tuning; run the same command again (trained models are kept, only re-embedding is redone)")
        record = {
            "from": current.tuned.get("from") or base_embedder,
            "embedder": report["embedder"] if tuned is not None else None,
            "reranker": report["reranker"] if report["adopt_reranker"] else None,
            "rerank_weight": report["rerank_weight"],
            "fusion": report.get("fusion"),
            "report": str(Path(report["folder"]) / "report.json"),
        }
        if backend.kind == "milvus":
            if tuned is not None:
                tuned.generation, tuned.documents = current.generation, current.documents
                backend.rebuild(folder, tuned, tuned=record, ann=ann[0])
            else:
                backend.retune(folder, current, record)
            return
        updated = tuned if tuned is not None else current
        updated.generation, updated.documents = current.generation, current.documents
        updated.tuned = record
        store.save(updated, folder, ann=ann[0], ann_threshold=ann[1])


def tune_dataset(dataset_dir: str | Path, split: str, settings: Settings, options: TuneOptions, *, pairs: str | None = None, progress: bool = True) -> dict:
    """Tune on a BEIR dataset's corpus (judged pairs from qrels/`split`.tsv when it
    exists); evaluate the result on its test split with `rag eval --embedder ... --reranker ...`."""
    from ingest.embedder import embedder_from


    embedder = embedder_from(settings)
    has_split = (Path(dataset_dir) / "qrels" / f"{split}.tsv").exists()
    data = load_dataset(dataset_dir, split if has_split else "test")
    index = corpus_index(data, embedder, settings.cache, progress)
    judged = (judged_from_dataset(data) if has_split else []) + (judged_from_jsonl(pairs, index.chunks) if pairs else [])
    key = {"dataset": str(Path(dataset_dir).resolve()), "split": split if has_split else None, "pairs": _digest(pairs), "embedder": embedder.name, "options": asdict(options)}
    work = work_folder(settings.cache, data.name, key)
    models = Models(settings, embedder=embedder)
    report, _ = run(index, judged, embedder, settings, options, work, generator_factory=lambda: models.generator, progress=progress, cache_vectors=True)
    return report


def _digest(path: str | None) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else None


def _reembed_estimate(index: Index, embedder: Embedder, sample: int = 32) -> float:
    """Seconds to embed every chunk again, from timing a sample."""
    chunks = index.chunks[:sample]
    if not chunks:
        return 0.0
    t = time.monotonic()
    embedder.embed([c.indexed_text for c in chunks])
    return (time.monotonic() - t) * len(index.chunks) / len(chunks)
