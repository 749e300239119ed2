"""Run-level bad input at the CLI: one line naming the field, exit status 2, nothing written.

13 cases (the count is checked below): run names that would leave ``output_dir``, metrics or
methods the data cannot serve, a search scored by a per-class metric, and errors raised inside
worker processes (``n_jobs: 2``), which must reach the user as themselves, not as a broken
process pool.
"""

import os
import pickle

import numpy as np
import pytest
import yaml

from webly import cli
from webly.errors import ConfigError, DataError


def _some_bags(ds):
    return np.flatnonzero(np.isin(ds.bags, np.arange(0, 80, 4)))  # every class, whole bags


@pytest.fixture(scope="module")
def plain_npz(tmp_path_factory, web_digits):
    """An npz with web rows and a labelled test set, but no y_true and no class vectors."""
    path = tmp_path_factory.mktemp("data") / "plain.npz"
    rows = _some_bags(web_digits)
    np.savez(path, X=web_digits.X[rows], y=web_digits.y[rows], bags=web_digits.bags[rows],
             X_test=web_digits.X_test[::5], y_test=web_digits.y_test[::5])
    return path


@pytest.fixture(scope="module")
def no_test_npz(tmp_path_factory, web_digits):
    path = tmp_path_factory.mktemp("data") / "notest.npz"
    rows = _some_bags(web_digits)
    np.savez(path, X=web_digits.X[rows], y=web_digits.y[rows], bags=web_digits.bags[rows])
    return path


@pytest.fixture(scope="module")
def hetero_npz(tmp_path_factory):
    """Two sources with their own feature types (images: 2-D; videos: 2-D keyframes + 3-D)."""
    from webly import GroupedFeatures, WebDataset

    rng = np.random.RandomState(0)
    y_img, y_vid, y_t = (rng.randint(0, 2, n) for n in (30, 20, 12))
    two = lambda y: np.c_[2.0 * y - 1 + 0.5 * rng.randn(len(y)), rng.randn(len(y))]  # noqa: E731
    frames, frames_t = np.repeat(np.arange(20), 2), np.repeat(np.arange(12), 2)
    ds = WebDataset.from_sources(
        {"img": {"2d": two(y_img)},
         "vid": {"2d": GroupedFeatures(two(y_vid[frames]), frames), "3d": rng.randn(20, 3)}},
        {"img": y_img, "vid": y_vid},
        target={"2d": GroupedFeatures(two(y_t[frames_t]), frames_t), "3d": rng.randn(12, 3)},
        target_labels=y_t, y_true=np.r_[y_img, y_vid], name="hetero")
    path = tmp_path_factory.mktemp("data") / "hetero.npz"
    ds.to_npz(path)
    return path


DIGITS = {"name": "web-digits", "noise_rate": 0.4}
CASES = [
    # (id, config changes, dataset ("digits" | "plain" | "notest"), field the message starts with)
    ("name-escapes", {"name": "../../escaped"}, "digits", "name"),
    ("name-separator", {"name": "a/b"}, "digits", "name"),
    ("name-dotdot", {"name": ".."}, "digits", "name"),
    ("noise-auc-without-y-true", {"protocol": {"metrics": ["accuracy", "noise_auc"]}}, "plain",
     "protocol.metrics"),
    ("oracle-without-y-true", {"methods": ["SVM", "SVM-oracle"]}, "plain", "methods"),
    ("split-test-without-test-set", {}, "notest", "protocol.split"),
    ("one-array-method-on-several-feature-types", {"methods": ["MDA-HS", "SVM"]}, "hetero",
     "methods"),
    # held-out web rows may lack feature types, and they would be X_target and scored rows
    ("holdout-on-several-feature-types", {"methods": ["MDA-HS"],
                                          "protocol": {"split": "holdout"}}, "hetero",
     "protocol.split"),
    ("search-on-several-feature-types",
     {"methods": [{"name": "uniform-sources", "search": {"C_source": [1, 10]}}]}, "hetero",
     "methods"),
    # the inner search scores its grid with the first metric; ap is one value per class
    ("search-scored-by-ap", {"methods": [{"name": "SVM", "search": {"C": [1, 10]}}],
                             "protocol": {"metrics": ["ap", "accuracy"]}}, "digits",
     "protocol.metrics"),
    ("split-test-without-test-set-2-jobs", {"parallel": {"n_jobs": 2}}, "notest",
     "protocol.split"),
    # raised in fit, inside a worker: a DataError used not to unpickle (BrokenProcessPool)
    ("unit-error-in-worker", {"methods": ["zero-shot"], "parallel": {"n_jobs": 2}}, "plain",
     "class_vectors"),
    ("unit-error-in-process", {"methods": ["zero-shot"]}, "plain", "class_vectors"),
]


