"""Peer methods from other packages, compared with webly's in benchmarks (the ``peers`` extra).

These wrap well-kept implementations, they do not reimplement them: ``cleanlab`` (confident
learning, Northcutt et al. JAIR 2021) for noisy labels. Importing this module never imports the
peer package; fitting without it installed raises an error that says how to install it.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .errors import ConfigError

__all__ = ["CleanLearningClassifier"]


def _require(module, extra="peers"):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ConfigError("method", f"this peer needs the '{module}' package: "
                                    f"pip install 'webly[{extra}]'") from None


class CleanLearningClassifier(ClassifierMixin, BaseEstimator):
    """cleanlab's CleanLearning around the same MLP as webly's ``MLP`` baseline.

    Confident learning estimates out-of-fold class probabilities (``cv_n_folds`` folds of the web
    rows), flags the rows whose web label is likely wrong, and refits the MLP on the rest. So it
    sees exactly what the other noisy-label methods see: web features and web labels.

    Parameters
    ----------
    hidden_layer_sizes, max_iter, early_stopping, alpha :
        Passed to :class:`sklearn.neural_network.MLPClassifier` (defaults: those of the ``MLP``
        lines in the benchmark configs).
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
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "cv_n_folds": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, hidden_layer_sizes=(100,), max_iter=500, early_stopping=True,
                 alpha=1e-4, cv_n_folds=5, random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.alpha = alpha
        self.cv_n_folds = cv_n_folds
        self.random_state = random_state

    def _mlp(self):
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else None
        return MLPClassifier(hidden_layer_sizes=self.hidden_layer_sizes, max_iter=self.max_iter,
                             early_stopping=self.early_stopping, alpha=self.alpha,
                             random_state=seed)

    def fit(self, X, y):
        self._validate_params()
        _require("cleanlab")
        from cleanlab.classification import CleanLearning

        X, y = validate_data(self, X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else None
        counts = np.bincount(codes)
        folds = int(min(self.cv_n_folds, counts.min())) if len(counts) > 1 else 0
        if folds < 2:  # too few rows of some class for out-of-fold estimates: plain MLP
            self.model_ = self._mlp().fit(X, codes)
            self.label_issues_ = np.zeros(len(y), dtype=bool)
            self.noise_scores_ = np.zeros(len(y))
            return self
        # n_jobs=1: cleanlab's own process pool shares data through fork-time globals, which
        # breaks inside joblib/loky workers (NameError in cleanlab.filter); runs parallelise above
        cl = CleanLearning(clf=self._mlp(), seed=seed, cv_n_folds=folds, verbose=False,
                           find_label_issues_kwargs={"n_jobs": 1})
        cl.fit(X, codes)
        issues = cl.get_label_issues()
        self.label_issues_ = issues["is_label_issue"].to_numpy(dtype=bool)
        self.noise_scores_ = 1.0 - issues["label_quality"].to_numpy(dtype=float)
        self.model_ = cl.clf
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, self.model_.classes_] = self.model_.predict_proba(X)
        return proba

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
