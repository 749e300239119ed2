"""The best-source oracle reference derived from single-source rows."""

import pandas as pd

from webly.multisource.reporting import BEST_SOURCE_LABEL, add_best_source_rows


def _results():
    rows = []
    for ds, acc in [("t1", {"single-source 0": [0.5, 0.7], "single-source 1": [0.65, 0.62]}),
                    ("t2", {"single-source 0": [0.3, 0.4], "single-source 1": [0.8, 0.9]})]:
        for method, values in acc.items():
            for seed, v in enumerate(values):
                rows.append((ds, method, seed, "accuracy", v))
                rows.append((ds, method, seed, "map", v / 2))
        rows.append((ds, "MDA-HS", 0, "accuracy", 0.99))
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "metric", "value"])


def test_best_source_is_chosen_per_dataset_by_mean_not_per_seed():
    out = add_best_source_rows(_results())
    best = out[out["method"] == BEST_SOURCE_LABEL]
    # t1: means 0.60 (source 0) vs 0.635 (source 1) -> source 1 for every seed, even though
    # source 0 wins seed 1; t2 -> source 1
    assert set(best.groupby("dataset")["best_source"].unique().map(tuple)) == {("single-source 1",)}
    t1 = best[(best["dataset"] == "t1") & (best["metric"] == "accuracy")].sort_values("seed")
    assert t1["value"].tolist() == [0.65, 0.62]
    assert set(best["metric"]) == {"accuracy", "map"}
    assert len(out) == len(_results()) + 8
    # idempotent, and methods are never picked from outside the single-source rows
    assert len(add_best_source_rows(out)) == len(out)


def test_without_single_source_rows_nothing_is_added():
    r = _results()
    r = r[~r["method"].str.startswith("single-source")]
    assert add_best_source_rows(r).equals(r)
