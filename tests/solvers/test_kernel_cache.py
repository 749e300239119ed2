"""The compiled SMO kernels are cached outside the installed package (issue 21 item 6): in
NUMBA_CACHE_DIR when set, else in numba's user-wide cache folder; never next to the source."""

import os
import subprocess
import sys

import webly

PACKAGE = os.path.dirname(os.path.abspath(webly.__file__))

# compiles and runs the smallest kernel, then prints where its cache lives
CODE = """
import numpy as np
from webly.solvers import _smo_kernels as k
H = np.zeros((2, 2)); F = np.arange(2); slots = np.arange(2)
y = np.ones(2); K = np.eye(2); p = -np.ones(2, dtype=np.int64); G = np.zeros((0, 0))
k.refresh_hessian(H, F, slots, 2, y, K, p, p, G, G, 1.0, 1.0)
assert H.tolist() == [[1.0, 0.0], [0.0, 1.0]]
print(k.refresh_hessian._cache.cache_path)
"""


def _run(tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR",
                                                            "NUMBA_CACHE_LOCATOR_CLASSES")}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         cwd=tmp_path, env={**base, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _cached(folder):
    return [f for _, _, files in os.walk(folder) for f in files
            if f.startswith("_smo_kernels.refresh_hessian") and f.endswith(".nbi")]


def test_kernels_are_cached_in_numba_cache_dir(tmp_path):
    before = _cached(os.path.join(PACKAGE, "solvers"))
    where = _run(tmp_path, NUMBA_CACHE_DIR=str(tmp_path / "nc"))
    assert where.startswith(str(tmp_path / "nc")), where
    assert _cached(tmp_path / "nc")  # written there ...
    assert _cached(os.path.join(PACKAGE, "solvers")) == before  # ... and not beside the source


def test_without_numba_cache_dir_the_user_cache_folder_not_the_package(tmp_path):
    where = _run(tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    assert not where.startswith(PACKAGE), where
    assert _cached(tmp_path / "xdg") or _cached(tmp_path / "home"), where
