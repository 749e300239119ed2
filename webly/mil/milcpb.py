"""MIL-CPB (+ -PI, -DA): MIL over candidate instance labellings by a cutting plane and l1-MKL.

The estimators; the formulation and the algorithm on plain arrays (:func:`milcpb_binary`) are in
:mod:`webly.mil._cutting_plane`. With ``solver="primal"`` MIL-CPB, MIL-CPB-PI and MIL-CPB-PI-DA
solve the same problem on explicit features
(:func:`~webly.mil._cutting_plane.milcpb_binary_primal`): for fixed MKL weights each QP is the
dual of an SVM (L2-SVM, SVM+, L2-SVM+) on per-labelling feature blocks
(:mod:`webly.solvers.block_rows`), solved by :mod:`webly.solvers.primal` with no (n, n) kernel
(-DA: plus the correcting function on the instances' own features, matching the target rows'
mean feature row); on rows held as a row-chunked Dask array that path runs on the cluster (the
solves and the per-row passes as maps over the partitions, see :mod:`webly.mil._common`).
References: Li, Duan, Xu, Tsang, ICCV 2011; the privileged and domain-adaptation correcting
functions of Li, Niu, Xu, ECCV 2014 / Niu, Li, Xu, IJCV 2016.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import DataError
from ..solvers import KernelQP, add_domain_adaptation, privileged_block
from ..solvers.l2svmplus import l2svmplus_privileged_factors, l2svmplus_privileged_term
from ..solvers.pdas import privileged_factor
from ._common import MILClassifierBase
from ._cutting_plane import (l1_mkl_update, label_kernel, milcpb_binary, milcpb_binary_primal,
                             most_violated_labelling)
from ._toolkit import (DA_PARAMS, MIL_PARAMS, PRIMAL_PARAMS, da_keywords, min_positives,
                       positive_bag_groups, privileged_kernel, privileged_row_features)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from scipy.sparse import spmatrix
    from typing_extensions import Self


__all__ = ["MILCPBClassifier", "MILCPBPIClassifier", "MILCPBPIDAClassifier",
           "label_kernel", "most_violated_labelling", "l1_mkl_update", "milcpb_binary"]


class MILCPBClassifier(MILClassifierBase):
    """MIL-CPB: MIL by a cutting plane over instance labellings and l1-MKL of label kernels.

    Every positive bag keeps at least ``ceil(rho |B|)`` positive instances; the model is the
    instance-level SVM (bias absorbed in the kernel) of the best convex combination of such
    labellings (see :mod:`webly.mil.milcpb` for the exact problem and algorithm).

    Parameters
    ----------
    C : float, default=1.0
        Hinge weight of each positive-bag instance.
    rho : float in (0, 1], default=0.6
        Assumed minimum fraction of true positives in a positive bag.
    C_neg : float or None, default=None
        Hinge weight of each negative instance; None uses ``C``.
    init : {"all", "top"}, default="all"
        First labelling: every positive-bag instance positive, or the top ``ceil(rho |B|)`` of
        each bag by the score of an SVM fitted on the all-positive labelling.
    max_rounds : int, default=10
        Cutting-plane rounds (labellings in the working set); a run that stops with a violated
        labelling left warns (ConvergenceWarning).
    cp_tol : float, default=1e-2
        A labelling is violated when ``1/2 (q(y) - d'q)`` exceeds ``cp_tol 1'a`` (``1'a``: the
        sum of the dual variables, the reward term of the dual).
    mkl_max_iter : int, default=20
        QPs per MKL (weights) solve; the last round's MKL not converging warns.
    mkl_tol : float, default=1e-2
        The MKL stops when its duality gap ``1/2 (max_t q_t - d'q)`` is at most ``mkl_tol 1'a``.
    intercept_scaling : float, default=1.0
        ``s``: the bias is the weight of a constant feature ``s`` (``s^2`` added to the kernel).
    loss : {"hinge", "squared_hinge"}, default="squared_hinge"
        ``"hinge"``: the dual of each labelling is the hinge SVM's (box ``0 <= a <= C``, reward
        ``1'a``). ``"squared_hinge"``: the label-generating form of Li, Tsang et al. (squared
        hinge, rho-margin), whose dual is a QP over the simplex with the label-independent term
        ``diag(1/C)`` (``1/C_neg`` on negative instances); its ``C`` weighs squared slacks, so
        its scale differs from the hinge's (see :mod:`webly.mil._cutting_plane`). Default
        ``"squared_hinge"``: the label-independent ``D`` keeps the relaxation tight, while with
        the hinge the MKL mix of adversarial labellings drove the fit down round after round.
        On web-digits dev crawls (``configs/dev/milcpb_loss.yaml``: 40% noise, random_state
        100-104, never the benchmark's seeds) test accuracy / MAP: hinge (C=1) 0.723 / 0.640,
        squared hinge (C=1) 0.936 / 0.954, mi-SVM 0.917 / 0.942. With either loss, later
        cutting-plane rounds can add labellings that disagree with the truth (the squared hinge
        after 1, 2, 10 rounds: 0.941 / 0.972, 0.949 / 0.975, 0.936 / 0.954), so ``max_rounds``
        is worth choosing by inner CV.
    kernel, gamma, gamma_scale
        Visual kernel (RBF bandwidth by the 1/mean-squared-distance rule x ``gamma_scale``).
    tol : float, default=1e-3
        KKT tolerance of each SMO solve.
    max_iter : int or None
        SMO moves per solve; None uses the solver's default.
    n_jobs : int or None
        Threads over one-vs-rest classes.
    solver : {"auto", "smo", "primal"}, default="auto"
        ``auto``: ``smo`` while its peak memory (``benchmarks/kernel_memory.py``, n = 10,000:
        2.2 n x n float64 arrays over the rows with the squared hinge, 2.9 with the hinge and
        privileged features, as MIL-CPB-PI-DA; once per thread with ``n_jobs`` > 1 and
        several classes) fits in ``memory_limit``, else ``primal``, said in a WARNING log line
        (``solver_`` is the choice). ``smo``: the exact kernel duals (the (n, n) kernel and label
        kernels; up to a few 10^4 rows); above ``memory_limit`` it fails at once with the figure.
        ``primal``: the same cutting plane and MKL on explicit features: for fixed MKL weights
        ``d`` each QP is the dual of an SVM (``loss="hinge"``; SVM+ with privileged features) or
        a rho-margin L2-SVM (``"squared_hinge"``; L2-SVM+) on the per-labelling feature blocks
        ``(sqrt(d) ∘ y_i) ⊗ [z(x_i), s]``, in coordinates where each negative instance has one
        block (:mod:`webly.solvers.block_rows`), solved in the primal by
        :func:`webly.solvers.primal.svmplus_primal` / :func:`~webly.solvers.primal.l2svmplus_primal`
        warm-started across MKL iterations and rounds, in O(n d + n_+ T d) memory (n_+ the
        positive-bag instances, T the labellings). A linear kernel uses the rows themselves (then
        it is exactly the problem ``smo`` solves: the same objectives, labellings and decisions
        to the solvers' tolerances), an RBF kernel is approximated by ``features`` with
        ``n_components`` features at the same bandwidth; ``tol`` is then the largest constraint
        violation in margin units, ``max_iter`` the Newton steps of a solve (None: 1,000) and
        ``n_iter_`` counts Newton steps. Models then hold weights over the features
        (``feature_map_``). A row-chunked Dask ``X`` (and ``X_priv``) takes this path on its
        cluster (``solver="auto"``): the same fit, up to the order of floating-point sums.
    features : {"nystroem", "rbf_sampler"}, default="nystroem"
        Approximate feature map of an RBF kernel with ``solver="primal"``.
    n_components : int, default=512
        Features of that map.
    random_state : int, RandomState or None, default=None
        Seeds the feature maps (``solver="primal"``); the solvers are deterministic.
    memory_limit : float, str or None, default=None
        Memory the kernel path may take (bytes, or a size such as ``"8G"``); None: the memory
        available now (or ``WEBLY_MEMORY_LIMIT``). Used by ``solver="auto"`` / ``"smo"``.

    Attributes
    ----------
    classes_ : (C,) array
        The web labels seen in fit.
    models_ : list of BinaryMIL
        One fitted binary problem per class (one for ``classes_[1]`` with two classes):
        ``coef`` (over the training rows; over the features with ``solver="primal"``),
        ``intercept``, ``n_iter``, ``instance_labels`` (the heaviest labelling) and
        ``info`` (``info["d"]`` the MKL weights of ``info["labellings"]``, the objective of each
        round in ``info["objectives"]``).
    n_iter_ : (n_models,) int array
        SMO moves of each model (Newton steps with ``solver="primal"``).
    noise_scores_ : (n,) array
        Minus each training row's score for its own web label: higher = more likely a wrong
        image.
    solver_ : {"smo", "primal"}
        The path ``solver`` took.
    kernel_ : webly.kernels.Kernel
        The visual kernel with its fitted bandwidth (``solver="smo"``).
    X_fit_ : (n, d) array
        The training rows, for the train-test kernel at prediction (``solver="smo"``).
    feature_map_ : webly.solvers.primal.FeatureMap
        The explicit features of the rows (``solver="primal"``).
    n_features_in_ : int
        Number of features of ``X``.

    References
    ----------
    W. Li, L. Duan, D. Xu, I. W. Tsang. Text-based image retrieval using progressive
    multi-instance learning. ICCV 2011.

    Examples
    --------
    Three positive bags around (2, 2) and twelve negative singletons around (-2, -2):

    >>> import numpy as np
    >>> from webly import MILCPBClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(2, 1, (12, 2)), rng.normal(-2, 1, (12, 2))]
    >>> y = np.r_[np.ones(12, int), np.zeros(12, int)]
    >>> bags = np.r_[np.repeat([0, 1, 2], 4), 10 + np.arange(12)]
    >>> clf = MILCPBClassifier().fit(X, y, bags=bags)
    >>> clf.predict([[2.0, 2.0], [-2.0, -2.0]]).tolist()
    [1, 0]
    """

    #: benchmarks/kernel_memory.py, n = 10,000: 2.06 (K and the label kernel)
    _KERNEL_FIT_ARRAYS = 2.2

    _method_name = "MIL-CPB"

    _parameter_constraints = {
        **MIL_PARAMS,
        **PRIMAL_PARAMS,
        "rho": [Interval(Real, 0, 1, closed="right")],
        "C_neg": [Interval(Real, 0, None, closed="neither"), None],
        "init": [StrOptions({"all", "top"})],
        "max_rounds": [Interval(Integral, 1, None, closed="left")],
        "cp_tol": [Interval(Real, 0, None, closed="left")],
        "mkl_max_iter": [Interval(Integral, 1, None, closed="left")],
        "mkl_tol": [Interval(Real, 0, None, closed="left")],
        "intercept_scaling": [Interval(Real, 0, None, closed="left")],
        "loss": [StrOptions({"hinge", "squared_hinge"})],
    }

    def __init__(self, C: float = 1.0, rho: float = 0.6, C_neg: float | None = None,
                 init: str = "all", max_rounds: int = 10, cp_tol: float = 1e-2,
                 mkl_max_iter: int = 20, mkl_tol: float = 1e-2, intercept_scaling: float = 1.0,
                 kernel: str = "rbf", gamma: float | None = None, gamma_scale: float = 1.0,
                 tol: float = 1e-3, max_iter: int | None = None, n_jobs: int | None = None,
                 loss: str = "squared_hinge", solver: str = "auto", features: str = "nystroem",
                 n_components: int = 512,
                 random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None) -> None:
        self.C = C
        self.rho = rho
        self.C_neg = C_neg
        self.init = init
        self.max_rounds = max_rounds
        self.cp_tol = cp_tol
        self.mkl_max_iter = mkl_max_iter
        self.mkl_tol = mkl_tol
        self.intercept_scaling = intercept_scaling
        self.kernel = kernel
        self.gamma = gamma
        self.gamma_scale = gamma_scale
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.loss = loss
        self.solver = solver
        self.features = features
        self.n_components = n_components
        self.random_state = random_state
        self.memory_limit = memory_limit

    def fit(self, X: ArrayLike, y: ArrayLike, *, bags: ArrayLike | None = None) -> Self:
        """Fit on rows X with per-row bag labels y and bag ids ``bags``."""
        return self._fit_mil(X, y, bags)

    def _c_neg(self):
        return self.C if self.C_neg is None else self.C_neg

    def _blocks(self, ctx, in_pos):
        """``(upper, blocks, constant)`` of the label-independent part of the hinge QP."""
        return np.where(in_pos, self.C, self._c_neg()), (), 0.0

    def _penalty(self, ctx, in_pos):
        """``(diag, rows, block)``: the label-independent term ``D`` of the squared-hinge QP."""
        return np.where(in_pos, 1.0 / self.C, 1.0 / self._c_neg()), None, None

    def _fit_binary(self, ctx, y_pm):
        in_pos = y_pm == 1
        groups = positive_bag_groups(y_pm, ctx.bags)
        keep = min_positives(np.array([len(g) for g in groups]), self.rho)
        if self.loss == "squared_hinge":
            upper, blocks, constant, penalty = None, (), 0.0, self._penalty(ctx, in_pos)
        else:
            (upper, blocks, constant), penalty = self._blocks(ctx, in_pos), None
        return milcpb_binary(ctx.K, y_pm, groups, keep, upper=upper, blocks=blocks,
                             constant=constant, loss=self.loss, penalty=penalty,
                             shift=float(self.intercept_scaling) ** 2,
                             init=self.init, max_rounds=self.max_rounds, cp_tol=self.cp_tol,
                             mkl_max_iter=self.mkl_max_iter, mkl_tol=self.mkl_tol, tol=self.tol,
                             max_iter=self.max_iter, name=type(self).__name__)

    def _priv_features(self, ctx, in_pos):
        """Explicit features of the correcting function on the positive-bag instances (None
        without ``X_priv``)."""
        return None

    def _fit_binary_primal(self, ctx, y_pm):
        in_pos = y_pm == 1
        groups = positive_bag_groups(y_pm, ctx.bags)
        keep = min_positives(np.array([len(g) for g in groups]), self.rho)
        Z_priv = self._priv_features(ctx, in_pos)
        return milcpb_binary_primal(
            ctx.Z, y_pm, groups, keep, C=self.C, C_neg=self._c_neg(), Z_priv=Z_priv,
            gamma_plus=getattr(self, "gamma_plus", 1.0), loss=self.loss,
            shift=float(self.intercept_scaling) ** 2, init=self.init,
            max_rounds=self.max_rounds, cp_tol=self.cp_tol, mkl_max_iter=self.mkl_max_iter,
            mkl_tol=self.mkl_tol, tol=self.tol, max_iter=self.max_iter,
            name=type(self).__name__, **(da_keywords(self, ctx) or {}))  # -DA: X_target


class MILCPBPIClassifier(MILCPBClassifier):
    """MIL-CPB-PI: MIL-CPB whose positive-bag instances have privileged (SVM+) slacks.

    The slack of each positive-bag instance is a correcting function of its privileged features
    (weight ``c_i = C``, trade-off ``gamma_plus``); negative instances keep a hinge with weight
    ``C_neg``. Without ``X_priv`` this is :class:`MILCPBClassifier` with the same ``C``.

    Parameters
    ----------
    C : float, default=0.01
        Weight ``c_i`` of each positive-bag instance's correcting function.
    gamma_plus : float, default=10.0
        Trade-off of the correcting function.
    rho : float in (0, 1], default=0.6
    C_neg : float or None, default=None
        Hinge weight of each negative instance; None uses ``C`` (as mi-SVM-PI).
    kernel_priv : {"linear", "rbf"}, default="linear"
        Kernel on the privileged features of the positive-bag instances.
    gamma_priv : float or None
        RBF bandwidth of the privileged kernel (None: the bandwidth rule).
    loss : {"hinge", "squared_hinge"}, default="squared_hinge"
        ``"squared_hinge"``: the slack of each positive-bag instance is the L2-loss SVM+
        correcting function (Li, Dai, Tan, Xu, Van Gool, CVPR 2016) with weight ``C`` and
        trade-off ``gamma_plus``: the rows of positive bags get the closed-form term
        ``(1/C)(I - (I + (C/gamma_plus)(K~ + 1))^{-1})``
        (:func:`webly.solvers.l2svmplus_privileged_term`) in place of ``I/C``; negative
        instances keep ``1/C_neg``.
    init, max_rounds, cp_tol, mkl_max_iter, mkl_tol, intercept_scaling
        As :class:`MILCPBClassifier`.
    kernel, gamma, gamma_scale, tol, max_iter, n_jobs
        As :class:`MILCPBClassifier`.
    solver, features, n_components, random_state, memory_limit
        As :class:`MILCPBClassifier`: ``solver="primal"`` solves the same problem on explicit
        features, the correcting function on each positive-bag instance's privileged features
        (or an approximate RBF map of them with ``kernel_priv="rbf"``) as the slack of an SVM+
        (``loss="hinge"``) or L2-SVM+ (``"squared_hinge"``) primal.

    Attributes
    ----------
    classes_ : (C,) array
        The web labels seen in fit.
    models_ : list of BinaryMIL
        One fitted binary problem per class (one for ``classes_[1]`` with two classes):
        ``coef`` (over the training rows; over the features with ``solver="primal"``),
        ``intercept``, ``n_iter``, ``instance_labels`` (the heaviest labelling) and
        ``info`` (``info["d"]`` the MKL weights of ``info["labellings"]``, the objective of each
        round in ``info["objectives"]``).
    n_iter_ : (n_models,) int array
        SMO moves of each model (Newton steps with ``solver="primal"``).
    noise_scores_ : (n,) array
        Minus each training row's score for its own web label: higher = more likely a wrong
        image.
    solver_ : {"smo", "primal"}
        The path ``solver`` took.
    kernel_ : webly.kernels.Kernel
        The visual kernel with its fitted bandwidth (``solver="smo"``).
    X_fit_ : (n, d) array
        The training rows, for the train-test kernel at prediction (``solver="smo"``).
    feature_map_ : webly.solvers.primal.FeatureMap
        The explicit features of the rows (``solver="primal"``).
    n_features_in_ : int
        Number of features of ``X``.

    References
    ----------
    W. Li, L. Niu, D. Xu. Exploiting privileged information from web data for image
    categorization. ECCV 2014. W. Li, L. Duan, D. Xu, I. W. Tsang. Text-based image retrieval
    using progressive multi-instance learning. ICCV 2011.

    Examples
    --------
    Three positive bags around (2, 2), twelve negative singletons around (-2, -2), and a
    privileged feature that is high on the positive side:

    >>> import numpy as np
    >>> from webly import MILCPBPIClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(2, 1, (12, 2)), rng.normal(-2, 1, (12, 2))]
    >>> y = np.r_[np.ones(12, int), np.zeros(12, int)]
    >>> bags = np.r_[np.repeat([0, 1, 2], 4), 10 + np.arange(12)]
    >>> X_priv = X[:, :1] + rng.normal(0, 0.5, (24, 1))
    >>> clf = MILCPBPIClassifier().fit(X, y, bags=bags, X_priv=X_priv)
    >>> score = clf.decision_function([[2.0, 2.0], [-2.0, -2.0]])
    >>> bool(score[0] > score[1])
    True

    With the small default ``C`` the ranking (``decision_function``, AP) is what to read; the
    threshold 0 of ``predict`` can sit low or high (see :mod:`webly.mil._cutting_plane`).
    """

    _method_name = "MIL-CPB-PI"
    _without_priv = "MIL-CPB"

    def _kernel_fit_arrays(self, has_priv, has_target):
        # benchmarks/kernel_memory.py, n = 10,000: squared hinge 2.05 (the privileged term as
        # thin factors); hinge 2.76 (its solver holds the privileged kernel of the positive-bag
        # rows), MIL-CPB-PI-DA 2.45
        return 2.9 if has_priv and self.loss == "hinge" else 2.2

    _parameter_constraints = {
        **MILCPBClassifier._parameter_constraints,
        "gamma_plus": [Interval(Real, 0, None, closed="neither")],
        "kernel_priv": [StrOptions({"rbf", "linear"})],
        "gamma_priv": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, C: float = 0.01, gamma_plus: float = 10.0, rho: float = 0.6,
                 C_neg: float | None = None, init: str = "all", max_rounds: int = 10,
                 cp_tol: float = 1e-2, mkl_max_iter: int = 20, mkl_tol: float = 1e-2,
                 intercept_scaling: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0, kernel_priv: str = "linear",
                 gamma_priv: float | None = None, tol: float = 1e-3, max_iter: int | None = None,
                 n_jobs: int | None = None, loss: str = "squared_hinge", solver: str = "auto",
                 features: str = "nystroem", n_components: int = 512,
                 random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None) -> None:
        super().__init__(C=C, rho=rho, C_neg=C_neg, init=init, max_rounds=max_rounds,
                         cp_tol=cp_tol, mkl_max_iter=mkl_max_iter, mkl_tol=mkl_tol,
                         intercept_scaling=intercept_scaling, kernel=kernel, gamma=gamma,
                         gamma_scale=gamma_scale, tol=tol, max_iter=max_iter, n_jobs=n_jobs,
                         loss=loss, solver=solver, features=features,
                         n_components=n_components, random_state=random_state,
                         memory_limit=memory_limit)
        self.gamma_plus = gamma_plus
        self.kernel_priv = kernel_priv
        self.gamma_priv = gamma_priv

    def fit(self, X: ArrayLike, y: ArrayLike, *, bags: ArrayLike | None = None,
            X_priv: ArrayLike | spmatrix | None = None) -> Self:
        """Fit on rows X, web labels y, bag ids and the rows' privileged features."""
        return self._fit_mil(X, y, bags, X_priv=X_priv)

    def _blocks(self, ctx, in_pos):
        if ctx.X_priv is None:
            return super()._blocks(ctx, in_pos)
        P = np.flatnonzero(in_pos)
        K_priv = privileged_kernel(ctx.X_priv[P], self.kernel_priv, self.gamma_priv)
        block, constant = privileged_block(P, K_priv, np.full(P.size, float(self.C)),
                                           self.gamma_plus,
                                           factor=privileged_factor(ctx.X_priv[P],
                                                                    self.kernel_priv))
        return np.where(in_pos, np.inf, self._c_neg()), (block,), constant

    def _priv_features(self, ctx, in_pos):
        if ctx.X_priv is None:
            return None
        # in memory the positive-bag instances' rows, in order; on Dask one row per row (the
        # others unused: the solvers' priv_rows form there)
        return privileged_row_features(ctx.X_priv, in_pos, self.kernel_priv, self.gamma_priv,
                                       self.features, self.n_components, ctx.seed)

    def _penalty(self, ctx, in_pos):
        if ctx.X_priv is None:
            return super()._penalty(ctx, in_pos)
        P = np.flatnonzero(in_pos)
        if self.kernel_priv == "linear":  # Woodbury on the features: O(n d~^2); two thin
            # factors, added to each QP by row blocks (no |P| x |P| array)
            block = (l2svmplus_privileged_factors(P.size, float(self.C), float(self.gamma_plus),
                                                  ctx.X_priv[P])
                     or l2svmplus_privileged_term(P.size, float(self.C), float(self.gamma_plus),
                                                  F_priv=ctx.X_priv[P]))
        else:
            K_priv = privileged_kernel(ctx.X_priv[P], self.kernel_priv, self.gamma_priv)
            block = l2svmplus_privileged_term(P.size, float(self.C), float(self.gamma_plus),
                                              K_priv=K_priv, overwrite_K_priv=True)  # ours
        return np.where(in_pos, 0.0, 1.0 / self._c_neg()), P, block


class MILCPBPIDAClassifier(MILCPBPIClassifier):
    """MIL-CPB-PI-DA: MIL-CPB-PI plus the visual correcting function matching ``X_target``.

    Without ``X_target`` this is MIL-CPB-PI (with the hinge loss).

    Parameters
    ----------
    C2, gamma2, eps, B
        As :class:`~webly.mil.smil.SMILPIDAClassifier` (importance weights
        ``b = (a + z2) / C2`` of the training instances, see
        :func:`webly.solvers.add_domain_adaptation`).
    loss : {"hinge"}, default="hinge"
        Hinge only: the -DA correcting function comes with KMM's inequality constraints on the
        dual variables, which the simplex QP of the squared hinge has no place for;
        ``loss="squared_hinge"`` raises :class:`~webly.errors.DataError` at ``fit``.
    C, gamma_plus, rho, C_neg, kernel_priv, gamma_priv
        As :class:`MILCPBPIClassifier`.
    init, max_rounds, cp_tol, mkl_max_iter, mkl_tol, intercept_scaling
        As :class:`MILCPBClassifier`.
    kernel, gamma, gamma_scale, tol, max_iter, n_jobs
        As :class:`MILCPBClassifier`.
    solver, features, n_components, random_state, memory_limit
        As :class:`MILCPBPIClassifier`. ``solver="primal"`` (and ``"auto"`` above
        ``memory_limit``) with ``X_target`` solves the same problem as the kernel path on
        explicit features: each SVM+ primal of the label blocks gets the -DA correcting function
        ``v_i = u2'z(x_i) + c2`` on the instances' own features ``z`` (the kernel path's block
        on the visual kernel, not on the label kernel), its target term from the mean feature
        row of ``X_target`` (mapped block by block, as sMIL-PI-DA's;
        :func:`webly.solvers.primal.svmplus_primal` with ``target_mean`` and ``F_target``). With
        a linear kernel the objectives, labellings and decisions are the kernel path's to the
        solvers' tolerances. A row-chunked Dask ``X`` (and ``X_target``, numpy or Dask) takes
        this path on its cluster, the target mean as one map-reduce (the same fit up to the
        order of floating-point sums). Without ``X_target`` it is MIL-CPB-PI's primal path
        (hinge loss).

    Attributes
    ----------
    classes_ : (C,) array
        The web labels seen in fit.
    models_ : list of BinaryMIL
        One fitted binary problem per class (one for ``classes_[1]`` with two classes):
        ``coef`` (over the training rows; over the features with ``solver="primal"``),
        ``intercept``, ``n_iter``, ``instance_labels`` (the heaviest labelling) and
        ``info`` (``info["d"]`` the MKL weights of ``info["labellings"]``, the objective of each
        round in ``info["objectives"]``).
    n_iter_ : (n_models,) int array
        SMO moves of each model (Newton steps with ``solver="primal"``).
    noise_scores_ : (n,) array
        Minus each training row's score for its own web label: higher = more likely a wrong
        image.
    solver_ : {"smo", "primal"}
        The path ``solver`` took.
    kernel_ : webly.kernels.Kernel
        The visual kernel with its fitted bandwidth (``solver="smo"``).
    X_fit_ : (n, d) array
        The training rows, for the train-test kernel at prediction (``solver="smo"``).
    feature_map_ : webly.solvers.primal.FeatureMap
        The explicit features of the rows (``solver="primal"``).
    n_features_in_ : int
        Number of features of ``X``.

    References
    ----------
    L. Niu, W. Li, D. Xu. Exploiting privileged information from web data for action and event
    recognition. IJCV 2016.

    Examples
    --------
    As :class:`MILCPBPIClassifier`'s example, with unlabelled target rows shifted by (0.5, 0.5):

    >>> import numpy as np
    >>> from webly import MILCPBPIDAClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(2, 1, (12, 2)), rng.normal(-2, 1, (12, 2))]
    >>> y = np.r_[np.ones(12, int), np.zeros(12, int)]
    >>> bags = np.r_[np.repeat([0, 1, 2], 4), 10 + np.arange(12)]
    >>> X_priv = X[:, :1] + rng.normal(0, 0.5, (24, 1))
    >>> X_target = np.r_[rng.normal(2.5, 1, (6, 2)), rng.normal(-1.5, 1, (6, 2))]
    >>> clf = MILCPBPIDAClassifier().fit(X, y, bags=bags, X_priv=X_priv, X_target=X_target)
    >>> score = clf.decision_function([[2.5, 2.5], [-1.5, -1.5]])
    >>> bool(score[0] > score[1])
    True
    """

    _method_name = "MIL-CPB-PI-DA"
    _without_priv = "MIL-CPB with the target-matching term"

    _parameter_constraints = {
        **MILCPBPIClassifier._parameter_constraints,
        **DA_PARAMS,
    }

    def __init__(self, C: float = 0.01, gamma_plus: float = 10.0, rho: float = 0.6,
                 C_neg: float | None = None, init: str = "all", max_rounds: int = 10,
                 cp_tol: float = 1e-2, mkl_max_iter: int = 20, mkl_tol: float = 1e-2,
                 intercept_scaling: float = 1.0, kernel: str = "rbf", gamma: float | None = None,
                 gamma_scale: float = 1.0, kernel_priv: str = "linear",
                 gamma_priv: float | None = None, C2: float = 1000.0, gamma2: float = 1000.0,
                 eps: float = 0.0, B: float | None = None, tol: float = 1e-3,
                 max_iter: int | None = None, n_jobs: int | None = None,
                 loss: str = "hinge", solver: str = "auto", features: str = "nystroem",
                 n_components: int = 512,
                 random_state: int | np.random.RandomState | None = None,
                 memory_limit: float | str | None = None) -> None:
        super().__init__(C=C, gamma_plus=gamma_plus, rho=rho, C_neg=C_neg, init=init,
                         max_rounds=max_rounds, cp_tol=cp_tol, mkl_max_iter=mkl_max_iter,
                         mkl_tol=mkl_tol, intercept_scaling=intercept_scaling, kernel=kernel,
                         gamma=gamma, gamma_scale=gamma_scale, kernel_priv=kernel_priv,
                         gamma_priv=gamma_priv, tol=tol, max_iter=max_iter, n_jobs=n_jobs,
                         loss=loss, solver=solver, features=features,
                         n_components=n_components, random_state=random_state,
                         memory_limit=memory_limit)
        self.C2 = C2
        self.gamma2 = gamma2
        self.eps = eps
        self.B = B

    def fit(self, X: ArrayLike, y: ArrayLike, *, bags: ArrayLike | None = None,
            X_priv: ArrayLike | spmatrix | None = None, X_target: ArrayLike | None = None) -> Self:
        """Fit as MIL-CPB-PI, matching the training rows to the unlabelled ``X_target`` rows."""
        self._validate_params()
        if self.loss != "hinge":
            raise DataError("loss", f"MIL-CPB-PI-DA supports only loss='hinge', got "
                                    f"{self.loss!r}: the -DA correcting function has no "
                                    "squared-hinge form; use MILCPBPIClassifier for it")
        return self._fit_mil(X, y, bags, X_priv=X_priv, X_target=X_target)

    def _blocks(self, ctx, in_pos):
        upper, blocks, constant = super()._blocks(ctx, in_pos)
        if ctx.k_target is None:
            return upper, blocks, constant
        n = len(in_pos)
        # the -DA block over the n instances (the QP's free unit n stays outside every block)
        qp = KernelQP(K=ctx.K, y=np.ones(n), p=np.ones(n), upper=upper, blocks=blocks)
        qp = add_domain_adaptation(qp, ctx.K, ctx.k_target, ctx.n_target, C2=self.C2,
                                   gamma2=self.gamma2, eps=self.eps, B=self.B)
        return upper, qp.blocks, constant
