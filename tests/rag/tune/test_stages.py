"""`rag tune` on a real index: questions, mining, training, the held-out check, and the
generation that makes the collection use what was adopted."""

import json

import pytest

from ingest import index as store
from ingest.models import DEFAULT_EMBEDDER, DEFAULT_RERANKER
from ingest.settings import Settings
from rag.tune.stages import TuneOptions, adopt, tune_index
from rag.tune.train import TrainConfig

from ...fakes import QuestionWriter

TOPICS = [
    ("Boiler", "Descale the boiler every 90 days with citric acid. Hard water leaves scale on the heating element, which slows heating and wastes power."),
    ("Grinder", "Set the burr grinder to a fine setting for espresso. A coarse grind lets water run through too fast and the shot tastes sour."),
    ("Warranty", "The warranty lasts four years and covers the pump and the boiler. It does not cover the glass carafe or damage from dropping the machine."),
    ("Milk", "Purge the steam wand before and after frothing milk. Dried milk blocks the wand's holes and makes the foam coarse and bubbly."),
    ("Water", "Fill the tank with filtered water only. Sparkling water and mineral water with high calcium content damage the valves."),
    ("Shipping", "Orders ship from the Leeds warehouse within two working days. Parcels to Ireland take three more days to arrive."),
    ("Returns", "Unused machines may be returned within thirty days for a full refund. Opened coffee beans cannot be returned for hygiene reasons."),
    ("Power", "The machine draws 1,350 watts while heating and falls to 2 watts on standby. After twenty minutes without use it switches itself off."),
]
PAIRS = [
    ("How often should the boiler be descaled?", "Descale the boiler every 90 days"),
    ("What grind setting suits espresso?", "Set the burr grinder to a fine setting"),
    ("Is the glass carafe covered by the warranty?", "It does not cover the glass carafe"),
    ("Why purge the steam wand?", "Dried milk blocks the wand's holes"),
    ("Which water should go in the tank?", "Fill the tank with filtered water only"),
    ("How quickly are orders shipped?", "Orders ship from the Leeds warehouse within two working days"),
    ("Can I return opened coffee beans?", "Opened coffee beans cannot be returned"),
    ("How much power does it use on standby?", "falls to 2 watts on standby"),
]


@pytest.fixture(scope="module")
def guide_index(tmp_path_factory, minilm):
    from ingest.pipeline import ingest

    d = tmp_path_factory.mktemp("tune")
    doc = d / "guide.md"
    doc.write_text("\n\n".join(f"## {title}\n\n{text}" for title, text in TOPICS), encoding="utf-8")
    ingest([doc], d / "index", minilm)
    pairs = d / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"question": q, "passage": p}) + "\n" for q, p in PAIRS))
    return d


TINY = TuneOptions(
    time_budget_s=600,
    llm_questions=4,
    heldout=0.25,
    embedder=TrainConfig(epochs=1, batch_size=4, max_length=64),
    reranker=TrainConfig(epochs=1, batch_size=4, negatives=2, max_length=96),
)


@pytest.mark.slow
def test_tune_an_index_end_to_end(guide_index, tmp_path, monkeypatch):
    import shutil

    from rag.tune import stages

    monkeypatch.setattr(stages, "MIN_PASSAGES", 8)  # the stages on 8 passages (too few to judge anything; test_jobs has 50)
    folder = shutil.copytree(guide_index / "index", tmp_path / "index")
    before = store.read_manifest(folder)
    settings = Settings.from_env({}, cache=str(tmp_path))
    report = tune_index(folder, settings, TINY, pairs=str(guide_index / "pairs.jsonl"), generator=QuestionWriter(), progress=False)

    assert report["examples"]["heldout"] == 2 and report["examples"]["judged"] == 6
    assert 1 <= report["examples"]["llm"] <= 4 and report["examples"]["cloze"] >= 1
    for stage in ("heldout_before", "heldout_after"):
        assert set(report[stage]) >= {"dense", "hybrid"} and all(0 <= m["ndcg@10"] <= 1 for m in report[stage].values())
    assert "rerank" in report["heldout_after"]
    assert report["training"]["biencoder"]["steps"] >= 1 and report["training"]["cross-encoder"]["steps"] >= 1

    after = store.read_manifest(folder)
    if report["adopt_embedder"] or report["adopt_reranker"]:
        assert after["generation"] == before["generation"] + 1
        tuned = after["tuned"]
        assert tuned["from"] == DEFAULT_EMBEDDER
        assert (tuned["embedder"] == report["embedder"]) == report["adopt_embedder"]
        assert (tuned["reranker"] == report["reranker"]) == report["adopt_reranker"]
    else:
        assert after["generation"] == before["generation"], "nothing adopted: the index is untouched"

    from rag.pipeline import Collection, Models, collection_settings

    chosen = collection_settings(settings, folder)
    assert (chosen.embedder == report["embedder"]) == report["adopt_embedder"]
    hits, _ = Collection(folder, Models(chosen)).search("How often should the boiler be descaled?", 3, "rerank")
    assert len(hits) == 3, "the collection answers with whatever models it adopted"


