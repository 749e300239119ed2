"""MDA-HS, MDA-HS+ and MDA-HS+ENR (Chen, Duan, Xu CVPR 2013; Niu et al. T-NNLS 2017): source
weights, target pseudo-labels and a target classifier learned together (the algorithm on arrays
is in :mod:`webly.multisource._mdahs`, the kernel expansion in :mod:`webly.multisource._base`)."""

import logging
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Hidden, Interval, StrOptions

from ..base import (one_vs_rest, renamed_parameter, stack_decisions)
from ..errors import DataError
from . import _mdahs as A
from ._base import _MultiSourceBase

logger = logging.getLogger(__name__)

__all__ = ["MDAHS", "MDAHSPlus", "MDAHSPlusENR"]


class MDAHS(_MultiSourceBase):
    """MDA-HS: multi-domain adaptation with heterogeneous sources (transductive + inductive).

    Learns source weights, pseudo-labels of the unlabelled target rows and a target classifier
    together (Chen, Duan & Xu 2013; Niu et al. 2017), one-vs-rest over classes:

    1. **Source prior.** Per source s, an L2-loss SVM ``f_s`` on the source's own feature types,
       normalised to ``||w_s|| = 1``; its values ``p_s`` on the target rows add
       ``p_s p_s' / theta`` to the target block of source s's kernels.
    2. **Base kernels.** One per (source, feature type): feature type m on the rows of source s
       plus the target rows (Gaussian, bandwidth 1 / mean squared distance over all rows of that
       type, plus 1 for the bias). Image-to-video kernels average over keyframes
       (:class:`~webly.multisource.GroupedFeatures`).
    3. **Label-generating max-margin clustering with group MKL.** For candidate target
       labellings ``y_t``, ``min_mu max_{a in simplex} -1/2 a'(sum_{k,t} mu_{k,t} K_k∘y_t y_t'
       + D)a`` with ``D = diag(1/C_source)`` on source rows and ``diag(1/C_target)`` on target
       rows, ``sum_t ||mu_{.,t}||_2 <= 1`` (or the elastic-net-like constraint, see
       ``weight_norm``); ``mu`` by its closed-form update, the labellings by a cutting plane
       that starts from each source classifier's labelling of the target and adds the most
       violated labelling, whose number of positives lies in ``[r n_t / (1 + br),
       r n_t (1 + br)]`` (``r`` the class's fraction of source rows, each ``br`` in
       ``balance_ratios`` tried; never all-negative). See :mod:`webly.multisource._mdahs`.
    4. **Prediction.** The target classifier ``f(x) = sum_{k,t} mu_{k,t} sum_i a_i y_{t,i}
       K_k(x_i, x)`` (source priors included) divided by the margin ``rho = a'Qa``; it scores the
       target rows seen at fit (transductive) and new target rows (inductive).

    **Source weights**: ``source_weights_[s]`` is the share of source s in the kernel weights,
    ``sum_{m,t} mu_{(s,m),t} / sum mu``, averaged over the one-vs-rest problems. Read them as
    how much kernel capacity each source takes in the joint max-margin solution, not as its
    relevance to the target: the rows of source s are fitted only by its own base kernels, so at
    the saddle point the KKT condition of its support rows,
    ``y_i sum_t mu_{(s,.),t} f_{s,t}(x_i) + a_i / C_s = const``, sets its total weight from its
    own margins. A source whose rows are hard gets more weight; a source like the target gets
    help from the target rows through ``K_st`` and so needs, and gets, a little less (the
    strict xfail ``test_planted_source_weights_prefer_the_source_like_the_target`` pins it).

    **Without** ``X_target`` (e.g. in scikit-learn's checks) there is nothing to adapt to: the
    model is the uniform average of the source classifiers (:class:`UniformSourcesClassifier`)
    and the source weights are uniform. Without ``sources`` all rows are one source.

    **Heterogeneous feature types** (sources with different features, target with all): pass
    ``X`` and ``X_target`` as :class:`~webly.FeatureBlocks` (or build the whole set with
    :meth:`webly.WebDataset.from_sources`); ``decision_function``/``predict`` then take a
    FeatureBlocks with every feature type.

    Parameters
    ----------
    C_source : float, default=1.0
        ``C_s``: squared-loss weight of source rows (and of the per-source classifiers).
    C_target : float, default=10.0
        ``C_t``: squared-loss weight of target rows (pseudo-labels).
    theta : float, default=0.01
        Strength of the source prior: ``p_s p_s' / theta`` is added to the target kernel.
    kernel : {"rbf", "linear"}, default="rbf"
    gamma : float or None, default=None
        RBF bandwidth; None applies 1 / mean squared distance per feature type (source and target
        rows).
    balance_ratios : tuple of float >= 0, default=(0.0, 0.5)
        ``br`` values of the pseudo-label class-balance rule, tried together at every cutting-plane
        round (the first also balances the initial source labellings).
    weight_norm : {"l21", "elastic-net"}, default="l21"
        Constraint of the kernel weights: ``sum_t ||mu_{.,t}||_2 <= 1``, or the elastic-net-like
        ``(1 - l2_ratio) sum_t ||mu_{.,t}||_2 + l2_ratio ||mu||_2^2 <= 1`` (MDA-HS+ENR).
    l2_ratio : float in [0, 1], default=0.5
        Weight of the squared l2 term of the elastic-net-like constraint.
    max_rounds : int, default=5
        Labellings added at most (cutting-plane rounds; formerly ``max_cutting_plane_iter``).
    mkl_max_iter : int, default=10
        QP / weight-update alternations per round (formerly ``max_mkl_iter``).
    mkl_tol : float, default=1e-3
        Relative change of the margin that ends the alternation.
    tol : float, default=1e-3
        Relative KKT tolerance of every QP.
    max_iter : int or None, default=None
        Iteration limit per QP (None: none).
    n_jobs : int or None, default=None
        Threads for the one-vs-rest problems.
    solver : {"libsvm", "smo"}, default="libsvm"
        QP solver (:func:`~webly.solvers.solve_simplex_qp`): libsvm's one-class
        solver on the precomputed Hessian (fast, cold starts) or webly's SMO (warm starts).
    source_block : {"weighted", "fixed"}, default="weighted"
        ``weighted``: the exact formulation above (kernel k, source block included, is scaled
        by ``mu``). ``fixed``: the source-source block of each base kernel keeps weight
        ``1/|F_s|`` and ``mu`` scales only the blocks that touch the target (an experimental
        variant: the weight update then uses the target-facing part of ``c``).
    balance_sources : bool, default=True
        Give every source the same total loss weight: the rows of source s get
        ``C_source * mean_size / n_s`` instead of ``C_source``. Without it a large source owns
        most of the dual mass and hence most of the kernel weight, whatever its relevance to
        the target.

    Attributes
    ----------
    classes_ : (C,) array
    sources_ : list of str
    feature_types_ : list of str
    source_weights_ : dict
        ``{source: weight}``, weights summing to 1.
    source_weights_per_model_ : (n_models, S) array
    kernel_weights_ : list of (n_kernels, T) arrays
        ``mu`` of each one-vs-rest problem (rows: ``kernel_names_``, columns: labellings).
    kernel_names_ : list of (source, feature type)
    target_labels_ : (n_t,) array
        Predicted classes of the target rows seen at fit (None without them).
    n_iter_ : (n_models,) int array
        Cutting-plane rounds.
    rho_ : (n_models,) array
        Margins ``a'Qa``.
    kernels_, expansion_, norm_
        Kernels per feature type and the kernel expansion used by ``decision_function``.

    References
    ----------
    L. Chen, L. Duan, D. Xu. Event recognition in videos by learning from heterogeneous web
    sources. CVPR 2013.

    L. Niu, X. Xu, L. Chen, L. Duan, D. Xu. Action and event recognition in videos by learning
    from heterogeneous web sources. IEEE T-NNLS 28(6), 2017.

    Y.-F. Li, I. W. Tsang, J. T. Kwok, Z.-H. Zhou. Tighter and convex maximum margin clustering.
    AISTATS 2009 (label-generating MMC).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2)); y = (X[:, 0] > 0).astype(int); s = np.repeat(["a", "b"], 40)
    >>> Xt = rng.normal(size=(40, 2))
    >>> clf = MDAHS().fit(X, y, sources=s, X_target=Xt)
    >>> float((clf.predict(Xt) == (Xt[:, 0] > 0)).mean()) > 0.9
    True
    >>> sorted(clf.source_weights_)
    ['a', 'b']
    """

    _parameter_constraints = {
        **_MultiSourceBase._parameter_constraints,
        "C_target": [Interval(Real, 0, None, closed="neither")],
        "theta": [Interval(Real, 0, None, closed="neither")],
        "balance_ratios": ["array-like"],
        "weight_norm": [StrOptions({"l21", "elastic-net"})],
        "l2_ratio": [Interval(Real, 0, 1, closed="both")],
        "max_rounds": [Interval(Integral, 0, None, closed="left")],
        "mkl_max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_cutting_plane_iter": [Interval(Integral, 0, None, closed="left"),
                                   Hidden(StrOptions({"deprecated"}))],
        "max_mkl_iter": [Interval(Integral, 1, None, closed="left"),
                         Hidden(StrOptions({"deprecated"}))],
        "mkl_tol": [Interval(Real, 0, None, closed="left")],
        "balance_sources": ["boolean"],
        "source_block": [StrOptions({"fixed", "weighted"})],
    }

    def __init__(self, C_source=1.0, C_target=10.0, theta=0.01, kernel="rbf", gamma=None,
                 balance_ratios=(0.0, 0.5), weight_norm="l21", l2_ratio=0.5,
                 max_rounds=5, mkl_max_iter=10, mkl_tol=1e-3, tol=1e-3,
                 max_iter=None, n_jobs=None, solver="libsvm", balance_sources=True,
                 source_block="weighted", max_cutting_plane_iter="deprecated",
                 max_mkl_iter="deprecated"):
        self.C_source = C_source
        self.C_target = C_target
        self.theta = theta
        self.kernel = kernel
        self.gamma = gamma
        self.balance_ratios = balance_ratios
        self.weight_norm = weight_norm
        self.l2_ratio = l2_ratio
        self.max_rounds = max_rounds
        self.mkl_max_iter = mkl_max_iter
        self.max_cutting_plane_iter = max_cutting_plane_iter
        self.max_mkl_iter = max_mkl_iter
        self.mkl_tol = mkl_tol
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.solver = solver
        self.balance_sources = balance_sources
        self.source_block = source_block

    def _uses_target(self):
        return True

    def _check_balance(self):
        br = np.atleast_1d(np.asarray(self.balance_ratios, dtype=np.float64))
        if br.ndim != 1 or br.size == 0 or not np.all(np.isfinite(br)) or np.any(br < 0):
            raise DataError("balance_ratios", f"give one or more numbers >= 0, got "
                                              f"{self.balance_ratios!r}")
        return [float(b) for b in br]

    def fit(self, X, y, *, sources=None, X_target=None):
        """Fit on labelled source rows X (labels y, source name of each row) and target rows.

        Parameters
        ----------
        X : (n, d) array or FeatureBlocks
            Source rows: an array when all sources share the feature space, else a
            :class:`~webly.FeatureBlocks` (every row of one source has the same feature types).
        y : (n,) array
            Labels of the source rows.
        sources : (n,) array or None
            Source of each row; None means one source.
        X_target : (n_t, d) array, FeatureBlocks or None
            Unlabelled target rows (with every feature type); None falls back to the uniform
            source average.
        """
        self._validate_params()
        return self._fit_data(self._source_data(X, y, sources, X_target))

    # the privileged term of the source block (MDA-HS+ overrides)
    def _source_slack(self, data):
        return np.full(sum(data.n_source(s) for s in data.source_names), 1.0 / self.C_source)

    def _fit_models(self, data):
        br = self._check_balance()
        max_rounds = renamed_parameter(self, "max_cutting_plane_iter", "max_rounds")
        mkl_max_iter = renamed_parameter(self, "max_mkl_iter", "mkl_max_iter")
        y_idx, blocks = self._setup(data)
        names = self.sources_
        S = len(names)
        self.kernel_names_ = [(s, m) for s in names for m in data.sources[s]]
        if data.target is None:
            logger.info("MDA-HS: no target rows; using the uniform average of source classifiers")
            self._fit_without_target(data, y_idx, blocks)
            return self
        D_src = self._source_slack(data)
        if self.balance_sources:
            sizes = np.array([data.n_source(s) for s in names], dtype=np.float64)
            scale = np.repeat(sizes / sizes.mean(), sizes.astype(int))
            D_src = D_src * scale if D_src.ndim == 1 else (
                np.sqrt(scale)[:, None] * D_src * np.sqrt(scale)[None, :])
        feat_pos = {m: i for i, m in enumerate(data.feature_types)}
        K_tt = [blocks.K_tt[m] for m in data.feature_types]
        n_t = data.n_target

        def fit_binary(k, y_pm):
            y_pm = y_pm.astype(np.float64)
            betas = [self._source_classifier(blocks, s, y_pm) for s in range(S)]
            prior = np.column_stack([blocks.mean_source_target_kernel(names[s]).T @ betas[s]
                                     for s in range(S)])
            # centred on the target rows: a source whose classifier is constant there (it does
            # not rank the target at all) must not look like it agrees with unbalanced labellings
            prior_mean = prior.mean(axis=0)
            prior = prior - prior_mean
            kern = [{"source": names.index(s), "feature": feat_pos[m],
                     "K_ss": blocks.K_ss[s, m], "K_st": blocks.K_st[s, m]}
                    for s, m in self.kernel_names_]
            problem = A.MDAHSProblem(kern, K_tt, self._slices, y_pm, prior, self.theta, D_src,
                                     self.C_target, self.source_block == "fixed")
            ratio = float(np.mean(y_pm > 0))
            band = A.positive_band(ratio, n_t, br[0])
            init = [A.balanced_labelling(prior[:, s], band) for s in range(S)]
            sol, info = A.mdahs_binary(
                problem, init, ratio=ratio, balance_ratios=br, weight_norm=self.weight_norm,
                l2_ratio=self.l2_ratio, max_rounds=max_rounds, mkl_max_iter=mkl_max_iter,
                mkl_tol=self.mkl_tol, tol=self.tol,
                max_iter=self.max_iter, solver=self.solver)
            return {"betas": betas, "prior": prior, "prior_mean": prior_mean, "sol": sol,
                    "info": info, "y": y_pm}

        models = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        self._assemble(data, models)
        return self

    def _fit_without_target(self, data, y_idx, blocks):
        S = len(self.sources_)

        def fit_binary(k, y_pm):
            return [self._source_classifier(blocks, s, y_pm.astype(np.float64)) for s in range(S)]

        models = one_vs_rest(fit_binary, self.classes_, y_idx, n_jobs=self.n_jobs)
        self._store_source_average(data, models, range(S))
        self.source_weights_per_model_ = np.full((len(models), S), 1.0 / S)
        self.source_weights_ = {s: 1.0 / S for s in self.sources_}
        self.kernel_weights_ = []
        self.target_labels_ = None
        self.n_iter_ = np.zeros(len(models), dtype=np.int64)
        self.rho_ = np.ones(len(models))

    def _assemble(self, data, models):
        """Fold every model into one kernel expansion per feature type; source weights."""
        names = self.sources_
        S = len(names)
        n_S = self._slices[-1].stop
        n_models = len(models)
        src_coef = {(s, m): np.zeros((data.n_source(s), n_models)) for s, m in self.kernel_names_}
        tgt_coef = {m: np.zeros((data.n_target, n_models)) for m in data.feature_types}
        weights = np.zeros((n_models, S))
        offsets = np.zeros(n_models)
        warn = []
        for c, mod in enumerate(models):
            sol, info = mod["sol"], mod["info"]
            a, mu, Y = sol["a"], sol["mu"], sol["Y"]
            v = a[:n_S] * mod["y"]
            for j, (s, m) in enumerate(self.kernel_names_):
                sp_ = names.index(s)
                sl = self._slices[sp_]
                nf = len(data.sources[s])
                u = a[n_S:] * (Y @ mu[j])
                src_coef[s, m][:, c] += mu[j].sum() * v[sl]
                tgt_coef[m][:, c] += u
                # prior term p_s(x) (p_s' u) / (theta nf): p_s(x) = sum_m' (K_m'+1) beta / nf
                pi = float(mod["prior"][:, sp_] @ u) / (self.theta * nf)
                for m2 in data.sources[s]:
                    src_coef[s, m2][:, c] += pi * mod["betas"][sp_] / nf
                offsets[c] -= pi * nf * mod["prior_mean"][sp_] / nf
                weights[c, sp_] += mu[j].sum()
            if not info["mkl_converged"] or info["status"] != "converged":
                label = np.asarray(self.classes_[c] if n_models > 1 else self.classes_[1]).item()
                warn.append(f"class {label!r}: "
                            f"cutting plane {info['status']}, MKL "
                            f"{'converged' if info['mkl_converged'] else 'mkl_max_iter'}")
        coefs = {m: ({s: src_coef[s, m] for s in names if m in data.sources[s]}, tgt_coef[m])
                 for m in data.feature_types}
        self.rho_ = np.array([mod["sol"]["rho"] for mod in models])
        self._store_expansion(data, coefs, self.rho_)
        self.offset_ = offsets
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
        self.source_weights_per_model_ = weights
        self.source_weights_ = {s: float(w) for s, w in zip(names, weights.mean(axis=0))}
        self.kernel_weights_ = [mod["sol"]["mu"] for mod in models]
        self.n_iter_ = np.array([mod["info"]["n_iter"] for mod in models], dtype=np.int64)
        scores = stack_decisions([mod["sol"]["target_scores"] / mod["sol"]["rho"]
                                  for mod in models])
        idx = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        self.target_labels_ = self.classes_[idx]
        self._not_converged += [f"{w} (raise max_rounds / mkl_max_iter)"
                                for w in warn]


from .mdahs_plus import MDAHSPlus, MDAHSPlusENR  # noqa: E402  (kept importable here)
