"""``AutoDEUQRegressor`` / ``AutoDEUQClassifier``: search, catalog, selection, (refit), predict.

Egele et al. (2022), "AutoDEUQ: Automated Deep Ensemble with Uncertainty Quantification",
ICPR: the joint architecture/hyperparameter search (Sec. 3.1, Alg. 1) produces a catalog of
trained networks with their validation predictions; greedy selection with replacement (Sec. 3.2,
Alg. 2) picks the ensemble; the ensemble predicts the weighted mixture (Eq. 4), whose variance
splits into aleatoric ``sum w_i sigma_i^2`` and epistemic ``sum w_i (mu_i - mu)^2``.
"""

from __future__ import annotations

import shutil
import tempfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import Standardizer, resolve_device
from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQRegressorMixin, check_fitted
from uqkit.exceptions import InvalidInputError, UQKitError, require
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.search._network import SearchNet
from uqkit.search._selection import greedy_selection, member_log_likelihoods, top_k_selection
from uqkit.search._space import SearchSpace
from uqkit.training import ClassificationTargets, NetworkEstimator, RegressionTargets

__all__ = ["AutoDEUQClassifier", "AutoDEUQRegressor", "SearchFailedError"]

_REFIT_STREAM = 2**32 - 3


class SearchFailedError(UQKitError):
    """No trial of the search finished (every one failed after its retries).

    Raised by ``fit`` of :class:`AutoDEUQRegressor` / :class:`AutoDEUQClassifier`; a subclass of
    :class:`~uqkit.exceptions.UQKitError`, so ``except UQKitError`` catches it too.

    Examples
    --------
    >>> from uqkit.exceptions import UQKitError
    >>> try:
    ...     raise SearchFailedError("None of the 2 trials finished.")
    ... except UQKitError as error:
    ...     print(type(error).__name__, "-", error)
    SearchFailedError - None of the 2 trials finished.
    """