def test_the_docstring_counts_the_cases():
    assert __doc__.split("\n\n")[1].startswith(f"{len(CASES)} cases")


@pytest.mark.parametrize("changes,data,field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_run_level_errors_are_one_line_naming_the_field_and_write_nothing(
        tmp_path, capsys, changes, data, field, plain_npz, no_test_npz, hetero_npz):
    dataset = {"digits": DIGITS, "plain": {"name": "npz", "path": str(plain_npz)},
               "notest": {"name": "npz", "path": str(no_test_npz)},
               "hetero": {"name": "npz", "path": str(hetero_npz)}}[data]
    work = tmp_path / "work"
    out = work / "runs"
    work.mkdir()
    raw = {"name": "bad", "dataset": dataset, "methods": ["SVM"], "seeds": [0, 1],
           "output_dir": str(out), "protocol": {"metrics": ["accuracy"]}, **changes}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    before = set(os.listdir(tmp_path))
    rc = cli.main([str(cfg), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith(f"error: {field}: "), err
    assert set(os.listdir(tmp_path)) == before  # nothing beside the work folder
    written = [os.path.join(d, f) for d, _, files in os.walk(work) for f in files
               if not f.startswith(".")]  # a run folder's lock file may remain
    assert written == []


@pytest.mark.parametrize("error", [DataError("X", "contains NaN; impute"),
                                   ConfigError("methods[0].C", "must be > 0"),
                                   ConfigError("", "the top level must be a mapping")])
def test_errors_pickle_with_their_field_and_message(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and back.field == error.field and str(back) == str(error)


def test_warnings_of_a_fit_reach_the_user_of_a_run(tmp_path, caplog, plain_npz):
    # sMIL-PI on data without X_priv quietly becomes sMIL: the fit warns, and a run (which
    # records warnings to count convergence problems) shows it once per unit
    raw = {"name": "warned", "dataset": {"name": "npz", "path": str(plain_npz)},
           "methods": ["sMIL-PI"], "seeds": [0], "output_dir": str(tmp_path / "runs"),
           "protocol": {"metrics": ["accuracy"]}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    with caplog.at_level("WARNING", logger="webly"):
        assert cli.main([str(cfg), "--quiet"]) == 0
    shown = [r.getMessage() for r in caplog.records if "X_priv" in r.getMessage()]
    assert len(shown) == 1 and "sMIL-PI seed 0 fold 0: DataWarning: X_priv: " in shown[0]


def test_a_run_on_sources_with_their_own_feature_types(tmp_path, hetero_npz):
    raw = {"name": "hetero", "dataset": {"name": "npz", "path": str(hetero_npz)},
           "methods": [{"name": "MDA-HS", "max_rounds": 2}, "uniform-sources"], "seeds": [0],
           "output_dir": str(tmp_path / "runs"), "protocol": {"metrics": ["accuracy"]}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert cli.main([str(cfg), "--quiet"]) == 0
    results = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "runs") for f in fs
               if f == "results.csv"]
    import pandas as pd
    table = pd.read_csv(results[0])
    accuracy = table[table["metric"] == "accuracy"].set_index("method")["value"]
    assert set(accuracy.index) == {"MDA-HS", "uniform-sources"}
    assert (accuracy > 0.8).all()  # the class is readable in the 2-D features
    # the Premise line of a data set with y_true and several feature types (no PCA of its rows)
    report = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "runs") for f in fs
              if f == "report.md"]
    assert "**Premise**" in open(report[0], encoding="utf-8").read()


def test_version_prints_the_package_version(capsys):
    import webly
    from webly.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"webly {webly.__version__}"
