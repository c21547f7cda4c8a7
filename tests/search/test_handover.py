"""Trial slots: the hand-over between two searches of one process (``uqkit.search._handover``,
with Ray's free resources replaced by a script), and a pooled actor's wait for the other slots'
actors (``uqkit.search._pooled``, with threads for the actors)."""

from __future__ import annotations

import logging

import pytest

from uqkit.search import _handover

ONE_CPU = {"cpu": 1.0, "gpu": 0.0}


def _script(*frees):
    """Ray's free resources, one dict per look (the last one repeats); the looks counted."""
    looks = []

    def available():
        looks.append(1)
        return frees[min(len(looks), len(frees)) - 1]

    return available, looks


@pytest.fixture
def no_earlier_search(monkeypatch):
    monkeypatch.setattr(_handover, "_last_end", None)


def test_a_search_right_after_another_waits_until_its_slots_are_free(no_earlier_search):
    _handover.note_search_end()
    available, looks = _script({"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 1.5}, {"CPU": 2.0})
    assert _handover.await_free_slots(ONE_CPU, 2, available=available, sleep=lambda s: None)
    assert len(looks) == 4


def test_gpus_and_custom_resources_count_too(no_earlier_search):
    _handover.note_search_end()
    available, looks = _script({"CPU": 4.0, "GPU": 0.5, "node": 1.0},
                               {"CPU": 4.0, "GPU": 1.0, "node": 1.0},
                               {"CPU": 4.0, "GPU": 1.0, "node": 2.0})
    assert _handover.await_free_slots({"cpu": 1.0, "gpu": 0.5, "node": 1.0}, 2,
                                      available=available, sleep=lambda s: None)
    assert len(looks) == 3


def test_without_an_earlier_search_nothing_is_waited_for(no_earlier_search, caplog):
    available, looks = _script({"CPU": 1.0}, {"CPU": 2.0})
    with caplog.at_level(logging.INFO, logger="uqkit.search._handover"):
        assert not _handover.await_free_slots(ONE_CPU, 2, available=available,
                                              sleep=lambda s: None)
    assert len(looks) == 1
    assert "CPU: 1 free of 2" in caplog.text


def test_resources_taken_long_after_the_earlier_search_are_not_waited_for(
        no_earlier_search, monkeypatch):
    _handover.note_search_end()
    monkeypatch.setattr(_handover, "WAIT_S", 0.0)  # the earlier search ended long ago
    available, looks = _script({"CPU": 0.0}, {"CPU": 2.0})
    assert not _handover.await_free_slots(ONE_CPU, 2, available=available,
                                          sleep=lambda s: None)
    assert len(looks) == 1


def test_the_wait_ends_after_wait_s(no_earlier_search, monkeypatch):
    monkeypatch.setattr(_handover, "WAIT_S", 0.2)
    _handover.note_search_end()
    available, looks = _script({"CPU": 1.0})
    assert not _handover.await_free_slots(ONE_CPU, 2, available=available)  # real sleeps
    assert 2 <= len(looks) <= 0.2 / _handover._POLL_S + 2


def test_a_new_actors_first_trial_waits_for_the_other_slots_actors(tmp_path, monkeypatch):
    import threading
    import time

    from uqkit.search import _pooled

    folder = tmp_path / "_slots"
    late = threading.Timer(0.3, lambda: (folder / "actor-b").touch())
    late.start()
    start = time.monotonic()
    _pooled._await_other_slots(folder, 2, "actor-a")  # waits for actor-b
    assert 0.25 < time.monotonic() - start < 5.0
    late.join()
    start = time.monotonic()
    _pooled._await_other_slots(folder, 2, "actor-a")  # its second trial
    _pooled._await_other_slots(folder, 2, "actor-c")  # a retry's new actor: all slots were up
    assert time.monotonic() - start < 0.2
    monkeypatch.setattr(_pooled, "_SLOTS_WAIT_S", 0.2)
    start = time.monotonic()
    _pooled._await_other_slots(tmp_path / "alone", 2, "actor-a")  # the other never comes
    assert 0.15 < time.monotonic() - start < 2.0


def test_the_slots_are_what_every_concurrency_limit_and_the_cpus_allow(monkeypatch):
    ray = pytest.importorskip("ray")
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    from uqkit.search._driver import _trials_at_once

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 4.0})
    one = {"cpu": 1.0}
    assert _trials_at_once(48, None, None, one) == 4  # the CPUs
    assert _trials_at_once(48, None, None, {"cpu": 2.0}) == 2
    assert _trials_at_once(3, None, None, one) == 3  # the budget
    assert _trials_at_once(48, 3, None, one) == 3  # max_concurrent
    assert _trials_at_once(48, None, ray.tune.TuneConfig(max_concurrent_trials=2), one) == 2
    assert _trials_at_once(48, None, None, one, BasicVariantGenerator(max_concurrent=2)) == 2
    assert _trials_at_once(48, None, None, one, "evolution") == 4
    optuna = pytest.importorskip("ray.tune.search.optuna")
    limited = ConcurrencyLimiter(optuna.OptunaSearch(), max_concurrent=1)  # a user's own limit
    assert _trials_at_once(48, None, None, one, limited) == 1
