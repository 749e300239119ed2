"""report.md and figures of a run: mean +- std over seeds and folds, per method and metric."""

import json
import os

import numpy as np
import pandas as pd

from ..fileio import atomic_path, write_text
from ..multisource.reporting import add_best_source_rows


def summary_table(results, published=None, searches=None):
    """Wide table: one row per method (config order), ``mean ± std`` per metric.

    With ``published`` (a PublishedSpec) and a single dataset in ``results``, a column gives the
    published value of each method for that dataset, marked as published. With ``searches``
    (method label -> inner search grid), a column names the grid ends the inner search chose in
    at least half of the runs (see :func:`grid_ends`).
    """
    if results.empty:
        return pd.DataFrame()
    order = list(dict.fromkeys(results["method"]))
    metric_order = list(dict.fromkeys(results["metric"]))
    g = results.groupby(["method", "metric"], sort=False)["value"]
    stats = g.agg(["mean", "std", "count"]).reset_index()

    def fmt(r):
        std = 0.0 if np.isnan(r["std"]) else r["std"]
        return f"{r['mean']:.4f} ± {std:.4f}"

    stats["cell"] = stats.apply(fmt, axis=1)
    wide = stats.pivot(index="method", columns="metric", values="cell")
    wide = wide.reindex(index=order, columns=[m for m in metric_order if m in wide.columns])
    wide = wide.fillna("")
    secs = results.drop_duplicates(["method", "seed", "fold"]).groupby("method")["fit_seconds"]
    wide["fit seconds"] = secs.mean().reindex(order).map(lambda s: f"{s:.3f}")
    wide["runs"] = stats.groupby("method")["count"].max().reindex(order)
    if "convergence_warnings" in results.columns:
        units = results.drop_duplicates(["method", "seed", "fold"])
        warned = units.groupby("method")["convergence_warnings"].apply(lambda s: int((s > 0).sum()))
        if warned.any():
            wide["runs with convergence warnings"] = warned.reindex(order)
    if searches:
        ends = grid_ends(results, searches)
        if any(ends.values()):
            wide["grid end chosen in ≥ half the runs"] = [ends.get(m, "") for m in wide.index]
    datasets = results["dataset"].unique()
    if published is not None and len(datasets) == 1 and datasets[0] in published.values:
        pub = published.values[datasets[0]]
        wide[f"published {published.metric}"] = [f"{pub[m]:.4f}" if m in pub else ""
                                                 for m in wide.index]
    return wide


def summary_text(table, width=100):
    """:func:`summary_table` as markdown tables whose lines are at most ``width`` characters.

    The same cells, moved as follows: the first table holds the headline columns (the metrics,
    fit seconds, runs and any other column); each family of per-source or per-class metrics
    (``source_weight/<source>``, ``source_relevance/<source>``, ``ap/<class>``) follows as a
    table of its own, titled with the family, one column per source or class (the part after
    ``/``), and only the methods that have a value in it. A table still wider than ``width`` is
    split by columns into several, each repeating the method column (a single column wider than
    ``width`` stays as it is).
    """
    if table.empty:
        return "(no results)"
    families = {}
    for col in table.columns:
        family = col.split("/", 1)[0] if isinstance(col, str) and "/" in col else ""
        families.setdefault(family, []).append(col)
    blocks = []
    for family, cols in families.items():
        part = table[cols]
        if family:
            part = part[(part != "").any(axis=1)]
            part = part.rename(columns={c: c.split("/", 1)[1] for c in cols})
        texts = [p.to_markdown(disable_numparse=True) for p in _split_columns(part, width)]
        blocks.append("\n\n".join(texts) if not family else
                      f"{family}/<{'source' if family.startswith('source_') else 'class'}>:\n"
                      + "\n\n".join(texts))
    return "\n\n".join(blocks)


def _split_columns(frame, width):
    """``frame`` as consecutive column groups whose markdown lines fit ``width`` characters."""
    parts, cols = [], []
    for col in frame.columns:
        trial = cols + [col]
        text = frame[trial].to_markdown(disable_numparse=True)
        if cols and max(map(len, text.splitlines())) > width:
            parts.append(frame[cols])
            trial = [col]
        cols = trial
    parts.append(frame[cols])
    return parts


