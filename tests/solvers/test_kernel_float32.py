"""float32 kernel storage (``kernel_dtype``, issue 19 item 2): the solver reads float32 kernels in
place, keeps its gradient and sums in float64, and reaches the float64 problem's objective to
within what rounding the kernels to float32 can change.

The tolerance: with ``u = 2^-24`` (float32's unit roundoff) every stored entry has
``|K32 - K| <= u |K|``. For SVM+ the objective is ``f(x) = 1/2 (ya)'K(ya) - sum a +
1/(2 gamma) (v - c)'K~(v - c)`` (``v = a + b``, ``c = C 1``), so at any fixed x
``|f32(x) - f64(x)| <= u B(x)``, ``B(x) = 1/2 |ya|'|K||ya| + 1/(2 gamma) |v - c|'|K~||v - c|``,
and the two minima differ by at most ``max |f32(x) - f64(x)|`` over the two minimisers (each
minimum is below its problem's value at the other minimiser). The solves stop at a KKT violation
``eps``; such a point is within ``eps (||x||_1 + ||x*||_1)`` of its minimum (the reduced
gradient times ``x - x*``), taken as ``2 eps (||x32||_1 + ||x64||_1)`` below.
"""

import tracemalloc

import numpy as np
import pytest

from webly import SVMPlusClassifier
from webly.errors import DataError
from webly.kernels import gaussian_kernel, linear_kernel
from webly.solvers import (
    _smo_kernels,
    problems,
    qp_objective,
    smo_solve,
    svm_qp,
    svmplus_qp,
)

U = 2.0 ** -24
TOL = 1e-8


def _problem(n=400, seed=0):
    """make_classification-like: 2 informative features plus noise, 10% flipped labels, and
    privileged features = the informative ones plus noise (a non-degenerate SVM+)."""
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    X = rng.normal(size=(n, 6))
    X[:, :2] += 0.8 * y_true[:, None]
    y = np.where(rng.random(n) < 0.1, -y_true, y_true)
    T = X[:, :2] + 0.5 * rng.normal(size=(n, 2))
    return X, y, T


def _bound(K, Kp, y, x, C=1.0, gamma=1.0):
    n = y.size
    ya = np.abs(x[:n])
    d = np.abs(x[:n] + x[n:] - C)
    return U * (0.5 * ya @ (np.abs(K) @ ya) + 0.5 / gamma * d @ (np.abs(Kp) @ d))


def test_float32_kernels_are_float64_kernels_rounded_once(monkeypatch):
    monkeypatch.setattr("webly.kernels._FLOAT32_BLOCK", 700)  # several row blocks
    X, _, T = _problem(300)
    for K64, K32 in ((gaussian_kernel(X), gaussian_kernel(X, dtype=np.float32)),
                     (gaussian_kernel(X, T[:50] @ np.ones((2, 6)), gamma=0.1),
                      gaussian_kernel(X, T[:50] @ np.ones((2, 6)), gamma=0.1, dtype=np.float32)),
                     (linear_kernel(T), linear_kernel(T, dtype=np.float32))):
        assert K32.dtype == np.float32 and K32.flags.c_contiguous
        err = np.abs(K32.astype(np.float64) - K64)
        assert np.all(err <= U * np.abs(K64) + 1e-13 * np.abs(K64).max())
    assert np.all(np.diag(gaussian_kernel(X, dtype=np.float32)) == 1.0)


def test_float32_solve_reaches_the_float64_objective_within_the_rounding_bound():
    X, y, T = _problem()
    K, Kp = gaussian_kernel(X), linear_kernel(T)
    K32, Kp32 = K.astype(np.float32), Kp.astype(np.float32)
    q64, q32 = svmplus_qp(K, y, Kp), svmplus_qp(K32, y, Kp32)
    x64, i64 = smo_solve(q64, tol=TOL)
    x32, i32 = smo_solve(q32, tol=TOL, kernel_dtype="float32")
    assert i64["status"] == i32["status"] == "converged"
    # at a fixed x the two objectives differ by at most the rounding bound (no solver involved)
    delta = [abs(qp_objective(q32, x) - qp_objective(q64, x)) for x in (x64, x32)]
    assert delta[0] <= _bound(K, Kp, y, x64) and delta[1] <= _bound(K, Kp, y, x32)
    # the minima differ by at most the larger of those differences (f32* <= f32(x64*) =
    # f64* + delta and vice versa), plus what the KKT tolerance leaves of each solve
    gap = abs(i32["objective"] - i64["objective"])
    slack = 2 * TOL * (np.abs(x32).sum() + np.abs(x64).sum())
    assert gap <= max(delta) + slack
    # the solver's sums are float64: its objective is the float64 evaluation of its solution
    # (float32 accumulation over n = 400 terms would be off by ~1e-6 relative)
    assert abs(i32["objective"] - qp_objective(q32, x32)) <= 1e-11 * abs(i32["objective"])


