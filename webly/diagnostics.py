"""Premise diagnostics: does the data have what a method family assumes? (evaluation only).

Every method family rests on a premise about the wrong web labels. These functions measure it on
a dataset's web rows, against their true labels ``y_true``, so a benchmark can say next to its
results whether the premise holds. Like the ``noise_auc`` metric they use ``y_true``, which no
method ever sees; they are evaluation information, never an input of a fit.

- **Text premise** of the privileged (-PI) methods: the privileged text separates wrong rows
  from right ones. Measured by :func:`text_noise_scores`: a logistic regression on ``X_priv``
  alone predicts ``y != y_true`` out of fold, and the ROC-AUC of its scores is reported. Its
  features are the text and the text crossed with the web label (one copy of ``X_priv`` per
  query), so a word can mean "wrong" for one query and "right" for another (tag ``five`` in a
  result of query ``three``). The premise is the **within-query** AUC
  (:func:`noise_auc_within`): uncentred (sparse) text crossed with the web label acts as a
  per-query intercept, so the pooled AUC also counts how noisy each query is (random sparse text
  scored 0.79-0.81 pooled, 0.50 within queries, on queries with noise 5-70%).
- **Off-manifold premise** of the semantic VAE: wrong images lie off the data manifold, so
  reconstruction down-weights them. Measured by :func:`reconstruction_errors`: a PCA with
  ``n_components`` components (default 10) fitted on the web rows of the other folds, centred,
  unscaled (the VAE scales all features by one common factor, which changes no ranking), and the
  squared reconstruction error of each held-out row. **Global** by default, as the VAE has one
  decoder for all classes; ``per_query=True`` fits one PCA per web label instead (is a wrong row
  off its own query's manifold?). Both are reported.
- **Multi-source premise**: the sources differ, in noise (:func:`source_noise_rates`, each
  source's share of wrong rows; the report gives their spread) and in how far each lies from the
  target (:func:`source_target_auc`: the out-of-fold ROC-AUC of a classifier telling a source's
  rows from the unlabelled target rows; 0.5 = like the target, 1 = apart). MDA-HS weighs sources
  to adapt to the target, so it has something to gain only where these AUCs differ; no labels
  are used, so it is measured on data without ``y_true`` too.

Out of fold means :class:`~sklearn.model_selection.StratifiedGroupKFold` over the bags (a bag is
never split; folds stratified by wrongness), with ``n_splits`` folds (fewer when there are
fewer bags or wrong rows). AUCs are pooled over all rows, as ``noise_auc`` is; ``*_within_query``
is the mean of the per-query AUCs over queries with both wrong and right rows, weighted by their
row counts: whether the scores separate wrong rows *within* a query, not only noisy queries from
clean ones.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .blocks import FeatureBlocks

__all__ = [
    "N_COMPONENTS",
    "PREMISE_VERSION",
    "noise_auc_within",
    "premise_report",
    "reconstruction_errors",
    "source_noise_rates",
    "source_target_auc",
    "text_noise_scores",
]

#: default PCA components of the off-manifold premise
N_COMPONENTS = 10
#: bumped whenever a figure's definition changes (run folders cache the reports by it)
PREMISE_VERSION = 2  # 2: source_target_auc


def _folds(is_noisy, groups, n_splits, random_state):
    """Out-of-fold (train, test) row indices by group, stratified by wrongness."""
    is_noisy = np.asarray(is_noisy, dtype=bool)
    groups = np.arange(len(is_noisy)) if groups is None else np.asarray(groups)
    n_groups = len(np.unique(groups))
    n_noisy_groups = len(np.unique(groups[is_noisy]))
    k = max(2, min(n_splits, n_groups, max(n_noisy_groups, 2)))
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    return list(cv.split(np.zeros(len(is_noisy)), is_noisy, groups=groups))


def _text_design(X_priv, y, classes):
    """[X_priv, X_priv crossed with the web label] as one sparse matrix."""
    Z = sp.csr_matrix(X_priv)
    blocks = [Z] + [sp.diags((y == c).astype(float)) @ Z for c in classes]
    return sp.hstack(blocks, format="csr")


def text_noise_scores(X_priv, y, is_noisy, groups=None, *, C=1.0, n_splits=5, random_state=0):
    """Out-of-fold probability that each row's web label is wrong, from its text alone.

    Parameters
    ----------
    X_priv : (n, t) array or sparse matrix
        Privileged text features. Dense features are standardised on each training fold;
        sparse ones (TF-IDF) are used as they are.
    y : (n,) array
        Web labels (only crossed with the text, never a feature on their own).
    is_noisy : (n,) bool array
        ``y != y_true``: the target of the classifier.
    groups : (n,) array, optional
        Bag ids; a bag is never split between folds. None: every row its own group.
    C : float
        Inverse L2 regularisation of the logistic regression (classes balanced).
    n_splits : int
        Folds (fewer if there are fewer bags, or bags with wrong rows).
    random_state : int
        Seed of the fold assignment.

    Returns
    -------
    scores : (n,) float array
        Out-of-fold probability of a wrong label; a fold whose training rows are all right or
        all wrong scores its rows with that constant.
    """
    y, is_noisy = np.asarray(y), np.asarray(is_noisy, dtype=bool)
    X_priv = X_priv if sp.issparse(X_priv) else np.asarray(X_priv, dtype=float)
    classes = np.unique(y)
    scores = np.zeros(len(y))
    for tr, te in _folds(is_noisy, groups, n_splits, random_state):
        Xtr, Xte = X_priv[tr], X_priv[te]
        if not sp.issparse(X_priv):
            scaler = StandardScaler().fit(Xtr)
            Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
        if is_noisy[tr].all() or not is_noisy[tr].any():
            scores[te] = float(is_noisy[tr][0])
            continue
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
        clf.fit(_text_design(Xtr, y[tr], classes), is_noisy[tr])
        scores[te] = clf.predict_proba(_text_design(Xte, y[te], classes))[:, 1]
    return scores


def reconstruction_errors(X, is_noisy, groups=None, y=None, *, n_components=N_COMPONENTS,
                          per_query=False, n_splits=5, random_state=0):
    """Out-of-fold squared PCA reconstruction error of each row (higher = farther off).

    The PCA (centred, unscaled features, ``min(n_components, rows - 1, d)`` components) is fitted
    on the rows of the other folds, wrong ones included, as the VAE sees them; ``is_noisy`` only
    stratifies the folds. With ``per_query=True`` (needs ``y``) one PCA per web label is fitted
    on that label's rows of the other folds.

    Returns
    -------
    errors : (n,) float array
    """
    X, is_noisy = np.asarray(X, dtype=float), np.asarray(is_noisy, dtype=bool)
    if per_query and y is None:
        raise ValueError("per_query=True needs the web labels y")
    labels = np.zeros(len(X), dtype=int) if not per_query else np.asarray(y)
    errors = np.zeros(len(X))
    for tr, te in _folds(is_noisy, groups, n_splits, random_state):
        for c in np.unique(labels[te]):
            fit_rows, score_rows = tr[labels[tr] == c], te[labels[te] == c]
            if len(fit_rows) < 2:  # nothing to fit: the distance to the mean (or to 0)
                centre = X[fit_rows].mean(axis=0) if len(fit_rows) else 0.0
                errors[score_rows] = ((X[score_rows] - centre) ** 2).sum(axis=1)
                continue
            k = min(n_components, len(fit_rows) - 1, X.shape[1])
            pca = PCA(n_components=k, svd_solver="full").fit(X[fit_rows])
            recon = pca.inverse_transform(pca.transform(X[score_rows]))
            errors[score_rows] = ((X[score_rows] - recon) ** 2).sum(axis=1)
    return errors


def _auc(is_noisy, scores):
    is_noisy = np.asarray(is_noisy, dtype=bool)
    if is_noisy.all() or not is_noisy.any():
        return None
    return float(roc_auc_score(is_noisy, scores))


def noise_auc_within(is_noisy, scores, queries):
    """Row-weighted mean ROC-AUC over the queries holding both wrong and right rows (or None)."""
    is_noisy, scores, queries = (np.asarray(v) for v in (is_noisy, scores, queries))
    aucs, weights = [], []
    for q in np.unique(queries):
        m = queries == q
        a = _auc(is_noisy[m], scores[m])
        if a is not None:
            aucs.append(a)
            weights.append(m.sum())
    return float(np.average(aucs, weights=weights)) if aucs else None


def source_noise_rates(is_noisy, source):
    """Source -> share of its rows whose web label is wrong."""
    is_noisy, source = np.asarray(is_noisy, dtype=bool), np.asarray(source)
    return {str(s): float(is_noisy[source == s].mean()) for s in np.unique(source)}


def source_target_auc(X, source, X_target, *, C=1.0, n_splits=5, random_state=0):
    """Source -> out-of-fold ROC-AUC of a logistic regression (standardised features) telling
    that source's rows from the target rows: 0.5 = the source looks like the target."""
    X, X_target, source = np.asarray(X), np.asarray(X_target), np.asarray(source)
    out = {}
    for s in np.unique(source):
        Z = np.vstack([X[source == s], X_target])
        is_source = np.r_[np.ones((source == s).sum(), bool), np.zeros(len(X_target), bool)]
        k = int(min(n_splits, is_source.sum(), (~is_source).sum()))
        if k < 2:
            out[str(s)] = None
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
        cv = StratifiedKFold(k, shuffle=True, random_state=random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            score = cross_val_predict(model, Z, is_source, cv=cv, method="decision_function")
        out[str(s)] = float(roc_auc_score(is_source, score))
    return out


def premise_report(dataset, random_state=0, *, n_components=N_COMPONENTS, n_splits=5, C=1.0):
    """Premise figures of a :class:`~webly.dataset.WebDataset`'s web rows, as a plain dict.

    Keys (``None`` where the data lacks what a figure needs: ``y_true`` for all of them,
    ``X_priv`` for the text figures, ``source`` for the source figures; AUCs are also ``None``
    when no row, or every row, is wrong):

    - ``n_rows``, ``n_noisy``, ``noise_rate``: web rows, wrong rows and their share;
    - ``text_noise_auc``, ``text_noise_auc_within_query``: the text premise (ROC-AUC of the
      out-of-fold text classifier of wrongness, :func:`text_noise_scores`);
    - ``offmanifold_noise_auc`` (one global PCA), ``offmanifold_noise_auc_per_query`` (one PCA
      per web label), ``offmanifold_noise_auc_within_query`` (global errors, within queries):
      the off-manifold premise (:func:`reconstruction_errors`);
    - ``source_noise_rates`` (source -> share wrong), ``source_noise_spread`` (max - min);
    - ``source_target_auc`` (source -> :func:`source_target_auc`; needs ``source`` and
      ``X_test`` only, so it is given without ``y_true`` too);
    - ``n_components``, ``n_splits``, ``random_state``: the settings used.

    Pass the training rows only (``dataset.subset(train_rows)``): the figures use ``y_true``.

    Examples
    --------
    >>> from webly.synthetic import make_web_digits
    >>> rep = premise_report(make_web_digits(noise_rate=0.4, random_state=0))
    >>> rep["text_noise_auc"] > 0.8, round(rep["noise_rate"], 2)
    (True, 0.42)
    """
    ds = dataset
    out = {"n_rows": int(ds.n_rows), "n_noisy": None, "noise_rate": None,
           "text_noise_auc": None, "text_noise_auc_within_query": None,
           "offmanifold_noise_auc": None, "offmanifold_noise_auc_per_query": None,
           "offmanifold_noise_auc_within_query": None,
           "source_noise_rates": None, "source_noise_spread": None, "source_target_auc": None,
           "n_components": int(n_components), "n_splits": int(n_splits),
           "random_state": random_state}
    if (ds.source is not None and ds.X_test is not None and len(np.unique(ds.source)) > 1
            and not isinstance(ds.X, FeatureBlocks)):
        out["source_target_auc"] = source_target_auc(ds.X, ds.source, ds.X_test, C=C,
                                                     n_splits=n_splits, random_state=random_state)
    if ds.y_true is None:
        return out
    noisy = np.asarray(ds.is_noisy, dtype=bool)
    out["n_noisy"], out["noise_rate"] = int(noisy.sum()), float(noisy.mean())
    if ds.source is not None:
        rates = source_noise_rates(noisy, ds.source)
        out["source_noise_rates"] = rates
        out["source_noise_spread"] = float(max(rates.values()) - min(rates.values()))
    if noisy.all() or not noisy.any():
        return out
    kw = {"n_splits": n_splits, "random_state": random_state}
    groups = ds.bag_ids
    if ds.X_priv is not None:
        s = text_noise_scores(ds.X_priv, ds.y, noisy, groups, C=C, **kw)
        out["text_noise_auc"] = _auc(noisy, s)
        out["text_noise_auc_within_query"] = noise_auc_within(noisy, s, ds.y)
    if isinstance(ds.X, FeatureBlocks):  # several feature types: no one PCA of the rows
        return out
    e = reconstruction_errors(ds.X, noisy, groups, n_components=n_components, **kw)
    out["offmanifold_noise_auc"] = _auc(noisy, e)
    out["offmanifold_noise_auc_within_query"] = noise_auc_within(noisy, e, ds.y)
    e = reconstruction_errors(ds.X, noisy, groups, ds.y, n_components=n_components,
                              per_query=True, **kw)
    out["offmanifold_noise_auc_per_query"] = _auc(noisy, e)
    return out
