"""Which web source counts? MDA-HS's source weights against one classifier per source.

The embedded ``web-digits`` crawl comes from three web sources with different corruptions of
the same digit images (``clean``, ``noise``: added pixel noise, ``blur``), 30 % wrong images in
each, and an unlabelled clean target (the test images). MDA-HS learns source weights, target
pseudo-labels and a target classifier together; the baselines are the uniform average of one
classifier per source and each source's classifier alone (the best of which, picked after
looking at the target labels, is an oracle, not a method). Prints the target accuracy of each
and MDA-HS's two per-source numbers: ``source_weights_`` (each source's share of the kernel
weights) and ``source_relevance_`` (the weight of its classifier in the target decision).

Run from the repository root (a few seconds on 2 CPU cores)::

    python examples/multisource_weights.py        # --noise 0.5 --seed 1
"""

import argparse
import time

import webly


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--noise", type=float, default=0.3, help="fraction of wrong images per bag")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    ds = webly.make_web_digits(noise_rate=args.noise, random_state=args.seed)
    sources = sorted(str(s) for s in set(ds.source))
    print(f"web-digits: {ds.n_rows} web rows from sources {sources}, {args.noise:.0%} wrong; "
          f"target: {len(ds.y_test)} clean unlabelled images (labels used for scoring only)")

    def accuracy(est):
        return float((est.predict(ds.X_test) == ds.y_test).mean())

    t0 = time.perf_counter()
    mdahs = webly.MDAHS().fit(ds.X, ds.y, sources=ds.source, X_target=ds.X_test)
    print(f"\nMDA-HS            target accuracy {accuracy(mdahs):.3f} "
          f"({time.perf_counter() - t0:.1f} s)")
    print(f"{'source':<8} {'weight':>7} {'relevance':>10} {'alone: accuracy':>16}")
    for s in sources:
        alone = webly.SingleSourceClassifier(source=s).fit(ds.X, ds.y, sources=ds.source)
        print(f"{s:<8} {mdahs.source_weights_[s]:>7.3f} {mdahs.source_relevance_[s]:>10.4f} "
              f"{accuracy(alone):>16.3f}")
    uniform = webly.UniformSourcesClassifier().fit(ds.X, ds.y, sources=ds.source)
    print(f"\nuniform average of the {len(sources)} source classifiers: "
          f"target accuracy {accuracy(uniform):.3f}")


if __name__ == "__main__":
    main()