@pytest.mark.slow
def test_a_rerun_reuses_every_finished_stage(guide_index, tmp_path, minilm):
    from rag.tune.stages import run

    index = store.load(guide_index / "index", minilm.name)
    settings = Settings.from_env({}, cache=str(tmp_path))
    options = TuneOptions(llm_questions=0, heldout=0.0, embedder=TrainConfig(epochs=1, batch_size=4, max_length=48), reranker=TrainConfig(epochs=1, batch_size=4, negatives=1, max_length=48))
    first, _ = run(index, [], minilm, settings, options, tmp_path / "work", progress=False)
    second, _ = run(index, [], minilm, settings, options, tmp_path / "work", progress=False)
    assert "questions" in first["seconds"] and "questions" not in second["seconds"], "questions and negatives come from examples.jsonl"
    assert second["training"] == first["training"], "trained models are reused, not trained again"
    assert first["heldout_before"] == {} and not first["adopt_embedder"] and not first["adopt_reranker"], "no held-out questions: nothing is adopted blind"


@pytest.mark.slow
def test_adopted_models_are_what_the_collection_then_uses(guide_index, tmp_path, minilm):
    from rag.pipeline import Collection, Models
    from rag.tune.stages import reembed

    import shutil

    folder = shutil.copytree(guide_index / "index", tmp_path / "index")
    index = store.load(folder, minilm.name)
    report = {"folder": str(tmp_path), "embedder": minilm.name + "-tuned", "reranker": str(tmp_path / "ce"), "adopt_reranker": True, "rerank_weight": 0.3}
    (tmp_path / "ce").mkdir()

    class Renamed:
        name, dim = minilm.name + "-tuned", minilm.dim

        def embed(self, texts, *, query=False):
            return minilm.embed(texts, query=query)

    adopt(folder, report, reembed(index, Renamed(), progress=False), minilm.name, index.generation)
    manifest = store.read_manifest(folder)
    assert manifest["embedder"] == minilm.name + "-tuned" and manifest["generation"] == index.generation + 1
    assert manifest["tuned"] == {"from": minilm.name, "embedder": minilm.name + "-tuned", "reranker": str(tmp_path / "ce"), "rerank_weight": 0.3, "fusion": None, "report": str(tmp_path / "report.json")}

    with pytest.raises(ValueError, match="changed while tuning"):
        adopt(folder, report, None, minilm.name, index.generation)

    hits, _ = Collection(folder, Models(Settings.from_env({}, reranker="none"), embedder=Renamed())).search("descale the boiler", 3, "hybrid")
    assert "Descale" in hits[0].chunk.text, "the re-embedded generation answers searches"


def test_settings_adopt_a_collections_tuned_models_only_where_the_choice_is_open(tmp_path):
    from ingest.index import Index, save
    from rag.pipeline import collection_settings

    encoder, reranker = tmp_path / "enc", tmp_path / "ce"
    encoder.mkdir()
    reranker.mkdir()
    folder = tmp_path / "index"
    save(Index(embedder=str(encoder), dim=4, tuned={"from": DEFAULT_EMBEDDER, "embedder": str(encoder), "reranker": str(reranker), "rerank_weight": 0.4}), folder)

    default = Settings.from_env({})
    assert default.reranker == DEFAULT_RERANKER
    chosen = collection_settings(default, folder)
    assert (chosen.embedder, chosen.reranker, chosen.rerank_weight) == (str(encoder), str(reranker), 0.4)
    other = collection_settings(Settings.from_env({}, embedder="some/other-model", reranker="none"), folder)
    assert (other.embedder, other.reranker, other.rerank_weight) == ("some/other-model", "none", 1.0), "an explicit choice wins"
    assert collection_settings(Settings.from_env({}), tmp_path / "no-index") == default
    assert default.for_index(folder).reranker == DEFAULT_RERANKER, "ingest takes only the encoder"

    encoder.rmdir()
    with pytest.raises(ValueError, match="tuned encoder that is gone"):
        collection_settings(default, folder)


def test_a_collections_calibrated_fusion_replaces_only_the_default_fusion(tmp_path):
    from ingest.index import Index, save
    from rag.pipeline import collection_settings

    folder = tmp_path / "index"
    save(Index(embedder=DEFAULT_EMBEDDER, dim=4, tuned={"from": DEFAULT_EMBEDDER, "fusion": {"fusion": "zscore", "bm25_weight": 0.1, "dense_weight": 0.9}}), folder)
    chosen = collection_settings(Settings.from_env({}), folder)
    assert (chosen.fusion, chosen.bm25_weight, chosen.dense_weight) == ("zscore", 0.1, 0.9)
    assert collection_settings(Settings.from_env({}, fusion="rrf"), folder).fusion == "rrf", "an explicit choice wins"


def test_only_a_gain_beyond_its_noise_is_adopted():
    from rag.tune.heldout import clearly_better

    assert clearly_better([0.6, 0.7, 0.8, 0.9], [0.5, 0.6, 0.7, 0.8])["adopt"], "a steady gain"
    noisy = clearly_better([1.0, 0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0, 0.5])
    assert noisy["gain"] > 0 and not noisy["adopt"], "a small mean gain among large swings is noise"
    assert not clearly_better([0.5, 0.5], [0.5, 0.5])["adopt"] and not clearly_better([], [])["adopt"]
