"""Run every benchmark and write BENCHMARKS.md: ``python -m webly.experiments.benchmarks``.

Runs each config in ``configs/benchmarks/*.yaml`` (resumable: finished runs are reused) and each
speed script ``benchmarks/*.py`` (their stdout is markdown; a script draws figures into
``$WEBLY_FIGURE_DIR`` and links them as ``$WEBLY_FIGURE_LINK/<file>``), with BLAS/OpenMP threads
pinned, then
writes one ``BENCHMARKS.md``: the machine and library versions, then per benchmark its report
(tables with mean ± std over seeds and folds, published numbers where the config gives them,
figures copied next to the file) and the wall time of this invocation.

``--verify`` writes nothing: it refits the stored runs of each config's first seed and checks
that every metric value comes out identical (exit status 1 if one differs or is not stored).
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time

from ..errors import WeblyError
from ..fileio import write_text


def machine_line(libraries, note=""):
    """One line naming the machine for a speed script's output: CPU, cores, ``note``, Python,
    the versions of ``libraries`` (distribution names) and the load average before the run."""
    from .runner import _versions

    v = _versions()
    libs = ", ".join(f"{k} {v['libraries'][k]}" for k in libraries if v["libraries"].get(k))
    return (f"CPU: {v['cpu']}; {v['cpu_count']} cores; {note}Python {v['python']}; {libs}; "
            f"load average before run: {os.getloadavg()[0]:.1f}")


def _section_from_report(report_path, fig_src, fig_dst, rel_prefix):
    with open(report_path, encoding="utf-8") as fh:
        text = fh.read()
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            line = "#" + line  # one level down
        if line.startswith("![") and "](figures/" in line:
            name = line.split("](figures/", 1)[1].rstrip(")")
            os.makedirs(fig_dst, exist_ok=True)
            shutil.copyfile(os.path.join(fig_src, name), os.path.join(fig_dst, name))
            line = line.replace("](figures/", f"]({rel_prefix}/")
        if line.startswith("Machine:") or line.startswith("Long-format results"):
            continue
        lines.append(line)
    return "\n".join(lines).strip()


def run_all(config_paths, scripts, output, figures_dir, threads, overrides=(), skipped=(),
            jobs=1):
    """Run configs and scripts; write ``output``. Returns the list of (name, seconds, ok)."""
    from threadpoolctl import threadpool_limits

    from .config import load_config
    from .runner import _versions, run_experiment

    sections, timings = [], []
    out_dir = os.path.dirname(os.path.abspath(output))
    for path in config_paths:
        cfg = load_config(path, overrides)
        t0 = time.perf_counter()
        with threadpool_limits(threads):
            result = run_experiment(cfg, progress=None)
        secs = time.perf_counter() - t0
        units = result.results.drop_duplicates(
            [c for c in result.results.columns if c in ("method", "seed", "fold")
             or c.startswith(("dataset.", "protocol.", "methods."))])
        compute = float((units["fit_seconds"] + units["predict_seconds"]).sum())
        timings.append((cfg.name, secs, compute))
        fig_dst = os.path.join(figures_dir, cfg.name)
        rel = os.path.relpath(fig_dst, out_dir)
        body = _section_from_report(os.path.join(result.run_dir, "report.md"),
                                    os.path.join(result.run_dir, "figures"), fig_dst, rel)
        sections.append(f"{body}\n\nConfig: `{path}`; this invocation: {secs:.0f} s "
                        f"({result.n_computed} runs computed, {result.n_reused} reused).")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads)}
    for script in scripts:
        # a script may draw figures: it saves them under WEBLY_FIGURE_DIR and links them in its
        # markdown through WEBLY_FIGURE_LINK (the same folder, relative to the output file)
        stem = os.path.splitext(os.path.basename(script))[0]
        fig_dst = os.path.join(figures_dir, stem)
        env = {**env, "WEBLY_FIGURE_DIR": os.path.abspath(fig_dst),
               "WEBLY_FIGURE_LINK": os.path.relpath(fig_dst, out_dir)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env)
        secs = time.perf_counter() - t0
        timings.append((script, secs, secs))
        status = "" if proc.returncode == 0 else f"\n\n**failed with exit code {proc.returncode}**:\n```\n{proc.stderr[-2000:]}\n```"
        sections.append(f"## {os.path.basename(script)}\n\n{proc.stdout.strip()}{status}\n\n"
                        f"Script: `{script}`; {secs:.0f} s.")
    v = _versions()
    libs = ", ".join(f"{k} {val}" for k, val in v["libraries"].items() if val)
    head = [
        "# webly benchmarks",
        "",
        "Generated by `python -m webly.experiments.benchmarks`; every number below was measured by "
        "that command on the machine named here (published numbers, where shown, are marked as "
        "such). Values are mean ± std over seeds and folds. A method's fit seconds include its "
        "inner hyperparameter search, when its config has one.",
        "",
        f"Machine: {v['cpu']}, {v['cpu_count']} cores, {threads} BLAS thread(s) per process; "
        f"Python {v['python']} on {v['platform']}. Runs of a config computed {jobs} at a time "
        "(their fit seconds include that sharing); speed scripts ran alone.",
        "",
        f"Libraries: {libs}.",
        "",
        "| benchmark | fit + predict seconds of all its runs | seconds of this invocation "
        "(finished runs are reused) |",
        "| --- | --- | --- |",
        *[f"| {n} | {c:.0f} | {s:.0f} |" for n, s, c in timings],
        "",
    ]
    if skipped:
        head += ["Not run in this invocation (no numbers below): "
                 + ", ".join(f"`{p}`" for p in skipped) + ".", ""]
    write_text(output, "\n".join(head) + "\n" + "\n\n".join(sections) + "\n")
    return timings


def verify_all(config_paths, overrides=()):
    """Refit the stored runs of each config's first seed; print one line per config and every
    mismatch. Returns 0 when all values were compared and identical, 1 otherwise."""
    from .config import load_config
    from .runner import verify_experiment

    bad = False
    for path in config_paths:
        cfg = load_config(path, overrides=list(overrides))
        t0 = time.perf_counter()
        res = verify_experiment(cfg)
        ok = res.n_compared > 0 and not res.mismatches and not res.n_missing
        bad |= not ok
        print(f"{cfg.name}: seed {cfg.seeds[0]}: {res.n_compared} values recomputed, "
              f"{len(res.mismatches)} differ, {res.n_missing} units not stored"
              f"{f', {res.n_new} new metrics not compared' if res.n_new else ''} "
              f"({time.perf_counter() - t0:.0f} s){'' if ok else '  <- FAILED'}", flush=True)
        for m in res.mismatches:
            print(f"  {m['method']} seed {m['seed']} fold {m['fold']} {m['metric']}: stored "
                  f"{m['stored']!r}, recomputed {m['recomputed']!r} ({m['run_dir']})")
    return 1 if bad else 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m webly.experiments.benchmarks",
                                description="Run every benchmark and write BENCHMARKS.md.")
    p.add_argument("--configs", default="configs/benchmarks/*.yaml",
                   help="glob of benchmark configs")
    p.add_argument("--scripts", default="benchmarks/*.py", help="glob of speed scripts")
    p.add_argument("--only", default=None,
                   help="comma-separated names (config or script stems) to run")
    p.add_argument("--output", default="BENCHMARKS.md")
    p.add_argument("--figures-dir", default="docs/benchmarks")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads per process")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="runs of a config computed in parallel (processes; default: one per "
                        "core). Speed scripts always run alone.")
    p.add_argument("--verify", action="store_true",
                   help="write nothing: refit the stored runs of each config's first seed and "
                        "check that every metric value comes out identical (exit 1 if not)")
    p.add_argument("overrides", nargs="*", help="key=value overrides applied to every config")
    args = p.parse_args(argv)
    configs = sorted(glob.glob(args.configs))
    scripts = sorted(glob.glob(args.scripts))
    skipped = []
    if args.only:
        keep = set(args.only.split(","))
        stem = lambda f: os.path.splitext(os.path.basename(f))[0]  # noqa: E731
        skipped = [f for f in configs + scripts if stem(f) not in keep]
        configs = [c for c in configs if stem(c) in keep]
        scripts = [s for s in scripts if stem(s) in keep]
    try:
        overrides = [f"parallel.n_jobs={args.jobs}", *args.overrides]
        if args.verify:
            return verify_all(configs, overrides)
        run_all(configs, scripts, args.output, args.figures_dir, args.threads, overrides,
                skipped, jobs=args.jobs)
    except WeblyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
