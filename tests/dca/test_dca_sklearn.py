import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from uqkit.dca import DCAClassifier

SMALL = dict(n_instances=2, hidden_layers=(16,), n_train_proposals=2, n_predict_proposals=4,
             epochs=10, lr=2e-2, batch_size=64, verbose=0, random_state=0)


def test_clone_and_grid_search(blobs3):
    X, y = blobs3
    model = DCAClassifier(**SMALL)
    assert clone(model).get_params() == model.get_params()
    search = GridSearchCV(model, {"components": ["layer", "model"]}, cv=2).fit(X, y)
    assert search.best_params_["components"] in ("layer", "model")
    assert np.isfinite(search.best_score_)
