"""Every bad input gets one line naming the field and the fix (or a warning naming it).

66 cases: 24 configs and overrides through the command line (in-process), 15 data files (npz,
parquet, MIL CSV) through the command line (in-process), 10 Python API errors, 13 Python API
warnings, 4 real command-line subprocesses.

A command-line case writes its config and data into a temporary folder, runs ``webly CONFIG
[overrides] --quiet`` there and checks: exit status 2, stderr exactly one line starting with
``error: <field>``, no traceback, and no file added or changed anywhere in the folder (a bad config
or data file fails before anything is written). A Python API case checks the exception type, its
``field`` and that its message is one line; a warning case checks the warning names the method
or field.
"""

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

import webly
from webly import cli
from webly.base import DataWarning
from webly.dataset import WebDataset
from webly.errors import ConfigError, DataError
from webly.experiments.config import apply_overrides

# ----------------------------------------------------------------------------- shared tiny data
_rng = np.random.default_rng(0)
X = _rng.normal(size=(24, 4))
Y = np.repeat([0, 1], 12)
BAGS = np.repeat(np.arange(6), 4)  # bags 0-2 of class 0, 3-5 of class 1
PRIV = _rng.normal(size=(24, 3))
SOURCES = np.tile(["a", "b"], 12)
X_TARGET = _rng.normal(size=(10, 4))

BASE_CFG = {"name": "bad", "dataset": {"name": "web-digits", "n_bags_per_class": 2,
                                       "bag_size": 4},
            "methods": ["SVM"], "seeds": [0], "output_dir": "out"}


def config(dataset=None, **top):
    """BASE_CFG with top-level fields replaced and dataset fields merged (a new name replaces)."""
    cfg = {**BASE_CFG, **top}
    if dataset is not None:
        cfg["dataset"] = dataset if "name" in dataset else {**BASE_CFG["dataset"], **dataset}
    return cfg


def file_dataset(name, path, **kw):
    return config(dataset={"name": name, "path": path, **kw})


# ----------------------------------------------------------------------------- data files
def _npz(path, **arrays):
    np.savez(path, **{"X": X, "y": Y, **arrays})


def _csr_arrays(**replace):
    T = sp.csr_matrix(np.where(PRIV > 0, PRIV, 0.0))
    arrays = {"X_priv_data": T.data, "X_priv_indices": T.indices, "X_priv_indptr": T.indptr,
              "X_priv_shape": np.array(T.shape)}
    arrays.update(replace)
    return {k: v for k, v in arrays.items() if v is not None}


def _good_npz_bytes(tmp):
    WebDataset(X=np.tile(X, (10, 1)), y=np.tile(Y, 10)).to_npz(tmp / "full.npz")
    data = (tmp / "full.npz").read_bytes()
    (tmp / "full.npz").unlink()
    return data


def _corrupt_npz(tmp, path):
    data = bytearray(_good_npz_bytes(tmp))
    middle = len(data) // 3
    data[middle:middle + 40] = bytes(b ^ 0xFF for b in data[middle:middle + 40])
    (tmp / path).write_bytes(bytes(data))


