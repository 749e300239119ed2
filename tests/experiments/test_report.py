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
