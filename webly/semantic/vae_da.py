"""Semantic VAE adapted to unlabelled target rows: target reconstruction in training, low-rank
refinement of the target latents at prediction (CVPR 2018; see :mod:`webly.semantic.vae`)."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from ..base import warn_not_converged
from ._vae_base import _binary_or_multi, _logsumexp
from .lrr import lrr
from .vae import SemanticVAE

if TYPE_CHECKING:
    from collections.abc import Mapping
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self


class SemanticVAEDA(SemanticVAE):
    __doc__ = """Semantic VAE adapted to unlabelled target rows by low-rank representation.

    A separate class, not a flag of :class:`SemanticVAE`, because prediction changes meaning: the
    VAE is trained on the web rows *and* reconstructs the unlabelled target rows ``X_target``
    (no classification loss on them); at prediction the latent means ``Z_t`` of the rows given
    are represented over the training latents ``Z_s`` by low-rank representation,

        ``min ||Z||_* + lrr_lambda ||E||_{2,1}  s.t.  Z_t = Z_s Z + E``

    (inexact ALM, mu0 1e-6, rho 1.1, mu_max 1e10; :func:`webly.semantic.lrr.lrr`), and the refined
    target latents ``Z_s Z`` are classified with the semantic head. The LRR couples the rows
    predicted together (transductive): predict the whole target set in one call, as in the paper.
    The training latents used as dictionary are the latent means of all web rows given to fit;
    prediction always uses latent means (``n_predict_samples`` is ignored).

    Parameters
    ----------
    lrr_lambda : float, default=1.0
        Weight of the column-sparse error, relative: the LRR runs on latents divided by the
        largest singular value of ``Z_s``, so the value does not depend on the latent scale.
        Smaller values move more of each target latent into ``E`` (and lower the rank of ``Z``);
        large values (>~ 3 on digits) give ``E = 0`` and ``Z_s Z = Z_t``, i.e. no refinement.
        Measured on sklearn digits (40% label noise, blurred test images as target): raw target
        latents 0.839 / 0.889 accuracy (16-d random / 384-d MiniLM vectors), LRR with
        lambda 1.0: 0.841 / 0.878 (rank 13 / 19), 0.3: 0.794 / 0.587, <= 0.1: collapse.
    lrr_max_iter : int, default=1000
    use_lrr : bool, default=True
        False classifies the raw target latents (the ablation "VAE trained with target
        reconstruction, no LRR").
    class_vectors, class_names, latent_dim, normalize_class_vectors
        As :class:`SemanticVAE`.
    hidden_size, objective, beta, tau, optimizer, lr, weight_decay, batch_size, max_epochs
        As :class:`SemanticVAE`.
    early_stopping, validation_fraction, patience, monitor, n_predict_samples
        As :class:`SemanticVAE` (``n_predict_samples`` is ignored, see above).
    feature_scaling, device, random_state
        As :class:`SemanticVAE`.

    Attributes
    ----------
    lrr_info_ : dict or None
        Status, iterations, residual and objective of the LRR solve on ``X_target`` in fit
        (None when ``use_lrr=False`` or fit had no ``X_target``); prediction changes no
        attribute.
    target_decision_ : (m, C) array
        Class scores of the ``X_target`` rows given to fit ((m,) for two classes; no rows
        when fit had no ``X_target``).
    training_latents_ : (n, latent_dim) array
        The LRR dictionary ``Z_s`` (latent means of the web rows).
    lrr_scale_ : float
        Largest singular value of ``Z_s`` (the LRR runs on latents divided by it).
    lrr_error_norms_ : (m,) array or None
        Column norms of ``E`` of the LRR solve on ``X_target``: how much of each target row's
        latent the training latents do not explain (None as ``lrr_info_``).
    classes_, class_vectors_, zero_shot_classes_, module_, optimizer_, scaler_, history_
        As :class:`SemanticVAE`.
    n_epochs_, best_epoch_, sample_weights_, label_proba_, noise_scores_, log_lik_
        As :class:`SemanticVAE`.
    valid_mask_, latent_dim_, device_
        As :class:`SemanticVAE`.

    References
    ----------
    .. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
       category-level supervision. CVPR 2018.
    .. [2] G. Liu, Z. Lin, S. Yan, J. Sun, Y. Yu, Y. Ma. Robust recovery of subspace structures by
       low-rank representation. IEEE TPAMI 2013.

    Examples
    --------
    Three classes with class vectors, and unlabelled target rows shifted by 0.5:

    >>> import numpy as np
    >>> from webly import SemanticVAEDA
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.randn(40, 5) + 3 * c for c in range(3)])
    >>> y = np.repeat(["cat", "dog", "owl"], 40)
    >>> X_target = np.vstack([rng.randn(20, 5) + 3 * c + 0.5 for c in range(3)])
    >>> S = {"cat": [1.0, 0, 0], "dog": [0, 1.0, 0], "owl": [0, 0, 1.0]}
    >>> clf = SemanticVAEDA(hidden_size=32, lr=1e-2, max_epochs=50, early_stopping=False,
    ...                     random_state=0).fit(X, y, X_target=X_target, class_vectors=S)
    >>> clf.target_decision_.shape, clf.lrr_info_["status"]
    ((60, 3), 'converged')
    >>> float((clf.predict(X_target) == np.repeat(["cat", "dog", "owl"], 20)).mean()) > 0.9
    True
    """

    _expected_failed_checks = {
        **SemanticVAE._expected_failed_checks,
        "check_methods_subset_invariance":
            "transductive: the LRR refines the latents of the rows predicted together, so a "
            "row's prediction depends on the other rows of the call (as in the paper)",
    }

    _parameter_constraints = {
        **SemanticVAE._parameter_constraints,
        "lrr_lambda": [Interval(Real, 0, None, closed="neither")],
        "lrr_max_iter": [Interval(Integral, 1, None, closed="left")],
        "use_lrr": ["boolean"],
    }

    def __init__(self, class_vectors: ArrayLike | dict | str | None = None,
                 class_names: ArrayLike | None = None, *, latent_dim: int | None = None,
                 hidden_size: int = 512, objective: str = "authors", beta: float = 1.0,
                 tau: float = 0.01, optimizer: str | type = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, batch_size: int = 256, max_epochs: int = 100,
                 early_stopping: bool = True, validation_fraction: float = 0.1, patience: int = 10,
                 monitor: str = "valid_acc", n_predict_samples: int = 0,
                 normalize_class_vectors: bool = True, lrr_lambda: float = 1.0,
                 lrr_max_iter: int = 1000, use_lrr: bool = True, feature_scaling: str = "global",
                 device: str = "auto",
                 random_state: int | np.random.RandomState | None = None) -> None:
        super().__init__(class_vectors, class_names, latent_dim=latent_dim,
                         hidden_size=hidden_size, objective=objective, beta=beta, tau=tau,
                         optimizer=optimizer, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         patience=patience, monitor=monitor, n_predict_samples=n_predict_samples,
                         normalize_class_vectors=normalize_class_vectors,
                         feature_scaling=feature_scaling, device=device,
                         random_state=random_state)
        self.lrr_lambda = lrr_lambda
        self.lrr_max_iter = lrr_max_iter
        self.use_lrr = use_lrr

    def fit(self, X: ArrayLike, y: ArrayLike, *, X_target: ArrayLike | None = None,
            class_vectors: ArrayLike | Mapping[Any, ArrayLike] | None = None,
            class_names: ArrayLike | None = None) -> Self:
        """Fit on web rows and unlabelled target rows.

        Parameters
        ----------
        X, y, class_vectors, class_names
            As :meth:`SemanticVAE.fit`.
        X_target : (m, d) array, optional
            Unlabelled target rows (e.g. the test images), reconstructed during training.
            None adapts to nothing: the VAE trains as :class:`SemanticVAE` (same seed, same
            model), ``target_decision_`` has no rows and ``lrr_info_`` is None; prediction
            still refines the latents of the rows given by LRR over the training latents.

        Returns
        -------
        self
        """
        Xs, Xs_target = self._fit(X, y, class_vectors, class_names, X_target=X_target)
        Zs = self._latent(Xs)
        # the dictionary enters the LRR only through its column space: keep U diag(s) (a x r);
        # Z_s Z = B Z_r with Z_r the LRR solution over B (Theorem 3.1 of Liu et al.)
        # latents are divided by the largest singular value of Z_s so that lrr_lambda is
        # scale-free (the LRR objective is not invariant to scaling the data)
        U, s, _ = np.linalg.svd(Zs.T, full_matrices=False)
        r = int(np.sum(s > s[0] * max(Zs.shape) * np.finfo(float).eps))
        self.training_latents_ = Zs
        self.lrr_scale_ = float(s[0])
        self._dictionary = U[:, :r] * (s[:r] / s[0])
        if Xs_target is None:  # no target: nothing adapted, nothing to refine in fit
            self.lrr_info_ = self.lrr_error_norms_ = None
            n_classes = len(self.classes_)
            self.target_decision_ = np.empty((0,) if n_classes == 2 else (0, n_classes))
            return self
        Z, self.lrr_info_, self.lrr_error_norms_ = self._refine(self._latent(Xs_target))
        logits = self._logits_from_latent(Z)
        self.target_decision_ = _binary_or_multi(logits - _logsumexp(logits))
        return self

    _accepts_dask = False  # the LRR dictionary needs the latents of all web rows

    def _target_batches(self, n_steps, perm_gen):
        # every step reconstructs its share of the target rows, in a new order each epoch
        X_tg = self._X_target_fit
        if X_tg is None:
            return None
        t_order = torch.randperm(X_tg.shape[0], generator=perm_gen).to(self.device_)
        t_bs = math.ceil(X_tg.shape[0] / n_steps)
        return lambda step: X_tg[t_order[step * t_bs:(step + 1) * t_bs]]

    def _refine(self, Zt):
        """``(refined latents, LRR info, error column norms)``; changes nothing on self."""
        if not self.use_lrr:
            return Zt, None, None
        Zr, E, info = lrr(Zt.T / self.lrr_scale_, self._dictionary, lam=self.lrr_lambda,
                          max_iter=self.lrr_max_iter, reduce=False)
        if info["status"] != "converged":
            warn_not_converged(self, [f"LRR stopped after {info['n_iter']} iterations (residual "
                                      f"{info['residual']:.2e}); raise lrr_max_iter"])
        return ((self._dictionary @ Zr).T * self.lrr_scale_, info,
                np.linalg.norm(E, axis=0) * self.lrr_scale_)

    def _log_proba(self, X):
        Xs = self._check_X(X)
        logits = self._logits_from_latent(self._refine(self._latent(Xs))[0])
        return logits - _logsumexp(logits)

    def encode(self, X: ArrayLike) -> NDArray[np.float64]:
        """Refined latents ``Z_s Z`` of the rows of X (LRR over the training latents)."""
        return self._refine(self._latent(self._check_X(X)))[0]


__all__ = ["SemanticVAEDA"]
