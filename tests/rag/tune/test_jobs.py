"""Tuning in the background (rag.tune.jobs.TuneJob): the job's states with a stand-in
for tune_index, the stages' progress and cancel hooks with fake models, and (slow) real
runs on a 50-passage collection, one cancelled mid-training and one to the end."""

import hashlib
import random
import shutil
import threading
import time
from pathlib import Path

import pytest

from ingest import index as store
from ingest.pipeline import ingest
from ingest.settings import Settings
from rag.tune import stages
from rag.tune.jobs import TuneJob
from rag.tune.progress import TuneCancelled
from rag.tune.stages import MIN_PASSAGES, TuneOptions
from rag.tune.train import TrainConfig

from ...fakes import HashEmbedder, QuestionWriter

DEVICES = ["valve", "pump", "hatch", "sensor", "boiler", "gauge", "winch", "filter", "relay", "heater"]
COLOURS = ["teal", "amber", "crimson", "ivory", "olive", "violet", "silver", "copper", "indigo", "scarlet"]
TOWNS = ["Leeds", "Derby", "Bristol", "Exeter", "Carlisle", "Norwich", "Truro", "Bangor", "Dundee", "Oban"]
MEASURES = ["pressure", "temperature", "vibration", "humidity", "voltage"]


def manual(n: int = MIN_PASSAGES) -> str:
    """A Markdown manual of `n` sections, one passage each, about made-up machines
    whose names are unique (QuestionWriter asks about a passage's last word: the name)."""
    rng = random.Random(7)
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choice(c) for c in ("BDFGKLMNPRSTVZ", "aeiou", "bdfgklmnprstvz", "aeiou", "lnrst")).capitalize()
        if name not in names:
            names.append(name)
    sections = []
    for i, name in enumerate(names):
        device, colour, town, measure = DEVICES[i % 10], COLOURS[(i * 3) % 10], TOWNS[(i * 7) % 10], MEASURES[i % 5]
        sections.append(
            f"## The {name} {device}\n\nThe {name} {device} near {town} is painted {colour} so that fitters can find it quickly in the dark. "
            f"Every {10 + i} days an engineer checks its {measure} and writes the reading into the logbook kept for {name}."
        )
    return "\n\n".join(sections)


def _build(folder: Path, embedder) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manual.md").write_text(manual(), encoding="utf-8")
    ingest([folder / "manual.md"], folder / "index", embedder)
    assert store.read_manifest(folder / "index")["counts"]["chunks"] == MIN_PASSAGES, "one chunk per section"
    return folder / "index"


