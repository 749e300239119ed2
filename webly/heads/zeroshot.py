"""Zero-shot classification by cosine similarity to class vectors (no training on labels).

With a joint image-text embedding model (CLIP and its kin), the image of a class lies close to
the text embedding of the class's name: each row is given the class whose vector is nearest in
angle. The web labels are not learnt from; they name the classes (with ``class_names``, classes
without rows too) and are what ``noise_scores_`` checks.
"""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets

from ..base import WebClassifierMixin, check_is_fitted, check_row_features, validate_data
from ..errors import DataError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from numpy.typing import ArrayLike, NDArray
    from scipy.sparse import spmatrix
    from typing_extensions import Self

__all__ = ["ZeroShotClassifier", "cosine_similarity_to"]


def cosine_similarity_to(V, S_unit):
    """Cosine similarity (n, C) of the rows of ``V`` to unit rows ``S_unit``; 0 for a zero row."""
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return (V @ S_unit.T) / np.where(norms > 0, norms, 1.0)


def own_label_margin(sim, y_idx):
    """Best similarity to another class minus the similarity to the row's own class, (n,)."""
    rows = np.arange(len(y_idx))
    others = sim.copy()
    others[rows, y_idx] = -np.inf
    return others.max(axis=1) - sim[rows, y_idx]


class ZeroShotClassifier(WebClassifierMixin, BaseEstimator):
    """Nearest class vector by cosine similarity: zero-shot classification, no training.

    Needs image features ``X`` and ``class_vectors`` from one joint embedding model (the image
    and text encoders of a CLIP-like model), so that they share one space; ``fit`` refuses
    vectors of another dimension. Bags and sources are ignored.

    Parameters
    ----------
    temperature : float, default=0.01
        Softmax temperature of ``predict_proba`` over the cosine similarities (CLIP's learnt
        logit scale is 100, i.e. 0.01). It changes no prediction.

    Attributes
    ----------
    classes_ : (C,) array
        The training labels and every other label that has a class vector.
    class_vectors_ : (C, d) array
        The class vectors, scaled to unit length, row c for ``classes_[c]``.
    noise_scores_ : (n,) array in [-2, 2]
        For each training row, the best cosine similarity to another class's vector minus that
        to its own web label's (higher = the row looks more like another class).
    noise_source_ : {"X_priv", "X"}
        What ``noise_scores_`` compared with the class vectors: the privileged (text) features
        when given with the class vectors' dimension (e.g. the caption of a web image embedded
        by the same text encoder: a noise detector from text alone), else the image features.

    References
    ----------
    A. Radford et al. Learning transferable visual models from natural language supervision.
    ICML 2021 (CLIP zero-shot prediction).

    Examples
    --------
    >>> import numpy as np
    >>> from webly import ZeroShotClassifier
    >>> S = np.eye(3)
    >>> X = np.array([[0.9, 0.1, 0.0], [0.0, 0.2, 0.7], [0.1, 0.8, 0.1]])
    >>> clf = ZeroShotClassifier().fit(X, ["a", "c", "b"], class_vectors=S)
    >>> clf.predict(X).tolist()
    ['a', 'c', 'b']
    """

    # every check that fits calls fit(X, y) without class vectors, which zero-shot cannot do
    # without: it learns nothing from the labels (there is no default in X's space)
    _expected_failed_checks = dict.fromkeys((
        "check_classifier_data_not_an_array", "check_classifiers_classes",
        "check_classifiers_train", "check_decision_proba_consistency", "check_dict_unchanged",
        "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
        "check_estimators_fit_returns_self", "check_estimators_nan_inf",
        "check_estimators_overwrite_params", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
        "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
        "check_fit_score_takes_y", "check_methods_sample_order_invariance",
        "check_methods_subset_invariance", "check_n_features_in",
        "check_n_features_in_after_fitting", "check_pipeline_consistency",
        "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
        "check_supervised_y_2d"),
        "fit needs class_vectors in the space of X (the class names through the joint model's "
        "text encoder); scikit-learn's checks fit(X, y) without them")

    _parameter_constraints = {
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, temperature: float = 0.01) -> None:
        self.temperature = temperature

    def fit(self, X: ArrayLike, y: ArrayLike, *,
            class_vectors: ArrayLike | Mapping[Any, ArrayLike] | None = None,
            class_names: ArrayLike | None = None,
            X_priv: ArrayLike | spmatrix | None = None) -> Self:
        """Take the class vectors; score the web labels of ``X`` (or ``X_priv``) against them.

        Parameters
        ----------
        X : (n, d) array
            Image features from the joint model's image encoder.
        y : (n,) array
            Web labels (not learnt from: they name the classes and are scored for noise).
        class_vectors : (C, d) array or dict label -> vector
            The class names through the joint model's text encoder. An array's rows follow
            ``class_names`` if given, else ``np.unique(y)``.
        class_names : (C,) array, optional
            Label of each row of ``class_vectors``; labels without training rows are predicted
            too.
        X_priv : (n, d) array, optional
            Text features of the web rows (same encoder as the class vectors) for the noise
            scores; ignored when its dimension differs.

        Returns
        -------
        self
        """
        from ..semantic.vectors import check_class_vectors  # numpy only: no torch, no gensim

        self._validate_params()
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        if class_vectors is None:
            raise DataError("class_vectors", "zero-shot classification scores rows against class "
                                             "vectors: pass class_vectors= (the class names "
                                             "through the text encoder of the model that "
                                             "embedded X) to fit")
        classes, S = check_class_vectors(class_vectors, np.unique(y), class_names)
        if len(classes) < 2:
            raise DataError("y", f"needs at least 2 classes to classify; got {len(classes)}")
        if S.shape[1] != X.shape[1]:
            raise DataError("class_vectors", f"have {S.shape[1]} dimensions but X has "
                                             f"{X.shape[1]} features; zero-shot needs image "
                                             "features and class vectors from one joint "
                                             "embedding model (e.g. CLIP's image and text "
                                             "encoders)")
        norms = np.linalg.norm(S, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise DataError("class_vectors", "has an all-zero vector; give every class a "
                                             "non-zero vector")
        self.classes_ = classes
        self.class_vectors_ = S / norms
        X_priv = check_row_features("X_priv", X_priv, len(y))  # sparse or dense
        use_priv = X_priv is not None and X_priv.shape[1] == S.shape[1]
        if use_priv and sp.issparse(X_priv):
            X_priv = X_priv.toarray()
        self.noise_source_ = "X_priv" if use_priv else "X"
        sim = cosine_similarity_to(X_priv if use_priv else X, self.class_vectors_)
        self.noise_scores_ = own_label_margin(sim, np.searchsorted(classes, y))
        return self

    def _similarity(self, X):
        check_is_fitted(self)
        return cosine_similarity_to(validate_data(self, X, reset=False), self.class_vectors_)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Cosine similarities (n, C); for two classes the difference ``s_1 - s_0`` (n,)."""
        sim = self._similarity(X)
        return sim[:, 1] - sim[:, 0] if sim.shape[1] == 2 else sim

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """``softmax(similarity / temperature)`` (n, C)."""
        return softmax(self._similarity(X) / self.temperature, axis=1)
