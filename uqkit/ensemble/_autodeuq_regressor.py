"""AutoDEUQ for regression (Egele, Maulik, Raghavan, Lusch, Guyon & Balaprakash, ICPR 2022)."""

from __future__ import annotations

import numpy as np

from uqkit.base import UQRegressorMixin
from uqkit.ensemble._autodeuq import BaseAutoDEUQ
from uqkit.ensemble._mixture import GaussianMixtureMixin
from uqkit.ensemble._selection import MomentMatchedObjective, member_log_likelihoods
from uqkit.prediction import RegressionPrediction
from uqkit.training import RegressionTargets

__all__ = ["AutoDEUQRegressor"]


class AutoDEUQRegressor(UQRegressorMixin, GaussianMixtureMixin, RegressionTargets, BaseAutoDEUQ):
    """Automated deep ensemble for regression (AutoDEUQ; Egele et al., ICPR 2022).

    A Ray Tune search over networks with mean and variance heads (the joint architecture and
    training space of :class:`~uqkit.search.SearchSpace`) trains ``n_trials`` networks on the
    Gaussian NLL, keeping each one's weights and validation predictions (the catalog). Greedy
    selection with replacement on the validation NLL of the weighted mixture (or top-K) picks
    the members and their weights; predictions are that mixture (mean ``sum w_i mu_i``,
    aleatoric ``sum w_i sigma_i^2``, epistemic ``sum w_i (mu_i - mu)^2``, paper Eq. 4), in y's
    units. Data preparation and the mixture are those of :class:`DeepEnsembleRegressor`.

    Parameters
    ----------
    n_trials : int, default=50
        Search budget: trained networks (finished trials of earlier runs count on resume).
    ensemble_size : int, default=5
        ``K``: distinct members selected.
    selection : {"greedy", "topk"}, default="greedy"
        Greedy selection with replacement (weights = counts / total) or the K best (equal weights).
    selection_loss : {"mixture", "moment_matched"}, default="mixture"
        What greedy selection minimises on the validation rows: the exact NLL of the weighted
        mixture the ensemble predicts with, or (the paper's code, DeepHyper's
        ``greedy_caruana``) the NLL of the Gaussian with the mixture's mean and total variance
        (:class:`~uqkit.ensemble.MomentMatchedObjective`). ``selection_path_`` reports the
        chosen loss. The default scores the ensemble by the distribution it predicts; see the
        AutoDEUQ docs page for the measured difference.
    k_init : int, default=1
        Greedy selection starts from the ``k_init`` best single models.
    min_members : int, optional
        Fewest distinct members of a greedy selection: when greedy selection stops below it
        (no network lowers the validation NLL of the mixture), the best remaining networks by
        validation NLL join with one vote each. Default ``None``: no fill-up, and a
        :class:`~uqkit.ensemble.SelectionWarning` when the ensemble ends with fewer than
        ``ensemble_size`` distinct members (with ``min_members`` set, it warns only when the
        catalog cannot provide ``min_members``).
    searcher : {"evolution", "random", "tpe"} or Ray Tune Searcher, default="evolution"
        Aging evolution (the paper's), random search, Optuna TPE (needs optuna), or any Ray
        Tune ``Searcher`` / ``SearchAlgorithm`` object (``OptunaSearch()``,
        ``HyperOptSearch()``, uqkit's ``RegularizedEvolutionSearcher``, ...). An object is
        copied at each ``fit`` (yours is never changed), given ``metric="val_nll"``,
        ``mode="min"`` and, unless it was built with a space of its own (in uqkit's variable
        names), the space's variables; on ``resume`` it is told the earlier trials where it has
        ``add_evaluated_point``, else it cold-starts with a logged warning. A saved model names
        the object's class only.
    population_size, sample_size : int, default=10, 3
        Aging evolution's population and tournament sizes.
    scheduler : {"asha"}, Ray Tune TrialScheduler or None, default=None
        Early termination of poor trials: ASHA on the per-epoch validation NLL, or your own
        scheduler object (passed through, without metric/mode of its own). With a scheduler
        trials report every epoch; stopped trials have no catalog entry (``STOPPED``).
    space : dict, SearchSpace, DeepHyperSpace or "deephyper", optional
        The search space: :class:`~uqkit.search.SearchSpace` fields, as in the YAML configs,
        whose ranges may be Ray Tune domains (``{"lr": tune.loguniform(1e-4, 1e-1),
        "architecture": {"units": tune.qrandint(16, 256, 16)}}``; keys may be grouped under
        ``"architecture"`` and ``"training"``); a dict with ``kind: deephyper`` for
        :class:`~uqkit.search.DeepHyperSpace` fields; a dict or string keeps the fitted model
        savable. ``"deephyper"``: DeepHyper's ``dense_skipco`` space with the AutoDEUQ
        hyperparameters (the space of the paper's code). Default: ``SearchSpace()``, uqkit's
        own space.
    validation_fraction : float, default=0.2
        Rows held out (seeded) for early stopping and selection when no ``X_val`` is given.
    refit : bool, default=False
        Retrain the selected configurations on train + validation rows (for their best epoch
        count) before predicting.
    backend : "ray" or RayBackend, default="ray"
        Where and how trials run, in the vocabulary of the deep ensembles'
        :class:`~uqkit.training.RayBackend`: ``address`` of a running cluster (``"auto"``,
        ``"ray://host:10001"``; default: use an initialised Ray or start a local one),
        ``resources`` of one trial (e.g. ``{"num_cpus": 1, "num_gpus": 0.25}``: GPU fractions
        pack several trials on a GPU; default one CPU), ``max_retries`` of a failing trial
        (Ray Tune ``FailureConfig``; trials that still fail are listed in ``catalog_`` with
        ``status="ERROR"``) and ``checkpoint_dir``, where trials are checkpointed (a disk every
        node sees on a cluster; default: a temporary folder removed after ``fit``).
        ``members_per_task`` must stay 1 (a trial is one network).
    experiment_name : str, default="autodeuq"
        Sub-folder of ``checkpoint_dir`` holding this search.
    resume : bool, default=False
        Continue the search in ``checkpoint_dir/experiment_name``: finished trials are loaded,
        not retrained, and count against ``n_trials``.
    max_concurrent : int, optional
        Most trials running at once (default: as many as the resources allow).
    run_config : ray.tune.RunConfig, optional
        Passed through to the ``Tuner``: its ``storage_path`` and ``name`` are the search's
        storage (``backend.checkpoint_dir``; kept after ``fit``) and ``experiment_name``; its
        ``failure_config`` wins over ``backend.max_retries``; checkpoint and sync configs,
        ``stop``, ``verbose``, ``progress_reporter`` are Tune's; ``callbacks`` run after
        uqkit's own.
    tune_config : ray.tune.TuneConfig, optional
        Passed through (``reuse_actors``, ``time_budget_s``, trial name creators,
        ``max_concurrent_trials`` as ``max_concurrent``); ``metric``/``mode`` other than
        ``val_nll``/``"min"``, ``num_samples``, ``search_alg`` and ``scheduler`` are uqkit's to
        set and raise :class:`~uqkit.exceptions.InvalidInputError`.
    random_state : int, RandomState or None
    device : str, default="auto"
        Where the selected members predict (and refit).
    verbose : int, default=0
        0: nothing is written (the default; Tune silenced too); 1: progress, Tune's status
        table on an interactive terminal, else at most one INFO line per tenth of the trials
        on the ``uqkit`` logger, and a summary line; 2: also Tune's trial-level output and the
        workers' logs. See the "Logging and progress" page of the docs.

    Attributes
    ----------
    members_ : torch.nn.ModuleList
        The distinct selected networks (:class:`~uqkit.search.SearchNet`).
    weights_ : ndarray of shape (n_members,)
        Mixture weights, summing to one.
    catalog_ : pandas.DataFrame
        Every trial: configuration, validation NLL, status (``FINISHED``, ``ERROR`` or, under
        ASHA, ``STOPPED``), attempts, errors, weight.
    member_configs_ : list of dict
        The configurations of the members.
    selection_path_ : list of float
        Validation NLL (standardised units) after each accepted selection step.
    history_ : list of dict
        Per member: ``member``, ``epochs``, ``best_epoch``, ``train_loss``, ``val_loss`` (of
        the refit when ``refit=True``, then without validation loss).
    search_result_ : ray.tune.ResultGrid or None
        Tune's results of this ``fit``'s search run (``None`` when a resumed budget was
        already spent, and on a loaded model: it is not saved).

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.ensemble import AutoDEUQRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = X.sum(1)
    >>> model = AutoDEUQRegressor(n_trials=4, ensemble_size=2, population_size=2,
    ...                           sample_size=2, space={"epochs": 5},
    ...                           random_state=0).fit(X, y)  # doctest: +SKIP
    >>> float(model.weights_.sum())  # doctest: +SKIP
    1.0
    """

    def _n_outputs(self) -> int:
        return 2 * self.n_outputs_

    def _log_likelihoods(self, records: list[dict], y_val: np.ndarray) -> np.ndarray:
        means = np.stack([r["predictions"]["val_mean"] for r in records])
        variances = np.stack([r["predictions"]["val_var"] for r in records])
        return member_log_likelihoods(means, variances, y_val)

    def _selection_objective(self, records: list[dict], y_val: np.ndarray):
        if self.selection_loss == "mixture":
            return super()._selection_objective(records, y_val)
        means = np.stack([r["predictions"]["val_mean"] for r in records])
        variances = np.stack([r["predictions"]["val_var"] for r in records])
        return MomentMatchedObjective(means, variances, y_val)

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """Weighted mixture of the members' Gaussians (paper Eq. 4), in y's units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        RegressionPrediction
            ``distribution="mixture"`` with ``member_means``/``member_vars`` of shape
            ``(n_members, n_samples)`` and ``weights`` = ``weights_``.
        """
        return self._mixture_prediction(self._member_outputs(X), self._min_variance,
                                        self.weights_)
