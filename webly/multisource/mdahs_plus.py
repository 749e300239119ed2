"""MDA-HS+ (text of the source rows as privileged information, Niu et al. T-NNLS 2017) and
MDA-HS+ENR (elastic-net-like source weights): :class:`~webly.multisource.mdahs.MDAHS` with the
L2-loss SVM+ term in the source block."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import warn_data
from ..errors import DataError
from ..kernels import Kernel
from ..solvers._rows import is_dask
from ._mdahs import SourceSlack
from .mdahs import MDAHS

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from scipy.sparse import spmatrix
    from typing_extensions import Self
    from ..blocks import FeatureBlocks

__all__ = ["MDAHSPlus", "MDAHSPlusENR"]


class MDAHSPlus(MDAHS):
    """MDA-HS+: MDA-HS with the source rows' text as privileged information.

    The slack of each source row is modelled by a correcting function of its text (learning
    using privileged information with the squared loss, Li et al. 2016): the source block of
    ``D`` becomes the L2-loss SVM+ closed form ``(1/C_s)(I - (I + (C_s/gamma_plus)(K~ + 1))^{-1})``
    of the text kernel ``K~`` (:func:`webly.solvers.l2svmplus.l2svmplus_privileged_term`; linear
    text kernels go through the Woodbury identity). Rows without text keep ``1/C_s``. Text is
    needed only at fit; prediction is as MDA-HS. Without ``X_priv`` this is MDA-HS.

    ``variant="webly"`` (default) fits one correcting function across the rows of every source
    with text (``K~`` over all of them); ``variant="authors"`` one per source, as the release
    does (``D`` is block-diagonal per source), with the rest of the release's design
    (:class:`MDAHS`, *Variants*).

    Parameters
    ----------
    gamma_plus : float, default=1.0
        ``lambda'``: regularisation of the text correcting function.
    kernel_priv : {"linear", "rbf"}, default="linear"
        Text kernel.
    C_source, C_target, theta, kernel, gamma, balance_ratios, weight_norm, l2_ratio
        As :class:`MDAHS`.
    max_rounds, mkl_max_iter, mkl_tol, tol, max_iter, n_jobs, solver, balance_sources
        As :class:`MDAHS`.
    source_block, variant
        As :class:`MDAHS`.
    features, n_components, random_state, memory_limit
        As :class:`MDAHS` (``solver="primal"``: the text correcting function is linear in
        ``X_priv``, or in its ``features`` map for ``kernel_priv="rbf"``; with
        ``balance_sources`` the sources with text must have one size).

    Attributes
    ----------
    kernel_priv_ : webly.kernels.Kernel
        The text kernel with its fitted bandwidth (``kernel_priv="rbf"`` only).
    classes_, sources_, feature_types_, source_weights_, source_relevance_
        As :class:`MDAHS`.
    source_weights_per_model_, source_relevance_per_model_, kernel_weights_, labellings_
        As :class:`MDAHS`.
    kernel_bias_, kernel_names_, target_labels_, n_iter_, rho_, kernels_, expansion_, norm_
        As :class:`MDAHS`.

    References
    ----------
    L. Niu, X. Xu, L. Chen, L. Duan, D. Xu. Action and event recognition in videos by learning
    from heterogeneous web sources. IEEE T-NNLS 28(6), 2017.

    W. Li, D. Dai, M. Tan, D. Xu, L. Van Gool. Fast algorithms for linear and kernel SVM+.
    CVPR 2016.

    Examples
    --------
    Two sources of labelled rows with a text feature each (training only), and an unlabelled
    target:

    >>> import numpy as np
    >>> from webly import MDAHSPlus
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2)); y = (X[:, 0] > 0).astype(int); s = np.repeat(["a", "b"], 40)
    >>> X_priv = X[:, :1] + 0.3 * rng.normal(size=(80, 1))
    >>> Xt = rng.normal(size=(40, 2))
    >>> clf = MDAHSPlus().fit(X, y, sources=s, X_target=Xt, X_priv=X_priv)
    >>> float((clf.predict(Xt) == (Xt[:, 0] > 0)).mean()) > 0.9
    True
    >>> sorted(clf.source_weights_)
    ['a', 'b']
    """

    _parameter_constraints = {
        **MDAHS._parameter_constraints,
        "gamma_plus": [Interval(Real, 0, None, closed="neither")],
        "kernel_priv": [StrOptions({"linear", "rbf"})],
    }

    def __init__(self, C_source: float = 1.0, C_target: float = 10.0, theta: float = 0.01,
                 kernel: str = "rbf", gamma: float | None = None,
                 balance_ratios: ArrayLike = (0.0, 0.5), weight_norm: str = "l21",
                 l2_ratio: float = 0.5, max_rounds: int = 5, mkl_max_iter: int = 10,
                 mkl_tol: float = 1e-3, tol: float = 1e-3, max_iter: int | None = None,
                 n_jobs: int | None = None, solver: str = "auto", balance_sources: bool = True,
                 source_block: str = "weighted", gamma_plus: float = 1.0,
                 kernel_priv: str = "linear", variant: str = "webly",
                 max_cutting_plane_iter: int | str = "deprecated",
                 max_mkl_iter: int | str = "deprecated", features: str = "nystroem",
                 n_components: int = 512, random_state: int | None = None,
                 memory_limit: float | str | None = None) -> None:
        super().__init__(C_source=C_source, C_target=C_target, theta=theta, kernel=kernel,
                         gamma=gamma, balance_ratios=balance_ratios, weight_norm=weight_norm,
                         l2_ratio=l2_ratio, max_rounds=max_rounds, mkl_max_iter=mkl_max_iter,
                         max_cutting_plane_iter=max_cutting_plane_iter,
                         max_mkl_iter=max_mkl_iter, mkl_tol=mkl_tol, tol=tol, max_iter=max_iter,
                         n_jobs=n_jobs, solver=solver, balance_sources=balance_sources,
                         source_block=source_block, variant=variant, features=features,
                         n_components=n_components, random_state=random_state,
                         memory_limit=memory_limit)
        self.gamma_plus = gamma_plus
        self.kernel_priv = kernel_priv

    _method_name = "MDA-HS+"
    _without_priv = "MDA-HS"

    def fit(self, X: ArrayLike | FeatureBlocks, y: ArrayLike, *, sources: ArrayLike | None = None,
            X_target: ArrayLike | FeatureBlocks | None = None,
            X_priv: ArrayLike | spmatrix | None = None) -> Self:
        """As :meth:`MDAHS.fit`, plus ``X_priv`` (n, d~): text features of the source rows (a
        Dask array with a Dask ``X``, one row per row of X, text on every row of the sources
        with text; then ``kernel_priv="linear"``)."""
        self._validate_params()
        return self._fit_data(self._source_data(X, y, sources, X_target, X_priv))

    def _fit_data(self, data):
        if not data.privileged:
            warn_data("X_priv", f"{self._method_name} was fit without privileged features, so "
                                f"it drops its privileged term and reduces to "
                                f"{self._without_priv}; pass X_priv (the privileged features "
                                "of each row)")
        return super()._fit_data(data)

    def _source_slack(self, data):
        n_S = sum(data.n_source(s) for s in data.source_names)
        if not data.privileged:
            return np.full(n_S, 1.0 / self.C_source)
        diag = np.zeros(n_S)
        rows, texts = [], []
        for i, s in enumerate(data.source_names):
            sl = self._slices[i]
            if s in data.privileged:
                rows.append(np.arange(sl.start, sl.stop))
                texts.append(data.privileged[s])
            else:
                diag[sl] = 1.0 / self.C_source
        if self.kernel_priv == "rbf":
            self.kernel_priv_ = Kernel("rbf").fit(np.vstack(texts))
        if self.variant == "authors":
            # one correcting function per source (the release): a block per source
            return SourceSlack(diag, [(r, self._privileged_term(T)) for r, T in zip(rows, texts)])
        return SourceSlack(diag, [(np.concatenate(rows), self._privileged_term(np.vstack(texts)))])

    def _primal_slack(self, data, scale):
        """The explicit-feature form of :meth:`_source_slack`: the text rows' correcting function
        ``u'z + c`` (``z`` the text features, or their ``features`` map for
        ``kernel_priv="rbf"``) with the weight ``C_source`` (over the balance scale, which must
        then be one number on the text rows: sources with text of one size)."""
        C_src, _, _, _ = super()._primal_slack(data, scale)
        if not data.privileged:
            return C_src, None, None, 1.0
        rows, texts = [], []
        for i, s in enumerate(data.source_names):
            if s in data.privileged:
                sl = self._slices[i]
                rows.append(np.arange(sl.start, sl.stop))
                texts.append(data.privileged[s])
        rows = np.concatenate(rows)
        if any(is_dask(t) for t in texts):  # the text rows on Dask (MDAHSPrimalProblem)
            import dask.array as da

            if self.kernel_priv != "linear":
                raise DataError("kernel_priv", "on Dask arrays the text correcting function is "
                                               "linear: use kernel_priv='linear'")
            Z = da.concatenate([t.astype(np.float64) for t in texts]).rechunk({1: -1})
        else:
            Z = (sp.vstack(texts, format="csr") if any(sp.issparse(t) for t in texts)
                 else np.vstack(texts).astype(np.float64))
        if self.kernel_priv == "rbf":
            from ..solvers.primal import FeatureMap

            self.kernel_priv_ = Kernel("rbf").fit(Z)
            Z = FeatureMap(self.features, gamma=self.kernel_priv_.gamma_,
                           n_components=self.n_components,
                           random_state=self.random_state).fit_transform(Z)
        sigma = 1.0 if scale is None else scale[rows]
        if np.ndim(sigma) and not np.allclose(sigma, sigma[0], rtol=1e-12):
            raise DataError("solver", "solver='primal' with X_priv and balance_sources=True "
                                      "needs the sources with text to have one size (one weight "
                                      "for their correcting function); use balance_sources="
                                      "False or a kernel solver")
        sigma = float(sigma if np.ndim(sigma) == 0 else sigma[0])
        # sigma D(C_s, lambda') = D(C_s / sigma, lambda' / sigma): the balanced block
        priv = np.zeros(len(C_src), dtype=bool)
        priv[rows] = True
        return C_src, Z, priv, self.gamma_plus / sigma

    def _privileged_term(self, T):
        """The L2-loss SVM+ term of one correcting function over the text rows T: for a linear
        text kernel its two thin factors (the term is added to the QP by row blocks, never held
        whole), else a dense array."""
        from ..solvers.l2svmplus import l2svmplus_privileged_factors, l2svmplus_privileged_term

        if self.kernel_priv == "linear":
            factors = l2svmplus_privileged_factors(len(T), self.C_source, self.gamma_plus, T)
            if factors is not None:
                return factors
            return l2svmplus_privileged_term(len(T), self.C_source, self.gamma_plus, F_priv=T)
        K_priv = self.kernel_priv_(T)   # factorised and inverted in place where it is ours
        return l2svmplus_privileged_term(len(T), self.C_source, self.gamma_plus, K_priv=K_priv,
                                         overwrite_K_priv=not np.shares_memory(K_priv, T))


class MDAHSPlusENR(MDAHSPlus):
    """MDA-HS+ENR: MDA-HS+ with elastic-net-like kernel weights (``weight_norm="elastic-net"``).

    The weight constraint ``(1 - l2_ratio) sum_t ||mu_{.,t}||_2 + l2_ratio ||mu||_2^2 <= 1``
    mixes the group-sparse l_{2,1} ball with a squared l2 term that keeps weight on several
    labellings and sources (Niu et al. 2017); the closed-form update is in
    :func:`webly.solvers.mkl.update_group_weights`.

    Parameters
    ----------
    weight_norm : {"l21", "elastic-net"}, default="elastic-net"
        As :class:`MDAHS`; the only default that differs from :class:`MDAHSPlus`.
    l2_ratio : float in [0, 1], default=0.5
        Weight of the squared l2 term of the elastic-net-like constraint.
    gamma_plus, kernel_priv
        As :class:`MDAHSPlus`.
    C_source, C_target, theta, kernel, gamma, balance_ratios
        As :class:`MDAHS`.
    max_rounds, mkl_max_iter, mkl_tol, tol, max_iter, n_jobs, solver, balance_sources
        As :class:`MDAHS`.
    source_block, variant
        As :class:`MDAHS`.
    features, n_components, random_state, memory_limit
        As :class:`MDAHS` (``solver="primal"``: the text correcting function is linear in
        ``X_priv``, or in its ``features`` map for ``kernel_priv="rbf"``; with
        ``balance_sources`` the sources with text must have one size).

    Attributes
    ----------
    classes_, sources_, feature_types_, source_weights_, source_relevance_, kernel_priv_
        As :class:`MDAHSPlus`.
    source_weights_per_model_, source_relevance_per_model_, kernel_weights_, labellings_
        As :class:`MDAHS`.
    kernel_bias_, kernel_names_, target_labels_, n_iter_, rho_, kernels_, expansion_, norm_
        As :class:`MDAHS`.

    References
    ----------
    L. Niu, X. Xu, L. Chen, L. Duan, D. Xu. Action and event recognition in videos by learning
    from heterogeneous web sources. IEEE T-NNLS 28(6), 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from webly import MDAHSPlusENR
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2)); y = (X[:, 0] > 0).astype(int); s = np.repeat(["a", "b"], 40)
    >>> X_priv = X[:, :1] + 0.3 * rng.normal(size=(80, 1))
    >>> Xt = rng.normal(size=(40, 2))
    >>> clf = MDAHSPlusENR().fit(X, y, sources=s, X_target=Xt, X_priv=X_priv)
    >>> float((clf.predict(Xt) == (Xt[:, 0] > 0)).mean()) > 0.9
    True
    >>> round(sum(clf.source_weights_.values()), 6)
    1.0
    """

    _method_name = "MDA-HS+ENR"
    _without_priv = "MDA-HS with elastic-net source weights"

    def __init__(self, C_source: float = 1.0, C_target: float = 10.0, theta: float = 0.01,
                 kernel: str = "rbf", gamma: float | None = None,
                 balance_ratios: ArrayLike = (0.0, 0.5), weight_norm: str = "elastic-net",
                 l2_ratio: float = 0.5, max_rounds: int = 5, mkl_max_iter: int = 10,
                 mkl_tol: float = 1e-3, tol: float = 1e-3, max_iter: int | None = None,
                 n_jobs: int | None = None, solver: str = "auto", balance_sources: bool = True,
                 source_block: str = "weighted", gamma_plus: float = 1.0,
                 kernel_priv: str = "linear", variant: str = "webly",
                 max_cutting_plane_iter: int | str = "deprecated",
                 max_mkl_iter: int | str = "deprecated", features: str = "nystroem",
                 n_components: int = 512, random_state: int | None = None,
                 memory_limit: float | str | None = None) -> None:
        super().__init__(C_source=C_source, C_target=C_target, theta=theta, kernel=kernel,
                         gamma=gamma, balance_ratios=balance_ratios, weight_norm=weight_norm,
                         l2_ratio=l2_ratio, max_rounds=max_rounds, mkl_max_iter=mkl_max_iter,
                         max_cutting_plane_iter=max_cutting_plane_iter,
                         max_mkl_iter=max_mkl_iter, mkl_tol=mkl_tol, tol=tol, max_iter=max_iter,
                         n_jobs=n_jobs, solver=solver, balance_sources=balance_sources,
                         source_block=source_block, gamma_plus=gamma_plus,
                         kernel_priv=kernel_priv, variant=variant, features=features,
                         n_components=n_components, random_state=random_state,
                         memory_limit=memory_limit)
