"""Progress of a run's units: a bar on a terminal, one line per finished unit elsewhere.

On a terminal (stderr is a TTY) a tqdm bar counts the finished units. Off a terminal (CI logs,
``| tee``, ``nohup``) a bar would be a stream of carriage returns or nothing at all, so each
finished unit prints one line to stderr instead::

    quickstart [4/21] sMIL-PI seed 0 fold 0: accuracy 0.8796, fit 6.09 s

(the run's name, units done / units to do in this run, the unit, the protocol's first metric and
the fit seconds). ``progress=False`` (``webly --quiet``) prints nothing, ``progress=True`` always
draws the bar.
"""

import sys


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def unit_line(name, done, total, method, seed, fold, rows, metric):
    """The log line of a finished unit (``rows``: its long-format rows, None when another run
    computed it)."""
    head = f"{name} [{done}/{total}] {method} seed {seed} fold {fold}"
    if rows is None:
        return f"{head}: computed by another run"
    if not rows:
        return f"{head}: no metric"
    # the protocol's first metric (``ap`` is reported per class: its first class); else the first
    row = next((r for r in rows if r["metric"] == metric or r["metric"].startswith(metric + "/")),
               rows[0])
    return f"{head}: {row['metric']} {row['value']:.4f}, fit {row['fit_seconds']:.2f} s"


class Progress:
    """Counts the finished units of a run; see the module docstring for what it shows."""

    def __init__(self, cfg, total, progress=None, stream=None):
        self.cfg, self.total, self.done = cfg, total, 0
        self.stream = sys.stderr if stream is None else stream
        self.bar = self.lines = None
        if progress is None:
            progress = "bar" if _is_terminal(self.stream) else "lines"
        if progress is True or progress == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=cfg.name, unit="run", file=self.stream)
        elif progress == "lines":
            self.lines = True

    def update(self, unit, rows=None):
        """One more finished unit (``rows`` None: computed by another run)."""
        self.done += 1
        if self.bar is not None:
            self.bar.update()
        elif self.lines:
            spec = self.cfg.methods[unit.method_index]
            print(unit_line(self.cfg.name, self.done, self.total, spec.display, unit.seed,
                            unit.fold, rows, self.cfg.protocol.metrics[0]),
                  file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
