"""Shared estimator conventions: routed fit metadata and the one one-vs-rest driver.

Every webly estimator fits on flat rows plus routed per-row metadata::

    fit(X, y, *, bags=None, X_priv=None, sources=None, X_target=None)

``bags=None`` means every row is its own bag, ``X_priv=None`` no privileged features,
``sources=None`` a single source, ``X_target`` unlabelled target rows (domain adaptation only).
The semantic and zero-shot methods also take ``class_vectors`` and ``class_names`` (one row per
class). An estimator's ``fit`` names only the metadata it uses, keyword-only;
:func:`fit_kwargs_for` picks those out of a dataset's arguments, and with scikit-learn's metadata
routing enabled each estimator requests exactly those by default (:class:`WebClassifierMixin`),
so ``Pipeline`` and ``GridSearchCV`` route them without ``set_fit_request`` calls.

Multi-class problems go through :func:`one_vs_rest`, which fits one binary problem per class in
parallel with joblib; binary problems fit a single model for ``classes_[1]`` so that
``decision_function`` is (n,) as in scikit-learn.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from sklearn.utils.validation import validate_data as _sklearn_validate_data

from .errors import DataError

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: metadata a webly ``fit`` may take (keyword-only); requested by default under metadata routing
FIT_METADATA = ("bags", "X_priv", "sources", "X_target", "class_vectors", "class_names")

#: row count the feature-scale bound leaves room for: squared distances, kernel entries and their
#: sums over up to this many terms stay finite in float64
_SUM_HEADROOM = 1e12


class DataWarning(UserWarning):
    """Input webly accepts but that probably does not do what was meant.

    The message starts with the field, like :class:`~webly.errors.DataError`: ``X_priv: sMIL-PI
    was fit without privileged features ...``.
    """


_WEBLY_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_stacklevel():
    """The ``stacklevel`` that points a warning raised by the caller of this function's caller
    at the first frame outside webly: the user's ``fit`` call (or the library that made it)."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_WEBLY_DIR):
        frame, level = frame.f_back, level + 1
    return level


def warn_data(field, message):
    """Issue a :class:`DataWarning` ``"<field>: <message>"`` at the user's call."""
    warnings.warn(f"{field}: {message}", DataWarning, stacklevel=_user_stacklevel())


def warn_not_converged(estimator, notes):
    """One ``ConvergenceWarning`` for a fit whose solves did not all converge, at the user's call.

    Solvers never warn: they return a status, and the estimator gathers a note per solve that
    stopped at a limit (what stopped, and which parameter to raise) and calls this once at the
    end of ``fit``. Nothing is issued when ``notes`` is empty.
    """
    notes = list(dict.fromkeys(n for n in notes if n))  # one line per distinct note
    if not notes:
        return
    more = f"; and {len(notes) - 3} more" if len(notes) > 3 else ""
    warnings.warn(f"{type(estimator).__name__} did not converge: " + "; ".join(notes[:3]) + more,
                  ConvergenceWarning, stacklevel=_user_stacklevel())


def renamed_parameter(estimator, old, new):
    """The value of parameter ``new``, or of its former name ``old`` when the caller set it
    (``old`` defaults to ``"deprecated"``), with a FutureWarning at the caller's line.

    The old names keep working for one release: see the README's table of parameter names.
    """
    value = getattr(estimator, old)
    if isinstance(value, str) and value == "deprecated":
        return getattr(estimator, new)
    warnings.warn(f"{type(estimator).__name__}: {old} is renamed {new} (one name per meaning "
                  f"across webly); set {new}={value!r} instead, {old} goes in the next release",
                  FutureWarning, stacklevel=_user_stacklevel())
    return value


def status_note(info, fix):
    """``[note]`` for a solve whose ``info["status"]`` is not ``"converged"``, else ``[]``."""
    if info["status"] == "converged":
        return []
    kkt = info.get("kkt_violation")
    return [f"solver stopped ({info['status']} after {info.get('n_iter', '?')} iterations"
            + (f", KKT violation {kkt:.3g}" if kkt is not None else "") + f"); {fix}"]


def per_class_notes(classes, notes_per_model):
    """Prefix each model's notes with its class (one-vs-rest models, in the order of
    ``classes``); a single model (a binary problem) gets no prefix."""
    if len(notes_per_model) == 1:
        return list(notes_per_model[0])
    return [f"class {np.asarray(c).item()!r}: {n}" for c, notes in zip(classes, notes_per_model)
            for n in notes]


