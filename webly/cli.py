"""Command line: ``webly CONFIG [key=value ...]`` (also ``python run.py CONFIG ...``).

Runs the experiment a YAML config describes, prints a summary table and where the outputs are.
Bad input (config, data, overrides) prints one line ``error: <field>: <what to do>`` and exits
with status 2; ``--debug`` shows the traceback instead.
"""

import argparse
import logging
import sys

from .errors import WeblyError


def build_parser():
    p = argparse.ArgumentParser(
        prog="webly", description="Run a webly experiment from a YAML config.",
        epilog="Overrides use dotted keys: seeds=[0,1] protocol.split=kfold methods.0.C=10")
    p.add_argument("config", help="path to a YAML config, e.g. configs/quickstart.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides of config fields")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    p.add_argument("--verbose", action="store_true", help="log what the runner does")
    p.add_argument("--join", action="store_true",
                   help="if another run is using the run folder, share its units instead of "
                        "waiting for it to finish (each unit is still computed once)")
    p.add_argument("--list", action="store_true", dest="list_only",
                   help="list registered datasets and methods, then exit")
    return p


def _list():
    from .experiments import registry
    print("datasets:")
    for k, v in registry.DATASETS.items():
        print(f"  {k:14s} {v.description}")
    print("methods:")
    for k, v in registry.METHODS.items():
        print(f"  {k:14s} {v.description}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--list" in argv:
        _list()
        return 0
    args = build_parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    try:
        from .experiments.config import load_config
        from .experiments.runner import run_experiment
        from .experiments.report import summary_table

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
            table = summary_table(frame, cfg.published)
            print(table.to_markdown(disable_numparse=True) if not table.empty else "(no results)")
        print(f"\n{result.n_computed} runs computed, {result.n_reused} reused; "
              f"outputs in {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
