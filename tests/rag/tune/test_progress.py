"""Progress and cancellation of a tuning run (rag.tune.progress)."""

import pytest

from rag.tune.progress import Tracker, TuneCancelled, plan


def test_progress_is_a_fraction_of_the_whole_run_and_never_goes_back():
    seen = []
    tracker = Tracker(lambda f, m: seen.append((round(f, 3), m)))
    tracker.stage(0.0, 0.5, "first")
    tracker.update(0.5, "first, half")
    tracker.stage(0.5, 0.9, "second")
    tracker.update(0.25, "second, a quarter")
    tracker.stage(0.2, 0.4, "a stage that starts behind")  # a plan that overlaps: the bar waits
    tracker.update(2.0, "past its end")
    tracker.finish("finished")
    assert seen == [(0.0, "first"), (0.25, "first, half"), (0.5, "second"), (0.6, "second, a quarter"), (0.6, "a stage that starts behind"), (0.6, "past its end"), (1.0, "finished")]


def test_a_cancel_stops_the_next_update_but_not_the_finish():
    asked = {"stop": False}
    seen = []
    tracker = Tracker(lambda f, m: seen.append(m), lambda: asked["stop"])
    tracker.update(0.1, "working")
    asked["stop"] = True
    with pytest.raises(TuneCancelled, match="cancelled"):
        tracker.update(0.2, "never reported")
    with pytest.raises(TuneCancelled):
        tracker.check()
    tracker.finish("finished")  # after the generation is written there is nothing left to stop
    assert seen == ["working", "finished"]
    Tracker().update(0.5, "nobody listening")


def test_a_plan_gives_each_stage_its_share_of_the_time():
    spans = plan({"questions": 30.0, "mining": 0.0, "training": 60.0, "check": 10.0})
    assert list(spans) == ["questions", "mining", "training", "check"]
    assert [x for span in spans.values() for x in span] == pytest.approx([0.0, 0.3, 0.3, 0.3, 0.3, 0.9, 0.9, 1.0])
    assert plan({"a": 0.0}) == {"a": (0.0, 0.0)}
