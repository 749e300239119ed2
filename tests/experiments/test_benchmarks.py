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
