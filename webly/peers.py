"""Peer methods from other packages, compared with webly's in benchmarks (the ``peers`` extra).

These wrap well-kept implementations, they do not reimplement them: ``cleanlab`` (confident
learning, Northcutt et al. JAIR 2021) for noisy labels, ``skada`` (scikit-learn domain adaptation)
for source/target shift. Importing this module never imports the peer package; fitting without it
installed raises an error that says how to install it.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .base import WebClassifierMixin
from .errors import ConfigError, DataError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self

__all__ = ["CleanLearningClassifier", "SkadaClassifier"]


def _encode_classes(y):
    """``classes, codes`` of classification targets with at least two classes."""
    check_classification_targets(y)
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError("y", f"needs at least 2 classes to fit a classifier; got {len(classes)} "
                             "class")
    return classes, codes


def _require(module, extra="peers"):
    try:
        # skada switches scikit-learn's metadata routing on for the whole process when it is
        # first imported; inside config_context that switch is undone on leaving, and the
        # skada peer turns routing on only around its own calls (_skada_routing)
        with config_context():
            return __import__(module, fromlist=["_"])
    except ImportError:
        raise ConfigError("method", f"this peer needs the '{module}' package: "
                                    f"pip install 'webly[{extra}]'") from None


def _skada_routing():
    """scikit-learn's metadata routing, on for a block only (skada's pipelines route
    ``sample_domain`` and ``sample_weight`` through it)."""
    return config_context(enable_metadata_routing=True)


class CleanLearningClassifier(WebClassifierMixin, BaseEstimator):
    """cleanlab's CleanLearning around the same MLP as webly's ``MLP`` baseline.

    Confident learning estimates out-of-fold class probabilities (``cv_n_folds`` folds of the web
    rows), flags the rows whose web label is likely wrong, and refits the MLP on the rest. So it
    sees exactly what the other noisy-label methods see: web features and web labels.

    Parameters
    ----------
    hidden_layer_sizes, max_iter, early_stopping, alpha
        Passed to :class:`sklearn.neural_network.MLPClassifier` (defaults: those of the ``MLP``
        lines in the benchmark configs). Early stopping holds out a stratified 10 % of each fit's
        rows; on data too small for that split (fewer held-out rows than classes, or a class
        with a single row in a fold) the MLPs train without it.
    cv_n_folds : int, default=5
        Folds of cleanlab's out-of-fold probabilities.
    random_state : int or None
        Seeds the MLP and cleanlab's folds.

    Attributes
    ----------
    noise_scores_ : ndarray (n_samples,)
        1 - cleanlab's label quality of each training row (higher = more likely a wrong label).
    label_issues_ : ndarray of bool (n_samples,)
        Rows cleanlab removed before the final fit.
    n_iter_ : int
        Epochs of the final MLP.

    References
    ----------
    C. G. Northcutt, L. Jiang, I. L. Chuang. Confident learning: estimating uncertainty in
    dataset labels. JAIR 70, 2021.

    Examples
    --------
    Needs the ``peers`` extra (cleanlab):

    >>> from webly import make_web_digits
    >>> from webly.peers import CleanLearningClassifier
    >>> ds = make_web_digits(n_bags_per_class=4, bag_size=8, random_state=0)
    >>> clf = CleanLearningClassifier(cv_n_folds=3, random_state=0).fit(ds.X, ds.y)
    >>> clf.noise_scores_.shape, clf.label_issues_.dtype.name
    ((320,), 'bool')
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "cv_n_folds": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, hidden_layer_sizes: ArrayLike = (100,), max_iter: int = 500,
                 early_stopping: bool = True, alpha: float = 1e-4, cv_n_folds: int = 5,
                 random_state: int | np.random.RandomState | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.alpha = alpha
        self.cv_n_folds = cv_n_folds
        self.random_state = random_state

    def _mlp(self, counts):
        """The MLP for fits whose class counts are at least ``counts``."""
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else None
        # MLPClassifier's early stopping splits off a stratified ceil(10 %) of the rows
        splittable = math.ceil(0.1 * counts.sum()) >= len(counts) and counts.min() >= 2
        return MLPClassifier(hidden_layer_sizes=self.hidden_layer_sizes, max_iter=self.max_iter,
                             early_stopping=self.early_stopping and splittable, alpha=self.alpha,
                             random_state=seed)

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        self._validate_params()
        _require("cleanlab")
        from cleanlab.classification import CleanLearning

        X, y = validate_data(self, X, y)
        self.classes_, codes = _encode_classes(y)
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else None
        counts = np.bincount(codes)
        folds = int(min(self.cv_n_folds, counts.min()))
        if folds < 2:  # too few rows of some class for out-of-fold estimates: plain MLP
            self.model_ = self._mlp(counts).fit(X, codes)
            self.label_issues_ = np.zeros(len(y), dtype=bool)
            self.noise_scores_ = np.zeros(len(y))
            self.n_iter_ = self.model_.n_iter_
            return self
        # n_jobs=1: cleanlab's own process pool shares data through fork-time globals, which
        # breaks inside joblib/loky workers (NameError in cleanlab.filter); runs parallelise above
        fold_counts = counts - np.ceil(counts / folds).astype(int)  # the smallest training fold
        cl = CleanLearning(clf=self._mlp(fold_counts), seed=seed, cv_n_folds=folds,
                           verbose=False, find_label_issues_kwargs={"n_jobs": 1})
        cl.fit(X, codes)
        issues = cl.get_label_issues()
        self.label_issues_ = issues["is_label_issue"].to_numpy(dtype=bool)
        self.noise_scores_ = 1.0 - issues["label_quality"].to_numpy(dtype=float)
        self.model_ = cl.clf
        self.n_iter_ = self.model_.n_iter_
        return self

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, self.model_.classes_] = self.model_.predict_proba(X)
        return proba

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class SkadaClassifier(WebClassifierMixin, BaseEstimator):
    """A skada domain-adaptation pipeline around an RBF SVC: labelled sources, unlabelled target.

    ``fit(X, y, *, sources=None, X_target=None)`` as webly's multi-source estimators: each source
    becomes its own skada domain (1, 2, ...), the target rows domain -1 with no labels. Without
    ``X_target`` there is nothing to adapt to: the SVC is fitted on the rows as they are (no
    weights, no alignment), without skada.

    Parameters
    ----------
    method : {"kmm", "coral"}, default="kmm"
        ``kmm``: skada's ``KMMReweight`` (kernel mean matching weights of the source rows, then
        a weighted SVC; Huang et al. 2007). ``coral``: skada's ``CORAL`` (second-order alignment
        of the features; Sun et al. 2016).
    C : float, default=1.0
        SVC penalty; the SVC bandwidth is scikit-learn's ``gamma="scale"``.

    Attributes
    ----------
    classes_ : (C,) array
        The labels seen in fit.
    model_ : skada pipeline or sklearn.svm.SVC
        The fitted skada ``KMMReweight`` / ``CORAL`` pipeline, or the plain SVC when fit had no
        ``X_target``.
    n_features_in_ : int
        Number of features of ``X``.

    References
    ----------
    J. Huang, A. Smola, A. Gretton, K. Borgwardt, B. Schölkopf. Correcting sample selection bias
    by unlabeled data. NIPS 2007 (KMM). B. Sun, J. Feng, K. Saenko. Return of frustratingly easy
    domain adaptation. AAAI 2016 (CORAL).

    Examples
    --------
    Needs the ``peers`` extra (skada). Web rows from three corrupted sources, adapted to the
    clean test rows:

    >>> from webly import make_web_digits
    >>> from webly.peers import SkadaClassifier
    >>> ds = make_web_digits(n_bags_per_class=4, bag_size=8, random_state=0)
    >>> clf = SkadaClassifier(method="coral").fit(ds.X, ds.y, sources=ds.source,
    ...                                           X_target=ds.X_test)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.8
    True
    """

    _parameter_constraints = {
        "method": [StrOptions({"kmm", "coral"})],
        "C": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, method: str = "kmm", C: float = 1.0) -> None:
        self.method = method
        self.C = C

    def fit(self, X: ArrayLike, y: ArrayLike, *, sources: ArrayLike | None = None,
            X_target: ArrayLike | None = None) -> Self:
        self._validate_params()
        X, y = validate_data(self, X, y)
        self.classes_, codes = _encode_classes(y)
        src = np.zeros(len(y), dtype=int) if sources is None else np.asarray(sources)
        if len(src) != len(y):
            raise DataError("sources", f"has {len(src)} entries but X has {len(y)} rows; "
                                       "give one source name per row")
        _, dom = np.unique(src, return_inverse=True)
        svc = SVC(C=self.C, kernel="rbf", gamma="scale")
        if X_target is None:  # no target: nothing to adapt to (and skada is not needed)
            self.model_ = svc.fit(X, codes)
            return self
        skada = _require("skada")
        Xt = np.asarray(X_target, dtype=float)
        if Xt.ndim != 2 or Xt.shape[1] != X.shape[1]:
            raise DataError("X_target", f"needs {X.shape[1]} features per row like X")
        with _skada_routing():
            if self.method == "kmm":
                self.model_ = skada.KMMReweight(svc.set_fit_request(sample_weight=True))
            else:
                self.model_ = skada.CORAL(svc)
            self.model_.fit(np.vstack([X, Xt]), np.r_[codes, -np.ones(len(Xt), dtype=int)],
                            sample_domain=np.r_[dom + 1, -np.ones(len(Xt), dtype=int)])
        return self

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        if isinstance(self.model_, SVC):  # fitted without a target
            return self.classes_[self.model_.predict(X)]
        with _skada_routing():
            pred = self.model_.predict(X, sample_domain=-np.ones(len(X), dtype=int))
        return self.classes_[np.asarray(pred, dtype=int)]

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """One-hot of the predictions: the scores for AP/MAP.

        Not the SVC's decision values: when KMM gives a whole class zero weight, scikit-learn's
        SVC keeps the class in ``classes_`` but fits no classifier for it, and its multi-class
        ``decision_function`` fails (measured on the digit domains). So MAP of this peer is the
        MAP of hard predictions, a lower bound of what scores would give.
        """
        pred = self.predict(X)
        return (pred[:, None] == self.classes_[None, :]).astype(float)
