"""The ``best-source`` oracle reference: derived from the single-source rows of a results table.

``best-source`` is not a method: it picks, per dataset (target), the single source whose
classifier scores best *on the target's labels*, which no method may see at fit time. It is
therefore computed after evaluation from the ``single-source`` rows (one per source position, see
:class:`~webly.multisource.SingleSourceClassifier`) and shown as a clearly marked oracle row.

The source is chosen once per dataset by the mean of ``select_metric`` over seeds and folds (not
per seed, which would be a max over noisy draws and biased upwards); every metric of that source's
rows is then copied under the label ``best-source (oracle)``.
"""

import pandas as pd

__all__ = ["BEST_SOURCE_LABEL", "add_best_source_rows"]

BEST_SOURCE_LABEL = "best-source (oracle)"


def add_best_source_rows(results, *, prefix="single-source", select_metric="accuracy",
                         label=BEST_SOURCE_LABEL):
    """Append ``best-source`` oracle rows to a long results table.

    Parameters
    ----------
    results : pandas.DataFrame
        Long format with at least ``dataset``, ``method``, ``metric``, ``value`` columns (the
        runner's ``results.csv``).
    prefix : str
        Methods whose label starts with ``prefix`` are the candidate single sources.
    select_metric : str
        Metric (higher is better) whose mean over seeds and folds picks the source per dataset.
    label : str
        Method label of the appended rows.

    Returns
    -------
    pandas.DataFrame
        ``results`` with the oracle rows appended (unchanged when there are no candidates, or
        when ``label`` rows are already present). A ``best_source`` column names the chosen
        candidate on the appended rows.
    """
    if results.empty or (results["method"] == label).any():
        return results
    cand = results[results["method"].astype(str).str.startswith(prefix)]
    sel = cand[cand["metric"] == select_metric]
    if sel.empty:
        return results
    means = sel.groupby(["dataset", "method"], sort=False)["value"].mean().reset_index()
    best = means.loc[means.groupby("dataset", sort=False)["value"].idxmax(), ["dataset", "method"]]
    rows = cand.merge(best, on=["dataset", "method"])
    rows = rows.assign(best_source=rows["method"], method=label)
    return pd.concat([results, rows], ignore_index=True)
