"""The embedder's runtime (SOURCED_EMBEDDER_RUNTIME): the setting, the name an index
records, and (slow) the ONNX export of the bundled MiniLM made offline."""

import json

import numpy as np
import pytest

from ingest import index as store
from ingest.embedder import AUTO, DEFAULT_RUNTIME, RUNTIMES, SentenceTransformerEmbedder, embedder_from, runtime_of
from ingest.embedder_onnx import export_folder
from ingest.errors import IndexMismatchError
from ingest.models import DEFAULT_EMBEDDER
from ingest.settings import Settings

SENTENCES = [
    "How long is the warranty?",
    "The guarantee lasts four years and covers the pump and the boiler.",
    "Descale the boiler every 90 days with citric acid.",
    "Parental leave is 20 weeks at full pay.",
]


def test_the_runtime_setting_is_validated_and_read_from_the_environment():
    assert Settings().embedder_runtime == AUTO and DEFAULT_RUNTIME == "torch"
    assert Settings.from_env({"SOURCED_EMBEDDER_RUNTIME": "onnx-int8"}).embedder_runtime == "onnx-int8"
    with pytest.raises(ValueError, match=r"embedder_runtime must be one of auto, torch, onnx, onnx-int8; got embedder_runtime='int8'"):
        Settings.from_env({"SOURCED_EMBEDDER_RUNTIME": "int8"})
    with pytest.raises(ValueError, match="embedder_runtime"):
        SentenceTransformerEmbedder(runtime="gpu")


def test_the_runtime_is_part_of_the_name_except_torch():
    # torch keeps the name indexes were built with before runtimes existed
    assert SentenceTransformerEmbedder().name == DEFAULT_EMBEDDER
    for runtime in RUNTIMES:
        name = SentenceTransformerEmbedder(runtime=runtime).name
        assert runtime_of(name) == (DEFAULT_EMBEDDER, runtime)
    assert len({SentenceTransformerEmbedder(runtime=r).name for r in RUNTIMES}) == len(RUNTIMES)


def test_auto_is_int8_for_the_bundled_model_only():
    # measured for the bundled MiniLM (docs/EVAL.md); another model keeps torch, whose cost nothing measured
    assert embedder_from(Settings()).runtime == "onnx-int8"
    assert embedder_from(Settings(embedder="intfloat/e5-small")).runtime == "torch"
    assert embedder_from(Settings(query_embedder="facebook/dpr-question_encoder")).runtime == "torch"
    assert embedder_from(Settings(embedder_runtime="torch")).runtime == "torch"
    assert SentenceTransformerEmbedder().runtime == "torch", "the library's own default is explicit: torch"


def _index_built_with(folder, embedder_name: str):
    from ingest.types import Chunk

    chunk = Chunk("c0", "d0", "a.md", 1, 0, 5, "hello")
    store.save(store.Index(embedder=embedder_name, dim=2, chunks=[chunk], documents=[{"doc_id": "d0", "source": "a.md"}],
                           vectors=np.array([[1.0, 0.0]], dtype=np.float32)), folder)
    return folder


def test_an_existing_index_opens_with_the_runtime_it_was_built_with(tmp_path):
    torch_built = _index_built_with(tmp_path / "old", DEFAULT_EMBEDDER)  # an index from before int8 became the default
    int8_built = _index_built_with(tmp_path / "new", DEFAULT_EMBEDDER + " runtime=onnx-int8")
    other_model = _index_built_with(tmp_path / "other", "intfloat/e5-small runtime=onnx")
    auto = Settings()
    assert auto.for_index(torch_built).embedder_runtime == "torch"
    assert embedder_from(auto.for_index(torch_built)).name == DEFAULT_EMBEDDER
    assert auto.for_index(int8_built) == auto, "the default's own runtime: the settings stay as they are"
    assert auto.for_index(tmp_path / "empty") == auto and embedder_from(auto).runtime == "onnx-int8", "a new index gets int8"
    assert auto.for_index(other_model) == auto, "another model's index is refused as before, not half-adopted"
    chosen = Settings(embedder_runtime="onnx-int8")
    assert chosen.for_index(torch_built) == chosen, "a runtime set explicitly is kept (and the index refuses it, saying why)"


