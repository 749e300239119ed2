import glob
import json
import os

import yaml

from webly.experiments.benchmarks import main


def test_benchmark_command_runs_configs_and_scripts_into_one_markdown(tmp_path):
    cfg_dir = tmp_path / "configs"
    cfg_dir.mkdir()
    (cfg_dir / "tiny.yaml").write_text(yaml.safe_dump({
        "name": "tiny", "output_dir": str(tmp_path / "runs"), "seeds": [0],
        "dataset": {"name": "web-digits", "n_bags_per_class": 3, "bag_size": 5},
        "methods": ["SVM"]}))
    script = tmp_path / "speed.py"
    script.write_text("import os\n"
                      "print('| n | seconds |')\nprint('| --- | --- |')\nprint('| 10 | 0.1 |')\n"
                      "os.makedirs(os.environ['WEBLY_FIGURE_DIR'], exist_ok=True)\n"
                      "open(os.path.join(os.environ['WEBLY_FIGURE_DIR'], 'f.png'), 'w').close()\n"
                      "print('![f](' + os.environ['WEBLY_FIGURE_LINK'] + '/f.png)')\n")
    out = tmp_path / "BENCH.md"
    rc = main(["--configs", str(cfg_dir / "*.yaml"), "--scripts", str(script), "--jobs", "2",
               "--output", str(out), "--figures-dir", str(tmp_path / "figs")])
    assert rc == 0
    text = out.read_text()
    assert "## tiny" in text and "| SVM" in text and "| 10 | 0.1 |" in text
    assert "Machine:" in text and "BLAS thread" in text and "computed 2 at a time" in text
    assert os.path.exists(tmp_path / "figs" / "tiny" / "accuracy.png")
    assert "](figs/tiny/accuracy.png)" in text
    # a speed script's figure lands beside the configs' figures, linked relative to the output
    assert os.path.exists(tmp_path / "figs" / "speed" / "f.png") and "](figs/speed/f.png)" in text


def test_verify_refits_the_stored_first_seed_and_names_any_value_that_moved(tmp_path, capsys):
    cfg_dir = tmp_path / "configs"
    cfg_dir.mkdir()
    (cfg_dir / "tiny.yaml").write_text(yaml.safe_dump({
        "name": "tiny", "output_dir": str(tmp_path / "runs"), "seeds": [0, 1],
        "dataset": {"name": "web-digits", "n_bags_per_class": 3, "bag_size": 5},
        "sweep": {"dataset.noise_rate": [0.2, 0.4]},
        "methods": ["SVM", {"name": "SVM", "label": "SVM-C10", "C": 10}]}))
    args = ["--configs", str(cfg_dir / "*.yaml"), "--scripts", str(tmp_path / "none*.py"),
            "--output", str(tmp_path / "B.md"), "--figures-dir", str(tmp_path / "figs")]
    assert main([*args, "--verify"]) == 1                   # nothing stored yet: not verified
    assert "4 units not stored" in capsys.readouterr().out  # 2 points x 2 methods, seed 0
    assert main(args) == 0
    before = (tmp_path / "B.md").read_text()
    assert main([*args, "--verify"]) == 0
    out = capsys.readouterr().out
    assert "tiny: seed 0: 8 values recomputed, 0 differ, 0 units not stored" in out
    assert (tmp_path / "B.md").read_text() == before      # verify writes nothing
    # a stored value that no longer matches a refit is reported by method, seed and metric
    units = sorted(glob.glob(str(tmp_path / "runs" / "tiny" / "*" / "units" / "*.json")))
    for path in units:
        unit = json.loads(open(path).read())
        if unit["unit"]["method"] == "SVM-C10" and unit["unit"]["seed"] == 0:
            unit["rows"][0]["value"] += 0.125
            open(path, "w").write(json.dumps(unit))
            break
    assert main([*args, "--verify"]) == 1
    out = capsys.readouterr().out
    assert "1 differ" in out and "SVM-C10 seed 0 fold 0" in out and "FAILED" in out
    # a metric the stored unit lacks is a mismatch (here the accuracy row is gone), unless it is
    # one of the metrics added since units were stored (runner.NEW_METRICS)
    for path in units:
        unit = json.loads(open(path).read())
        if unit["unit"]["method"] == "SVM-C10" and unit["unit"]["seed"] == 0:
            unit["rows"][0]["value"] -= 0.125
            dropped = unit["rows"].pop(0)
            open(path, "w").write(json.dumps(unit))
            break
    assert main([*args, "--verify"]) == 1
    assert f"SVM-C10 seed 0 fold 0 {dropped['metric']}: stored None" in capsys.readouterr().out
    from webly.experiments import runner
    runner.NEW_METRICS, old = (dropped["metric"],), runner.NEW_METRICS
    try:
        assert main([*args, "--verify"]) == 0
        out = capsys.readouterr().out
        assert "7 values recomputed, 0 differ, 0 units not stored, 1 new metrics not compared" in out
    finally:
        runner.NEW_METRICS = old
    # and a stored metric the code no longer computes is a mismatch
    unit["rows"].insert(0, dropped)
    unit["rows"].append({**dropped, "metric": "renamed_metric"})
    open(path, "w").write(json.dumps(unit))
    assert main([*args, "--verify"]) == 1
    assert "renamed_metric: stored" in capsys.readouterr().out