class _BaseAutoDEUQ(NetworkEstimator):
    _parameter_constraints: dict = {
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "selection": [StrOptions({"greedy", "topk"})],
        "k_init": [Interval(Integral, 1, None, closed="left")],
        "searcher": [StrOptions({"evolution", "random", "tpe"})],
        "population_size": [Interval(Integral, 1, None, closed="left")],
        "sample_size": [Interval(Integral, 1, None, closed="left")],
        "scheduler": [StrOptions({"asha"}), None],
        "space": [dict, SearchSpace, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "refit": ["boolean"],
        "resources_per_trial": [dict, None],
        "storage_path": [str, Path, None],
        "experiment_name": [str],
        "resume": ["boolean"],
        "max_concurrent": [Interval(Integral, 1, None, closed="left"), None],
        "max_failures": [Interval(Integral, 0, None, closed="left")],
        "ray_address": [str, None],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_trials: int = 50,
        ensemble_size: int = 5,
        selection: str = "greedy",
        k_init: int = 1,
        searcher: str = "evolution",
        population_size: int = 10,
        sample_size: int = 3,
        scheduler: str | None = None,
        space: dict | SearchSpace | None = None,
        validation_fraction: float = 0.2,
        refit: bool = False,
        resources_per_trial: dict | None = None,
        storage_path: str | None = None,
        experiment_name: str = "autodeuq",
        resume: bool = False,
        max_concurrent: int | None = None,
        max_failures: int = 2,
        ray_address: str | None = None,
        random_state=None,
        device: str = "auto",
        verbose: int = 1,
    ) -> None:
        self.n_trials = n_trials
        self.ensemble_size = ensemble_size
        self.selection = selection
        self.k_init = k_init
        self.searcher = searcher
        self.population_size = population_size
        self.sample_size = sample_size
        self.scheduler = scheduler
        self.space = space
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.resources_per_trial = resources_per_trial
        self.storage_path = storage_path
        self.experiment_name = experiment_name
        self.resume = resume
        self.max_concurrent = max_concurrent
        self.max_failures = max_failures
        self.ray_address = ray_address
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- hooks ----------------------------------------------------------------------------
    def _search_space(self) -> SearchSpace:
        if isinstance(self.space, SearchSpace):
            return self.space
        return SearchSpace.from_dict(self.space)

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X, y, *, X_val=None, y_val=None):
        """Search, build the catalog, select the ensemble (and refit it if asked).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) (regression: or (n_samples, n_targets))
        X_val, y_val : array-like, optional
            Validation data for early stopping and selection; by default a seeded random
            ``validation_fraction`` of the rows (indices in ``validation_indices_``).

        Returns
        -------
        self

        Raises
        ------
        MissingDependencyError
            Ray Tune is not installed (``pip install 'uqkit[search]'``).
        SearchFailedError
            No trial finished; the message lists the trial errors.
        """
        require("ray", "search")
        from uqkit.search import _tune

        self._check_params()
        if self.sample_size > self.population_size:
            raise InvalidInputError(
                f"sample_size={self.sample_size} exceeds population_size={self.population_size}."
            )
        if self.selection == "greedy" and self.k_init > self.ensemble_size:
            raise InvalidInputError(
                f"k_init={self.k_init} exceeds ensemble_size={self.ensemble_size}."
            )
        space = self._search_space()
        X, y = self._check_X_y(X, y, regression=self._regression)
        y_enc = self._encode_targets(y)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=self._regression)
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        x_scaler = Standardizer.fit(X)
        self.x_mean_, self.x_scale_ = x_scaler.mean, x_scaler.scale
        Xs = x_scaler.transform(X)
        if X_val is None:
            train_rows, val_rows = self._split(len(X))
            self.validation_indices_ = val_rows
            Xt, yt, Xv, yv = Xs[train_rows], y_enc[train_rows], Xs[val_rows], y_enc[val_rows]
        else:
            Xt, yt = Xs, y_enc
            Xv, yv = x_scaler.transform(X_val), self._encode_targets(y_val, fit=False)
        data = {"X": Xt.astype(np.float32), "y": yt, "X_val": Xv.astype(np.float32), "y_val": yv}
        setup = {"space": space.to_dict(),
                 "task": "regression" if self._regression else "classification",
                 "out_features": self._n_outputs(),
                 "min_variance": 1e-6, "seed": int(self.random_state_ % 2**31)}

        temporary = self.storage_path is None
        storage = Path(tempfile.mkdtemp(prefix="uqkit-search-")) if temporary \
            else Path(self.storage_path)
        try:
            records, failed = _tune.run_search(
                data, setup, n_trials=self.n_trials, searcher=self.searcher,
                storage_path=storage, experiment=self.experiment_name, resume=self.resume,
                resources_per_trial=self.resources_per_trial, max_concurrent=self.max_concurrent,
                max_failures=self.max_failures, scheduler=self.scheduler,
                population_size=self.population_size, sample_size=self.sample_size,
                ray_address=self.ray_address, verbose=self.verbose,
            )
            if not records:
                causes = "; ".join(f"{f['trial_name']}: {f['error']}" for f in failed[:5])
                raise SearchFailedError(
                    f"None of the {self.n_trials} trials finished ({len(failed)} failed after "
                    f"{self.max_failures} retries). First errors: {causes or 'none recorded'}. "
                    "Check the space (e.g. lower lr) and the resources per trial."
                )
            self._select(records, yv)
            nets = [_tune.load_weights(records[i], setup, Xt.shape[1])
                    for i in self.selected_rows_]
        finally:
            if temporary:
                shutil.rmtree(storage, ignore_errors=True)
        self.catalog_records_ = self._catalog(records, failed)
        self.member_architectures_ = [records[i]["architecture"] for i in self.selected_rows_]
        self.member_configs_ = [records[i]["config"] for i in self.selected_rows_]
        if self.refit:
            nets = self._refit(records, setup, np.concatenate([Xt, Xv]),
                               np.concatenate([yt, yv]))
        self.members_ = torch.nn.ModuleList(nets).to(self.device_).eval()
        if self.verbose:
            print(f"AutoDEUQ: {len(records)} trial(s) in the catalog, {len(failed)} failed; "
                  f"ensemble of {len(nets)} member(s), weights "
                  f"{np.round(self.weights_, 3).tolist()}, validation NLL "
                  f"{self.selection_path_[-1]:.4f}.", flush=True)
        return self

    def _select(self, records: list[dict], y_val: np.ndarray) -> None:
        log_lik = self._log_likelihoods(records, y_val)
        if self.selection == "greedy":
            result = greedy_selection(log_lik, self.ensemble_size, k_init=self.k_init)
        else:
            result = top_k_selection(log_lik, self.ensemble_size)
        self.selected_rows_ = [int(i) for i in result.indices]
        self.weights_ = np.asarray(result.weights, dtype=np.float64)
        self.selection_path_ = [float(v) for v in result["path"]]

    def _catalog(self, records: list[dict], failed: list[dict]) -> list[dict]:
        selected = dict(zip(self.selected_rows_, self.weights_.tolist()))
        rows = []
        for i, record in enumerate(records):
            rows.append({
                "trial": record["trial_name"], "run": record.get("run"), "status": "FINISHED",
                "val_nll": record["val_nll"], "epochs": record["epochs"],
                "best_epoch": record["best_epoch"], "seconds": record["seconds"],
                "attempts": record.get("attempts", 1),
                "errors": " | ".join(record.get("errors", [])),
                "weight": selected.get(i, 0.0), **record["config"],
            })
        for record in failed:
            rows.append({
                "trial": record["trial_name"], "run": record.get("run"),
                "status": record.get("status", "ERROR"),
                "val_nll": None, "attempts": record.get("attempts"),
                "errors": record.get("error", ""), "weight": 0.0, **record.get("config", {}),
            })
        return rows

    @property
    def catalog_(self):
        """Every trial: its configuration, validation NLL, status, attempts, errors and ensemble
        weight, as a ``pandas.DataFrame`` (one row per trial; failed trials have ``status``
        ``"ERROR"`` and no NLL, trials cut by the ASHA scheduler ``"STOPPED"``)."""
        import pandas as pd

        check_fitted(self, "catalog_records_")
        frame = pd.DataFrame(self.catalog_records_)
        lead = [c for c in ("trial", "run", "status", "val_nll", "weight", "attempts", "epochs",
                            "best_epoch", "seconds", "errors") if c in frame.columns]
        return frame[lead + sorted(c for c in frame.columns if c not in lead)]

    def _refit(self, records, setup, X_all, y_all) -> list[SearchNet]:
        """Retrain each selected configuration on train + validation data for the number of
        epochs that early stopping chose (no held-out data remains to stop on)."""
        from uqkit.search._tune import fit_network, trial_seed

        nets = []
        for j, i in enumerate(self.selected_rows_):
            record = records[i]
            seed = derive_seed(trial_seed(setup["seed"], record["config"]), _REFIT_STREAM)
            net, _ = fit_network(record["architecture"], record["config"], setup,
                                 X_all.astype(np.float32), y_all, None, None, seed,
                                 epochs=max(1, int(record["best_epoch"])), patience=None,
                                 device=self.device_)
            nets.append(net)
            if self.verbose:
                print(f"refit {j + 1}/{len(self.selected_rows_)} done", flush=True)
        return nets

    # -- prediction -------------------------------------------------------------------------
    def _build_module(self, name: str) -> torch.nn.Module:
        if name != "members_":
            return super()._build_module(name)
        return torch.nn.ModuleList(
            SearchNet(self.n_features_in_, self._n_outputs(), arch)
            for arch in self.member_architectures_
        )

    @torch.no_grad()
    def _member_outputs(self, X) -> torch.Tensor:
        """Raw outputs ``(n_members, n_samples, n_outputs)``, float64 on CPU."""
        from uqkit.search._tune import network_outputs

        check_fitted(self, "members_")
        X = self._check_X(X, reset=False)
        Xs = ((X - self.x_mean_) / self.x_scale_).astype(np.float32)
        return torch.stack([network_outputs(net.eval(), Xs) for net in self.members_])

    @property
    def n_members_fitted_(self) -> int:
        """Number of distinct ensemble members."""
        check_fitted(self, "members_")
        return len(self.members_)