def _contents(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture(scope="module")
def hash_manual(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("hash-manual"), HashEmbedder())


NOTHING_ADOPTED = {"examples": {"heldout": 0}, "encoder_versus_untuned": {}, "rerank_calibration": {}, "adopt_embedder": False, "adopt_reranker": False}


class FakeTune:
    """Stands in for tune_index: reports, then waits until released or cancelled."""

    def __init__(self, outcome=NOTHING_ADOPTED):
        self.release = threading.Event()
        self.outcome = outcome

    def __call__(self, folder, settings, options, *, on_progress, cancelled, **kwargs):
        on_progress(0.1, "writing training questions, 1 of 10")
        while not self.release.wait(0.005):
            if cancelled():
                raise TuneCancelled("tuning was cancelled; the collection is unchanged")
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        on_progress(1.0, "finished")
        return self.outcome


@pytest.fixture
def fake_tune(monkeypatch) -> FakeTune:
    fake = FakeTune()
    monkeypatch.setattr(stages, "tune_index", fake)
    return fake


def test_a_job_runs_in_the_background_and_ends_with_its_report(hash_manual, fake_tune):
    job = TuneJob(hash_manual, Settings.from_env({}), TuneOptions(time_budget_s=300))
    assert (job.state, job.fraction, job.message, job.verdict) == ("ready", 0.0, "", "")
    assert job.start() is job
    _until(lambda: job.message)
    assert (job.state, job.fraction, job.message) == ("running", 0.1, "writing training questions, 1 of 10")
    assert TuneJob.current(hash_manual) is job and job.seconds > 0
    fake_tune.release.set()
    assert job.wait(5) == "done"
    assert (job.fraction, job.message, job.error) == (1.0, "finished", "")
    assert job.report is NOTHING_ADOPTED and job.verdict.startswith("Nothing was adopted")
    assert TuneJob.current(hash_manual) is None
    with pytest.raises(ValueError, match="this tuning job is done; make a new TuneJob"):
        job.start()


def test_one_job_per_folder_and_a_cancel_frees_it(hash_manual, fake_tune):
    first = TuneJob(hash_manual, Settings.from_env({})).start()
    with pytest.raises(ValueError, match="is already being tuned"):
        TuneJob(hash_manual / ".." / "index", Settings.from_env({})).start()
    assert TuneJob.current(hash_manual) is first
    first.cancel()
    assert first.message == "stopping"
    assert first.wait(2) == "cancelled" and "cancelled" in first.error and first.report is None
    first.cancel()  # a finished job stays as it is
    assert first.state == "cancelled"
    second = TuneJob(hash_manual, Settings.from_env({})).start()
    fake_tune.release.set()
    assert second.wait(5) == "done"


@pytest.mark.parametrize("error, message", [(ValueError("index changed while tuning; run it again"), "index changed while tuning; run it again"), (RuntimeError("boom"), "tuning failed unexpectedly (RuntimeError: boom)")])
def test_a_failure_is_kept_as_a_message(hash_manual, fake_tune, error, message, caplog):
    fake_tune.outcome = error
    fake_tune.release.set()
    job = TuneJob(hash_manual, Settings.from_env({})).start()
    assert job.wait(5) == "failed" and job.error.startswith(message) and job.report is None
    assert TuneJob.current(hash_manual) is None, "a failed job frees its folder"


def test_collections_too_small_to_tune_are_refused_before_any_work(hash_index, tmp_path, fake_tune):
    small = TuneJob(hash_index, Settings.from_env({}))
    with pytest.raises(ValueError, match=rf"holds \d+ passages, too few to tune: at least {MIN_PASSAGES} are needed"):
        small.start()
    assert small.state == "ready" and TuneJob.current(hash_index) is None
    with pytest.raises(ValueError, match="holds no passages; index some documents first"):
        TuneJob(tmp_path / "nothing-here", Settings.from_env({})).start()
    with pytest.raises(ValueError, match="time budget must be positive"):
        TuneOptions(time_budget_s=0)


def test_a_job_cancelled_before_it_starts_never_runs(hash_manual, fake_tune):
    job = TuneJob(hash_manual, Settings.from_env({}))
    job.cancel()
    assert job.state == "cancelled"
    with pytest.raises(ValueError, match="this tuning job is cancelled"):
        job.start()


def test_the_stages_report_progress_and_stop_at_a_cancel(hash_manual, tmp_path, monkeypatch):
    """The real tune_index with fake models, cancelled while it mines negatives."""
    import ingest.embedder

    monkeypatch.setattr(ingest.embedder, "embedder_from", lambda settings: HashEmbedder())
    folder = Path(shutil.copytree(hash_manual, tmp_path / "index"))
    before = _contents(folder)
    seen: list[tuple[float, str]] = []
    with pytest.raises(TuneCancelled):
        stages.tune_index(
            folder, Settings.from_env({}, cache=str(tmp_path / "cache")), TuneOptions(time_budget_s=300, llm_questions=MIN_PASSAGES),
            generator=QuestionWriter(), progress=False, on_progress=lambda f, m: seen.append((f, m)), cancelled=lambda: bool(seen) and seen[-1][1].startswith("mining hard negatives, question 17"),
        )
    messages = [m for _, m in seen]
    assert messages[0] == "loading the collection" and f"writing training questions, {MIN_PASSAGES} of {MIN_PASSAGES}" in messages
    assert messages[-1] == "mining hard negatives, question 17 of 100", "50 LLM questions and 50 cloze"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[-1] < 0.5
    assert _contents(folder) == before and not list((tmp_path / "cache").rglob("examples.jsonl")), "nothing is written for a cancelled stage"


# ---------------------------------------------------------------- real models (slow)


@pytest.fixture(scope="module")
def minilm_manual(tmp_path_factory, minilm) -> Path:
    return _build(tmp_path_factory.mktemp("minilm-manual"), minilm)


class Recorded(TuneJob):
    """A job that keeps every progress report, not only the latest."""

    def _report(self, fraction, message):
        super()._report(fraction, message)
        self.seen.append((fraction, message))


def _job(folder: Path, cache: Path, options: TuneOptions) -> Recorded:
    job = Recorded(folder, Settings.from_env({}, cache=str(cache), rerank_depth=10), options, generator=QuestionWriter())
    job.seen = []
    return job


def _search(folder: Path, minilm, query: str):
    from rag.pipeline import Collection, Models

    hits, _ = Collection(folder, Models(Settings.from_env({}, reranker="none"), embedder=minilm)).search(query, 3, "hybrid")
    return hits


def test_a_real_job_cancelled_mid_training_leaves_the_collection_as_it_was(minilm_manual, tmp_path, minilm):
    folder = Path(shutil.copytree(minilm_manual, tmp_path / "index"))
    before, generation = _contents(folder), store.read_manifest(folder)["generation"]
    options = TuneOptions(time_budget_s=600, llm_questions=MIN_PASSAGES, embedder=TrainConfig(epochs=1, batch_size=4, max_length=64), reranker=TrainConfig(epochs=1, batch_size=4, negatives=2, max_length=96))
    job = _job(folder, tmp_path / "cache", options).start()
    _until(lambda: job.message.startswith("training the encoder, step 3 of"), timeout=120)
    assert len(_search(folder, minilm, "Which machine is painted teal?")) == 3, "searches go on while tuning"
    t = time.monotonic()
    job.cancel()
    assert job.wait(2) == "cancelled", f"still {job.state} 2 s after cancel ({job.message})"
    latency = time.monotonic() - t
    print(f"cancel latency {latency:.2f} s")
    assert job.error == "tuning was cancelled; the collection is unchanged" and job.report is None
    assert store.read_manifest(folder)["generation"] == generation and _contents(folder) == before
    fractions = [f for f, _ in job.seen]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0
    first = manual().split("## The ")[1].split()[0]
    assert first in _search(folder, minilm, f"the logbook kept for {first}")[0].chunk.text


def test_a_real_job_reports_progress_to_the_end_and_says_what_it_decided(minilm_manual, tmp_path, minilm):
    folder = Path(shutil.copytree(minilm_manual, tmp_path / "index"))
    generation = store.read_manifest(folder)["generation"]
    options = TuneOptions(time_budget_s=120, llm_questions=MIN_PASSAGES, embedder=TrainConfig(epochs=0.5, batch_size=8, max_length=48), reranker=TrainConfig(epochs=0.3, batch_size=8, negatives=1, max_length=64))
    job = _job(folder, tmp_path / "cache", options).start()
    assert job.wait(300) == "done", job.error
    fractions, messages = [f for f, _ in job.seen], [m for _, m in job.seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0 and messages[-1] == "finished"
    for stage in ("writing training questions", "mining hard negatives", "training the encoder, step 1 of", "training the reranker, step 1 of", "re-embedding the passages", "checking the trained reranker"):
        assert any(m.startswith(stage) for m in messages), stage
    assert job.report["examples"]["heldout"] == 10 and job.verdict.startswith("The tuned encoder was ")
    adopted = job.report["adopt_embedder"] or job.report["adopt_reranker"]
    assert store.read_manifest(folder)["generation"] == generation + adopted
    print(job.verdict)
