"""Noise-robust torch heads on frozen features: generalized cross-entropy and co-teaching.

Both are small networks (linear, or one ReLU hidden layer) on standardised features, trained
with Adam for a fixed number of epochs by the one loop of :mod:`webly.heads._training`; they
differ only in what they plug into it: GCE its loss, co-teaching two heads and the small-loss
rows each head hands its peer. No early stopping: the validation rows would carry the same
noisy labels. After ``fit`` the weights are numpy arrays, so prediction (and loading a model
file) needs no torch; torch is imported by ``fit`` only.

References
----------
.. [1] Z. Zhang, M. R. Sabuncu. Generalized cross entropy loss for training deep neural networks
   with noisy labels. NeurIPS 2018.
.. [2] B. Han, Q. Yao, X. Yu, G. Niu, M. Xu, W. Hu, I. Tsang, M. Sugiyama. Co-teaching: robust
   training of deep neural networks with extremely noisy labels. NeurIPS 2018.
"""

from __future__ import annotations

from functools import partial
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_softmax, logsumexp
from sklearn.base import BaseEstimator
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from ..base import WebClassifierMixin, check_is_fitted, encode_targets, validate_data
from ..base import warn_not_converged

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import Self

__all__ = ["CoTeachingClassifier", "GCEClassifier", "forget_rate_schedule", "mlp_forward"]


def mlp_forward(params, X):
    """Logits of a head ``[W1, b1, W2, b2, ...]``: affine layers with ReLU between them.

    Works on numpy arrays (prediction) and torch tensors (training) alike.
    """
    h = X
    for i in range(0, len(params), 2):
        if i:
            h = h * (h > 0)  # ReLU in an expression numpy and torch both evaluate
        h = h @ params[i] + params[i + 1]
    return h


def forget_rate_schedule(epoch, forget_rate, ramp_epochs):
    """Co-teaching's share of each batch left out at ``epoch`` (0-based).

    Rises linearly from 0 at epoch 0 to ``forget_rate`` at epoch ``ramp_epochs - 1`` and stays
    there (the authors' ``np.linspace`` over the first ``ramp_epochs`` epochs);
    ``ramp_epochs=0`` forgets ``forget_rate`` from the start.
    """
    if ramp_epochs == 0:
        return float(forget_rate)
    return float(forget_rate) * min(epoch / max(ramp_epochs - 1, 1), 1.0)


def _init_params(rng, sizes):
    """One head's weights, torch's default ``nn.Linear`` initialisation drawn from ``rng``."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        params += [rng.uniform(-bound, bound, (fan_in, fan_out)),
                   rng.uniform(-bound, bound, fan_out)]
    return params


_DOC_TRAINING = """
    lr : float, default=1e-3
        Adam's learning rate.
    weight_decay : float, default=1e-4
        Adam's (L2) weight decay.
    max_epochs : int, default=100
        Passes over the training rows (all of them are run: there is no early stopping).
    batch_size : int, default=128
    random_state : int, RandomState or None, default=None
        Draws the initial weights and the order of the rows; a fixed seed gives the same model
        on the CPU (on a GPU, up to the non-determinism of its kernels).
    device : str, default="auto"
        Where to train: "auto" (cuda when available), "cpu", "cuda", "cuda:1", ...
"""

_DOC_ATTRIBUTES = """
    classes_ : (C,) array
    scaler_ : StandardScaler
        The standardisation of the features, fitted on the training rows.
    coefs_, intercepts_ : list (one per head) of lists of arrays
        Each head's weights, layer by layer (float32, as trained).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss`` (mean objective per training row, summed over heads).
    n_epochs_ : int
        Epochs run: ``max_epochs``, unless the loss became non-finite (a ConvergenceWarning;
        the weights are then those of the epoch before).
