import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import yaml

CONFIG = {"name": "crash", "dataset": {"name": "web-digits", "noise_rate": 0.4},
          "methods": ["SVM", "SVM-oracle"], "seeds": list(range(8)),
          "protocol": {"split": "test", "metrics": ["accuracy", "map"]}}


def _run(cfg_path, cwd, wait=True):
    cmd = [sys.executable, "-m", "webly.cli", str(cfg_path), "--quiet"]
    if wait:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _write_cfg(path, out, **kw):
    path.write_text(yaml.safe_dump({**CONFIG, "output_dir": str(out), **kw}))
    return path


def _run_dir(out):
    (d,) = os.listdir(out / "crash")
    return out / "crash" / d


def test_sigkill_mid_run_leaves_no_partial_output_and_resume_matches(tmp_path):
    cfg = _write_cfg(tmp_path / "killed.yaml", tmp_path / "killed")
    proc = _run(cfg, tmp_path, wait=False)
    deadline = time.time() + 60
    units = tmp_path / "killed" / "crash"
    while time.time() < deadline:
        found = [p for p in units.glob("*/units/*.json")] if units.exists() else []
        if len(found) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = _run_dir(tmp_path / "killed")
    finished = [f for f in os.listdir(run_dir / "units") if not f.startswith(".")]
    assert 3 <= len(finished) < 16, "the kill should land mid-run"
    for f in finished:  # every real output is complete
        json.loads((run_dir / "units" / f).read_text())
    if (run_dir / "results.csv").exists():
        pd.read_csv(run_dir / "results.csv")

    _run(cfg, tmp_path)  # resume
    assert not [f for f in os.listdir(run_dir / "units") if f.startswith((".tmp-", ".claim-"))]
    clean_cfg = _write_cfg(tmp_path / "clean.yaml", tmp_path / "clean")
    _run(clean_cfg, tmp_path)
    resumed = pd.read_csv(run_dir / "results.csv")
    clean = pd.read_csv(_run_dir(tmp_path / "clean") / "results.csv")
    cols = ["method", "seed", "fold", "metric", "value"]
    pd.testing.assert_frame_equal(resumed[cols], clean[cols])


def test_two_fresh_quickstart_runs_give_byte_identical_results_apart_from_timings(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    quick = os.path.join(root, "configs", "quickstart.yaml")
    frames = []
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-m", "webly.cli", quick, "--quiet", "seeds=[0]",
                        f"output_dir={tmp_path / name}"], cwd=tmp_path, check=True,
                       capture_output=True)
        (run_dir,) = (tmp_path / name / "quickstart").iterdir()
        frames.append(pd.read_csv(run_dir / "results.csv"))
    drop = ["fit_seconds", "predict_seconds"]
    a, b = (f.drop(columns=drop).to_csv(index=False) for f in frames)
    assert a == b
    assert len(frames[0]["method"].unique()) >= 6  # every quickstart method, torch ones included