def test_float32_kernels_are_used_in_place_not_copied(monkeypatch):
    X, y, T = _problem()
    K32, Kp32 = gaussian_kernel(X, dtype=np.float32), linear_kernel(T, dtype=np.float32)
    seen = []
    for name in ("refresh_hessian", "add_hess_columns"):
        real = getattr(_smo_kernels, name)

        def spy(*args, _real=real):
            seen.append([a for a in args if isinstance(a, np.ndarray) and a.ndim == 2
                         and a.shape[0] == y.size])
            return _real(*args)

        monkeypatch.setattr(_smo_kernels, name, spy)
    qp = svmplus_qp(K32, y, Kp32)
    assert qp.validate("float32").K is K32 and qp.validate("float32").blocks[0].kernel is Kp32
    smo_solve(qp, tol=1e-4, kernel_dtype="float32")
    assert seen and all(len(s) == 2 and s[0] is K32 and s[1] is Kp32 for s in seen)


def test_float32_solve_allocates_no_float64_kernel(monkeypatch):
    """Peak memory: the float32 solve needs about as much as the float64 solve's own arrays; a
    solve that converts the same float32 kernels to float64 holds one more K64 + K~64."""
    monkeypatch.setattr(problems, "_MATVEC_BLOCK", 1 << 14)  # small row blocks of the gradient
    X, y, T = _problem(900)
    K32, Kp32 = gaussian_kernel(X, dtype=np.float32), linear_kernel(T, dtype=np.float32)
    qp = svmplus_qp(K32, y, Kp32)

    def peak(dtype):
        smo_solve(qp, tol=1e-3, kernel_dtype=dtype)  # compiled code loaded
        tracemalloc.start()
        smo_solve(qp, tol=1e-3, kernel_dtype=dtype)
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return p

    k64 = 2 * K32.nbytes  # one float64 kernel
    p32, p64 = peak("float32"), peak("float64")
    # the float64 solve copied both kernels (2 k64), the float32 one neither (one copy: ~k64)
    assert p64 - p32 > 1.5 * k64


def test_default_float64_solve_is_unchanged_by_float32_input():
    """``kernel_dtype="float64"`` (the default) converts float32 kernels, as before: the solve is
    bit for bit that of the float64 arrays holding the same values."""
    X, y, T = _problem(200)
    K32, Kp32 = gaussian_kernel(X, dtype=np.float32), linear_kernel(T, dtype=np.float32)
    xa, ia = smo_solve(svmplus_qp(K32, y, Kp32))
    xb, ib = smo_solve(svmplus_qp(K32.astype(np.float64), y, Kp32.astype(np.float64)))
    assert np.array_equal(xa, xb) and ia["objective"] == ib["objective"]


def test_svmplus_classifier_float32_matches_float64():
    X, y, T = _problem(300)
    a = SVMPlusClassifier(tol=1e-6).fit(X, y, X_priv=T)
    b = SVMPlusClassifier(tol=1e-6, kernel_dtype="float32").fit(X, y, X_priv=T)
    assert np.allclose(a.objective_, b.objective_, rtol=1e-6, atol=0)
    assert np.mean(a.predict(X) == b.predict(X)) >= 0.99
    c = SVMPlusClassifier(kernel_dtype=np.float32).fit(X, y)  # plain SVM, numpy type accepted
    assert np.allclose(c.objective_, SVMPlusClassifier().fit(X, y).objective_, rtol=1e-5)


@pytest.mark.parametrize("bad", ["float16", "int64", "double precision", None, True, 32])
def test_bad_kernel_dtype_is_a_data_error_naming_the_field(bad):
    X, y, T = _problem(40)
    qp = svm_qp(gaussian_kernel(X), y)
    with pytest.raises(DataError, match="kernel_dtype") as e:
        smo_solve(qp, kernel_dtype=bad)
    assert e.value.field == "kernel_dtype"
    with pytest.raises(DataError, match="kernel_dtype"):
        qp.validate(bad)
    with pytest.raises(DataError, match="kernel_dtype"):
        SVMPlusClassifier(kernel_dtype=bad).fit(X, y, X_priv=T)


def test_a_kernel_of_complex_numbers_is_a_data_error_naming_the_kernel():
    X, y, T = _problem(40)
    with pytest.raises(DataError, match="K_priv") as e:
        svmplus_qp(gaussian_kernel(X), y, linear_kernel(T).astype(np.complex64))
    assert e.value.field == "K_priv"
    with pytest.raises(DataError) as e:
        smo_solve(svm_qp(gaussian_kernel(X).astype(complex), y), kernel_dtype="float32")
    assert e.value.field == "K"
