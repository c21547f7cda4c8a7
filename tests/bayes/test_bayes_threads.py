"""Thread-safe Bayesian prediction (issue 17, item 4).

Pyro keeps its handler stack and parameter store process-wide, and Pyro, GPyTorch and the TFB
noise hooks draw from or write to state that every thread shares (torch's global generator,
GPyTorch's settings, ``layer.noise`` on the user's model). Before, ``predict_uncertainty`` of a
``BayesianMLPRegressor`` from two threads raised Pyro's "Multiple sample sites named ..." in 21 of
30 calls. Every such section now holds one re-entrant process-wide lock
(:func:`uqkit.bayes._context.exclusive`), so each call gives exactly its single-threaded answer.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from uqkit.bayes import BayesianMLPClassifier, BayesianMLPRegressor
from uqkit.bayes._context import eval_mode, exclusive, forked_rng

SMALL = dict(hidden_layers=(16,), epochs=20, n_samples=30, random_state=0)


def _data(classify: bool):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(80, 2))
    y = (X[:, 0] > 0).astype(int) if classify else X[:, 0] - 2 * X[:, 1]
    return X, y


@pytest.mark.parametrize("cls", [BayesianMLPRegressor, BayesianMLPClassifier])
def test_predict_uncertainty_from_two_threads_equals_single_threaded(cls):
    # the row of issue 17: two threads, 30 calls; no Pyro error, every answer the same
    X, y = _data(cls is BayesianMLPClassifier)
    model = cls(**SMALL).fit(X, y)
    reference = model.predict_uncertainty(X)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: model.predict_uncertainty(X), range(30)))
    field = "member_means" if cls is BayesianMLPRegressor else "member_probs"
    for result in results:
        np.testing.assert_array_equal(getattr(result, field), getattr(reference, field))
        np.testing.assert_array_equal(result.epistemic, reference.epistemic)


def test_fit_in_one_thread_while_another_predicts():
    # fit (SVI on the global Pyro stack) and predict of two estimators do not interleave
    X, y = _data(False)
    model = BayesianMLPRegressor(**SMALL).fit(X, y)
    reference = model.predict_uncertainty(X).mean
    other = BayesianMLPRegressor(**SMALL)
    alone = BayesianMLPRegressor(**SMALL).fit(X, y + 1).predict_uncertainty(X).mean
    with ThreadPoolExecutor(max_workers=2) as pool:
        fitting = pool.submit(lambda: other.fit(X, y + 1))
        predictions = [pool.submit(model.predict_uncertainty, X) for _ in range(10)]
        fitting.result()
    for future in predictions:
        np.testing.assert_array_equal(future.result().mean, reference)
    np.testing.assert_array_equal(other.predict_uncertainty(X).mean, alone)


def test_the_global_state_sections_hold_one_reentrant_lock():
    entered = threading.Event()
    release = threading.Event()
    order = []

    def holder():
        with forked_rng(0, torch.device("cpu")), eval_mode(torch.nn.Linear(1, 1)), exclusive():
            entered.set()  # nested sections in one thread: re-entrant, no deadlock
            release.wait(5)
            order.append("holder")

    thread = threading.Thread(target=holder)
    thread.start()
    assert entered.wait(5)
    def waiter_body():
        with exclusive():
            order.append("waiter")

    waiter = threading.Thread(target=waiter_body)
    waiter.start()
    waiter.join(0.2)
    assert order == []  # the second thread waits for the first
    release.set()
    thread.join(5)
    waiter.join(5)
    assert order == ["holder", "waiter"]