def max_feature_scale(n_features):
    """Largest ``|value|`` a feature matrix with ``n_features`` columns may hold.

    Below it, a row's squared norm, a squared distance between two rows (at most
    ``4 d max^2``) and sums of ``_SUM_HEADROOM`` such terms stay finite in float64, so kernels
    and the bandwidth rule cannot overflow into inf or NaN.
    """
    return float(np.sqrt(np.finfo(np.float64).max / (4.0 * max(n_features, 1) * _SUM_HEADROOM)))


def check_feature_scale(name, value):
    """Refuse a feature matrix whose magnitudes would overflow kernels (the one scale check).

    ``value`` is a 2-D float array or sparse matrix already checked to be finite. Raises a
    :class:`~webly.errors.DataError` naming ``name`` when some ``|value|`` exceeds
    :func:`max_feature_scale` of its feature count.
    """
    if value is None or np.ndim(value) != 2 or value.shape[0] == 0:
        return value
    data = value.data if sp.issparse(value) else value
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "fiu" or data.size == 0:
        return value
    top = max(float(data.max()), -float(data.min()))  # max |value|, no n x d temporary
    limit = max_feature_scale(value.shape[1])
    if top > limit:
        raise DataError(name, f"holds values up to {top:.3g}; above {limit:.3g} (for "
                              f"{value.shape[1]} features) squared distances and kernels can "
                              "overflow float64; standardise or rescale the features (e.g. "
                              "divide by their largest absolute value)")
    return value


def warn_identical_rows(name, value):
    """Warn (:class:`DataWarning`) when every row of a training matrix is the same row."""
    if value is None or np.ndim(value) != 2 or value.shape[0] < 2:
        return
    if sp.issparse(value):
        same = (value.max(axis=0) - value.min(axis=0)).count_nonzero() == 0
    else:
        same = bool(np.array_equal(value.max(axis=0), value.min(axis=0)))  # no n x d temporary
    if same:
        warn_data(name, f"all {value.shape[0]} training rows are identical, so no classifier can "
                        "tell them apart and every prediction is the same class; check the "
                        "feature extraction")


def validate_data(estimator, X="no_validation", y="no_validation", reset=True, **check_params):
    """scikit-learn's ``validate_data`` plus webly's feature-scale check of ``X``.

    Fitting (``reset=True`` with ``y``) also warns when all training rows are identical. Every
    webly estimator validates its rows through this function.
    """
    reject_feature_blocks(X)
    out = _sklearn_validate_data(estimator, X, y, reset=reset, **check_params)
    no_X = isinstance(X, str) and X == "no_validation"
    no_y = y is None or (isinstance(y, str) and y == "no_validation")
    if not no_X:
        X_checked = out if no_y else out[0]
        check_feature_scale("X", X_checked)
        if reset and not no_y:
            warn_identical_rows("X", X_checked)
    return out


def positional_metadata_deprecated(*names):
    """Decorate a ``fit(self, X, y, *, <names>...)`` whose metadata ``names`` used to be
    positional: ``fit(X, y, X_priv)`` keeps working for one release, with a FutureWarning at the
    caller's line. The signature seen by ``inspect`` (metadata routing, :func:`fit_kwargs_for`)
    stays the keyword-only one."""
    def decorate(fit):
        @functools.wraps(fit)
        def wrapper(self, X, y=None, *args, **kwargs):
            if args:
                if len(args) > len(names):
                    raise TypeError(f"{type(self).__name__}.fit takes X, y and keyword-only "
                                    f"metadata; got {2 + len(args)} positional arguments")
                given = dict(zip(names, args))
                twice = sorted(set(given) & set(kwargs))
                if twice:
                    raise TypeError(f"{type(self).__name__}.fit got multiple values for {twice}")
                warnings.warn(f"{type(self).__name__}.fit: pass "
                              + ", ".join(f"{k}=..." for k in given) + " by keyword; metadata "
                              "given by position stops working in the next release",
                              FutureWarning, stacklevel=_user_stacklevel())
                kwargs.update(given)
            return fit(self, X, y, **kwargs)
        return wrapper
    return decorate


def fit_kwargs_for(estimator, available):
    """Subset of ``available`` (a dict of routed metadata) that ``estimator.fit`` accepts."""
    params = inspect.signature(estimator.fit).parameters
    return {k: v for k, v in available.items() if k in params and v is not None}


def check_row_metadata(name, value, n):
    """Validate a 1-D per-row array (bags, sources) against the number of rows ``n``."""
    if value is None:
        return None
    value = np.asarray(value)
    if value.ndim != 1:
        raise DataError(name, f"must be 1-D with one entry per row, got shape {value.shape}")
    if value.shape[0] != n:
        raise DataError(name, f"has {value.shape[0]} entries but X has {n} rows; give one per row")
    return value


