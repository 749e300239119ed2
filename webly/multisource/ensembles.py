"""The per-source baselines of MDA-HS: the uniform average of per-source classifiers and one
source's classifier (see :mod:`webly.multisource._base` for the kernel expansion they share)."""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING

from ..base import one_vs_rest
from ..errors import DataError
from ._base import _MultiSourceBase
from .data import MultiSourceData

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from typing_extensions import Self
    from ..blocks import FeatureBlocks

__all__ = ["UniformSourcesClassifier", "SingleSourceClassifier"]


class _SourceEnsemble(_MultiSourceBase):
    """Per-source L2-loss SVMs (unit-norm weights) averaged with fixed source weights."""

    _expected_failed_checks = {
        "check_non_transformer_estimators_n_iter":
            "max_iter bounds each per-source QP solve (one per source and class); the fit has "
            "no single iteration count to report as n_iter_",
    }

    def _chosen_sources(self):
        return list(range(len(self.sources_)))

    def _fit_models(self, data):
        y_idx, blocks = self._setup(data)
        chosen = self._chosen_sources()

        def fit_binary(k, y_pm):
            return {s: self._source_classifier(blocks, s, y_pm) for s in chosen}

        models = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        w = self._store_source_average(data, models, chosen)
        self.source_weights_ = {self.sources_[s]: (w if s in chosen else 0.0)
                                for s in range(len(self.sources_))}
        return self


class UniformSourcesClassifier(_SourceEnsemble):
    """Baseline ``uniform-sources``: the average of per-source classifiers.

    One L2-loss SVM per source (on the source's own feature types; several types share an
    averaged kernel), with normalised weights ``||w_s|| = 1`` as in MDA-HS's prior; the decision
    is ``(1/S) sum_s f_s(x)`` per one-vs-rest class. The target rows are not used.

    Parameters
    ----------
    C_source : float, default=1.0
        Squared-loss weight of the per-source L2-loss SVMs.
    kernel : {"rbf", "linear"}, default="rbf"
    gamma : float or None, default=None
        RBF bandwidth; None applies 1 / mean squared distance over the source rows (per feature
        type).
    tol : float, default=1e-3
        Relative KKT tolerance of the QPs.
    max_iter : int or None, default=None
        Iteration limit per QP (None: none).
    n_jobs : int or None, default=None
        Threads for the one-vs-rest problems.
    solver : {"libsvm", "smo"}, default="libsvm"
        QP solver (:func:`~webly.solvers.solve_simplex_qp`): libsvm's one-class
        solver on the precomputed Hessian (fast, cold starts) or webly's SMO (warm starts).

    Attributes
    ----------
    classes_, sources_ : arrays of class labels and source names
    source_weights_ : dict
        ``{source: 1/S}``.
    kernels_ : dict of webly.kernels.Kernel, one per feature type
    expansion_ : dict
        ``{feature type: (support rows, coefficients (n_sv, n_models))}``.

    References
    ----------
    L. Chen, L. Duan, D. Xu. Event recognition in videos by learning from heterogeneous web
    sources. CVPR 2013 (the "average of source classifiers" baseline).

    Examples
    --------
    >>> import numpy as np
    >>> from webly import UniformSourcesClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2)); y = (X[:, 0] > 0).astype(int); s = np.repeat(["a", "b"], 40)
    >>> clf = UniformSourcesClassifier().fit(X, y, sources=s)
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True
    """

    def __init__(self, C_source: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 tol: float = 1e-3, max_iter: int | None = None, n_jobs: int | None = None,
                 solver: str = "libsvm") -> None:
        self.C_source = C_source
        self.kernel = kernel
        self.gamma = gamma
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.solver = solver

    def fit(self, X: ArrayLike | FeatureBlocks, y: ArrayLike, *,
            sources: ArrayLike | None = None) -> Self:
        """Fit one classifier per source on rows X (labels y, source of each row ``sources``)."""
        self._validate_params()
        return self._fit_data(self._source_data(X, y, sources, None))


class SingleSourceClassifier(_SourceEnsemble):
    """One source's L2-loss SVM alone (used for the ``best-source`` oracle reference).

    ``best-source`` picks, *after* evaluation, the single source whose classifier is best on the
    target's labels: an oracle that no method can use (target labels are unknown at fit time).
    This estimator never sees target labels; a benchmark runs it once per source position and
    the report takes the best (clearly marked as an oracle reference).

    Parameters
    ----------
    source : int or str, default=0
        The source to train on: a name, or a position in the *sorted* source names (so that a
        config can say "the first source" whatever the names of a sweep's sources are).
    C_source, kernel, gamma, tol, max_iter, n_jobs
        As :class:`UniformSourcesClassifier`.

    Attributes
    ----------
    source_ : str
        The source used.
    classes_, sources_, source_weights_, kernels_, expansion_
        As :class:`UniformSourcesClassifier` (weight 1 on ``source_``).

    References
    ----------
    L. Chen, L. Duan, D. Xu. Event recognition in videos by learning from heterogeneous web
    sources. CVPR 2013 (the single-source baselines).

    Examples
    --------
    >>> import numpy as np
    >>> from webly import SingleSourceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2)); y = (X[:, 0] > 0).astype(int); s = np.repeat(["a", "b"], 40)
    >>> clf = SingleSourceClassifier(source="b").fit(X, y, sources=s)
    >>> clf.source_, clf.source_weights_
    ('b', {'a': 0.0, 'b': 1.0})
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True
    """

    _parameter_constraints = {**_MultiSourceBase._parameter_constraints,
                              "source": [Integral, str]}

    def __init__(self, source: int | str = 0, C_source: float = 1.0, kernel: str = "rbf",
                 gamma: float | None = None, tol: float = 1e-3, max_iter: int | None = None,
                 n_jobs: int | None = None, solver: str = "libsvm") -> None:
        self.source = source
        self.C_source = C_source
        self.kernel = kernel
        self.gamma = gamma
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.solver = solver

    def _chosen_sources(self):
        return [0]

    def fit(self, X: ArrayLike | FeatureBlocks, y: ArrayLike, *,
            sources: ArrayLike | None = None) -> Self:
        """Fit the chosen source's classifier (rows of other sources are ignored)."""
        self._validate_params()
        data = self._source_data(X, y, sources, None)
        names = data.source_names
        if isinstance(self.source, str):
            if self.source not in names:
                raise DataError("source", f"unknown source {self.source!r}; sources are {names}")
            chosen = self.source
        else:
            ordered = sorted(names)
            if not 0 <= self.source < len(ordered):
                raise DataError("source", f"position {self.source} is out of range: there are "
                                          f"{len(ordered)} sources ({ordered})")
            chosen = ordered[self.source]
        one = MultiSourceData(sources={chosen: data.sources[chosen]},
                              labels={chosen: data.labels[chosen]})
        self._fit_data(one)
        self.source_ = chosen
        self.source_weights_ = {s: float(s == chosen) for s in names}
        return self
