"""The answering adapter's training (rag.tune.adapter, rag.tune.answerer): the
schedule's pure parts, and one real run end to end on a tiny SQuAD-style dataset:
transformers and peft train the LoRA, llama.cpp's own converter writes the GGUF,
llama-cpp-python serves it on the bundled model, and a stopped run resumes."""

import json

import pytest

from rag.tune.adapter import AdapterConfig, digest, learning_rate, order
from rag.tune.grounded import GroundedExample


def test_the_learning_rate_warms_up_then_decays_to_zero():
    rates = [learning_rate(s, 20, 1e-3, 4) for s in range(20)]
    assert rates[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert all(a >= b for a, b in zip(rates[3:], rates[4:])) and rates[-1] < 1e-4
    assert learning_rate(20, 20, 1e-3, 4) == pytest.approx(0.0)


def test_the_order_is_seeded_and_covers_every_example_once_per_pass():
    assert sorted(order(10, 1.0, 0)) == list(range(10)) and order(10, 1.0, 0) == order(10, 1.0, 0) != order(10, 1.0, 1)
    two = order(10, 2.0, 0)
    assert len(two) == 20 and sorted(two[:10]) == sorted(two[10:]) == list(range(10))
    assert len(order(10, 0.5, 0)) == 5


def test_a_changed_example_or_setting_is_a_new_run():
    a = [GroundedExample("q", "prompt", "target [1].", "answer")]
    b = [GroundedExample("q", "prompt", "other [1].", "answer")]
    assert digest(a, AdapterConfig()) == digest(list(a), AdapterConfig()) != digest(b, AdapterConfig())
    assert digest(a, AdapterConfig()) != digest(a, AdapterConfig(lr=1e-4))


ARTICLES = {
    "Lighthouse": ["The Harbour Lighthouse was built in 1874 by the engineer Thomas Reid. Its lamp can be seen from 30 kilometres away.",
                   "The lighthouse keeper's cottage is now a museum about shipwrecks on the coast."],
    "Orchard": ["The Valley Orchard grows 40 varieties of apple. The oldest tree was planted by Margaret Hale in 1902.",
                "Cider from the orchard is pressed every October in the stone barn."],
    "Railway": ["The mountain railway climbs 1,200 metres in 9 kilometres. It was opened by the Alpine Transport Company in 1912.",
                "Its steam locomotives were replaced by electric ones after the war."],
    "Bridge": ["The Iron Bridge spans the river Wend with a single arch of 60 metres. It was designed by Clara Voss.",
               "Tolls were collected on the bridge until 1950."],
}
QUESTIONS = [("Lighthouse", "Who built the Harbour Lighthouse?", "Thomas Reid"), ("Orchard", "Who planted the oldest tree of the Valley Orchard?", "Margaret Hale"),
             ("Railway", "Who opened the mountain railway?", "Alpine Transport Company"), ("Bridge", "Who designed the Iron Bridge?", "Clara Voss")]


def _squad_like(folder):
    folder.mkdir()
    (folder / "qrels").mkdir()
    corpus = [{"_id": f"{t}__p{i}", "title": t, "text": text} for t, texts in ARTICLES.items() for i, text in enumerate(texts)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    qa = [{"id": f"q{i}", "question": q, "answers": [a], "context_id": f"{t}__p0", "title": t} for i, (t, q, a) in enumerate(QUESTIONS)]
    (folder / "qa.jsonl").write_text("".join(json.dumps(d) + "\n" for d in qa))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": d["id"], "text": d["question"]}) + "\n" for d in qa))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{d['id']}\t{d['context_id']}\t1\n" for d in qa))
    return folder


@pytest.mark.slow
def test_tune_answerer_trains_converts_and_llama_cpp_serves_the_adapter(tmp_path, capsys):
    from rag.__main__ import main
    from rag.generate import LlamaGenerator, generate

    data, out, work = _squad_like(tmp_path / "squad-tiny"), tmp_path / "answerer-lora.gguf", tmp_path / "work"
    assert main(["tune-answerer", "--dataset", str(data), "--questions", "4", "--out", str(out), "--work", str(work), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "done" and out.read_bytes()[:4] == b"GGUF" and 1e6 < report["adapter_bytes"] < 20e6
    examples = [json.loads(line) for line in (work / "examples.jsonl").read_text().splitlines()]
    # only the training half of the articles (rag.eval.datasets.article_half), each an answer line citing its source
    assert report["data"]["articles"] == "train" and report["training"]["examples"] == len(examples) == 2
    assert all(e["kind"] == "answer" and e["target"].endswith("].") and "Question: " in e["prompt"] for e in examples)
    generator = LlamaGenerator("bundled:gemma-3-270m-q4_k_m", adapter=str(out))
    assert generator.adapter == str(out) and not generator.chat
    assert "".join(generate(generator, examples[0]["prompt"], max_tokens=24)).strip()
    # the same command again finds the finished run and converts it without training
    assert main(["tune-answerer", "--dataset", str(data), "--questions", "4", "--out", str(out), "--work", str(work), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["training"]["seconds"] == report["training"]["seconds"]


@pytest.mark.slow
def test_a_run_stopped_by_its_time_budget_resumes_where_it_stopped(tmp_path):
    from ingest.models import DEFAULT_CACHE, DEFAULT_LLM, resolve
    from rag.tune.adapter import hf_copy, train

    base = hf_copy(resolve(DEFAULT_LLM, "SOURCED_LLM"), DEFAULT_CACHE)
    examples = [GroundedExample(f"q{i}", f"Source [1] (f.pdf, page 1): The code is {i}.\nQuestion: What is the code?\nAnswer:", f"The code is {i} [1].", "answer") for i in range(3)]
    config = AdapterConfig(accumulate=1, warmup_steps=1)
    assert train(examples, base, tmp_path, config, minutes=1e-9, progress=False) is None  # out of time after the first step
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert (state["position"], state["step"]) == (1, 1)
    final = train(examples, base, tmp_path, config, progress=False)
    done = json.loads((tmp_path / "done.json").read_text())
    assert (final / "adapter_config.json").exists() and done["steps"] == 3 and len(done["losses"]) == 3
