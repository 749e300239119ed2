"""What a run shows while and after it runs (issue 21 item 6): one line per finished unit when
stderr is not a terminal, nothing under --quiet, and a summary whose lines fit 100 columns."""

import io
import re

import pandas as pd
import yaml

from webly import cli
from webly.experiments.config import parse_config
from webly.experiments.progress import Progress, unit_line
from webly.experiments.report import summary_table, summary_text

LINE = re.compile(r"^tiny \[(\d)/4\] (SVM|SVM-oracle) seed ([01]) fold 0: "
                  r"accuracy (0\.\d{4}|1\.0000), fit \d+\.\d\d s$")


def _config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny", "dataset": {"name": "web-digits", "n_bags_per_class": 3},
        "methods": ["SVM", "SVM-oracle"], "seeds": [0, 1],
        "protocol": {"split": "test", "metrics": ["accuracy", "map"]},
        "output_dir": str(tmp_path / "runs")}))
    return str(path)


def test_off_a_terminal_each_finished_unit_prints_one_line(tmp_path, capsys):
    path = _config(tmp_path)
    assert cli.main([path]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 4, captured.err
    matches = [LINE.match(ln) for ln in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == [1, 2, 3, 4]
    assert {(m.group(2), m.group(3)) for m in matches} == {
        ("SVM", "0"), ("SVM", "1"), ("SVM-oracle", "0"), ("SVM-oracle", "1")}
    assert "SVM-oracle" in captured.out and "4 runs computed" in captured.out
    # a rerun computes nothing: no unit lines; --quiet prints nothing at all
    assert cli.main([path]) == 0
    assert capsys.readouterr().err == ""
    assert cli.main([path, "seeds=[2]", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_on_a_terminal_a_bar_instead_of_lines():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    cfg = parse_config({"name": "t", "dataset": {"name": "web-digits"}, "methods": ["SVM"]})
    out = Terminal()
    bar = Progress(cfg, 2, None, stream=out)
    assert bar.bar is not None and not bar.lines
    bar.close()
    plain = io.StringIO()
    assert Progress(cfg, 2, False, stream=plain).bar is None  # --quiet
    quiet = Progress(cfg, 2, False, stream=plain)
    quiet.update(None)
    assert plain.getvalue() == ""


def test_unit_line_names_the_first_metric_and_a_unit_of_another_run():
    rows = [{"metric": "ap/cat", "value": 0.5, "fit_seconds": 1.234},
            {"metric": "accuracy", "value": 0.75, "fit_seconds": 1.234}]
    assert unit_line("e", 2, 9, "SVM", 1, 3, rows, "ap") == \
        "e [2/9] SVM seed 1 fold 3: ap/cat 0.5000, fit 1.23 s"
    assert unit_line("e", 2, 9, "SVM", 1, 3, rows, "noise_auc").endswith("ap/cat 0.5000, fit 1.23 s")
    assert unit_line("e", 3, 9, "SVM", 1, 0, None, "accuracy") == \
        "e [3/9] SVM seed 1 fold 0: computed by another run"


def _quickstart_like_results():
    """Long-format rows shaped as the quickstart's: 7 methods x 3 seeds, three metrics, and
    the per-source values of the multi-source method."""
    methods = ["SVM", "mi-SVM", "sMIL-PI", "mi-SVM-PI", "MDA-HS+", "SemanticVAE", "SVM-oracle"]
    rows = []
    for m in methods:
        for seed in range(3):
            metrics = ["accuracy", "map"] + (["noise_auc"] if m not in ("MDA-HS+", "SVM-oracle")
                                             else [])
            if m == "MDA-HS+":
                metrics += [f"{k}/{s}" for k in ("source_weight", "source_relevance")
                            for s in ("clean", "noise", "blur")]
            for metric in metrics:
                rows.append({"experiment": "quickstart", "dataset": "web-digits", "method": m,
                             "params": "{}", "seed": seed, "fold": 0, "metric": metric,
                             "value": 0.1234 + 0.01 * seed, "fit_seconds": 12.3456,
                             "predict_seconds": 0.1, "n_train": 960, "n_test": 540,
                             "convergence_warnings": 1 if m == "sMIL-PI" else 0})
    return pd.DataFrame(rows)


def test_the_summary_fits_100_columns_and_keeps_every_cell():
    table = summary_table(_quickstart_like_results())
    wide = table.to_markdown(disable_numparse=True)
    assert max(map(len, wide.splitlines())) > 100  # one table would not fit
    text = summary_text(table)
    assert max(map(len, text.splitlines())) <= 100, text
    for method, row in table.iterrows():
        for col, cell in row.items():
            if str(cell) != "":
                line = next(ln for ln in text.splitlines() if ln.startswith(f"| {method} ")
                            and f"| {cell} " in ln)
                assert line  # every cell is printed on its method's line
    assert "source_weight/<source>:" in text and "source_relevance/<source>:" in text
    # the per-source tables hold only the method that has such values
    tail = text.split("source_weight/<source>:")[1]
    assert "| MDA-HS+ " in tail and "| SVM " not in tail


def test_a_table_too_wide_even_alone_is_split_by_columns():
    results = _quickstart_like_results()
    many = results[results.metric == "accuracy"].copy()
    extra = [many.assign(metric=f"metric_number_{i}") for i in range(8)]
    table = summary_table(pd.concat([results, *extra]))
    text = summary_text(table, width=100)
    assert max(map(len, text.splitlines())) <= 100
    assert all(f"metric_number_{i}" in text for i in range(8))
    assert summary_text(pd.DataFrame()) == "(no results)"


def test_the_program_skips_the_teardown_collection_a_call_does_not(tmp_path):
    """``webly`` / ``run.py`` (main() reading sys.argv) freeze the objects left at the end, so
    the interpreter's teardown does not run the cyclic collector over torch and the rest (~1 s
    of CPU after the quickstart); main(argv) called from Python leaves the collector alone."""
    import gc
    import subprocess
    import sys

    path = _config(tmp_path)
    before = gc.get_freeze_count()
    assert cli.main([path, "seeds=[0]", "--quiet"]) == 0
    assert gc.get_freeze_count() == before
    code = ("import gc, sys; from webly.cli import main; "
            f"sys.argv = ['webly', {path!r}, 'seeds=[0]', '--quiet']; "
            "status = main(); print(status, gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "True"]