def grid_ends(results, searches, share=0.5):
    """Method label -> the grid ends its inner search chose in at least ``share`` of the runs.

    For each searched parameter with at least three numeric values, the fraction of runs (seed x
    fold) whose chosen value is the grid's smallest or largest. A search that keeps landing on an
    end of its grid is cut short there: the text (e.g. ``"C 60% low; gamma_scale 94% high"``)
    says which way to widen it. Computed from the choices alone (training folds only), never from
    test scores.
    """
    units = results.drop_duplicates(["method", "seed", "fold"])
    out = {}
    for method, grid in searches.items():
        chosen = units.loc[units["method"] == method, "params"].map(json.loads)
        if chosen.empty:
            continue
        parts = []
        for key, values in grid.items():
            if len(values) < 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                          for v in values):
                continue
            picked = chosen.map(lambda q: q.get(key))
            for side, end in (("low", min(values)), ("high", max(values))):
                frac = float((picked == end).mean())
                if frac >= share:
                    parts.append(f"{key} {frac:.0%} {side}")
        out[method] = "; ".join(parts)
    return out


def _searches(cfg):
    return {m.display: m.search for m in cfg.methods if m.search}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path):
    """Write a figure atomically, without a timestamp-like Software tag, and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    _pyplot().close(fig)


def _figure(results, metric, path):
    plt = _pyplot()
    sub = results[results["metric"] == metric]
    order = list(dict.fromkeys(sub["method"]))
    agg = sub.groupby("method")["value"].agg(["mean", "std"]).reindex(order).fillna(0.0)
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(order) + 1.5), 3.2))
    ax.bar(range(len(order)), agg["mean"], yerr=agg["std"], capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(order)), order, rotation=20, ha="right")
    ax.set_ylabel(metric)
    lo = float((agg["mean"] - agg["std"]).min())
    ax.set_ylim(max(0.0, lo - 0.1), min(1.0, float((agg["mean"] + agg["std"]).max()) + 0.05))
    ax.set_title(f"{metric}: mean ± std over seeds and folds")
    fig.tight_layout()
    _save_figure(fig, path)


def _noise_histograms(panels, path):
    """Histograms of noise-score percentiles, truly clean vs truly wrong web labels.

    ``panels``: {row title: {method: (percentiles, noisy flags)}}; one row per title, one column
    per method. Percentiles are ranks within each run, so runs of different scale pool fairly.
    """
    plt = _pyplot()
    titles = list(panels)
    methods = list(dict.fromkeys(m for t in titles for m in panels[t]))
    fig, axes = plt.subplots(len(titles), len(methods), squeeze=False,
                             figsize=(2.9 * len(methods) + 0.6, 2.3 * len(titles) + 0.6))
    bins = np.linspace(0.0, 1.0, 21)
    for i, title in enumerate(titles):
        for j, method in enumerate(methods):
            ax = axes[i][j]
            if method not in panels[title]:
                ax.axis("off")
                continue
            pct, noisy = (np.asarray(v, dtype=float) for v in panels[title][method])
            ax.hist(pct[noisy == 0], bins=bins, density=True, alpha=0.6, color="#4c72b0",
                    label=f"clean ({int((noisy == 0).sum())})")
            ax.hist(pct[noisy == 1], bins=bins, density=True, alpha=0.6, color="#dd8452",
                    label=f"wrong label ({int((noisy == 1).sum())})")
            ax.set_title(method if not title else f"{method}\n{title}", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == len(titles) - 1:
                ax.set_xlabel("noise-score percentile in its run", fontsize=7)
            if j == 0:
                ax.legend(fontsize=6)
    fig.suptitle("noise scores of training rows: truly clean vs truly wrong web labels",
                 fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)


def _source_weight_figure(panels, path):
    """Grouped bars of learned source weights (mean ± std), one panel per title."""
    plt = _pyplot()
    titles = list(panels)
    fig, axes = plt.subplots(1, len(titles), squeeze=False,
                             figsize=(3.6 * len(titles) + 0.6, 3.2))
    for ax, title in zip(axes[0], titles):
        sub = panels[title]
        sub = sub[sub["metric"].str.startswith("source_weight/")]
        methods = list(dict.fromkeys(sub["method"]))
        sources = list(dict.fromkeys(sub["metric"]))
        width = 0.8 / max(1, len(sources))
        for k, src in enumerate(sources):
            agg = (sub[sub["metric"] == src].groupby("method")["value"].agg(["mean", "std"])
                   .reindex(methods).fillna(0.0))
            ax.bar(np.arange(len(methods)) + k * width, agg["mean"], width, yerr=agg["std"],
                   capsize=2, label=src.split("/", 1)[1])
        ax.set_xticks(np.arange(len(methods)) + 0.4 - width / 2, methods, rotation=20,
                      ha="right", fontsize=7)
        ax.set_ylabel("learned source weight", fontsize=8)
        ax.set_title(title or "learned source weights", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    _save_figure(fig, path)


def _has_source_weights(results):
    return bool(results["metric"].str.startswith("source_weight/").any())


_PARALLEL_NOTE = ("Run folders are named by the dataset and protocol, not by `parallel`: a unit is "
                  "reused whatever `n_jobs` or backend computed it. Units run with "
                  "`parallel.threads` BLAS threads (here {threads}) wherever they run, so `n_jobs` "
                  "and the backend change no value; a unit from a run with another `threads` "
                  "may differ in its last bits.")


def _mean_std(values, fmt="{:.3f}"):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return fmt.format(np.mean(v)) + ("" if len(v) == 1 else " ± " + fmt.format(np.std(v)))


def premise_lines(premise):
    """The "Premise" paragraph under a results table, from seed -> premise report.

    Means ± std over seeds of :func:`webly.diagnostics.premise_report`: the share of wrong
    web labels, the ROC-AUC at which the privileged text (text premise of the -PI methods) and a
    PCA reconstruction error (off-manifold premise of the semantic VAE) tell wrong training rows
    from right ones, and the sources' noise rates. Empty without reports.
    """
    reps = list((premise or {}).values())
    if not reps:
        return []
    head = ("**Premise** (training web rows against their true labels, evaluation only; "
            "`webly.diagnostics`, 0.5 = no separation"
            + (f", mean ± std over {len(reps)} seeds" if len(reps) > 1 else "") + "): ")
    target = _source_target_part(reps)
    if reps[0]["noise_rate"] is None:
        return [head + "not measured: the data has no true labels of web rows (`y_true`)"
                + (f"; {target}" if target else "") + ".", ""]
    get = lambda key: [r[key] for r in reps]  # noqa: E731
    parts = [f"{_mean_std(get('noise_rate'), '{:.1%}')} wrong web labels"]
    if all(r["n_noisy"] in (0, r["n_rows"]) for r in reps):
        return [head + parts[0] + ": no premise to measure (no right or no wrong rows).", ""]
    text = _mean_std(get("text_noise_auc"))
    if text is None:
        parts.append("text premise (-PI): not measured (no privileged features `X_priv`)")
    else:
        within = _mean_std(get("text_noise_auc_within_query"))
        parts.append(f"text premise (-PI), ROC-AUC within a query of a text-only classifier of "
                     f"wrongness {within} (pooled over queries {text}, which also counts how "
                     "noisy each query is)")
    off = _mean_std(get("offmanifold_noise_auc"))
    if off is not None:
        parts.append(f"off-manifold premise (semantic VAE), ROC-AUC of the reconstruction "
                     f"error of a {reps[0]['n_components']}-component PCA: global {off}, "
                     f"per query {_mean_std(get('offmanifold_noise_auc_per_query'))}")
    if reps[0]["source_noise_rates"]:
        rates = {s: _mean_std([r["source_noise_rates"][s] for r in reps], "{:.1%}")
                 for s in reps[0]["source_noise_rates"]}
        parts.append("noise rate per source " + ", ".join(f"{s} {v}" for s, v in rates.items()))
    if target:
        parts.append(target)
    return [head + "; ".join(parts) + ".", ""]


def _source_target_part(reps):
    """The multi-source premise: how far each source lies from the target (or None)."""
    if not reps[0].get("source_target_auc"):
        return None
    aucs = {s: _mean_std([r["source_target_auc"][s] for r in reps])
            for s in reps[0]["source_target_auc"]}
    return ("sources vs target (multi-source premise), ROC-AUC of a classifier telling a "
            "source's rows from the target rows, 0.5 = like the target: "
            + ", ".join(f"{s} {v}" for s, v in aucs.items()))


def write_report(run_dir, cfg, results, resolved_cfg, noise=None, premise=None):
    """Write ``report.md`` with the summary table and one bar chart per headline metric.

    ``noise`` (method -> noise-score percentiles and truly-wrong flags) adds the histograms of
    noise scores split by truly clean and truly wrong rows; learned source weights get a figure.
    ``premise`` (seed -> :func:`webly.diagnostics.premise_report`) adds the premise line under
    the table (:func:`premise_lines`).
    """
    results = add_best_source_rows(results)  # oracle reference row, report only (not results.csv)
    fig_dir = os.path.join(run_dir, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    figures = []
    for metric in ("accuracy", "map", "bag_accuracy", "noise_auc"):
        if metric in set(results["metric"]):
            _figure(results, metric, os.path.join(fig_dir, f"{metric}.png"))
            figures.append(metric)
    if noise:
        _noise_histograms({"": noise}, os.path.join(fig_dir, "noise_scores.png"))
        figures.append("noise_scores")
    if _has_source_weights(results):
        _source_weight_figure({"": results}, os.path.join(fig_dir, "source_weights.png"))
        figures.append("source_weights")
    with open(os.path.join(run_dir, "versions.json"), encoding="utf-8") as fh:
        versions = json.load(fh)
    table = summary_table(results, cfg.published, _searches(cfg))
    lines = [
        f"# {cfg.name}",
        "",
        f"Dataset: `{json.dumps(resolved_cfg['dataset'])}`",
        "",
        f"Protocol: split `{cfg.protocol.split}`"
        + (f", {cfg.protocol.folds} folds by bag" if cfg.protocol.split == "kfold" else "")
        + (f", test size {cfg.protocol.test_size}" if cfg.protocol.split == "holdout" else "")
        + f"; seeds {cfg.seeds}. Values are mean ± std over seeds and folds.",
        "",
        _PARALLEL_NOTE.format(threads=cfg.parallel.threads),
        "",
        table.to_markdown(disable_numparse=True) if not table.empty else "(no results)",
        "",
    ]
    lines += premise_lines(premise) + _published_note(cfg) + _notes(cfg)
    for m in figures:
        lines += [f"![{m}](figures/{m}.png)", ""]
    libs = versions["libraries"]
    lines += [
        f"Machine: {versions['cpu']}, {versions['cpu_count']} cores; Python {versions['python']}; "
        + ", ".join(f"{k} {v}" for k, v in libs.items() if v),
        "",
        "Long-format results: `results.csv`; resolved config: `config.yaml`.",
        "",
    ]
    write_text(os.path.join(run_dir, "report.md"), "\n".join(lines))


def _sweep_figure(results, key, metric, path):
    plt = _pyplot()
    sub = results[results["metric"] == metric]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for method in dict.fromkeys(sub["method"]):
        agg = sub[sub["method"] == method].groupby(key)["value"].agg(["mean", "std"]).fillna(0.0)
        ax.errorbar(agg.index.astype(float), agg["mean"], yerr=agg["std"], marker="o", capsize=3,
                    label=method)
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {key}, mean ± std", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)


def write_sweep_report(run_dir, cfg, results, keys, noise=None, premise=None):
    """Report of a sweep: one summary table per point, and metric-vs-key figures.

    ``noise`` ({point title: {method: (percentiles, noisy flags)}}) adds noise-score histograms,
    one row per point; learned source weights get one panel per point. ``premise`` ({point
    title: {seed: premise report}}, in sweep order, as the points of ``results``) adds each
    point's premise line under its table.
    """
    fig_dir = os.path.join(run_dir, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    lines = [f"# {cfg.name} (sweep over {', '.join(keys)})", "",
             f"Protocol: split `{cfg.protocol.split}`; seeds {cfg.seeds}. "
             "Values are mean ± std over seeds and folds.", "",
             _PARALLEL_NOTE.format(threads=cfg.parallel.threads), ""]
    if noise:
        _noise_histograms(noise, os.path.join(fig_dir, "noise_scores.png"))
        lines += ["![noise scores](figures/noise_scores.png)", ""]
    if _has_source_weights(results):
        panels = {", ".join(f"{k} = {v}" for k, v in zip(keys, p if isinstance(p, tuple) else (p,))):
                  f for p, f in results.groupby(keys, sort=False)}
        _source_weight_figure(panels, os.path.join(fig_dir, "source_weights.png"))
        lines += ["![source weights](figures/source_weights.png)", ""]
    numeric = len(keys) == 1 and pd.api.types.is_numeric_dtype(results[keys[0]])
    if numeric:
        for metric in ("accuracy", "map", "bag_accuracy", "noise_auc"):
            if metric in set(results["metric"]):
                name = f"{metric}_vs_{keys[0].replace('.', '_')}.png"
                _sweep_figure(results, keys[0], metric, os.path.join(fig_dir, name))
                lines += [f"![{metric}](figures/{name})", ""]
    premises = list((premise or {}).values())
    for i, (point, frame) in enumerate(results.groupby(keys, sort=False)):
        point = point if isinstance(point, tuple) else (point,)
        lines += ["## " + ", ".join(f"{k} = {v}" for k, v in zip(keys, point)), "",
                  summary_table(add_best_source_rows(frame), cfg.published, _searches(cfg))
                  .to_markdown(disable_numparse=True), ""]
        lines += premise_lines(premises[i] if i < len(premises) else None)
    lines += _published_note(cfg) + _notes(cfg)
    write_text(os.path.join(run_dir, "report.md"), "\n".join(lines))


def _published_note(cfg):
    if cfg.published is None:
        return []
    return [f"Column `published {cfg.published.metric}`: numbers reported by "
            f"{cfg.published.source}, copied from the paper, not measured here.", ""]


def _notes(cfg):
    return [cfg.notes.strip(), ""] if cfg.notes else []