"""


class _TorchHeadClassifier(WebClassifierMixin, BaseEstimator):
    """What the torch heads share: validation, scaling, the training call, numpy prediction."""

    _parameter_constraints = {
        "hidden": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str],
    }
    _n_heads = 1

    # ----------------------------------------------------------------- subclass hooks
    def _row_losses(self):
        """``(logits, y) -> (b,)`` per-row training loss (torch)."""
        raise NotImplementedError

    def _select(self, losses, epoch):
        """Rows of a batch each head is updated on (None: all)."""
        return [None] * len(losses)

    def _noise_scores(self, Z, y_idx, losses):
        """``noise_scores_`` from the scaled training rows and the heads' final losses."""
        raise NotImplementedError

    # ----------------------------------------------------------------- estimator
    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """Train on rows ``X`` with their (noisy) web labels ``y``; returns self."""
        self._validate_params()
        X, y = validate_data(self, X, y)
        self.classes_, y_idx = encode_targets(y)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        rng = check_random_state(self.random_state)
        sizes = [Z.shape[1], *([self.hidden] if self.hidden else []), len(self.classes_)]
        init = [_init_params(rng, sizes) for _ in range(self._n_heads)]

        from .._torch import resolve_device
        from ._training import train_heads  # torch loads here, not on import

        params, self.history_, losses, stopped = train_heads(
            init, Z, y_idx, forward=mlp_forward, row_losses=self._row_losses(),
            select=self._select, lr=self.lr, weight_decay=self.weight_decay,
            max_epochs=self.max_epochs, batch_size=self.batch_size, rng=rng,
            device=resolve_device(self.device))
        self.coefs_ = [head[0::2] for head in params]
        self.intercepts_ = [head[1::2] for head in params]
        self.n_epochs_ = len(self.history_)
        self.noise_scores_ = self._noise_scores(Z, y_idx, losses)
        warn_not_converged(self, [stopped])
        return self

    def _log_proba(self, X):
        check_is_fitted(self)
        Z = self.scaler_.transform(validate_data(self, X, reset=False))
        per_head = [log_softmax(mlp_forward([p for layer in zip(W, b) for p in layer], Z), axis=1)
                    for W, b in zip(self.coefs_, self.intercepts_)]
        # the mean of the heads' probabilities, in logs (finite where a probability underflows)
        return logsumexp(np.stack(per_head), axis=0) - np.log(len(per_head))

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities (n, C): the softmax of the head (the mean over heads)."""
        return np.exp(self._log_proba(X))

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log-probabilities (n, C); for two classes the log-odds of ``classes_[1]`` (n,)."""
        log_p = self._log_proba(X)
        return log_p[:, 1] - log_p[:, 0] if log_p.shape[1] == 2 else log_p


class GCEClassifier(_TorchHeadClassifier):
    __doc__ = """A linear or one-hidden-layer head trained with the generalized cross-entropy.

    The loss of a row with web label ``y`` is ``L_q = (1 - p_y^q) / q``: ``q -> 0`` is the
    cross-entropy (``q=0`` is accepted and is exactly it), ``q = 1`` the mean absolute error,
    which is robust to symmetric label noise but slow to train. In between, rows the head finds
    unlikely (``p_y`` small: often wrong labels) weigh less in the gradient, by ``p_y^q``.

    Parameters
    ----------
    q : float in [0, 1], default=0.7
        The exponent of the loss (the paper's default 0.7).
    hidden : int, default=0
        Units of the ReLU hidden layer; 0 is a linear head (multinomial logistic regression).""" + \
        _DOC_TRAINING + """
    Attributes
    ----------""" + _DOC_ATTRIBUTES + """    noise_scores_ : (n,) array in [0, 1]
        1 - the fitted head's probability of each training row's own web label (in-sample;
        higher = more likely a wrong label).

    References
    ----------
    Z. Zhang, M. R. Sabuncu. Generalized cross entropy loss for training deep neural networks
    with noisy labels. NeurIPS 2018.

    Examples
    --------
    >>> from webly import GCEClassifier, make_web_digits
    >>> ds = make_web_digits(random_state=0)
    >>> clf = GCEClassifier(random_state=0).fit(ds.X, ds.y)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.85
    True
    """

    _parameter_constraints = {
        **_TorchHeadClassifier._parameter_constraints,
        "q": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, q: float = 0.7, hidden: int = 0, lr: float = 1e-3,
                 weight_decay: float = 1e-4, max_epochs: int = 100, batch_size: int = 128,
                 random_state: int | np.random.RandomState | None = None,
                 device: str = "auto") -> None:
        self.q = q
        self.hidden = hidden
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device

    def _row_losses(self):
        from ._training import gce_loss

        return partial(gce_loss, q=float(self.q))

    def _noise_scores(self, Z, y_idx, losses):
        W, b = self.coefs_[0], self.intercepts_[0]
        log_p = log_softmax(mlp_forward([p for layer in zip(W, b) for p in layer], Z), axis=1)
        return 1.0 - np.exp(log_p[np.arange(len(y_idx)), y_idx])