def check_bags(bags, y, n):
    """Bag ids as an int array (each row its own bag when None); all rows of a bag share a label.

    The one bag check of webly (data model and estimators alike).
    """
    if bags is None:
        return np.arange(n)
    bags = check_row_metadata("bags", bags, n)
    if bags.dtype.kind not in "iu":
        raise DataError("bags", f"must hold integer bag ids, got dtype {bags.dtype}")
    import pandas as pd

    mixed = pd.DataFrame({"b": bags, "y": y}).groupby("b")["y"].nunique()
    if (mixed > 1).any():
        bad = mixed.index[mixed > 1][:5].tolist()
        raise DataError("bags", f"bags {bad} mix several web labels; all rows of a bag come from "
                                "one query (use distinct bag ids per query)")
    return bags


def reject_feature_blocks(X, name="X"):
    """One feature array expected: a :class:`~webly.FeatureBlocks` gets an error naming the field."""
    from .blocks import FeatureBlocks

    if isinstance(X, FeatureBlocks):
        raise DataError(name, f"holds several feature types {X.feature_types}; this estimator "
                              "takes one feature array: pass one type (X.block(type), when "
                              "every row has it) or use a multi-source method (MDA-HS)")


def check_row_features(name, value, n=None, *, allow_sparse=True, keep_float32=False):
    """The one validator of a feature matrix: 2-D, numeric, with features, finite, in a scale
    kernels cannot overflow (:func:`check_feature_scale`), and ``n`` rows when given.

    Returns a float64 array, or CSR matrix when ``allow_sparse``; ``keep_float32`` keeps float32
    input as it is (the primal solvers, which work in the input precision to save memory).
    Every failure is a :class:`DataError` naming ``name``; None passes through.
    """
    if value is None:
        return None
    reject_feature_blocks(value, name)
    keep = (np.float32, np.float64) if keep_float32 else (np.float64,)
    if sp.issparse(value):
        if not allow_sparse:
            raise DataError(name, "sparse matrices are not supported here; pass a dense array")
        value = sp.csr_matrix(value)
        if value.dtype not in keep:
            value = value.astype(np.float64)
        finite = np.isfinite(value.data)
        bad_rows = np.unique(np.searchsorted(value.indptr, np.flatnonzero(~finite), "right") - 1)
    else:
        try:
            value = np.asarray(value)
            if value.dtype not in keep:
                value = value.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(name, f"must be numeric ({exc})") from None
        if value.ndim != 2:
            raise DataError(name, f"must be 2-D (rows x features), got shape {value.shape}")
        # a finite sum means finite entries (no n x d mask); only then look for the bad rows
        finite_sum = value.size == 0 or np.isfinite(value.sum(dtype=np.float64))
        bad_rows = np.array([], dtype=np.int64) if finite_sum else np.unique(
            np.nonzero(~np.isfinite(value))[0])
    if value.shape[1] == 0:
        raise DataError(name, "has no feature columns")
    if bad_rows.size:
        raise DataError(name, f"contains NaN or infinite values (rows {bad_rows[:5].tolist()}"
                              f"{'...' if len(bad_rows) > 5 else ''}); impute or drop those rows")
    check_feature_scale(name, value)
    if n is not None and value.shape[0] != n:
        raise DataError(name, f"has {value.shape[0]} rows but X has {n}; give one row per row of X")
    return value


