"""Zero-shot noise detection from text on the real crawl: how well does the similarity of a web
row's text to its query's class name tell wrong rows from right ones, with no training at all?

Data: the Open Clip Art crawl (``datasets/openclipart``: 423 web rows, 13.7% wrong); text =
title + keywords with the row's own query word removed, embedded with all-MiniLM-L6-v2
(``openclipart_text_minilm.npz``, built by ``build_minilm_text.py``); class vectors = the same
model on the class names (``openclipart13``). Scores: :class:`webly.heads.ZeroShotClassifier`'s
``noise_scores_`` (best similarity to another class minus similarity to the query's class).
Beside it: the text premise of ``webly.diagnostics`` (a logistic regression *trained* out of
fold on the TF-IDF text against the true wrongness, evaluation only). TF-IDF class-name vectors
cannot serve zero-shot here: the query words are removed from the texts, so 5 of 13 are zero.

Run from the repository root: ``python benchmarks/zero_shot_text.py`` (a few seconds).
"""

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from webly import WebDataset  # noqa: E402
from webly.diagnostics import noise_auc_within, text_noise_scores  # noqa: E402
from webly.experiments.benchmarks import machine_line  # noqa: E402
from webly.experiments.registry import with_class_vectors  # noqa: E402
from webly.heads import ZeroShotClassifier  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets",
                    "openclipart")


def _row(name, noisy, scores, queries, how):
    return (f"| {name} | {roc_auc_score(noisy, scores):.3f} | "
            f"{noise_auc_within(noisy, scores, queries):.3f} | {how} |")


def main():
    raw = WebDataset.from_npz(os.path.join(HERE, "openclipart_crawl.npz"))
    ds = with_class_vectors(raw, "openclipart13")
    with np.load(os.path.join(HERE, "openclipart_text_minilm.npz"), allow_pickle=False) as z:
        T, sha = z["X_priv"], str(z["text_sha1"])
    texts = ds.meta["text"].astype(str)
    if sha != hashlib.sha1("\n".join(texts).encode()).hexdigest():
        sys.exit("openclipart_text_minilm.npz does not match the crawl's texts; rebuild it")
    noisy = ds.is_noisy
    minilm = ZeroShotClassifier().fit(T, ds.y, class_vectors=ds.class_vectors,
                                      class_names=ds.class_names, X_priv=T)
    trained = text_noise_scores(raw.X_priv, raw.y, noisy, raw.bag_ids, random_state=0)
    print(f"### Zero-shot noise detection from text (Open Clip Art crawl, {len(noisy)} web rows, "
          f"{noisy.mean():.1%} wrong)")
    print()
    print("| score | noise ROC-AUC, pooled | within a query | training |")
    print("|---|---|---|---|")
    print(_row("zero-shot, MiniLM text vs MiniLM class name", noisy, minilm.noise_scores_, ds.y,
               "none"))
    print(_row("text premise: logistic regression on TF-IDF text (out of fold)", noisy, trained,
               ds.y, "on the true wrongness (evaluation only)"))
    print()
    print("For comparison, the image-based methods' noise ROC-AUC on the same rows is the "
          "noise_auc column of the crawl_openclipart table.")
    print()
    print(machine_line(["numpy", "scikit-learn"]))


if __name__ == "__main__":
    main()
