"""Semantic VAE for noisy web labels, with zero-shot scoring and low-rank domain adaptation.

A variational auto-encoder on frozen CNN features whose latent code ``z`` (dimension ``a``) is
also the input of a classifier that scores each class by its semantic vector:
``logit_c = z' s_c`` (bilinear compatibility with the class vectors ``S``). Each web row is
weighted by how well the VAE reconstructs it,

    ``w_i = exp(tau * (log p(x_i | z_i) - max_batch log p(x | z)))``  in (0, 1],

and the objective of a batch (averaged over its rows) is

    ``sum_i w_i CE(y_i, softmax(z_i' S)) + beta * sum_i [-log p(x_i | z_i) (+ KL_i)]``

with ``p(x | z)`` an isotropic Gaussian with unit variance on the scaled features (by default
centred and divided by one common scale, see ``feature_scaling``). ``objective="elbo"``
keeps the KL term of the paper's ELBO; ``objective="authors"`` drops it, as in the authors'
released code (see :class:`SemanticVAE` for which is the default and why).

Estimators in the skorch manner: ``__init__`` stores arguments; ``fit`` validates, builds
``module_`` (``initialize_module``) and ``optimizer_`` (``initialize_optimizer``: ``optimizer``,
``lr``, ``weight_decay``), then calls ``run_epoch`` until a callback stops it (``get_callbacks``:
early stopping on a held-out split of the web rows, a progress bar), keeping a per-epoch
``history_``. The loss is one function (``_vae_training.vae_loss``); the -DA variant adds its
target reconstruction through two hooks (``_target_batches``, ``_target_generative``).
Prediction changes no attribute. torch is imported by the semantic estimators only.

References
----------
.. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
   category-level supervision. CVPR 2018 (arXiv:1803.03857): the VAE + classification network
   with reconstruction-weighted web rows and the low-rank refinement of target latents.
   Often confused with the same group's CVPR 2018 "Webly supervised learning meets zero-shot
   learning: a hybrid approach for fine-grained classification" (Niu, Veeraraghavan,
   Sabharwal), which combines web data with labelled auxiliary categories.
.. [2] D. P. Kingma, M. Welling. Auto-encoding variational Bayes. ICLR 2014.
.. [3] G. Liu, Z. Lin, S. Yan, J. Sun, Y. Yu, Y. Ma. Robust recovery of subspace structures by
   low-rank representation. IEEE TPAMI 2013.
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils._param_validation import Interval

from ..errors import DataError
from ._vae_base import (_DOC_ATTRS, _DOC_COMMON, _BaseVAEClassifier, _GlobalScaler,
                        reconstruction_weights)
from ._vae_training import SemanticVAEModule
from .vectors import check_class_vectors, load_class_vectors

if TYPE_CHECKING:
    from collections.abc import Mapping
    from numpy.typing import ArrayLike
    from typing_extensions import Self

#: latent dimension of a model without class vectors (VAEWeightedClassifier's default)
_LATENT_DIM_WITHOUT_SEMANTICS = 128


class SemanticVAE(_BaseVAEClassifier):
    __doc__ = """VAE + classifier with category-level semantics for noisy web labels (CVPR 2018).

    The latent code ``z`` of a VAE on the image features is scored against the class vectors:
    ``logit_c = z' s_c``. Web rows are weighted by their reconstruction likelihood, so outlier
    images count less; classes that have a vector but no training row are scored too
    (zero-shot).

    Parameters
    ----------
    class_vectors : array (C, a), dict label -> vector, str or None, default=None
        Used when ``fit`` gets no ``class_vectors``. A str names a set shipped in
        ``datasets/class_vectors`` (see :func:`webly.semantic.load_class_vectors`); its
        class names are used as labels when ``y`` holds strings. None here and in ``fit``: no
        semantics, the class vectors are one-hot (``S = I``) and ``logits = z W`` with ``W``
        (latent_dim, C) learned, i.e. a learned embedding per class in the latent space (the
        VAE weighting of :class:`VAEWeightedClassifier`, head without bias; no zero-shot
        classes).
    class_names : array (C,) or None, default=None
        Labels of the rows of an array ``class_vectors`` (used with the constructor's vectors).
    latent_dim : int or None, default=None
        None: the dimension ``a`` of the class vectors, with ``logits = z' S``; without class
        vectors, 128 (the default of :class:`VAEWeightedClassifier`). Another value adds a
        learned projection ``logits = (z W) S'``.
    normalize_class_vectors : bool, default=True
        L2-normalise each class vector before use.""" + _DOC_COMMON + """
    Attributes
    ----------
    class_vectors_ : (C, a) array
        The class vectors used, row c for ``classes_[c]``.
    zero_shot_classes_ : array
        Labels in ``classes_`` that had no training row.""" + _DOC_ATTRS + """
    See Also
    --------
    SemanticVAEDA : the same model adapted to unlabelled target rows.
    VAEWeightedClassifier : the same weights without semantics (softmax head on z).

    References
    ----------
    .. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
       category-level supervision. CVPR 2018.

    Examples
    --------
    A class with a vector but no training row (``yak``) is scored too (zero-shot):

    >>> import numpy as np
    >>> from webly import SemanticVAE
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.randn(40, 5) + 3 * c for c in range(3)])
    >>> y = np.repeat(["cat", "dog", "owl"], 40)
    >>> S = {"cat": [1.0, 0, 0, 0], "dog": [0, 1.0, 0, 0], "owl": [0, 0, 1.0, 0],
    ...      "yak": [0, 0, 0, 1.0]}
    >>> clf = SemanticVAE(hidden_size=32, max_epochs=30, random_state=0).fit(X, y, class_vectors=S)
    >>> clf.classes_.tolist(), clf.predict_proba(X).shape
    (['cat', 'dog', 'owl', 'yak'], (120, 4))
    """

    _parameter_constraints = {
        **_BaseVAEClassifier._parameter_constraints,
        "class_vectors": ["array-like", dict, str, None],
        "class_names": ["array-like", None],
        "normalize_class_vectors": ["boolean"],
    }

    def __init__(self, class_vectors: ArrayLike | dict | str | None = None,
                 class_names: ArrayLike | None = None, *, latent_dim: int | None = None,
                 hidden_size: int = 512, objective: str = "authors", beta: float = 1.0,
                 tau: float = 0.01, optimizer: str | type = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, batch_size: int = 256, max_epochs: int = 100,
                 early_stopping: bool = True, validation_fraction: float = 0.1, patience: int = 10,
                 monitor: str = "valid_acc", n_predict_samples: int = 0,
                 normalize_class_vectors: bool = True, feature_scaling: str = "global",
                 device: str = "auto",
                 random_state: int | np.random.RandomState | None = None) -> None:
        self.class_vectors = class_vectors
        self.class_names = class_names
        self.latent_dim = latent_dim
        self.hidden_size = hidden_size
        self.objective = objective
        self.beta = beta
        self.tau = tau
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.monitor = monitor
        self.n_predict_samples = n_predict_samples
        self.normalize_class_vectors = normalize_class_vectors
        self.feature_scaling = feature_scaling
        self.device = device
        self.random_state = random_state

    def _resolve_classes(self, y, class_vectors, class_names):
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)
        y_classes = np.unique(y)
        if class_vectors is None:
            class_vectors = self.class_vectors
            if class_names is None:
                class_names = self.class_names
        if class_vectors is None:
            if class_names is not None:
                raise DataError("class_names", "names the rows of class_vectors; give "
                                               "class_vectors= too (one row per name)")
            # no semantics: one-hot vectors, so logits = z W learns one embedding per class
            self._learned_embeddings = True
            class_vectors = np.eye(len(y_classes))
        else:
            self._learned_embeddings = False
        if isinstance(class_vectors, str):
            names, vectors = load_class_vectors(class_vectors)
            class_vectors = vectors
            if class_names is None and y_classes.dtype.kind in "OUS":
                class_names = names
        classes, S = check_class_vectors(class_vectors, y_classes, class_names)
        if len(classes) < 2:
            raise DataError("y", "needs at least 2 classes to fit a classifier; got "
                                 f"{len(classes)} class")
        if self.normalize_class_vectors:
            norms = np.linalg.norm(S, axis=1, keepdims=True)
            if np.any(norms == 0):
                raise DataError("class_vectors", "has an all-zero vector; give every class a "
                                                 "non-zero vector or set normalize_class_vectors=False")
            S = S / norms
        self.class_vectors_ = S
        self.zero_shot_classes_ = np.setdiff1d(classes, y_classes)
        y_idx = np.searchsorted(classes, y)
        return classes, y_idx, S

    def _default_latent_dim(self, S):
        if self.latent_dim is not None:
            return self.latent_dim
        return _LATENT_DIM_WITHOUT_SEMANTICS if self._learned_embeddings else S.shape[1]

    def fit(self, X: ArrayLike, y: ArrayLike, *,
            class_vectors: ArrayLike | Mapping[Any, ArrayLike] | None = None,
            class_names: ArrayLike | None = None) -> Self:
        """Fit on web rows ``X`` with their (noisy) web labels ``y``.

        Parameters
        ----------
        X : (n, d) array or row-chunked Dask array
            Frozen features of the web images. A Dask array is streamed: each epoch computes
            its partitions one at a time (seeded order of partitions, then of rows); the
            scaler comes from one pass, the hold-out of early stopping is
            ``round(validation_fraction * n_i)`` seeded rows of each partition, and the
            per-row attributes (``noise_scores_`` ...) are Dask arrays.
        y : (n,) array or Dask array with X's row chunks
            Web labels.
        class_vectors : (C, a) array, dict label -> vector, str, optional
            Category-level semantics (word vectors, attributes); overrides the constructor's.
            An array's rows follow ``class_names`` if given, else ``np.unique(y)``. With none
            here or in the constructor, each class gets a learned embedding (see the
            ``class_vectors`` parameter).
        class_names : (C,) array, optional
            Label of each row of ``class_vectors``; labels without rows are zero-shot classes.

        Returns
        -------
        self
        """
        self._fit(X, y, class_vectors, class_names)
        return self


class VAEWeightedClassifier(_BaseVAEClassifier):
    __doc__ = """The reconstruction-weighted VAE classifier without semantics (baseline).

    The same encoder, decoder, weights and objective as :class:`SemanticVAE`, with a plain
    linear softmax head on ``z`` instead of the class vectors: the ablation "VAE-weighted" of the
    CVPR 2018 paper. No zero-shot classes.

    Parameters
    ----------
    latent_dim : int, default=128
        Dimension of z.""" + _DOC_COMMON + """
    Attributes
    ----------""" + _DOC_ATTRS + """
    References
    ----------
    .. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
       category-level supervision. CVPR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from webly import VAEWeightedClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.randn(40, 5) + 3 * c for c in range(3)])
    >>> y = np.repeat(["cat", "dog", "owl"], 40)
    >>> clf = VAEWeightedClassifier(latent_dim=8, hidden_size=32, lr=1e-2, max_epochs=50,
    ...                             early_stopping=False, random_state=0).fit(X, y)
    >>> float((clf.predict(X) == y).mean()) > 0.9
    True
    >>> clf.noise_scores_.shape, clf.sample_weights_.max() <= 1.0
    ((120,), np.True_)
    """

    _parameter_constraints = {
        **_BaseVAEClassifier._parameter_constraints,
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, latent_dim: int = _LATENT_DIM_WITHOUT_SEMANTICS, hidden_size: int = 512,
                 objective: str = "authors", beta: float = 1.0, tau: float = 0.01,
                 optimizer: str | type = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                 batch_size: int = 256, max_epochs: int = 100, early_stopping: bool = True,
                 validation_fraction: float = 0.1, patience: int = 10, monitor: str = "valid_acc",
                 n_predict_samples: int = 0, feature_scaling: str = "global", device: str = "auto",
                 random_state: int | np.random.RandomState | None = None) -> None:
        self.latent_dim = latent_dim
        self.hidden_size = hidden_size
        self.objective = objective
        self.beta = beta
        self.tau = tau
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.monitor = monitor
        self.n_predict_samples = n_predict_samples
        self.feature_scaling = feature_scaling
        self.device = device
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """Fit on web rows ``X`` with their (noisy) web labels ``y``; returns self. X and y may
        be row-chunked Dask arrays (streamed by partition, see ``SemanticVAE.fit``)."""
        self._fit(X, y)
        return self


from .vae_da import SemanticVAEDA  # noqa: E402  (defined on SemanticVAE, kept importable here)

__all__ = ["SemanticVAE", "SemanticVAEDA", "VAEWeightedClassifier", "SemanticVAEModule",
           "reconstruction_weights", "_GlobalScaler"]
