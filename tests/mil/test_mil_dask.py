"""The MIL estimators' primal path on Dask arrays (issue 18 item 4): the same fit, over partitions.

With X (and X_priv) as row-chunked Dask arrays, sMIL, sbMIL, sMIL-PI, mi-SVM, mi-SVM-PI,
MI-SVM, MIL-CPB and MIL-CPB-PI solve the problems of their in-memory primal path
(``solver="primal"``): the positive bags' mean rows come from one map-reduce, the negatives stay
in their partitions, every solve runs on the cluster (:mod:`webly.solvers._rows`; MIL-CPB's on
label blocks built in each partition) and each relabelling / cutting-plane round scores the rows
with one map. The problem is the same (for sMIL-PI the units come in another order, and the
privileged rows of sMIL-PI / mi-SVM-PI are a mask over all rows, see
:func:`webly.solvers.primal._masked_families`), so the fits must agree with the in-memory ones
to the order of floating-point sums: coefficients and decisions to 1e-6 relative (measured
~1e-15 at the time of writing, with the same Newton steps). Most tests use Dask's threaded or
synchronous scheduler; a few fit on a 2-worker ``LocalCluster`` of worker processes.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

dask = pytest.importorskip("dask", reason="dask is not installed (the 'dev' or 'dask' extra)")
da = pytest.importorskip("dask.array", reason="dask[array] is not installed")

from webly import persist  # noqa: E402
from webly.errors import DataError  # noqa: E402
from webly.mil import (MILCPBClassifier, MILCPBPIClassifier,  # noqa: E402
                       MILCPBPIDAClassifier, MiSVMClassifier, MISVMClassifier, MiSVMPIClassifier,
                       MiSVMPIDAClassifier, SbMILClassifier, SMILClassifier, SMILPIClassifier,
                       SMILPIDAClassifier)
from webly.solvers.primal import svmplus_primal  # noqa: E402

#: (estimator, uses X_priv)
ESTIMATORS = [(SMILClassifier, False), (SbMILClassifier, False), (SMILPIClassifier, True),
              (MiSVMClassifier, False), (MiSVMPIClassifier, True), (MISVMClassifier, False)]


def _crawl(seed=0, n_bags=12, size=5, d=6, d_priv=3, keep=0.7):
    """Bags of a query (every third bag positive); 30% of the positive bags' rows are wrong,
    and the privileged 'text' says which (as tests/mil/test_mil_primal.py)."""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_bags), size)
    y = (bags % 3 == 0).astype(int)
    truth = np.where(rng.random(len(y)) < keep, y, 0)
    X = rng.normal(size=(len(y), d)) + (2 * truth - 1)[:, None]
    T = rng.normal(size=(len(y), d_priv))
    T[:, 0] += 2 * truth
    return X, y, bags, T


def _parts(A, n_parts=3):
    rows = -(-A.shape[0] // n_parts)
    return da.from_array(A, chunks=(rows,) if A.ndim == 1 else (rows, -1))


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def _assert_same_fit(dsk, ref, X, bags):
    """Coefficients, decisions (lazy on a Dask X), predictions, bag scores and noise scores."""
    for m1, m0 in zip(dsk.models_, ref.models_):
        np.testing.assert_allclose(m1.coef, m0.coef, rtol=1e-6, atol=1e-9 * np.abs(m0.coef).max())
        assert m1.intercept == pytest.approx(m0.intercept, rel=1e-6, abs=1e-9)
        if "objective" in m0.info:
            assert m1.info["objective"] == pytest.approx(m0.info["objective"], rel=1e-8)
        if m0.instance_labels is not None:  # the same relabelling rounds, the same labels
            assert m1.info.get("rounds") == m0.info.get("rounds")
            np.testing.assert_array_equal(m1.instance_labels, m0.instance_labels)
    D0 = ref.decision_function(X)
    D1 = dsk.decision_function(_parts(X))
    assert isinstance(D1, da.Array) and D1.chunks[0] == _parts(X).chunks[0]
    np.testing.assert_allclose(D1.compute(), D0, rtol=1e-6, atol=1e-6 * np.abs(D0).max())
    np.testing.assert_array_equal(dsk.predict(_parts(X)).compute(), ref.predict(X))
    ids1, S1 = dsk.bag_decision_function(_parts(X), _parts(bags))
    ids0, S0 = ref.bag_decision_function(X, bags)
    np.testing.assert_array_equal(ids1, ids0)
    np.testing.assert_allclose(S1, S0, rtol=1e-6, atol=1e-6 * np.abs(S0).max())
    assert isinstance(dsk.noise_scores_, da.Array)
    np.testing.assert_allclose(dsk.noise_scores_.compute(), ref.noise_scores_, rtol=1e-6,
                               atol=1e-6 * np.abs(ref.noise_scores_).max())


@pytest.mark.parametrize("cls, with_priv", ESTIMATORS, ids=[c.__name__ for c, _ in ESTIMATORS])
def test_fit_on_partitions_equals_the_in_memory_primal_fit(threads, cls, with_priv):
    X, y, bags, T = _crawl()
    ref = cls(kernel="linear", solver="primal").fit(X, y, bags=bags,
                                                    **({"X_priv": T} if with_priv else {}))
    dsk = cls(kernel="linear").fit(_parts(X), _parts(y), bags=bags,
                                   **({"X_priv": _parts(T)} if with_priv else {}))
    assert dsk.solver_ == "primal"  # "auto" on Dask rows
    if "rounds" in ref.models_[0].info:
        assert ref.models_[0].info["rounds"] >= 2  # the relabelling ran
    _assert_same_fit(dsk, ref, X, bags)


def test_several_queries_with_labels_and_bags_on_partitions(threads):
    # one-vs-rest over three queries; y and bags as Dask vectors are computed once
    X, _, bags, T = _crawl(n_bags=9)
    y = np.array(["a", "b", "c"])[bags % 3]
    ref = SMILPIClassifier(kernel="linear", solver="primal").fit(X, y, bags=bags, X_priv=T)
    dsk = SMILPIClassifier(kernel="linear").fit(_parts(X), _parts(y), bags=_parts(bags),
                                                X_priv=_parts(T))
    np.testing.assert_array_equal(dsk.classes_, ref.classes_)
    assert dsk.decision_function(_parts(X)).shape == (len(y), 3)
    _assert_same_fit(dsk, ref, X, bags)


@pytest.mark.parametrize("cls", [SMILPIClassifier, MiSVMPIClassifier])
def test_nystroem_maps_on_partitions_are_the_in_memory_maps(threads, cls):
    # both views RBF: bandwidth rules as reductions, the same landmarks fetched; float32 rows
    X, y, bags, T = _crawl(seed=1)
    X = X.astype(np.float32)
    est = dict(kernel="rbf", kernel_priv="rbf", n_components=20, random_state=0,
               gamma_scale=0.5)
    ref = cls(solver="primal", **est).fit(X, y, bags=bags, X_priv=T)
    dsk = cls(**est).fit(_parts(X), y, bags=bags, X_priv=_parts(T))
    assert dsk.feature_map_.gamma_ == pytest.approx(ref.feature_map_.gamma_, rel=1e-6)
    # float32 rows: partitions add their partial sums in float64, so the two stop at
    # slightly different points within tol (webly.solvers.primal's module docstring)
    D0, D1 = ref.decision_function(X), dsk.decision_function(_parts(X)).compute()
    np.testing.assert_allclose(D1, D0, atol=1e-4 * np.abs(D0).max())


def _privileged_rows_problem(n=240):
    """Rows, labels, privileged rows and the privileged-row mask of the priv_rows solver tests
    (the generator is returned for further draws)."""
    rng = np.random.default_rng(0)
    F = rng.normal(size=(n, 5))
    y = np.where(F[:, 0] + 0.5 * rng.normal(size=n) > 0, 1.0, -1.0)
    T = np.abs(rng.normal(size=(n, 3)))
    return rng, F, y, T, rng.random(n) < 0.4


def test_privileged_rows_on_partitions_solve_the_in_memory_problem(threads):
    # svmplus_primal's priv_rows on Dask (families over all rows, the others switched off)
    rng, F, y, T, P = _privileged_rows_problem()
    C, p = np.where(P, 2.0, 0.5), np.where(P, 0.2, 1.0)
    ref = svmplus_primal(F, y, T[P], C=C, margin=p, priv_rows=P, gamma_plus=3.0, tol=1e-6)
    out = svmplus_primal(_parts(F), y, _parts(np.where(P[:, None], T, 0.0)), C=C, margin=p,
                         priv_rows=P, gamma_plus=3.0, tol=1e-6)
    assert out[4]["objective"] == pytest.approx(ref[4]["objective"], rel=1e-10)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(out[2], ref[2], rtol=1e-8, atol=1e-12)
    for key in ("dual", "correcting_values"):
        np.testing.assert_allclose(out[4][key].compute(), ref[4][key], atol=1e-8)
    b = out[4]["dual_priv"].compute()
    np.testing.assert_allclose(b[P], ref[4]["dual_priv"], atol=1e-8)
    assert not b[~P].any()  # rows outside priv_rows keep a zero multiplier


def test_a_dask_fitted_model_saves_and_loads_its_values(threads, tmp_path):
    X, y, bags, T = _crawl()
    clf = SMILPIClassifier(kernel="linear").fit(_parts(X), y, bags=bags, X_priv=_parts(T))
    path = tmp_path / "m.webly"
    persist.save(clf, path)
    back = persist.load(path)
    assert isinstance(clf.noise_scores_, da.Array)  # the fitted estimator stays lazy
    assert isinstance(back.noise_scores_, np.ndarray)
    np.testing.assert_array_equal(back.noise_scores_, clf.noise_scores_.compute())
    np.testing.assert_array_equal(back.predict(X), clf.predict(_parts(X)).compute())
    np.testing.assert_array_equal(back.decision_function(X),
                                  clf.decision_function(_parts(X)).compute())


def test_bad_input_on_partitions_names_the_field_and_the_fix(threads):
    X, y, bags, T = _crawl()
    with pytest.raises(DataError, match="X_priv.*row chunks.*rechunk"):
        SMILPIClassifier(kernel="linear").fit(_parts(X), y, bags=bags,
                                              X_priv=_parts(T, n_parts=4))
    with pytest.raises(DataError, match="bags"):
        SMILClassifier(kernel="linear").fit(_parts(X), y, bags=bags[:-1])
    with pytest.raises(DataError, match="y.*one label per row"):
        SMILClassifier(kernel="linear").fit(_parts(X), y[:-1], bags=bags)
    with pytest.raises(DataError, match="X_priv.*rows"):
        MiSVMPIClassifier(kernel="linear").fit(_parts(X), y, bags=bags, X_priv=_parts(T[:-5]))
    with pytest.raises(DataError, match="X.*Dask array when X_priv"):
        SMILPIClassifier(kernel="linear").fit(X, y, bags=bags, X_priv=_parts(T))
    unknown = da.from_array(X, chunks=(40, -1))[_parts(y) >= 0]  # chunk sizes unknown
    with pytest.raises(DataError, match="unknown chunk sizes"):
        SMILClassifier(kernel="linear").fit(unknown, y, bags=bags)
    fitted = SMILClassifier(kernel="linear").fit(_parts(X), y, bags=bags)
    with pytest.raises(DataError, match="features"):
        fitted.decision_function(_parts(X[:, :4]))


@pytest.mark.parametrize("cls, params, match", [
    (SMILPIClassifier, {"solver": "smo"}, "solver.*kernel solver.*'auto' or 'primal'"),
    (MiSVMClassifier, {"solver": "smo"}, "solver.*kernel solver.*'auto' or 'primal'"),
    (MILCPBClassifier, {"solver": "smo"}, "solver.*kernel solver.*'auto' or 'primal'"),
])
def test_kernel_solvers_refuse_dask_rows_with_the_fix(cls, params, match):
    X, y, bags, _ = _crawl()
    with pytest.raises(DataError, match=match):
        cls(kernel="linear", **params).fit(_parts(X), y, bags=bags)


# --- the -DA variants: the target term on partitions ------------------------------------------

def _target(seed=5, n=40, d=6, shift=2.0):
    """Unlabelled target rows of _crawl's features, shifted along one feature (so that the -DA
    term moves the solution)."""
    rng = np.random.default_rng(seed)
    yt = rng.random(n) < 0.5
    return rng.normal(size=(n, d)) + (2 * yt - 1)[:, None] + shift * np.eye(d)[1]


@pytest.fixture
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


#: the -DA estimators with a primal path, with parameters where the term moves the solution
DA_CASES = {
    "smil_pi_da": (SMILPIDAClassifier, dict(C=10.0, gamma_plus=10.0, C2=0.1, gamma2=1.0)),
    "smil_pi_da_per_unit_C2": (SMILPIDAClassifier, dict(C=10.0, gamma_plus=10.0, C2=30.0,
                                                        gamma2=30.0, C2_per_unit=True, eps=0.2)),
    "mi_svm_pi_da": (MiSVMPIDAClassifier, dict(C=1.0, gamma_plus=1.0, C2=1.0, gamma2=3.0)),
}


@pytest.mark.parametrize("target", ["dask", "numpy"])
@pytest.mark.parametrize("kernel", ["linear", pytest.param("rbf", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", list(DA_CASES))
def test_da_fit_on_partitions_equals_the_in_memory_primal_fit(synchronous, case, kernel, target):
    # X_target enters only through the mean of its mapped rows (a map-reduce when it is a Dask
    # array); the solve is the in-memory -DA solve on the rows backend, so the fits agree to
    # the order of floating-point sums (measured ~1e-15)
    cls, params = DA_CASES[case]
    X, y, bags, T = _crawl()
    Xt = _target()
    est = dict(kernel=kernel, n_components=20, random_state=0, tol=1e-6, **params)
    ref = cls(solver="primal", **est).fit(X, y, bags=bags, X_priv=T, X_target=Xt)
    dsk = cls(**est).fit(_parts(X), _parts(y), bags=bags, X_priv=_parts(T),
                         X_target=_parts(Xt, 2) if target == "dask" else Xt)
    assert dsk.solver_ == "primal"
    _assert_same_fit(dsk, ref, X, bags)
    np.testing.assert_allclose(dsk.decision_function(_parts(Xt)).compute(),
                               ref.decision_function(Xt), rtol=1e-6, atol=1e-9)
    # and the target term is there: without X_target the fit is another one (the decisions
    # move by 0.04-2 x their spread on these cases)
    plain = cls(solver="primal", **est).fit(X, y, bags=bags, X_priv=T)
    D, D_plain = ref.decision_function(X), plain.decision_function(X)
    assert np.abs(D - D_plain).max() > 1e-2 * max(1.0, np.ptp(D))


def test_da_solver_on_partitions_keeps_the_target_terms_there(synchronous):
    # svmplus_primal's -DA term on Dask rows with privileged rows (sMIL-PI-DA's form): the same
    # objective, parameters and per-row results (Dask vectors chunked like the rows)
    rng, F, y, T, P = _privileged_rows_problem()
    mu = 0.3 * rng.normal(size=5)
    kw = dict(C=np.where(P, 2.0, 0.5), margin=np.where(P, 0.2, 1.0), priv_rows=P, tol=1e-6,
              target_mean=mu, C2=np.where(P, 0.3, 0.1), gamma2=1.0, eps=0.2)
    ref = svmplus_primal(F, y, T[P], **kw)
    out = svmplus_primal(_parts(F), y, _parts(np.where(P[:, None], T, 0.0)), **kw)
    assert out[4]["objective"] == pytest.approx(ref[4]["objective"], rel=1e-10)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(out[4]["coef_target"], ref[4]["coef_target"], rtol=1e-8,
                               atol=1e-12)
    assert out[4]["intercept_target"] == pytest.approx(ref[4]["intercept_target"], abs=1e-9)
    for key in ("dual", "correcting_values", "dual_target", "target_values"):
        assert isinstance(out[4][key], da.Array) and out[4][key].chunks == _parts(F).chunks[:1]
        np.testing.assert_allclose(out[4][key].compute(), ref[4][key], atol=1e-8)


def test_bad_target_input_on_partitions_is_one_line_naming_the_field(synchronous):
    X, y, bags, T = _crawl()
    Xt = _target()
    bad_nan = Xt.copy()
    bad_nan[3, 2] = np.nan
    unknown = _parts(Xt)[_parts(Xt)[:, 0] > -np.inf]  # chunk sizes unknown
    cases = [(_parts(Xt[:, :4]), "X_target.*4 features but X has 6"),
             (_parts(bad_nan), "X_target.*NaN or infinite"),
             (unknown, "X_target.*unknown chunk sizes.*compute_chunk_sizes")]
    for Xt_bad, match in cases:
        with pytest.raises(DataError, match=match) as err:
            SMILPIDAClassifier(kernel="linear").fit(_parts(X), y, bags=bags, X_priv=_parts(T),
                                                    X_target=Xt_bad)
        assert "\n" not in str(err.value)


# --- MIL-CPB(-PI): the cutting plane over labellings, its solves on label blocks -------------

def _cpb_bags(seed=0, n_bags=24, size=5, d=6):
    """tests/mil/test_milcpb_primal.py's toy: every third bag positive, 30% of the positive
    bags' rows wrong, a privileged view of 2 informative and 20 noise features (more
    privileged features than needed keeps the squared hinge's L2-SVM+ term regular, so the
    next labelling is unique)."""
    rng = np.random.default_rng(seed)
    bags = np.repeat(np.arange(n_bags), size)
    y = (bags % 3 == 0).astype(int)
    truth = np.where(rng.random(len(y)) < 0.7, y, 0)
    X = rng.normal(size=(len(y), d)) + (2 * truth - 1)[:, None]
    T = np.column_stack([X[:, :2] + rng.normal(size=(len(y), 2)),
                         0.3 * rng.normal(size=(len(y), 20))])
    return X, y, bags, T


def _assert_same_cutting_plane(dsk, ref, X):
    """The same rounds, labellings (in order), MKL weights, objectives and decisions."""
    m0, m1 = ref.models_[0], dsk.models_[0]
    assert m0.info["labellings"].shape[1] >= 2  # the labelling search ran and added one
    assert m1.info["rounds"] == m0.info["rounds"] and m1.info["status"] == m0.info["status"]
    np.testing.assert_array_equal(m1.info["labellings"], m0.info["labellings"])
    np.testing.assert_array_equal(m1.instance_labels, m0.instance_labels)
    np.testing.assert_allclose(m1.info["d"], m0.info["d"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m1.info["objectives"], m0.info["objectives"], rtol=1e-6)
    assert isinstance(m1.info["x"], np.ndarray)  # the multipliers, computed once at the end
    np.testing.assert_allclose(m1.info["x"], m0.info["x"], atol=1e-6 * m0.info["x"].max())
    np.testing.assert_allclose(m1.coef, m0.coef, rtol=1e-6, atol=1e-9 * np.abs(m0.coef).max())
    D0 = ref.decision_function(X)
    D1 = dsk.decision_function(_parts(X)).compute()
    np.testing.assert_allclose(D1, D0, rtol=1e-6, atol=1e-6 * np.abs(D0).max())
    np.testing.assert_array_equal(dsk.predict(_parts(X)).compute(), ref.predict(X))


@pytest.mark.parametrize("kernel", ["linear", pytest.param("rbf", marks=pytest.mark.slow)])
# MIL-CPB-PI with the hinge (6 s) runs with -m slow: the -DA test below fits the same hinge
# SVM+ solves on partitions, with the -DA term besides
@pytest.mark.parametrize("cls, loss", [
    (MILCPBClassifier, "squared_hinge"), (MILCPBClassifier, "hinge"),
    (MILCPBPIClassifier, "squared_hinge"),
    pytest.param(MILCPBPIClassifier, "hinge", marks=pytest.mark.slow)])
def test_milcpb_on_partitions_equals_the_in_memory_primal_fit(synchronous, cls, loss, kernel):
    # the cutting plane is milcpb_binary_primal's one loop: its solves on DaskBlockRows (the
    # label blocks built in each partition), the leave-self-out scores one map (the positive
    # bags' entries come to the client for the search) and the label norms a map-reduce; with
    # the same Newton steps the numbers agree to the order of floating-point sums (~1e-15)
    X, y, bags, T = _cpb_bags()
    est = dict(kernel=kernel, loss=loss, C=1.0, max_rounds=3, n_components=16, random_state=0,
               tol=1e-6)
    priv = cls is MILCPBPIClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_rounds reached on purpose
        ref = cls(solver="primal", **est).fit(X, y, bags=bags, **({"X_priv": T} if priv else {}))
        # 4 partitions of 30 rows: bags of 5 lie in one partition each, so a bag of 5 starting
        # at row 25 does not: 1 in 6 bags spans two partitions
        dsk = cls(**est).fit(_parts(X, 4), y, bags=bags,
                             **({"X_priv": _parts(T, 4)} if priv else {}))
    assert dsk.solver_ == "primal"
    assert dsk.models_[0].n_iter == ref.models_[0].n_iter  # the same Newton steps
    _assert_same_cutting_plane(dsk, ref, X)


@pytest.mark.parametrize("priv", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_milcpb_da_on_partitions_equals_the_in_memory_primal_fit(synchronous, priv):
    # MIL-CPB-PI-DA: the -DA correcting function on the label blocks' own rows (a view of the
    # solver's persisted rows, float64), the target mean of a Dask X_target one map-reduce:
    # the same Newton steps and numbers as in memory (float32 rows: float64 on both sides).
    # C2 = 0.01 makes KMM's total bind (the term moves the fit)
    X, y, bags, T = _cpb_bags()
    rng = np.random.default_rng(3)
    Xt = X[:50] + 0.5 + 0.3 * rng.normal(size=(50, X.shape[1]))
    X32 = X.astype(np.float32)
    est = dict(kernel="linear", C=1.0, max_rounds=2, tol=1e-6, C2=0.01, gamma2=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_rounds reached on purpose; no X_priv
        ref = MILCPBPIDAClassifier(solver="primal", **est).fit(
            X32, y, bags=bags, X_priv=T if priv else None, X_target=Xt)
        dsk = MILCPBPIDAClassifier(**est).fit(
            _parts(X32, 4), y, bags=bags, X_priv=_parts(T, 4) if priv else None,
            X_target=_parts(Xt, 2))
        plain = MILCPBPIDAClassifier(solver="primal", **est).fit(
            X32, y, bags=bags, X_priv=T if priv else None)
    assert dsk.solver_ == "primal"
    assert dsk.models_[0].n_iter == ref.models_[0].n_iter  # the same Newton steps
    assert np.abs(plain.decision_function(X) - ref.decision_function(X)).max() > 0.1
    _assert_same_cutting_plane(dsk, ref, X)


@pytest.mark.slow   # 13 s
def test_milcpb_bags_across_partitions_and_init_top(synchronous):
    # partitions of 14 rows cut bags of 5 in two (7 of the 8 partition ends fall inside a
    # bag); init="top" scores the rows before the first round (one map, the positive bags'
    # scores come here)
    X, y, bags, T = _cpb_bags(seed=1)
    est = dict(kernel="linear", init="top", max_rounds=3, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MILCPBPIClassifier(solver="primal", **est).fit(X, y, bags=bags, X_priv=T)
        dsk = MILCPBPIClassifier(**est).fit(_parts(X, 9), _parts(y, 5), bags=_parts(bags, 2),
                                            X_priv=_parts(T, 9))
    _assert_same_cutting_plane(dsk, ref, X)


def test_milcpb_bad_input_on_partitions_is_one_line_naming_the_field(synchronous):
    X, y, bags, T = _cpb_bags()
    cases = [(dict(X_priv=_parts(T, 5)), "^X_priv: .*row chunks.*rechunk"),
             (dict(X_priv=_parts(T[:-5])), "^X_priv: .*rows but X has"),
             (dict(X_priv=_parts(T), solver="smo"), "^solver: .*kernel solver")]
    for kw, match in cases:
        solver = kw.pop("solver", "auto")
        with pytest.raises(DataError, match=match) as err:
            MILCPBPIClassifier(kernel="linear", solver=solver).fit(_parts(X, 4), y, bags=bags,
                                                                   **kw)
        assert "\n" not in str(err.value)


# a Newton step costs a few round trips to the workers (about 0.1-1 s each on a loaded 2-core
# machine): the default run fits sMIL-PI on 12 bags (12 Newton steps); mi-SVM-PI's rounds
# (about 100 steps) run with -m slow
@pytest.mark.parametrize("cls, n_bags", [
    (SMILPIClassifier, 12), pytest.param(MiSVMPIClassifier, 24, marks=pytest.mark.slow)])
def test_fit_on_a_two_worker_cluster_equals_the_single_process_fit(process_cluster, cls, n_bags):
    from distributed import get_task_stream

    X, y, bags, T = _crawl(n_bags=n_bags)
    ref = cls(kernel="linear", solver="primal").fit(X, y, bags=bags, X_priv=T)
    with get_task_stream(process_cluster) as stream:
        dsk = cls(kernel="linear").fit(_parts(X, 4), y, bags=bags, X_priv=_parts(T, 4))
    # the passes over the rows ran on both workers
    assert {task["worker"] for task in stream.data} == set(process_cluster.nthreads())
    _assert_same_fit(dsk, ref, X, bags)


@pytest.mark.slow   # 8.5 s; the -DA term's partition code runs in the synchronous tests above
def test_da_fit_on_a_two_worker_cluster_equals_the_single_process_fit(process_cluster):
    # sMIL-PI-DA with a Dask X_target: its mean is a map-reduce on the workers, then the -DA
    # solve runs there as sMIL-PI's
    from distributed import get_task_stream

    X, y, bags, T = _crawl()
    Xt = _target()
    # C2 = 1, gamma2 = 3 at the default tol: 22 Newton steps (sMIL-PI's test above takes 12),
    # the decisions 0.6 x their spread away from sMIL-PI's
    est = dict(kernel="linear", C2=1.0, gamma2=3.0)
    ref = SMILPIDAClassifier(solver="primal", **est).fit(X, y, bags=bags, X_priv=T,
                                                         X_target=Xt)
    with get_task_stream(process_cluster) as stream:
        dsk = SMILPIDAClassifier(**est).fit(_parts(X, 4), y, bags=bags, X_priv=_parts(T, 4),
                                            X_target=_parts(Xt, 2))
    assert {task["worker"] for task in stream.data} == set(process_cluster.nthreads())
    _assert_same_fit(dsk, ref, X, bags)


# MIL-CPB's 2 rounds on 12 bags take 16 Newton steps (4 solves; 4.7-7 s on the loaded 2-core
# machine); MIL-CPB-PI's (71 steps) too run with -m slow: the default run keeps sMIL-PI's
# worker-process test above, and the label blocks' partitions run in the synchronous tests
@pytest.mark.slow
@pytest.mark.parametrize("cls", [MILCPBClassifier, MILCPBPIClassifier])
def test_milcpb_on_a_two_worker_cluster_equals_the_single_process_fit(process_cluster, cls):
    # the label blocks, the leave-self-out scores and the label norms run on both workers
    # (by pickle: DaskBlockRows' partitions build their BlockRows there)
    from distributed import get_task_stream

    X, y, bags, T = _cpb_bags(n_bags=12)
    priv = cls is MILCPBPIClassifier
    est = dict(kernel="linear", max_rounds=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = cls(solver="primal", **est).fit(X, y, bags=bags, **({"X_priv": T} if priv else {}))
        with get_task_stream(process_cluster) as stream:
            dsk = cls(**est).fit(_parts(X, 4), y, bags=bags,
                                 **({"X_priv": _parts(T, 4)} if priv else {}))
    assert {task["worker"] for task in stream.data} == set(process_cluster.nthreads())
    _assert_same_cutting_plane(dsk, ref, X)


@pytest.mark.slow  # about 100 Newton steps over the two workers
def test_milcpb_da_on_a_two_worker_cluster_equals_the_single_process_fit(process_cluster):
    # MIL-CPB-PI-DA's -DA columns travel with the label blocks' row kernels (by pickle)
    from distributed import get_task_stream

    X, y, bags, T = _cpb_bags(n_bags=12)
    Xt = X[:20] + 0.5
    est = dict(kernel="linear", max_rounds=2, C=1.0, C2=0.01, gamma2=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MILCPBPIDAClassifier(solver="primal", **est).fit(X, y, bags=bags, X_priv=T,
                                                               X_target=Xt)
        with get_task_stream(process_cluster) as stream:
            dsk = MILCPBPIDAClassifier(**est).fit(_parts(X, 4), y, bags=bags,
                                                  X_priv=_parts(T, 4), X_target=_parts(Xt, 2))
    assert {task["worker"] for task in stream.data} == set(process_cluster.nthreads())
    _assert_same_cutting_plane(dsk, ref, X)
