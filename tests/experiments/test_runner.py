import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from webly.experiments import registry
from webly.experiments.config import load_config, parse_config
from webly.experiments.runner import RESULT_COLUMNS, run_experiment


def quickstart(repo_root, tmp_path, *overrides):
    return load_config(os.path.join(repo_root, "configs", "quickstart.yaml"),
                       [f"output_dir={tmp_path}", *overrides])


def a_methods(repo_root):
    return load_config(os.path.join(repo_root, "configs", "quickstart.yaml")).methods


def test_quickstart_writes_results_report_and_reruns_identically(repo_root, tmp_path):
    first = run_experiment(quickstart(repo_root, tmp_path), progress=False)
    files = set(os.listdir(first.run_dir))
    assert {"config.yaml", "versions.json", "results.csv", "report.md", "figures", "units"} <= files
    res = pd.read_csv(os.path.join(first.run_dir, "results.csv"))
    assert list(res.columns) == RESULT_COLUMNS
    assert set(res["method"]) >= {"SVM", "SVM-oracle"}
    assert {"accuracy", "map", "noise_auc"} <= set(res["metric"])
    assert {m for m in res["metric"] if not m.startswith(("source_weight/", "source_relevance/"))
            } == {"accuracy", "map", "noise_auc"}
    assert res[(res.method == "SVM-oracle") & (res.metric == "noise_auc")].empty
    acc = res[res.metric == "accuracy"].groupby("method")["value"].mean()
    assert acc["SVM-oracle"] > acc["SVM"] > 0.7
    report = open(os.path.join(first.run_dir, "report.md")).read()
    assert "| SVM " in report and "figures/accuracy.png" in report
    assert os.path.getsize(os.path.join(first.run_dir, "figures", "accuracy.png")) > 1000
    assert not [f for f in os.listdir(first.run_dir) if f.startswith(".tmp-")]
    # noise-score histograms (clean vs wrong rows) and the learned source weights are drawn
    for fig in ("noise_scores", "source_weights"):
        assert f"figures/{fig}.png" in report
        assert os.path.getsize(os.path.join(first.run_dir, "figures", f"{fig}.png")) > 1000
    # the histogram data: within-run percentiles of every training row, with its true flag
    pct, noisy = first.noise["SVM"]
    assert "SVM-oracle" not in first.noise  # scores about other labels: no histogram
    assert len(pct) == len(noisy) and set(noisy) == {0, 1} and 0 < min(pct) <= max(pct) == 1.0
    assert np.mean([p for p, n in zip(pct, noisy) if n]) > np.mean([p for p, n in zip(pct, noisy) if not n])

    second = run_experiment(quickstart(repo_root, tmp_path), progress=False)
    assert second.n_computed == 0 and second.n_reused == first.n_computed
    pd.testing.assert_frame_equal(first.results, second.results)
    assert second.noise == first.noise  # read back from the unit files


@pytest.mark.slow   # 13 s; two fresh quickstart runs are compared byte for byte in the default
# run (tests/experiments/test_crash_safety.py)
def test_same_seed_recomputed_from_scratch_gives_identical_values(repo_root, tmp_path):
    a = run_experiment(quickstart(repo_root, tmp_path / "a", "seeds=[1]"), progress=False)
    b = run_experiment(quickstart(repo_root, tmp_path / "b", "seeds=[1]"), progress=False)
    assert set(a.results["method"]) == {m.display for m in a_methods(repo_root)}
    assert b.n_computed == a.n_computed > 0
    cols = ["method", "seed", "fold", "metric", "value"]
    pd.testing.assert_frame_equal(a.results[cols], b.results[cols])


def test_adding_a_seed_computes_only_the_new_units(repo_root, tmp_path):
    cfg = quickstart(repo_root, tmp_path, "seeds=[0]", "methods=[SVM,SVM-oracle]")
    run_experiment(cfg, progress=False)
    more = run_experiment(quickstart(repo_root, tmp_path, "seeds=[0,1]", "methods=[SVM,SVM-oracle]"),
                          progress=False)
    assert more.n_reused == 2 and more.n_computed == 2
    assert sorted(more.results["seed"].unique()) == [0, 1]


def test_kfold_by_bag_on_a_mil_csv_with_bag_accuracy(repo_root, tmp_path):
    cfg = parse_config({
        "name": "musk", "output_dir": str(tmp_path),
        "dataset": {"name": "mil_csv",
                    "path": os.path.join(repo_root, "datasets", "mil_classic", "musk1.csv.gz")},
        "methods": [{"name": "SVM", "C": 10}],
        "protocol": {"split": "kfold", "folds": 3, "metrics": ["accuracy", "bag_accuracy"]},
        "seeds": [0]})
    out = run_experiment(cfg, progress=False)
    res = out.results
    assert sorted(res["fold"].unique()) == [0, 1, 2]
    assert res["n_test"].sum() // 2 == 476
    bag_acc = res[res.metric == "bag_accuracy"]["value"].mean()
    assert 0.6 < bag_acc <= 1.0


