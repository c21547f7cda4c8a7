"""What the AutoDEUQ regressor and classifier share: search, catalog, selection, refit, members.

Egele et al. (2022), "AutoDEUQ: Automated Deep Ensemble with Uncertainty Quantification",
ICPR: the joint architecture/hyperparameter search (Sec. 3.1, Alg. 1) produces a catalog of
trained networks with their validation predictions; greedy selection with replacement (Sec. 3.2,
Alg. 2) picks the ensemble; the ensemble predicts the weighted mixture (Eq. 4).

AutoDEUQ is a deep ensemble whose members are searched: it prepares the data as the deep
ensembles do (:meth:`~uqkit.training.NetworkEstimator._prepare_data`: scaling, target encoding,
the seeded validation hold-out) and predicts through the same mixture
(:mod:`uqkit.ensemble._mixture`). The search itself is the toolbox :mod:`uqkit.search`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from uqkit._data import refuse_sample_weight
from uqkit._random import derive_seed
from uqkit.base import check_fitted
from uqkit.ensemble._selection import (
    MixtureObjective,
    SelectionWarning,
    greedy_selection,
    top_k_selection,
)
from uqkit.exceptions import InvalidInputError, ModelFileError, UQKitError, require
from uqkit.search import (
    DeepHyperSpace,
    SearchNet,
    SearchSpace,
    TrialSetup,
    build_search_net,
    fit_network,
    load_network,
    network_outputs,
    run_config_settings,
    space_from_dict,
    trial_seed,
)
from uqkit.training import NetworkEstimator, RayBackend, log_verbose, resolve_backend

__all__ = ["BaseAutoDEUQ", "SearchFailedError"]

logger = logging.getLogger(__name__)

_REFIT_STREAM = 2**32 - 3
# what each selection_loss scores, for messages
_LOSS_WORDS = {"mixture": "the mixture", "moment_matched": "the moment-matched Gaussian"}


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


class BaseAutoDEUQ(NetworkEstimator):
    """Shared implementation of ``AutoDEUQRegressor`` and ``AutoDEUQClassifier``."""

    # The data preparation of the deep ensembles reads these two: the search always holds out
    # validation rows (early stopping and selection need them) and trains in float32.
    early_stopping = True
    dtype = "float32"
    _accepts_sources = False  # the trials and the final refit take in-memory 2-D arrays
    _min_variance = 1e-6  # Gaussian head floor of every catalog network (standardised units)

    _parameter_constraints: dict = {
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "selection": [StrOptions({"greedy", "topk"})],
        "selection_loss": [StrOptions({"mixture", "moment_matched"})],
        "k_init": [Interval(Integral, 1, None, closed="left")],
        "min_members": [Interval(Integral, 1, None, closed="left"), None],
        # a Ray Tune Searcher / SearchAlgorithm / TrialScheduler object (the driver checks its
        # type: Ray is imported only there)
        "searcher": [StrOptions({"evolution", "random", "tpe"}),
                     HasMethods(["set_search_properties"])],
        "population_size": [Interval(Integral, 1, None, closed="left")],
        "sample_size": [Interval(Integral, 1, None, closed="left")],
        "scheduler": [StrOptions({"asha"}), HasMethods(["on_trial_result"]), None],
        "space": [dict, SearchSpace, DeepHyperSpace, StrOptions({"deephyper"}), None],
        "run_config": "no_validation",  # ray.tune.RunConfig / TuneConfig or None
        "tune_config": "no_validation",
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "refit": ["boolean"],
        "backend": [StrOptions({"ray"}), RayBackend],
        "experiment_name": [str],
        "resume": ["boolean"],
        "max_concurrent": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_trials: int = 50,
        ensemble_size: int = 5,
        selection: str = "greedy",
        selection_loss: str = "mixture",
        k_init: int = 1,
        min_members: int | None = None,
        searcher: str = "evolution",
        population_size: int = 10,
        sample_size: int = 3,
        scheduler: str | None = None,
        space: dict | SearchSpace | DeepHyperSpace | str | None = None,
        validation_fraction: float = 0.2,
        refit: bool = False,
        backend: str | RayBackend = "ray",
        experiment_name: str = "autodeuq",
        resume: bool = False,
        max_concurrent: int | None = None,
        run_config=None,
        tune_config=None,
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
    ) -> None:
        self.n_trials = n_trials
        self.ensemble_size = ensemble_size
        self.selection = selection
        self.selection_loss = selection_loss
        self.k_init = k_init
        self.min_members = min_members
        self.searcher = searcher
        self.population_size = population_size
        self.sample_size = sample_size
        self.scheduler = scheduler
        self.space = space
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.backend = backend
        self.experiment_name = experiment_name
        self.resume = resume
        self.max_concurrent = max_concurrent
        self.run_config = run_config
        self.tune_config = tune_config
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- hooks of the two tasks -----------------------------------------------------------
    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _log_likelihoods(self, records: list[dict], y_val: np.ndarray) -> np.ndarray:
        """``(n_trials, n_val)`` validation log-likelihoods of the catalog networks."""
        raise NotImplementedError

    def _selection_objective(self, records: list[dict], y_val: np.ndarray):
        """The loss greedy selection minimises (``selection_loss``); the mixture NLL here."""
        return MixtureObjective(self._log_likelihoods(records, y_val))

    # -- parameters -------------------------------------------------------------------------
    def _search_space(self) -> SearchSpace | DeepHyperSpace:
        # the DeepHyper preset: a Gaussian head for regression, softmax (logits) otherwise
        head = "gaussian" if self._regression else "softmax"
        if isinstance(self.space, str):  # "deephyper" (the constraints allow no other string)
            return DeepHyperSpace(head=head)
        space = (self.space if isinstance(self.space, (SearchSpace, DeepHyperSpace))
                 else space_from_dict(self.space))
        if isinstance(space, DeepHyperSpace) and space.head != head:
            raise InvalidInputError(
                f"The DeepHyper space has head={space.head!r}, but {type(self).__name__} needs "
                f"head={head!r}. Pass space='deephyper' or DeepHyperSpace(head={head!r}).")
        return space

    def _ray_backend(self) -> RayBackend:
        backend = resolve_backend(self.backend)
        if not isinstance(backend, RayBackend):  # the constraints already refuse it; be explicit
            raise InvalidInputError(f"AutoDEUQ searches on Ray; got backend={self.backend!r}.")
        if backend.members_per_task != 1:
            raise InvalidInputError(
                f"RayBackend(members_per_task={backend.members_per_task}) does not apply to "
                "AutoDEUQ: every trial trains one network. Leave members_per_task at 1."
            )
        return backend

    def _check_search_params(self) -> None:
        for name in _OBJECT_PARAMS:
            if isinstance(getattr(self, name), _Unsaved):
                raise InvalidInputError(
                    f"{type(self).__name__} was loaded from a file that does not hold its "
                    f"{name} ({getattr(self, name)}): files hold no Python objects. Pass one "
                    f"again with set_params({name}=...) before fitting."
                )
        self._check_params()
        if self.sample_size > self.population_size:
            raise InvalidInputError(
                f"sample_size={self.sample_size} exceeds population_size={self.population_size}."
            )
        if self.selection == "greedy" and self.k_init > self.ensemble_size:
            raise InvalidInputError(
                f"k_init={self.k_init} exceeds ensemble_size={self.ensemble_size}."
            )
        if self.min_members is not None and self.min_members > self.ensemble_size:
            raise InvalidInputError(
                f"min_members={self.min_members} exceeds ensemble_size={self.ensemble_size}: "
                "lower min_members or raise ensemble_size."
            )

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X, y=None, *, X_val=None, y_val=None, **fit_params):
        """Search, build the catalog, select the ensemble (and refit it if asked).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            2-D features: the trials and the refit are sent the arrays, so a memmap is read
            whole into memory, and N-D rows, Datasets and DataLoaders are refused
            (InvalidInputError).
        y : array-like of shape (n_samples,) (regression: or (n_samples, n_targets))
        X_val, y_val : array-like, optional
            Validation data for early stopping and selection; by default a seeded random
            ``validation_fraction`` of the rows (indices in ``validation_indices_``).
        **fit_params
            ``sample_weight`` is not supported: passing it raises
            :class:`~uqkit.exceptions.InvalidInputError`. The search trials, the selection by
            validation likelihood and the refit would all have to be weighted for the weights
            to mean anything; use :class:`~uqkit.ensemble.DeepEnsembleRegressor` (or
            ``DeepEnsembleClassifier``) with the chosen architecture, which takes weights.

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
        refuse_sample_weight(
            fit_params, type(self).__name__,
            "the Ray Tune trials, the greedy selection by validation likelihood and the refit "
            "would all have to be weighted. Fit a DeepEnsembleRegressor/DeepEnsembleClassifier "
            "with the selected architecture (member_architectures_) and sample_weight instead.")
        X, X_val = self._read_memmaps(X, X_val)
        self._refuse_sources(X, X_val)
        require("ray", "search")
        from uqkit.search import run_search  # the Tune driver: imports Ray

        self._check_search_params()
        backend = self._ray_backend()
        space = self._search_space()
        prepared = self._prepare_data(X, y, X_val, y_val)
        data = {key: getattr(prepared, key).cpu().numpy() for key in ("X", "y", "X_val", "y_val")}
        setup = TrialSetup(space=space.to_dict(),
                           task="regression" if self._regression else "classification",
                           out_features=self._n_outputs(), seed=int(self.random_state_ % 2**31),
                           min_variance=self._min_variance)
        with self._storage(backend) as storage:
            outcome = run_search(
                data, setup, n_trials=self.n_trials, searcher=self.searcher,
                storage_path=storage, experiment=self.experiment_name, resume=self.resume,
                backend=backend, max_concurrent=self.max_concurrent, scheduler=self.scheduler,
                population_size=self.population_size, sample_size=self.sample_size,
                verbose=self.verbose, space=space, run_config=self.run_config,
                tune_config=self.tune_config, _fault_hook=getattr(self, "_fault_hook", None),
            )
            records, failed = outcome
            # Tune's ResultGrid of this start: in memory only (a saved model has None)
            self.search_result_ = getattr(outcome, "result_grid", None)
            if not records:
                causes = "; ".join(f"{f['trial_name']}: {f['error']}" for f in failed[:5])
                raise SearchFailedError(
                    f"None of the {self.n_trials} trials finished ({len(failed)} failed after "
                    f"{backend.max_retries} retries). First errors: "
                    f"{causes or 'none recorded'}. Check the space (e.g. lower lr) and the "
                    "resources per trial."
                )
            small = self._small_ensemble_message(self._select(records, data["y_val"]),
                                                 len(records))
            if small is not None:
                warnings.warn(small, SelectionWarning, stacklevel=2)
            nets = [load_network(records[i], self.n_features_in_, setup.out_features)
                    for i in self.selected_rows_]
        self.catalog_records_ = self._catalog(records, failed)
        selected = [records[i] for i in self.selected_rows_]
        self.member_architectures_ = [record["architecture"] for record in selected]
        self.member_configs_ = [record["config"] for record in selected]
        self.history_ = [_history(j, record) for j, record in enumerate(selected)]
        if self.refit:
            nets = self._refit(selected, setup, data)
        self.members_ = torch.nn.ModuleList(nets).to(self.device_).eval()
        log_verbose(logger, self.verbose,
                    f"AutoDEUQ: {len(records)} trial(s) in the catalog, {len(failed)} failed; "
                    f"ensemble of {len(nets)} member(s), weights "
                    f"{np.round(self.weights_, 3).tolist()}, validation NLL "
                    f"{self.selection_path_[-1]:.4f}.")
        return self

    @contextlib.contextmanager
    def _storage(self, backend: RayBackend) -> Iterator[Path]:
        """Where the trials go: ``backend.checkpoint_dir`` (or ``run_config.storage_path``), or a
        folder removed after ``fit``."""
        user = (None if self.run_config is None
                else run_config_settings(self.run_config).get("storage_path"))
        if user is not None and backend.checkpoint_dir is not None and (
                Path(user).expanduser().resolve()
                != Path(backend.checkpoint_dir).expanduser().resolve()):
            raise InvalidInputError(
                f"run_config.storage_path={user!r} and RayBackend.checkpoint_dir="
                f"{backend.checkpoint_dir!r} name two storages for one search: set one of them."
            )
        if user is not None or backend.checkpoint_dir is not None:
            yield Path(user if user is not None else backend.checkpoint_dir)
            return
        folder = Path(tempfile.mkdtemp(prefix="uqkit-search-"))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _select(self, records: list[dict], y_val: np.ndarray):
        objective = self._selection_objective(records, y_val)
        if self.selection == "greedy":
            result = greedy_selection(objective, self.ensemble_size, k_init=self.k_init,
                                      min_members=self.min_members or 1)
        else:
            result = top_k_selection(objective, self.ensemble_size)
        self.selected_rows_ = [int(i) for i in result.indices]
        self.weights_ = np.asarray(result.weights, dtype=np.float64)
        self.selection_path_ = [float(v) for v in result["path"]]
        return result

    def _small_ensemble_message(self, result, n_catalog: int) -> str | None:
        """Why the ensemble has fewer distinct members than ``ensemble_size`` asked, or
        ``None`` (with ``min_members`` set, only when even that floor was out of reach)."""
        n = len(result.indices)
        floor = self.ensemble_size if self.min_members is None else self.min_members
        if n >= floor:
            return None
        if result["stopped"] == "catalog" or n >= n_catalog:
            why = (f"the catalog holds only {n_catalog} finished trial(s). Raise n_trials (or "
                   "resume the search) for a larger catalog")
        else:
            why = ("greedy selection with replacement found no catalog network whose addition "
                   f"lowers the validation NLL of {_LOSS_WORDS[self.selection_loss]}"
                   + (" within its step cap" if result["stopped"] == "max_steps" else "")
                   + f". Pass min_members={self.ensemble_size} to force that many distinct "
                   "members (the best remaining networks by validation NLL join with one vote "
                   "each), or use selection='topk'")
        lone = " (a single member: its epistemic variance is zero)" if n == 1 else ""
        return (f"AutoDEUQ selection ended with {n} distinct member(s){lone} where "
                f"ensemble_size={self.ensemble_size} was asked: {why}.")

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

    # -- save / load ------------------------------------------------------------------------------
    def _fitted_attributes(self) -> list[str]:
        # Tune's ResultGrid stays in memory: files hold JSON and tensors only
        return [k for k in super()._fitted_attributes() if k != "search_result_"]

    def _param_to_saved(self, name: str, value):
        if name == "space" and isinstance(value, SearchSpace):
            return {_SPACE_TAG: value.to_dict()}
        if name == "space" and isinstance(value, dict):
            try:
                return super()._param_to_saved(name, value)
            except ModelFileError:  # Tune domains: their JSON descriptions
                return SearchSpace.from_dict(value).to_dict()
        if name in _OBJECT_PARAMS and value is not None and not isinstance(value, str):
            # a Tune object is code, not data: the file names it, and fitting the loaded model
            # again asks for a new one (predictions need none of it)
            kind = value.description if isinstance(value, _Unsaved) else _class_path(value)
            return {_UNSAVED_TAG: kind}
        return super()._param_to_saved(name, value)

    @classmethod
    def _param_from_saved(cls, name: str, value):
        if isinstance(value, dict) and set(value) == {_UNSAVED_TAG}:
            return _Unsaved(str(value[_UNSAVED_TAG]))
        if isinstance(value, dict) and set(value) == {_SPACE_TAG}:
            try:
                return SearchSpace.from_dict(value[_SPACE_TAG])
            except InvalidInputError as error:
                raise ModelFileError(f"Parameter {name!r} is not a valid SearchSpace: "
                                     f"{error}") from error
        return super()._param_from_saved(name, value)

    @classmethod
    def _from_saved(cls, header, tensors, device=None):
        estimator = super()._from_saved(header, tensors, device=device)
        estimator.search_result_ = None  # not in the file
        return estimator

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

    def _refit(self, selected: list[dict], setup: TrialSetup, data: dict) -> list[SearchNet]:
        """Retrain each selected configuration on train + validation rows for the number of
        epochs that early stopping chose (no held-out rows remain to stop on)."""
        all_rows = {"X": np.concatenate([data["X"], data["X_val"]]),
                    "y": np.concatenate([data["y"], data["y_val"]])}
        nets, self.history_ = [], []
        for j, record in enumerate(selected):
            seed = derive_seed(trial_seed(setup.seed, record["config"]), _REFIT_STREAM)
            net, history = fit_network(record["architecture"], record["config"], setup, all_rows,
                                       seed, epochs=max(1, int(record["best_epoch"])),
                                       patience=None, device=self.device_)
            nets.append(net)
            self.history_.append({**history, "member": j})
            log_verbose(logger, self.verbose, f"AutoDEUQ: refit {j + 1}/{len(selected)} done")
        return nets

    # -- prediction -----------------------------------------------------------------------------
    def _build_module(self, name: str) -> torch.nn.Module:
        if name != "members_":
            return super()._build_module(name)
        return torch.nn.ModuleList(
            build_search_net(self.n_features_in_, self._n_outputs(), architecture)
            for architecture in self.member_architectures_
        )

    @torch.no_grad()
    def _member_outputs(self, X) -> torch.Tensor:
        """Raw outputs ``(n_members, n_samples, n_outputs)``, float64 on the CPU."""
        check_fitted(self, "members_")
        Xs = self._scaled_features(X)
        return torch.stack([network_outputs(net, Xs) for net in self.members_])

    @property
    def n_members_fitted_(self) -> int:
        """Number of distinct ensemble members."""
        check_fitted(self, "members_")
        return len(self.members_)


_OBJECT_PARAMS = ("searcher", "scheduler", "run_config", "tune_config")
_UNSAVED_TAG = "__uqkit_unsaved_object__"
_SPACE_TAG = "__uqkit_search_space__"


class _Unsaved:
    """A parameter of a loaded model that was a Python object (a Ray Tune searcher, scheduler or
    config), which the file names but does not hold."""

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:
        return f"<{self.description} object, not saved in the file>"

    def __eq__(self, other) -> bool:
        return isinstance(other, _Unsaved) and other.description == self.description

    def __hash__(self) -> int:
        return hash(self.description)


def _class_path(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _history(member: int, record: dict) -> dict:
    """A catalog network's training history in the shape every ``history_`` has."""
    return {"member": member, "epochs": record["epochs"], "best_epoch": record["best_epoch"],
            "train_loss": list(record.get("train_loss", [])),
            "val_loss": list(record.get("val_loss", []))}