def _parquet(tmp, path, frame=None, metadata=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ds = WebDataset(X=X, y=Y, X_priv=PRIV, X_test=X[:6], y_test=Y[:6])
    table = pa.Table.from_pandas(ds.to_frame() if frame is None else frame(ds.to_frame()),
                                 preserve_index=False)
    if metadata is not None:
        table = table.replace_schema_metadata({b"webly": metadata})
    pq.write_table(table, tmp / path)


def _text_column(frame, column):
    frame[column] = frame[column].astype(str)
    frame.loc[0, column] = "n/a"
    return frame


def _csv(tmp, path, text):
    (tmp / path).write_text(text)


FILES = {
    "npz_object_y": lambda t: _npz(t / "d.npz", y=np.array([0, "cat", None] * 8, dtype=object)),
    "npz_bad_indptr": lambda t: _npz(t / "d.npz", **_csr_arrays(X_priv_indptr=np.arange(25)[::-1])),
    "npz_no_shape": lambda t: _npz(t / "d.npz", **_csr_arrays(X_priv_shape=None)),
    "npz_bad_indices": lambda t: _npz(t / "d.npz", **_csr_arrays(
        X_priv_indices=_csr_arrays()["X_priv_indices"] + 50)),
    "npz_truncated": lambda t: (t / "d.npz").write_bytes(_good_npz_bytes(t)[:500]),
    "npz_corrupt": lambda t: _corrupt_npz(t, "d.npz"),
    "npz_not_zip": lambda t: (t / "d.npz").write_text("X,y\n1,2\n"),
    "npz_huge_X": lambda t: np.savez(t / "d.npz", X=X * 1e200, y=Y),
    "npz_huge_X_test": lambda t: _npz(t / "d.npz", X_test=X[:6] * 1e200, y_test=Y[:6]),
    "npz_huge_X_priv": lambda t: _npz(t / "d.npz", X_priv=PRIV * 1e200),
    "parquet_text_X": lambda t: _parquet(t, "d.parquet", lambda f: _text_column(f, "X_1")),
    "parquet_text_X_priv": lambda t: _parquet(t, "d.parquet",
                                              lambda f: _text_column(f, "X_priv_0")),
    "parquet_meta_not_json": lambda t: _parquet(t, "d.parquet", metadata=b"{class_names: [0"),
    "parquet_meta_list": lambda t: _parquet(t, "d.parquet", metadata=b"[0, 1]"),
    "csv_header_only": lambda t: _csv(t, "d.csv", "bag_id,bag_label,f0,f1\n"),
    "csv_huge": lambda t: _csv(t, "d.csv", "bag_id,bag_label,f0\n1,1,1e200\n2,0,0\n"),
    "a_file": lambda t: (t / "afile").write_text("not a folder\n"),
}

# ----------------------------------------------------------------------------- CLI cases
# (id, config, overrides, files to write first, field the one error line must start with)
CONFIG_CASES = [
    ("noise_rate-text", config(dataset={"noise_rate": "high"}), [], None, "dataset.noise_rate"),
    ("noise_rate-range", config(dataset={"noise_rate": 1.5}), [], None, "dataset.noise_rate"),
    ("severity-text", config(dataset={"severity": "strong"}), [], None, "dataset.severity"),
    ("test_size-text", config(dataset={"test_size": "0.3"}), [], None, "dataset.test_size"),
    ("tag_noise-list", config(dataset={"tag_noise": [0.1]}), [], None, "dataset.tag_noise"),
    ("query_tag_rate-null", config(dataset={"query_tag_rate": None}), [], None,
     "dataset.query_tag_rate"),
    ("n_bags-float", config(dataset={"n_bags_per_class": 2.5}), [], None,
     "dataset.n_bags_per_class"),
    ("random_state-negative", config(dataset={"random_state": -1}), [], None,
     "dataset.random_state"),
    ("sources-number", config(dataset={"sources": ["clean", 3]}), [], None, "dataset.sources"),
    ("query-bags-noise_rate", config(dataset={"name": "npz-query-bags", "path": "d.npz",
                                              "noise_rate": "x"}), [], None,
     "dataset.noise_rate"),
    ("seeds-negative", config(seeds=[-1]), [], None, "seeds"),
    ("seeds-2**40", config(seeds=[2**40]), [], None, "seeds"),
    ("n_jobs-zero", config(parallel={"n_jobs": 0}), [], None, "parallel.n_jobs"),
    ("output_dir-file", config(output_dir="afile"), [], "a_file", "output_dir"),
    ("output_dir-under-file", config(output_dir="afile/runs"), [], "a_file", "output_dir"),
    ("search-C-negative", config(methods=[{"name": "SVM", "search": {"C": [1, -1]}}]), [],
     None, "methods[0].search.C"),
    ("search-gamma_scale-zero", config(methods=[{"name": "SVM",
                                                 "search": {"gamma_scale": [0]}}]), [], None,
     "methods[0].search.gamma_scale"),
    ("override-empty-key", config(), ["=5"], None, "=5"),
    ("override-empty-part", config(), ["seeds.=3"], None, "seeds.=3"),
    ("override-noise_rate", config(), ["dataset.noise_rate=high"], None, "dataset.noise_rate"),
    ("override-n_jobs", config(), ["parallel.n_jobs=0"], None, "parallel.n_jobs"),
    ("override-seeds", config(), ["seeds=[-5]"], None, "seeds"),
    ("override-search", config(), ["methods.0.search={C: [0]}"], None, "methods[0].search.C"),
    ("override-severity", config(), ["dataset.severity=-1"], None, "dataset.severity"),
]

DATA_CASES = [
    ("npz-object-y", file_dataset("npz", "d.npz"), [], "npz_object_y", "dataset (y)"),
    ("npz-sparse-bad-indptr", file_dataset("npz", "d.npz"), [], "npz_bad_indptr",
     "dataset (X_priv)"),
    ("npz-sparse-no-shape", file_dataset("npz", "d.npz"), [], "npz_no_shape",
     "dataset (X_priv_shape)"),
    ("npz-sparse-bad-indices", file_dataset("npz", "d.npz"), [], "npz_bad_indices",
     "dataset (X_priv)"),
    ("npz-truncated", file_dataset("npz", "d.npz"), [], "npz_truncated", "dataset.path"),
    ("npz-corrupt", file_dataset("npz", "d.npz"), [], "npz_corrupt", "dataset (X)"),
    ("npz-not-a-zip", file_dataset("npz", "d.npz"), [], "npz_not_zip", "dataset.path"),
    ("npz-X-1e200", file_dataset("npz", "d.npz"), [], "npz_huge_X", "dataset (X)"),
    ("npz-X_test-1e200", file_dataset("npz", "d.npz"), [], "npz_huge_X_test",
     "dataset (X_test)"),
    ("npz-X_priv-1e200", file_dataset("npz", "d.npz"), [], "npz_huge_X_priv",
     "dataset (X_priv)"),
    ("parquet-text-X", file_dataset("parquet", "d.parquet"), [], "parquet_text_X",
     "dataset (X)"),
    ("parquet-text-X_priv", file_dataset("parquet", "d.parquet"), [], "parquet_text_X_priv",
     "dataset (X_priv)"),
    ("parquet-metadata-not-json", file_dataset("parquet", "d.parquet"), [],
     "parquet_meta_not_json", "dataset (metadata)"),
    ("parquet-metadata-list", file_dataset("parquet", "d.parquet"), [], "parquet_meta_list",
     "dataset (metadata)"),
    ("mil_csv-header-only", file_dataset("mil_csv", "d.csv"), [], "csv_header_only",
     "dataset.path"),
]

SUBPROCESS_CASES = [
    ("noise_rate-text", config(dataset={"noise_rate": "high"}), [], None, "dataset.noise_rate"),
    ("override-empty-key", config(), ["=5"], None, "=5"),
    ("npz-object-y", file_dataset("npz", "d.npz"), [], "npz_object_y", "dataset (y)"),
    ("mil_csv-1e200", file_dataset("mil_csv", "d.csv"), [], "csv_huge", "dataset (X)"),
]


def _tree(folder):
    """Every file and folder under ``folder`` with its content (files) or None (folders)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder)] = None
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), folder)] = fh.read()
    return out


def _prepare(tmp_path, cfg, files):
    if files:
        FILES[files](tmp_path)
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "out" / "earlier.txt").write_text("an earlier run's file\n")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(tmp_path / "bad.yaml"), _tree(tmp_path)


def _check_one_error_line(err, field, before, tmp_path):
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith(f"error: {field}: "), lines[0]
    assert _tree(tmp_path) == before, "a refused run changed files"


@pytest.mark.parametrize("case_id,cfg,overrides,files,field",
                         [pytest.param(*c, id=c[0]) for c in CONFIG_CASES + DATA_CASES])
def test_cli_refuses_with_one_line_naming_the_field(tmp_path, monkeypatch, capsys, case_id, cfg,
                                                    overrides, files, field):
    path, before = _prepare(tmp_path, cfg, files)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        rc = cli.main([path, *overrides, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    _check_one_error_line(err, field, before, tmp_path)


@pytest.mark.parametrize("case_id,cfg,overrides,files,field",
                         [pytest.param(*c, id=c[0]) for c in SUBPROCESS_CASES])
def test_cli_subprocess_refuses_with_one_line_naming_the_field(tmp_path, case_id, cfg, overrides,
                                                               files, field):
    path, before = _prepare(tmp_path, cfg, files)
    proc = subprocess.run([sys.executable, "-m", "webly.cli", path, *overrides, "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    _check_one_error_line(proc.stderr, field, before, tmp_path)


# ----------------------------------------------------------------------------- Python API errors
def _tiny_memory(monkeypatch):
    # a 1 kB machine (the limit a user can set; kernels under 64 MB are otherwise not checked)
    monkeypatch.setenv("WEBLY_MEMORY_LIMIT", "1k")


def _fit_with_tiny_memory(monkeypatch, est, **kw):
    _tiny_memory(monkeypatch)
    est.fit(X, Y, **kw)


def _read_npz(tmp_path, files):
    FILES[files](tmp_path)
    WebDataset.from_npz(tmp_path / "d.npz")


# (id, action(tmp_path, monkeypatch), exception type, field, text the message must contain)
API_CASES = [
    ("make_web_digits-noise_rate-text",
     lambda t, m: webly.make_web_digits(noise_rate="0.4"), DataError, "noise_rate", "number"),
    ("make_web_digits-severity-nan",
     lambda t, m: webly.make_web_digits(severity=float("nan")), DataError, "severity", "number"),
    ("make_web_digits-random_state-negative",
     lambda t, m: webly.make_web_digits(random_state=-1), DataError, "random_state", "2**32"),
    ("fit-X-1e200", lambda t, m: webly.SVMClassifier().fit(X * 1e200, Y), DataError, "X",
     "rescale"),
    ("predict-X-1e200", lambda t, m: webly.SVMClassifier().fit(X, Y).predict(X * 1e200),
     DataError, "X", "rescale"),
    ("fit-X_priv-1e200", lambda t, m: webly.SVMPlusClassifier().fit(X, Y, X_priv=PRIV * 1e200),
     DataError, "X_priv", "rescale"),
    ("kernel-memory-SVM", lambda t, m: _fit_with_tiny_memory(m, webly.SVMClassifier()),
     DataError, "X", "a kernel fit on 24 rows needs about"),
    ("kernel-memory-SVM+", lambda t, m: _fit_with_tiny_memory(
        m, webly.SVMPlusClassifier(solver="smo"), X_priv=PRIV),
     DataError, "solver", "use solver='auto' or 'primal'"),
    ("npz-object-y", lambda t, m: _read_npz(t, "npz_object_y"), DataError, "y", "dtype object"),
    ("override-empty-key", lambda t, m: apply_overrides({}, ["=5"]), ConfigError, "=5",
     "malformed override"),
]


@pytest.mark.parametrize("case_id,action,exc_type,field,text",
                         [pytest.param(*c, id=c[0]) for c in API_CASES])
def test_python_api_raises_one_line_naming_the_field(tmp_path, monkeypatch, case_id, action,
                                                     exc_type, field, text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(exc_type) as info:
            action(tmp_path, monkeypatch)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ") and "\n" not in str(info.value)
    assert text in str(info.value)


# ----------------------------------------------------------------------------- Python API warnings
# (id, action, regex the warning message must match)
WARNING_CASES = [
    ("sMIL-PI-without-X_priv", lambda: webly.SMILPIClassifier().fit(X, Y, bags=BAGS),
     r"^X_priv: sMIL-PI was fit without privileged"),
    ("mi-SVM-PI-without-X_priv", lambda: webly.MiSVMPIClassifier().fit(X, Y, bags=BAGS),
     r"^X_priv: mi-SVM-PI was fit without privileged"),
    ("MIL-CPB-PI-without-X_priv", lambda: webly.MILCPBPIClassifier().fit(X, Y, bags=BAGS),
     r"^X_priv: MIL-CPB-PI was fit without privileged"),
    ("MDA-HS+-without-X_priv",
     lambda: webly.MDAHSPlus().fit(X, Y, sources=SOURCES, X_target=X_TARGET),
     r"^X_priv: MDA-HS\+ was fit without privileged"),
    ("mi-SVM-without-bags", lambda: webly.MiSVMClassifier().fit(X, Y),
     r"^bags: mi-SVM was fit without bags"),
    ("sMIL-without-bags", lambda: webly.SMILClassifier().fit(X, Y),
     r"^bags: sMIL was fit without bags"),
    ("y_test-label-unseen", lambda: WebDataset(X=X, y=Y, X_test=X[:3], y_test=np.array([0, 1, 7])),
     r"^y_test: labels \[7\] never occur in y"),
    ("dataset-identical-rows", lambda: WebDataset(X=np.ones((48, 4)), y=np.repeat([0, 1], 24)),
     r"^X: all 48 training rows are identical"),
    ("fit-identical-rows", lambda: webly.SVMClassifier().fit(np.ones((48, 4)),
                                                            np.repeat([0, 1], 24)),
     r"^X: all 48 training rows are identical"),
    ("gamma-huge", lambda: webly.SVMClassifier(gamma=1e6).fit(X, Y),
     r"^gamma: gamma=1e\+06 .*numerically the identity"),
    ("gamma-tiny", lambda: webly.SVMClassifier(gamma=1e-20).fit(X, Y),
     r"^gamma: gamma=1e-20 .*numerically all ones"),
    ("gamma_scale-huge", lambda: webly.SVMClassifier(gamma_scale=1e4).fit(X, Y),
     r"^gamma: .*gamma_scale=10000 x the 1/mean-squared-distance rule.*identity"),
    ("gamma_priv-huge", lambda: webly.SVMPlusClassifier(kernel_priv="rbf", gamma_priv=1e6).fit(
        X, Y, X_priv=PRIV), r"^gamma_priv: gamma_priv=1e\+06 .*numerically the identity"),
]


@pytest.mark.parametrize("case_id,action,match", [pytest.param(*c, id=c[0])
                                                  for c in WARNING_CASES])
def test_python_api_warns_naming_the_field(case_id, action, match):
    with pytest.warns(DataWarning, match=match) as record:
        action()
    assert all("\n" not in str(w.message) for w in record if w.category is DataWarning)


# ----------------------------------------------------------------------------- the count above
def test_docstring_counts_every_case():
    doc = __doc__.split("\n\n")[1]
    counts = {"total": r"^(\d+) cases", "config": r"(\d+) configs and overrides",
              "data": r"(\d+) data files", "api": r"(\d+) Python API errors",
              "warn": r"(\d+) Python API warnings", "sub": r"(\d+) real command-line"}
    said = {k: int(re.search(p, doc.replace("\n", " ")).group(1)) for k, p in counts.items()}
    actual = {"config": len(CONFIG_CASES), "data": len(DATA_CASES), "api": len(API_CASES),
              "warn": len(WARNING_CASES), "sub": len(SUBPROCESS_CASES)}
    actual["total"] = sum(actual.values())
    assert said == actual
    assert actual["total"] >= 50
    ids = [c[0] for c in CONFIG_CASES + DATA_CASES]
    assert len(ids) == len(set(ids))
    assert {c[3] for c in CONFIG_CASES + DATA_CASES + SUBPROCESS_CASES} - {None} <= set(FILES)