def test_a_tuned_index_opens_with_its_tuned_encoder_whatever_runtime_it_was_tuned_from(tmp_path):
    tuned_model = tmp_path / "tuned-encoder"
    tuned_model.mkdir()
    folder = _index_built_with(tmp_path / "tuned", str(tuned_model))
    manifest_path = folder / store.current_generation(folder) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tuned"] = {"from": DEFAULT_EMBEDDER + " runtime=onnx-int8", "embedder": str(tuned_model)}
    manifest_path.write_text(json.dumps(manifest))
    opened = Settings().for_index(folder)
    assert (opened.embedder, opened.embedder_runtime) == (str(tuned_model), "torch"), "rag tune re-embeds with torch"


def test_a_collection_of_another_runtime_gets_its_own_embedder_and_shares_the_rest(tmp_path, hash_embedder):
    from rag.pipeline import Models

    torch_built = _index_built_with(tmp_path / "old", DEFAULT_EMBEDDER)
    parent = Models(Settings(), reranker=None, generator=object())
    derived = parent.for_collection(torch_built)
    assert derived is not parent and derived.settings.embedder_runtime == "torch"
    assert derived._embedder_name == DEFAULT_EMBEDDER != parent._embedder_name
    assert derived.generator is parent.generator, "the LLM is shared"
    given = Models(Settings(), embedder=hash_embedder, reranker=None)
    assert given.for_collection(_index_built_with(tmp_path / "hashed", hash_embedder.name)) is given


def test_embedder_from_passes_the_runtime_and_the_cache(tmp_path):
    e = embedder_from(Settings(embedder_runtime="onnx", cache=str(tmp_path)))
    assert (e.runtime, e.cache) == ("onnx", str(tmp_path)) and e._passage is None, "nothing loads before first use"


def test_an_index_refuses_another_runtime_and_says_which_to_set(hash_index, hash_embedder):
    with pytest.raises(IndexMismatchError) as refused:
        store.load(hash_index, hash_embedder.name + " runtime=onnx-int8")
    message = str(refused.value)
    assert "embedded with the torch runtime and this run uses onnx-int8" in message
    assert "SOURCED_EMBEDDER_RUNTIME=torch" in message and "rebuild" in message


def test_the_export_folder_follows_the_model_files(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    first = export_folder(str(model), tmp_path / "cache")
    assert first.parent == tmp_path / "cache" / "models" / "onnx" and "my-model" in first.name
    assert export_folder(str(model), tmp_path / "cache") == first
    (model / "model.safetensors").write_bytes(b"retrained weights")
    assert export_folder(str(model), tmp_path / "cache") != first, "a retrained model is exported again"


# ---------------------------------------------------------------- slow: the real export


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sourced-cache")


@pytest.mark.slow
def test_int8_exports_offline_from_the_package_and_agrees_with_torch(minilm, onnx_cache, monkeypatch, capfd):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    int8 = SentenceTransformerEmbedder(runtime="onnx-int8", cache=onnx_cache)
    vectors, reference = int8.embed(SENTENCES), minilm.embed(SENTENCES)
    assert "Exporting the embedder" in capfd.readouterr().err, "the one-time export says so"
    assert list((onnx_cache / "models" / "onnx").glob("*/model_int8.onnx")), "exported into the cache folder"
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.min() >= 0.99, cosine
    assert int8.max_tokens == minilm.max_tokens and int8.count_tokens("AB-0042-X7 warranty") == minilm.count_tokens("AB-0042-X7 warranty")
    assert int8.embed(["warranty"], query=True).shape == (1, 384)

    fp32 = SentenceTransformerEmbedder(runtime="onnx", cache=onnx_cache)
    assert ((fp32.embed(SENTENCES) * reference).sum(axis=1) >= 0.9999).all()
    assert "Exporting" not in capfd.readouterr().err, "the export is made once"


@pytest.mark.slow
def test_an_index_built_with_int8_refuses_torch_until_rebuilt(minilm, onnx_cache, docs, tmp_path):
    from ingest.pipeline import ingest

    folder = tmp_path / "idx"
    ingest([docs["md"]], folder, SentenceTransformerEmbedder(runtime="onnx-int8", cache=onnx_cache))
    assert store.read_manifest(folder)["embedder"] == DEFAULT_EMBEDDER + " runtime=onnx-int8"
    with pytest.raises(IndexMismatchError, match="embedded with the onnx-int8 runtime and this run uses torch.*SOURCED_EMBEDDER_RUNTIME=onnx-int8"):
        ingest([docs["md"]], folder, minilm)
