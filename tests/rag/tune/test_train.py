"""Training the real models for a few steps (`slow`): the dual encoder and the
cross-encoder learn their pairs, a run resumes after a kill, and a time budget shortens
it. The batch plan and the argument checks need no model."""

import numpy as np
import pytest

from rag.tune import train as training
from rag.tune.train import TrainConfig, batches, train
from rag.tune.triples import Example

FACTS = [
    ("Which colour is the Zorbel valve painted?", "The Zorbel valve is painted teal so that fitters can find it quickly."),
    ("How many rivets hold the Quantar hatch?", "Seventeen rivets hold the Quantar hatch to the hull of the boat."),
    ("Who inspects the Melwick bridge?", "An engineer from the county council inspects the Melwick bridge each spring."),
    ("What powers the Ostrel pump?", "The Ostrel pump runs on a small diesel engine mounted beside the tank."),
    ("Where is the Brindle archive kept?", "The Brindle archive is kept in a cellar under the old town library."),
    ("When does the Farrow ferry stop running?", "The Farrow ferry stops running at the end of October every year."),
    ("What does the Tolvan sensor measure?", "The Tolvan sensor measures the humidity of the air inside the greenhouse."),
    ("Which river feeds Lake Carrig?", "Lake Carrig is fed by the river Onn, which rises in the northern hills."),
]
TEXTS = {f"p{i}": passage for i, (_, passage) in enumerate(FACTS)}
EXAMPLES = [Example(q, f"p{i}", "judged", negative_ids=(f"p{(i + 1) % 8}", f"p{(i + 3) % 8}")) for i, (q, _) in enumerate(FACTS)]


def test_batches_never_hold_a_positive_twice_and_are_seeded():
    examples = [Example(f"q{i}", f"p{i % 3}", "judged") for i in range(12)]
    plan = batches(examples, 3, 2.0, seed=1)
    assert len(plan) == 8
    assert all(len({e.positive_id for e in b}) == len(b) for b in plan)
    assert plan == batches(examples, 3, 2.0, seed=1) and plan != batches(examples, 3, 2.0, seed=2)


def _margin(scores_pos, scores_neg) -> float:
    return float(np.mean(scores_pos) - np.mean(scores_neg))


@pytest.mark.slow
def test_dual_encoder_learns_its_pairs(tmp_path):
    from ingest.embedder import SentenceTransformerEmbedder

    def margin(model_path):
        emb = SentenceTransformerEmbedder(model_path)
        q = emb.embed([e.query for e in EXAMPLES], query=True)
        p = emb.embed([TEXTS[e.positive_id] for e in EXAMPLES])
        n = emb.embed([TEXTS[e.negative_ids[0]] for e in EXAMPLES])
        return _margin((q * p).sum(1), (q * n).sum(1))

    from ingest.models import DEFAULT_EMBEDDER

    report = train("biencoder", DEFAULT_EMBEDDER, EXAMPLES, TEXTS, tmp_path, TrainConfig(epochs=4, batch_size=4, lr=1e-4, max_length=64), progress=False)
    assert report["steps"] == 8 and not report["cut_by_budget"]
    trained = SentenceTransformerEmbedder(str(tmp_path / "model"))
    assert trained.embed(["x"]).shape == (1, 384)
    assert margin(str(tmp_path / "model")) > margin(DEFAULT_EMBEDDER) + 0.05


@pytest.mark.slow
def test_cross_encoder_learns_to_rank_its_positives(tmp_path):
    from ingest.models import DEFAULT_EMBEDDER
    from rag.rerank import CrossEncoderReranker

    config = TrainConfig(epochs=6, batch_size=4, negatives=2, lr=1e-4, max_length=96)
    report = train("cross-encoder", DEFAULT_EMBEDDER, EXAMPLES, TEXTS, tmp_path, config, progress=False)
    assert report["loss_last"] < report["loss_first"]
    reranker = CrossEncoderReranker(str(tmp_path / "model"))
    wins = 0
    for e in EXAMPLES:
        pos, *negs = reranker.score(e.query, [TEXTS[e.positive_id]] + [TEXTS[n] for n in e.negative_ids])
        wins += pos > max(negs)
    assert wins >= 7, f"the positive should outrank its negatives for nearly every training question; {wins}/8"


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from ingest.models import DEFAULT_EMBEDDER

    config = TrainConfig(epochs=2, batch_size=4, max_length=48)
    written = []
    real_write = training._write_state

    def killed_after_first_checkpoint(*args, **kw):
        real_write(*args, **kw)
        written.append(args[4])
        raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", 0.0)
    monkeypatch.setattr(training, "_write_state", killed_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train("biencoder", DEFAULT_EMBEDDER, EXAMPLES, TEXTS, tmp_path, config, progress=False)
    assert written == [1] and (tmp_path / "checkpoint" / "state.json").exists() and not (tmp_path / "model").exists()
    monkeypatch.setattr(training, "_write_state", real_write)
    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", 3600.0)
    report = train("biencoder", DEFAULT_EMBEDDER, EXAMPLES, TEXTS, tmp_path, config, progress=False)
    assert report["resumed_at"] == 1 and report["steps"] == 4
    assert (tmp_path / "model").exists() and not (tmp_path / "checkpoint").exists()


@pytest.mark.slow
def test_a_time_budget_shortens_the_schedule(tmp_path):
    from ingest.models import DEFAULT_EMBEDDER

    many = EXAMPLES * 5
    report = train("biencoder", DEFAULT_EMBEDDER, many, TEXTS, tmp_path, TrainConfig(epochs=1, batch_size=2, max_length=48, time_budget_s=0.5), progress=False)
    assert report["cut_by_budget"] and report["steps"] == 4 < report["planned_steps"] == 20


def test_unknown_kind_and_empty_data_are_refused(tmp_path):
    with pytest.raises(ValueError, match="kind must be"):
        train("poly-encoder", "x", EXAMPLES, TEXTS, tmp_path, TrainConfig(), progress=False)
    with pytest.raises(ValueError, match="no training examples"):
        train("biencoder", "x", [], TEXTS, tmp_path, TrainConfig(), progress=False)


def test_a_checkpoint_resumes_whatever_time_is_left():
    """A rerun's budget is the time left of its own run, never the same twice; the
    checkpoint keeps the schedule it chose, so the budget is not part of what must match."""
    from rag.tune.train import fingerprint

    config = TrainConfig(time_budget_s=612.3)
    assert fingerprint("biencoder", "m", EXAMPLES, config) == fingerprint("biencoder", "m", EXAMPLES, TrainConfig(time_budget_s=598.7))
    assert fingerprint("biencoder", "m", EXAMPLES, config) != fingerprint("biencoder", "m", EXAMPLES, TrainConfig(time_budget_s=612.3, lr=1e-4))
    assert fingerprint("biencoder", "m", EXAMPLES, config) != fingerprint("biencoder", "m", EXAMPLES[:4], config)