class WebClassifierMixin(ClassifierMixin):
    """Mixin for webly classifiers: metadata routing defaults and decision-based predict.

    With scikit-learn's metadata routing enabled (``sklearn.set_config(
    enable_metadata_routing=True)``), an estimator requests for ``fit`` exactly the
    :data:`FIT_METADATA` its ``fit`` signature names, so ``Pipeline`` and ``GridSearchCV`` route
    ``bags``, ``X_priv``, ... to it without ``set_fit_request`` calls (the skada counter-example
    in STYLE.md); ``set_fit_request`` still overrides them per instance. ``sample_weight`` keeps
    scikit-learn's default (not requested: weighted fits are an explicit choice, as for scoring).
    """

    _fit_metadata = ()

    #: known deviations from scikit-learn's estimator checks, check name -> reason (empty: none).
    #: Declared on the class whose behaviour causes them, extended by subclasses; the one place
    #: the checks run, tests/test_common.py, passes it as ``expected_failed_checks`` (strict: a
    #: declared failure that passes, or a name that no check has, fails the test run).
    _expected_failed_checks: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs):
        # once per class: the metadata its (own or inherited) fit names; inspect sees through
        # positional_metadata_deprecated to the keyword-only signature
        fit = getattr(cls, "fit", None)
        params = inspect.signature(fit).parameters if callable(fit) else {}
        cls._fit_metadata = tuple(name for name in params if name in FIT_METADATA)
        super().__init_subclass__(**kwargs)

    def _get_metadata_request(self):
        # defaults set here rather than in a class-level __metadata_request__fit: those dicts
        # merge down the MRO (a parent's X_priv would be routed to a subclass whose fit lacks it,
        # the old TypeError), and their merge rules differ between scikit-learn 1.6 and 1.9
        requests = super()._get_metadata_request()
        if not hasattr(self, "_metadata_request"):  # defaults; set_*_request stores its own copy
            for name in self._fit_metadata:
                if requests.fit.requests.get(name) is None:
                    requests.fit.add_request(param=name, alias=True)
        return requests

    def predict(self, X: Any) -> NDArray[Any]:
        """Class of each row: arg-max of ``decision_function`` (sign in the binary case)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


def check_pm1(y):
    """Binary labels in {-1, +1} as a float64 vector (the solvers' convention)."""
    y = np.asarray(y).ravel()
    if not np.all(np.isin(y, (-1, 1))):
        raise DataError("y", "binary labels must be -1 or +1")
    return y.astype(np.float64)


def encode_targets(y):
    """Check classification targets; return ``(classes, y_index)``."""
    check_classification_targets(y)
    classes, y_idx = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError("y", f"needs at least 2 classes to fit a classifier; got {len(classes)} class")
    return classes, y_idx


def one_vs_rest(fit_binary, classes, y_idx, *, n_jobs=None, prefer="threads"):
    """Fit one binary problem per class; the one one-vs-rest driver of webly.

    Parameters
    ----------
    fit_binary : callable ``(k, y_pm) -> model``
        Fits class ``k`` against the rest; ``y_pm`` holds +1 for rows of class k and -1 otherwise.
    classes : array of shape (C,)
    y_idx : (n,) int array of class positions in ``classes``.
    n_jobs : int or None
        joblib workers (threads by default, so kernel matrices are shared, not copied).

    Returns
    -------
    list of models: one (for ``classes[1]``) when C == 2, else C.
    """
    ys = ovr_labels(classes, y_idx)
    if len(ys) == 1:
        return [fit_binary(1, ys[0])]
    jobs = (delayed(fit_binary)(k, y_pm) for k, y_pm in enumerate(ys))
    with parallel_blas_limit(n_jobs, prefer):
        return list(Parallel(n_jobs=n_jobs, prefer=prefer)(jobs))


def parallel_blas_limit(n_jobs, prefer="threads"):
    """One BLAS thread for the whole of a thread-parallel loop (a no-op context otherwise).

    The solvers limit BLAS to one thread per solve (``threadpoolctl``), but that limit is
    process-wide: a solve that ends restores the pools while another thread's solve still
    runs, whose products then change their rounding with the thread count. Set once around
    the loop, every solve sees one thread and the results do not depend on ``n_jobs``.
    """
    from contextlib import nullcontext

    from joblib import effective_n_jobs
    from threadpoolctl import threadpool_limits

    if prefer != "threads" or effective_n_jobs(n_jobs) == 1:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def ovr_labels(classes, y_idx):
    """The +-1 labellings of :func:`one_vs_rest`'s problems: one (``classes[1]`` against
    ``classes[0]``) for two classes, else one per class (it against the rest)."""
    if len(classes) == 2:
        return [np.where(y_idx == 1, 1, -1)]
    return [np.where(y_idx == k, 1, -1) for k in range(len(classes))]


def own_class_scores(D, y_idx):
    """Score of each row for its own label: ``D[i, y_i]`` ((n, C) scores) or +-d ((n,) binary).

    Minus this is the generic noise score of a web row: how strongly the fitted model disagrees
    with the row's web label.
    """
    D = np.asarray(D)
    if D.ndim == 1:
        return np.where(y_idx == 1, D, -D)
    return D[np.arange(len(y_idx)), y_idx]


def stack_decisions(columns):
    """(n,) for one binary model, (n, C) for C one-vs-rest models."""
    if len(columns) == 1:
        return np.asarray(columns[0], dtype=np.float64).ravel()
    return np.column_stack(columns).astype(np.float64)


__all__ = [
    "BaseEstimator", "WebClassifierMixin", "FIT_METADATA", "DataWarning", "fit_kwargs_for",
    "positional_metadata_deprecated",
    "check_row_metadata", "check_bags", "check_row_features", "check_feature_scale",
    "max_feature_scale", "warn_data", "warn_identical_rows", "encode_targets", "one_vs_rest",
    "ovr_labels", "parallel_blas_limit",
    "own_class_scores", "stack_decisions", "check_is_fitted", "validate_data",
]