class CoTeachingClassifier(_TorchHeadClassifier):
    __doc__ = """Co-teaching: two heads, each trained on the rows its peer finds clean.

    In every mini-batch each head ranks the rows by its cross-entropy and keeps the
    ``1 - forget_rate(t)`` share with the smallest loss; each head is then updated on the rows
    its *peer* kept, so that the two heads filter each other's errors instead of confirming their
    own. ``forget_rate(t)`` rises linearly from 0 to ``forget_rate`` over the first
    ``ramp_epochs`` epochs (:func:`forget_rate_schedule`): networks fit clean rows before they
    memorise wrong ones. Set ``forget_rate`` near the expected share of wrong web labels.
    Predictions average the two heads' probabilities.

    Parameters
    ----------
    forget_rate : float in [0, 1), default=0.2
        Share of each batch left out once the ramp is over.
    hidden : int, default=128
        Units of each head's ReLU hidden layer (0: linear heads, which differ only by their
        initialisation, so the peers disagree little).
    ramp_epochs : int, default=10
        Epochs over which the forget rate rises (the paper's ``T_k``); 0 starts at full rate.""" + \
        _DOC_TRAINING + """
    Attributes
    ----------""" + _DOC_ATTRIBUTES + """    noise_scores_ : (n,) array
        The mean of the two heads' cross-entropy of each training row after training (higher =
        more likely a wrong label).

    References
    ----------
    B. Han, Q. Yao, X. Yu, G. Niu, M. Xu, W. Hu, I. Tsang, M. Sugiyama. Co-teaching: robust
    training of deep neural networks with extremely noisy labels. NeurIPS 2018.

    Examples
    --------
    >>> from webly import CoTeachingClassifier, make_web_digits
    >>> ds = make_web_digits(random_state=0)
    >>> clf = CoTeachingClassifier(random_state=0).fit(ds.X, ds.y)
    >>> float((clf.predict(ds.X_test) == ds.y_test).mean()) > 0.85
    True
    """

    _parameter_constraints = {
        **_TorchHeadClassifier._parameter_constraints,
        "forget_rate": [Interval(Real, 0, 1, closed="left")],
        "ramp_epochs": [Interval(Integral, 0, None, closed="left")],
    }
    _n_heads = 2

    def __init__(self, forget_rate: float = 0.2, hidden: int = 128, ramp_epochs: int = 10,
                 lr: float = 1e-3, weight_decay: float = 1e-4, max_epochs: int = 100,
                 batch_size: int = 128, random_state: int | np.random.RandomState | None = None,
                 device: str = "auto") -> None:
        self.forget_rate = forget_rate
        self.hidden = hidden
        self.ramp_epochs = ramp_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device

    def _row_losses(self):
        from ._training import gce_loss

        return partial(gce_loss, q=0.0)  # cross-entropy

    def _select(self, losses, epoch):
        rate = forget_rate_schedule(epoch, self.forget_rate, self.ramp_epochs)
        keep = max(1, int((1.0 - rate) * len(losses[0])))  # the authors' int(): rounds down
        small = [loss.argsort(stable=True)[:keep] for loss in losses]
        return small[::-1]  # each head learns from the rows its peer kept

    def _noise_scores(self, Z, y_idx, losses):
        return losses.mean(axis=0)
