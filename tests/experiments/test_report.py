import json

import pandas as pd

from webly.experiments.report import grid_ends, summary_table


def _results(choices):
    """Long-format rows of one method, one unit per chosen C (and gamma_scale 4)."""
    return pd.DataFrame([
        {"experiment": "e", "dataset": "d", "method": "SVM", "seed": i, "fold": 0,
         "metric": "accuracy", "value": 0.5, "fit_seconds": 1.0,
         "params": json.dumps({"C": c, "gamma_scale": 4})}
        for i, c in enumerate(choices)])


def test_grid_ends_names_the_end_the_search_keeps_choosing():
    grid = {"C": [0.1, 1, 10], "gamma_scale": [1, 4, 16]}
    assert grid_ends(_results([0.1, 0.1, 1, 0.1]), {"SVM": grid}) == {"SVM": "C 75% low"}
    assert grid_ends(_results([10, 10, 1, 0.1]), {"SVM": grid}) == {"SVM": "C 50% high"}
    assert grid_ends(_results([1, 1, 10, 0.1]), {"SVM": grid}) == {"SVM": ""}


def test_grid_ends_skip_grids_whose_every_value_is_an_end():
    # two values, or values that are not numbers (layer sizes): no interior, no signal
    res = _results([0.1, 0.1])
    assert grid_ends(res, {"SVM": {"C": [0.1, 1]}}) == {"SVM": ""}
    assert grid_ends(res, {"SVM": {"hidden_layer_sizes": [[10], [20], [30]]}}) == {"SVM": ""}


def test_summary_table_shows_the_grid_end_column_only_when_an_end_is_hit():
    grid = {"SVM": {"C": [0.1, 1, 10]}}
    hit = summary_table(_results([10, 10, 10]), searches=grid)
    assert hit.loc["SVM", "grid end chosen in ≥ half the runs"] == "C 100% high"
    assert "grid end chosen in ≥ half the runs" not in summary_table(_results([1, 1]),
                                                                      searches=grid).columns


def test_report_states_the_premise_of_the_methods_under_the_table(tmp_path):
    from webly.experiments.config import parse_config
    from webly.experiments.runner import run_experiment

    cfg = parse_config({"name": "premise", "dataset": {"name": "web-digits", "noise_rate": 0.4,
                                                       "n_bags_per_class": 3},
                        "methods": ["SVM"], "protocol": {"split": "test"}, "seeds": [0, 1],
                        "output_dir": str(tmp_path)})
    out = run_experiment(cfg, progress=False)
    report = open(f"{out.run_dir}/report.md", encoding="utf-8").read()
    table_end = report.index("| SVM ")
    line = next(ln for ln in report.splitlines() if ln.startswith("**Premise**"))
    assert report.index(line) > table_end and "over 2 seeds" in line
    assert "wrong web labels" in line and "text-only classifier of wrongness" in line
    assert "10-component PCA" in line and "noise rate per source" in line
    assert out.premise[0]["text_noise_auc"] > 0.8  # tags of the true class reveal the noise
    again = run_experiment(cfg, progress=False)  # read back from premise.json
    assert again.premise == out.premise