def test_holdout_with_inner_search_records_chosen_parameters(tmp_path):
    cfg = parse_config({
        "name": "search", "output_dir": str(tmp_path),
        "dataset": {"name": "web-digits", "n_bags_per_class": 4, "bag_size": 6},
        "methods": [{"name": "SVM", "search": {"C": [0.1, 10.0]}}],
        "protocol": {"split": "holdout", "test_size": 0.3, "inner_folds": 2},
        "seeds": [0]})
    res = run_experiment(cfg, progress=False).results
    import json
    assert json.loads(res["params"].iloc[0])["C"] in (0.1, 10.0)


def test_npz_dataset_through_the_runner(tmp_path, web_digits):
    path = tmp_path / "mine.npz"
    web_digits.to_npz(path)
    cfg = parse_config({"name": "npz", "output_dir": str(tmp_path / "runs"),
                        "dataset": {"name": "npz", "path": str(path)},
                        "methods": ["SVM"], "seeds": [0]})
    res = run_experiment(cfg, progress=False).results
    assert res["dataset"].iloc[0] == "web-digits" and len(res) == 2


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_train_per_class_subsample_follows_the_seed_and_reruns_identically(tmp_path, web_digits,
                                                                          fmt):
    # a learning-curve point must draw its training rows with the run's seed: another seed,
    # another subsample; the same seed in another process or invocation, the same one
    path = tmp_path / f"mine.{fmt}"
    getattr(web_digits, f"to_{fmt}")(path)
    spec = {"name": fmt, "path": str(path), "train_per_class": 5}
    a0, b0, a1 = (registry.load_dataset(spec, s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a0.X, b0.X)
    assert a0.X.shape == a1.X.shape and not np.array_equal(a0.X, a1.X)
    raw = {"name": "c", "dataset": spec, "methods": [{"name": "SVM", "C": 1.0}],
           "seeds": [0, 1], "protocol": {"split": "test", "metrics": ["map"]}}
    runs = [run_experiment(parse_config({**raw, "output_dir": str(tmp_path / d)}),
                           progress=False).results for d in ("r1", "r2")]
    ap = [r[r.metric == "map"].sort_values("seed")["value"].to_numpy() for r in runs]
    np.testing.assert_array_equal(ap[0], ap[1])
    assert ap[0][0] != ap[0][1]


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "webly.cli", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_bad_config_exits_nonzero_with_one_line(repo_root, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("dataset: {name: web-digits}\nmethods: [SVM, MadeUp]\n")
    out = run_cli(str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "methods[1].name: unknown method 'MadeUp'" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_refuses_npz_with_nan_naming_the_field(tmp_path):
    np.savez(tmp_path / "nan.npz", X=np.array([[0.0, np.nan], [1.0, 2.0]]), y=np.array([0, 1]))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"name": "npz", "path": str(tmp_path / "nan.npz")},
                                   "methods": ["SVM"], "output_dir": str(tmp_path / "runs"),
                                   "protocol": {"split": "holdout"}}))
    out = run_cli(str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    assert "X" in out.stderr and "NaN" in out.stderr and out.stderr.strip().count("\n") == 0
    assert not (tmp_path / "runs").exists()  # nothing written for a refused dataset


def test_cli_runs_quickstart_from_run_py(repo_root, tmp_path):
    out = subprocess.run([sys.executable, os.path.join(repo_root, "run.py"),
                          os.path.join(repo_root, "configs", "quickstart.yaml"),
                          f"output_dir={tmp_path}", "seeds=[0]"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "SVM-oracle" in out.stdout and "outputs in" in out.stdout


def test_dask_backend_on_a_real_local_cluster_equals_local_backend(repo_root, tmp_path):
    pytest.importorskip("distributed")
    few = "methods=[SVM,mi-SVM,SVM-oracle]"
    local = run_experiment(quickstart(repo_root, tmp_path / "local", "seeds=[0]", few),
                           progress=False)
    dask = run_experiment(quickstart(repo_root, tmp_path / "dask", "seeds=[0]", few,
                                     "parallel.backend=dask", "parallel.n_jobs=2"), progress=False)
    cols = ["method", "seed", "fold", "metric", "value"]
    pd.testing.assert_frame_equal(local.results[cols], dask.results[cols])


def test_sweep_over_a_dataset_parameter_runs_each_point_and_combines(tmp_path):
    cfg = parse_config({
        "name": "sw", "output_dir": str(tmp_path), "seeds": [0],
        "dataset": {"name": "web-digits", "n_bags_per_class": 4, "bag_size": 6},
        "methods": ["SVM"], "sweep": {"dataset.noise_rate": [0.0, 0.5]}})
    out = run_experiment(cfg, progress=False)
    res = out.results
    assert sorted(res["dataset.noise_rate"].unique()) == [0.0, 0.5]
    acc = res[res.metric == "accuracy"].set_index("dataset.noise_rate")["value"]
    assert acc[0.0] > acc[0.5]  # more wrong labels, worse SVM
    assert os.path.exists(os.path.join(out.run_dir, "figures", "accuracy_vs_dataset_noise_rate.png"))
    # noise-score histograms need wrong rows and noise_auc among the metrics: none here
    assert not os.path.exists(os.path.join(out.run_dir, "figures", "noise_scores.png"))
    again = run_experiment(cfg, progress=False)
    assert again.n_computed == 0
    # how many jobs computed it is not part of what it is: same folder, nothing recomputed
    two = run_experiment(cfg.model_copy(update={"parallel": cfg.parallel.model_copy(
        update={"n_jobs": 2})}), progress=False)
    assert two.run_dir == out.run_dir and two.n_computed == 0


def test_invalid_sweep_point_is_refused_before_running(tmp_path):
    from webly.errors import ConfigError
    with pytest.raises(ConfigError, match=r"^sweep\.dataset\.noise_rat: unknown parameter"):
        parse_config({"dataset": {"name": "web-digits"}, "methods": ["SVM"],
                      "sweep": {"dataset.noise_rat": [0.1]}})
    with pytest.raises(ConfigError, match="sweep"):
        parse_config({"dataset": {"name": "web-digits"}, "methods": ["SVM"],
                      "sweep": {"seeds": [0, 1]}})


def test_save_models_writes_loadable_models_without_changing_the_run(repo_root, tmp_path):
    from webly import persist
    few = "methods=[SVM,SVM-oracle]"
    plain = run_experiment(quickstart(repo_root, tmp_path, "seeds=[0]", few), progress=False)
    saved = run_experiment(quickstart(repo_root, tmp_path, "seeds=[0]", few,
                                      "protocol.save_models=true"), progress=False)
    # same folder; the finished units had no model, so they are fitted again to write one
    assert saved.run_dir == plain.run_dir and saved.n_computed == 2
    assert len(os.listdir(os.path.join(saved.run_dir, "models"))) == 2
    cols = ["method", "seed", "metric", "value"]
    pd.testing.assert_frame_equal(saved.results[cols], plain.results[cols])
    assert run_experiment(quickstart(repo_root, tmp_path, "seeds=[0]", few,
                                     "protocol.save_models=true"), progress=False).n_reused == 2
    fresh = run_experiment(quickstart(repo_root, tmp_path / "fresh", "seeds=[0]", few,
                                      "protocol.save_models=true"), progress=False)
    models = sorted(os.listdir(os.path.join(fresh.run_dir, "models")))
    assert len(models) == 2
    est = persist.load(os.path.join(fresh.run_dir, "models", models[0]))
    assert hasattr(est, "classes_")


def test_published_numbers_appear_marked_beside_measured_ones(repo_root, tmp_path):
    cfg = parse_config({
        "name": "pub", "output_dir": str(tmp_path), "seeds": [0],
        "dataset": {"name": "mil_csv",
                    "path": os.path.join(repo_root, "datasets", "mil_classic", "musk1.csv.gz")},
        "methods": [{"name": "mi-SVM", "C": 10}],
        "protocol": {"split": "holdout", "metrics": ["bag_accuracy"]},
        "published": {"source": "Andrews et al. 2003", "metric": "bag_accuracy",
                      "values": {"musk1": {"mi-SVM": 0.874}}}})
    out = run_experiment(cfg, progress=False)
    report = open(os.path.join(out.run_dir, "report.md")).read()
    assert "published bag_accuracy" in report and "0.8740" in report
    assert "copied from the paper, not measured here" in report
    assert set(out.results["metric"]) == {"bag_accuracy"}  # published values are not results


def test_a_data_file_edited_in_place_is_not_served_from_the_old_results(tmp_path, web_digits):
    path = tmp_path / "d.npz"
    rows = np.flatnonzero(np.isin(web_digits.bags, np.arange(0, 80, 4)))
    web_digits.subset(rows).to_npz(path)
    raw = {"name": "file", "dataset": {"name": "npz", "path": str(path)}, "methods": ["SVM"],
           "seeds": [0], "output_dir": str(tmp_path / "runs")}
    first = run_experiment(parse_config(raw), progress=False)
    again = run_experiment(parse_config(raw), progress=False)
    assert again.run_dir == first.run_dir and again.n_computed == 0  # same file: reused
    web_digits.subset(rows[: len(rows) // 2]).to_npz(path)  # same name, other contents
    edited = run_experiment(parse_config(raw), progress=False)
    assert edited.run_dir != first.run_dir and edited.n_computed == 1
