"""Command line: ``webly CONFIG [key=value ...]`` (also ``python run.py CONFIG ...``).

Runs the experiment a YAML config describes, prints a summary table and where the outputs are.
``webly embed MANIFEST --out FILE.npz`` embeds a crawl (webly.crawl) into a dataset file.
Bad input (config, data, overrides) prints one line ``error: <field>: <what to do>`` and exits
with status 2; ``--debug`` shows the traceback instead.
"""

import argparse
import gc
import logging
import os
import sys
import time

from . import __version__
from .errors import WeblyError


def build_parser():
    p = argparse.ArgumentParser(
        prog="webly", description="Run a webly experiment from a YAML config.",
        epilog="Overrides use dotted keys: seeds=[0,1] protocol.split=kfold methods.0.C=10")
    p.add_argument("config", help="path to a YAML config, e.g. configs/quickstart.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides of config fields")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (a bar on a terminal, else a line per finished unit) or "
                        "summary table")
    p.add_argument("--verbose", action="store_true", help="log what the runner does")
    p.add_argument("--join", action="store_true",
                   help="if another run is using the run folder, share its units instead of "
                        "waiting for it to finish (each unit is still computed once)")
    p.add_argument("--list", action="store_true", dest="list_only",
                   help="list registered datasets and methods, then exit")
    p.add_argument("--version", action="version", version=f"webly {__version__}")
    return p


def _list():
    from .experiments import registry
    print("datasets:")
    for k, v in registry.DATASETS.items():
        print(f"  {k:14s} {v.description}")
    print("methods:")
    for k, v in registry.METHODS.items():
        print(f"  {k:14s} {v.description}")


def build_embed_parser():
    from .crawl import DEFAULT_TEXT_COLUMNS

    p = argparse.ArgumentParser(
        prog="webly embed",
        description="Embed a crawl (a manifest of image files, queries and text) into a dataset "
                    "file for `dataset: {name: npz, path: FILE}`.")
    p.add_argument("manifest", help="crawl manifest, .csv or .parquet (columns path, query, ...)")
    p.add_argument("--out", required=True, help="output .npz (written atomically)")
    p.add_argument("--test", dest="test_manifest", help="manifest of the clean test set "
                                                        "(columns path, label)")
    p.add_argument("--image-model", default="efficientnet-lite0",
                   help="image network (default: efficientnet-lite0, in-wheel, offline)")
    p.add_argument("--text-model", default="tfidf",
                   help="tfidf, tfidf-svd, doc2vec, word2vec or minilm (default: tfidf)")
    p.add_argument("--text-columns", default=None,
                   help="comma-separated manifest columns forming the text (default: those of "
                        f"{', '.join(DEFAULT_TEXT_COLUMNS)} present; '' for no text)")
    p.add_argument("--n-components", type=int, default=100,
                   help="text dimension of tfidf-svd, doc2vec, word2vec (default: 100)")
    p.add_argument("--bag-size", type=int, default=10,
                   help="consecutive results of a query per bag (default: 10)")
    p.add_argument("--cache", dest="cache_dir", help="folder of the image-vector cache "
                                                     "(a re-run embeds nothing twice)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda ...")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def embed_main(argv):
    """``webly embed``: manifest -> WebDataset npz; failures to ``FILE.failures.csv``."""
    args = build_embed_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    start = time.perf_counter()
    try:
        from .crawl import check_params, crawl_dataset
        from .errors import DataError

        if not args.out.lower().endswith(".npz"):
            raise DataError("--out", f"{args.out!r} must end in .npz")
        check_params(manifest=args.manifest, test_manifest=args.test_manifest,
                     image_model=args.image_model, text_model=args.text_model,
                     bag_size=args.bag_size, n_components=args.n_components)
        text_columns = None if args.text_columns is None else \
            [c.strip() for c in args.text_columns.split(",") if c.strip()]
        ds, failures = crawl_dataset(
            args.manifest, test_manifest=args.test_manifest, image_model=args.image_model,
            text_model=args.text_model, text_columns=text_columns, bag_size=args.bag_size,
            n_components=args.n_components, cache_dir=args.cache_dir,
            batch_size=args.batch_size, device=args.device,
            progress=False if args.quiet else None, return_failures=True)
        ds.to_npz(args.out)
        failures_file = None
        if failures:
            import pandas as pd

            from .fileio import atomic_path

            failures_file = os.path.splitext(args.out)[0] + ".failures.csv"
            with atomic_path(failures_file) as tmp:
                pd.DataFrame(failures, columns=["path", "reason"]).to_csv(tmp, index=False)
    except WeblyError as exc:
        if args.debug:
            raise
        print(f"error: {_cli_field(exc.field)}: {exc.message}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    n_test = 0 if ds.X_test is None else ds.X_test.shape[0]
    print(f"{args.out}: {ds.n_rows} web rows x {ds.X.shape[1]} features, {len(ds.class_names)} "
          f"classes, {ds.n_bags} bags, {n_test} test rows, {len(failures)} failures"
          f"{f' (listed in {failures_file})' if failures_file else ''}, {seconds:.1f} s")
    return 0


def _cli_field(field):
    """A parameter of webly.crawl as the option that sets it (``bag_size`` -> ``--bag-size``)."""
    options = {"test_manifest": "--test", "image_model": "--image-model",
               "text_model": "--text-model", "bag_size": "--bag-size",
               "n_components": "--n-components", "text_columns": "--text-columns",
               "cache_dir": "--cache"}
    return options.get(field, field)


def main(argv=None):
    """The ``webly`` command; ``argv`` None reads ``sys.argv`` (a program, not a call)."""
    if argv is not None:
        return _main(argv)
    status = _main(sys.argv[1:])
    # The program ends here. The interpreter's teardown would run the cyclic garbage collector
    # over every object that torch, scipy, numba ... created (about 1 s of CPU after the
    # quickstart, measured); frozen objects are left to the process's exit. Atexit handlers,
    # threads and the standard streams end as usual.
    gc.freeze()
    return status


def _main(argv):
    if argv and argv[0] == "embed":
        return embed_main(argv[1:])
    if "--list" in argv:
        _list()
        return 0
    args = build_parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    try:
        from .experiments.config import load_config
        from .experiments.runner import run_experiment
        from .experiments.report import summary_table, summary_text

        cfg = load_config(args.config, args.overrides)
        result = run_experiment(cfg, progress=False if args.quiet else None, join=args.join)
    except WeblyError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        keys = list(cfg.sweep or [])
        groups = result.results.groupby(keys, sort=False) if keys else [((), result.results)]
        for point, frame in groups:
            if keys:
                point = point if isinstance(point, tuple) else (point,)
                print("\n" + ", ".join(f"{k} = {v}" for k, v in zip(keys, point)))
            print(summary_text(summary_table(frame, cfg.published)))  # lines of <= 100 chars
        print(f"\n{result.n_computed} runs computed, {result.n_reused} reused; "
              f"outputs in {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