class AutoDEUQRegressor(UQRegressorMixin, RegressionTargets, _BaseAutoDEUQ):
    """Automated deep ensemble for regression (AutoDEUQ; Egele et al., ICPR 2022).

    A Ray Tune search over networks with mean and variance heads (the joint architecture and
    training space of :class:`SearchSpace`) trains ``n_trials`` networks on the Gaussian NLL,
    keeping each one's weights and validation predictions (the catalog). Greedy selection with
    replacement on the validation NLL of the weighted mixture (or top-K) picks the members and
    their weights; predictions are that mixture (mean ``sum w_i mu_i``, aleatoric
    ``sum w_i sigma_i^2``, epistemic ``sum w_i (mu_i - mu)^2``), in y's units.

    Parameters
    ----------
    n_trials : int, default=50
        Search budget: trained networks (finished trials of earlier runs count on resume).
    ensemble_size : int, default=5
        ``K``: distinct members selected.
    selection : {"greedy", "topk"}, default="greedy"
        Greedy selection with replacement (weights = counts / total) or the K best (equal weights).
    k_init : int, default=1
        Greedy selection starts from the ``k_init`` best single models.
    searcher : {"evolution", "random", "tpe"}, default="evolution"
        Aging evolution (the paper's), random search, or Optuna TPE (needs optuna).
    population_size, sample_size : int, default=10, 3
        Aging evolution's population and tournament sizes.
    scheduler : {"asha"} or None, default=None
        Optional ASHA early termination of poor trials (stopped trials have no catalog entry).
    space : dict or SearchSpace, optional
        The search space (a dict of :class:`SearchSpace` fields, as in the YAML configs); a
        dict keeps the fitted model savable. Default: ``SearchSpace()``.
    validation_fraction : float, default=0.2
        Rows held out (seeded) for early stopping and selection when no ``X_val`` is given.
    refit : bool, default=False
        Retrain the selected configurations on train + validation rows (for their best epoch
        count) before predicting.
    resources_per_trial : dict, optional
        Ray resources of one trial, e.g. ``{"num_cpus": 1, "num_gpus": 0.25}`` (GPU fractions
        pack several trials on a GPU). Default one CPU.
    storage_path : str, optional
        Where trials are checkpointed (a disk every node sees on a cluster). Default: a
        temporary folder removed after ``fit``.
    experiment_name : str, default="autodeuq"
        Sub-folder of ``storage_path`` holding this search.
    resume : bool, default=False
        Continue the search in ``storage_path/experiment_name``: finished trials are loaded,
        not retrained, and count against ``n_trials``.
    max_concurrent : int, optional
        Most trials running at once (default: as many as the resources allow).
    max_failures : int, default=2
        Retries of a failing trial (Ray Tune ``FailureConfig``); trials that still fail are
        listed in ``catalog_`` with ``status="ERROR"``.
    ray_address : str, optional
        Connect to a running cluster (``"auto"`` or ``"ray://host:10001"``); default: use an
        initialised Ray or start a local one.
    random_state : int, RandomState or None
    device : str, default="auto"
        Where the selected members predict.
    verbose : int, default=1
        0 silent; 1 search progress; 2 also Tune's detailed tables.

    Attributes
    ----------
    members_ : torch.nn.ModuleList
        The distinct selected networks (:class:`SearchNet`).
    weights_ : ndarray of shape (n_members,)
        Mixture weights, summing to one.
    catalog_ : pandas.DataFrame
        Every trial: configuration, validation NLL, status (``FINISHED``, ``ERROR`` or, under
        ASHA, ``STOPPED``), attempts, errors, weight.
    member_configs_ : list of dict
        The configurations of the members.
    selection_path_ : list of float
        Validation NLL (standardised units) after each accepted selection step.

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.search import AutoDEUQRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = X.sum(1)
    >>> model = AutoDEUQRegressor(n_trials=4, ensemble_size=2, population_size=2,
    ...                           sample_size=2, space={"epochs": 5}, random_state=0,
    ...                           verbose=0).fit(X, y)  # doctest: +SKIP
    >>> float(model.weights_.sum())  # doctest: +SKIP
    1.0
    """

    def _n_outputs(self) -> int:
        return 2 * self.n_outputs_

    def _log_likelihoods(self, records, y_val) -> np.ndarray:
        means = np.stack([r["predictions"]["val_mean"] for r in records])
        variances = np.stack([r["predictions"]["val_var"] for r in records])
        return member_log_likelihoods(means, variances, y_val)

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
        from uqkit.nn import gaussian_head

        raw = self._member_outputs(X)
        mean, var = gaussian_head(raw, 1e-6)
        mean, var, scale, shift = self._target_units(mean.numpy(), var.numpy())
        return RegressionPrediction.mixture(mean, var, self.weights_).rescale(scale, shift)


