"""The linear probe: multinomial logistic regression on standardised frozen features.

The first thing a practitioner fits on image embeddings. Its noise scores come from
out-of-fold probabilities (confident learning's ingredient, Northcutt et al. 2021): a row is
scored by a model that never saw it, and never saw the other images of its bag either.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import WebClassifierMixin, check_bags, check_is_fitted, encode_targets
from ..base import validate_data, warn_not_converged

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self

__all__ = ["LinearProbeClassifier", "out_of_fold_folds"]


def out_of_fold_folds(y_idx, groups, cv, random_state=None):
    """Fold of each row for out-of-fold scores: stratified by label, a group never split.

    Parameters
    ----------
    y_idx : (n,) int array
    groups : (n,) int array or None
        Bag ids; None puts every row in its own group.
    cv : int
        Folds wanted; fewer when some class has fewer groups (each training fold then still
        holds every class).
    random_state : int, RandomState or None
        Shuffles the assignment.

    Returns
    -------
    (n,) int array of fold numbers, or all -1 when some class has a single group (no
    out-of-fold estimate is possible).
    """
    groups = np.arange(len(y_idx)) if groups is None else np.asarray(groups)
    pairs = np.unique(np.c_[groups, y_idx], axis=0)  # (group, label) pairs: one per group
    n_splits = min(cv, int(np.bincount(pairs[:, 1]).min()))
    folds = np.full(len(y_idx), -1)
    if n_splits < 2:
        return folds
    if len(pairs) == len(y_idx):  # a row per group: the plain stratified split (fast)
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
        groups = None
    else:
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
    for k, (_, test) in enumerate(splitter.split(np.zeros((len(y_idx), 1)), y_idx, groups)):
        folds[test] = k
    return folds


class LinearProbeClassifier(WebClassifierMixin, BaseEstimator):
    """Multinomial logistic regression on standardised features (scikit-learn's lbfgs).

    Privileged features, sources and class vectors are ignored; ``bags`` only keep the images
    of one bag in one fold when scoring noise.

    Parameters
    ----------
    C : float, default=1.0
        Inverse L2 regularisation (scikit-learn's: weight of the summed log-loss).
    class_weight : dict, {"balanced"} or None, default=None
    max_iter : int, default=1000
        lbfgs iterations (a ConvergenceWarning, once per fit, when a fit stops there).
    cv : int, default=5
        Folds of the out-of-fold probabilities behind ``noise_scores_``.
    random_state : int, RandomState or None, default=None
        Shuffles the folds (the fit itself is deterministic).

    Attributes
    ----------
    classes_ : (C,) array
    pipeline_ : Pipeline
        ``StandardScaler`` then ``LogisticRegression``, fitted on all training rows.
    n_iter_ : (1,) int array
        lbfgs iterations of that fit.
    cv_folds_ : (n,) int array
        The fold of each training row in the out-of-fold fits: stratified by web label, all rows
        of a bag in one fold (bags are never split), -1 everywhere when some class has only one
        bag (then the scores are in-sample).
    noise_scores_ : (n,) array in [0, 1]
        1 - the out-of-fold probability of each row's own web label (higher = more likely a
        wrong label).

    References
    ----------
    C. G. Northcutt, L. Jiang, I. L. Chuang. Confident learning: estimating uncertainty in
    dataset labels. JAIR 70, 2021 (out-of-fold probabilities as noise evidence).

    Examples
    --------
    >>> from webly import LinearProbeClassifier, make_web_digits
    >>> ds = make_web_digits(random_state=0)
    >>> clf = LinearProbeClassifier().fit(ds.X, ds.y, bags=ds.bags)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.85
    True
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, C: float = 1.0, class_weight: str | dict | None = None, max_iter: int = 1000,
                 cv: int = 5, random_state: int | np.random.RandomState | None = None) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.cv = cv
        self.random_state = random_state

    def _pipeline(self):
        return make_pipeline(StandardScaler(), LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter))

    def fit(self, X: ArrayLike, y: ArrayLike, *, bags: ArrayLike | None = None) -> Self:
        """Fit on rows ``X`` with web labels ``y``; ``bags`` group the out-of-fold noise scores."""
        self._validate_params()
        X, y = validate_data(self, X, y)
        self.classes_, y_idx = encode_targets(y)
        bags = None if bags is None else check_bags(bags, y_idx, len(y_idx))
        self.cv_folds_ = out_of_fold_folds(y_idx, bags, self.cv, self.random_state)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self.pipeline_ = self._pipeline().fit(X, y_idx)
            if self.cv_folds_[0] < 0:
                proba = self.pipeline_.predict_proba(X)
            else:
                split = [(np.flatnonzero(self.cv_folds_ != k), np.flatnonzero(self.cv_folds_ == k))
                         for k in np.unique(self.cv_folds_)]
                proba = cross_val_predict(self._pipeline(), X, y_idx, cv=split,
                                          method="predict_proba")
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.n_iter_ = self.pipeline_[-1].n_iter_
        self.noise_scores_ = 1.0 - proba[np.arange(len(y_idx)), y_idx]
        warn_not_converged(self, [f"lbfgs stopped at max_iter={self.max_iter}; raise max_iter"
                                  for w in caught if issubclass(w.category, ConvergenceWarning)])
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Multinomial scores (n, C); for two classes the log-odds of ``classes_[1]`` (n,)."""
        check_is_fitted(self)
        return self.pipeline_.decision_function(validate_data(self, X, reset=False))

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities (n, C)."""
        check_is_fitted(self)
        return self.pipeline_.predict_proba(validate_data(self, X, reset=False))
