"""Thread-safe DCA prediction (issue 17, item 4): prediction never writes on the shared module.

Before, ``predict_uncertainty`` routed the shared :class:`DCAModule` through each evaluation
proposal with ``use_proposal`` (writing the fixed proposal, every component's ``active`` index and
``last_proposal``), so two threads re-routed each other: 12-20 of 30 calls from two threads
differed from the single-threaded answer by up to 0.54. Prediction now runs through
:meth:`DCAModule.proposal_view`, which carries the proposal in a view and leaves the module as it
was.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from uqkit.dca import DCAClassifier, DCAModule, DCARegressor

QUICK = dict(n_instances=3, hidden_layers=(16, 16), n_train_proposals=2, n_predict_proposals=6,
             epochs=5, lr=1e-2, random_state=0)


def _routing(dca: DCAModule):
    return [w.active for w in dca.components()], dca.last_proposal, dca._fixed


@pytest.mark.parametrize("components", ["layer", "block", "model"])
def test_proposal_view_equals_the_routed_module_and_leaves_it_untouched(components, make_net,
                                                                         batch):
    dca = DCAModule(make_net(with_norm=True), components, n_instances=3, seed=0).eval()
    x, _ = batch
    before = _routing(dca)
    proposals = [(2,) * dca.n_components, (1,) + (0,) * (dca.n_components - 1)]
    views = [dca.proposal_view(p) for p in proposals]
    assert _routing(dca) == before  # building a view writes nothing
    outs = [view(x) for view in views]
    assert _routing(dca) == before  # neither does running it
    for proposal, view, out in zip(proposals, views, outs):
        with dca.use_proposal(proposal):
            assert torch.equal(out, dca(x))
        # the view shares the instances' parameters (no copy), and holds no wrapper
        own = {id(p) for p in dca.parameters()}
        assert all(id(p) in own for p in view.parameters())
        assert not any(type(m).__name__ == "ComponentInstances" for m in view.modules())
    # the module's own structure is intact: its components are still the wrappers
    assert [type(w).__name__ for w in dca.components()] == ["ComponentInstances"] * dca.n_components


@pytest.mark.parametrize("cls", [DCARegressor, DCAClassifier])
def test_predict_uncertainty_writes_nothing_on_the_fitted_module(cls, sine, blobs3):
    X, y = sine if cls is DCARegressor else blobs3
    model = cls(**QUICK).fit(X, y)
    before = _routing(model.dca_)
    modes = [m.training for m in model.dca_.modules()]
    model.predict_uncertainty(X[:10])
    assert _routing(model.dca_) == before
    assert [m.training for m in model.dca_.modules()] == modes


def test_predict_uncertainty_from_two_threads_equals_single_threaded(sine):
    # the row of issue 17: two threads, 30 calls, every answer the single-threaded one
    X, y = sine
    model = DCARegressor(**QUICK).fit(X, y)
    reference = model.predict_uncertainty(X)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: model.predict_uncertainty(X), range(30)))
    for result in results:
        np.testing.assert_array_equal(result.member_means, reference.member_means)
        np.testing.assert_array_equal(result.member_vars, reference.member_vars)
        np.testing.assert_array_equal(result.mean, reference.mean)