class AutoDEUQClassifier(UQClassifierMixin, ClassificationTargets, _BaseAutoDEUQ):
    """Automated deep ensemble for classification: the AutoDEUQ recipe with cross-entropy
    members and the weighted mixture of their categoricals, ``p = sum_i w_i p_i``.

    Parameters are those of :class:`AutoDEUQRegressor`; selection minimises the validation NLL
    ``-(1/n) sum_t log sum_i w_i p_i(y_t | x_t)``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    members_, weights_, catalog_, member_configs_, selection_path_
        As for :class:`AutoDEUQRegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.search import AutoDEUQClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
    >>> model = AutoDEUQClassifier(n_trials=3, ensemble_size=2, population_size=2,
    ...                            sample_size=2, space={"epochs": 5}, random_state=0,
    ...                            verbose=0).fit(X, y)  # doctest: +SKIP
    >>> model.predict_proba(X[:2]).sum(1).round(6).tolist()  # doctest: +SKIP
    [1.0, 1.0]
    """

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _log_likelihoods(self, records, y_val) -> np.ndarray:
        probs = np.stack([r["predictions"]["val_probs"] for r in records])
        picked = probs[:, np.arange(len(y_val)), y_val]
        return np.log(np.maximum(picked, 1e-300))

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Weighted mixture of the members' categoricals.

        Returns
        -------
        ClassificationPrediction
            ``probs = sum_i w_i p_i``; ``member_probs`` (n_members, n, C) and the weights.
        """
        probs = torch.softmax(self._member_outputs(X), dim=-1).numpy()
        return ClassificationPrediction.from_members(probs, weights=self.weights_,
                                                 classes=self.classes_)
