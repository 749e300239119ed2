import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
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
        # finished units only: pathlib's glob also matches the hidden ".tmp-*.json" being written
        found = [p for p in units.glob("*/units/*.json")
                 if not p.name.startswith(".")] if units.exists() else []
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


# --- one folder, several processes ---------------------------------------------------------------

FAST = {**CONFIG, "methods": ["SVM"], "seeds": list(range(6))}


def _session_members(sid):
    """Live processes of session ``sid`` (a run started with start_new_session and its workers)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(pid))
    return out


@pytest.mark.parametrize("moment", ["workers starting", "units running"])
def test_sigkill_of_a_run_with_two_jobs_leaves_no_process_behind(tmp_path, moment):
    cfg = _write_cfg(tmp_path / "c.yaml", tmp_path / "out",
                     methods=["SVM", "mi-SVM"], parallel={"n_jobs": 2})
    proc = subprocess.Popen([sys.executable, "-m", "webly.cli", str(cfg), "--quiet"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    if moment == "workers starting":  # as soon as they exist, before they import anything
        while len(_session_members(proc.pid)) < 3 and time.time() < deadline:
            time.sleep(0.01)
    else:
        while (not list((tmp_path / "out").glob("crash/*/units/*.json"))
               and time.time() < deadline):
            time.sleep(0.05)
    workers = _session_members(proc.pid)
    assert len(workers) >= 3, "the kill should land while workers run"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(10)
    assert _session_members(proc.pid) == []


def _cli(cfg, cwd, *extra):
    return subprocess.Popen([sys.executable, "-m", "webly.cli", str(cfg), *extra], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _computed(stdout):
    last = stdout.strip().splitlines()[-1]  # "<n> runs computed, <m> reused; outputs in ..."
    return int(last.split()[0])


@pytest.mark.parametrize("join", [False, True])
def test_two_runs_on_one_folder_compute_each_unit_once_and_match_one_run(tmp_path, join):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**FAST, "output_dir": str(tmp_path / "out")}))
    procs = [_cli(cfg, tmp_path, *(["--join"] if join else [])) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    assert sum(_computed(o) for o, _ in outs) == len(FAST["seeds"])  # each unit computed once
    run_dir = _run_dir(tmp_path / "out")
    assert not [f for f in os.listdir(run_dir / "units") if f.startswith(".")]
    solo = tmp_path / "solo.yaml"
    solo.write_text(yaml.safe_dump({**FAST, "output_dir": str(tmp_path / "solo")}))
    _run(solo, tmp_path)
    cols = ["method", "seed", "fold", "metric", "value"]
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "results.csv")[cols],
                                  pd.read_csv(_run_dir(tmp_path / "solo") / "results.csv")[cols])


def test_cleanup_removes_only_temporaries_whose_run_is_gone(tmp_path):
    from webly.experiments.folder import RunFolder

    d = tmp_path / "run"
    with RunFolder(str(d), join=True) as first:
        live = d / "units" / ".tmp-live.json"
        live.parent.mkdir()
        live.write_text("{")  # the first run's file in progress
        assert first.claim("k")
        with RunFolder(str(d), join=True) as second:  # joins: must not touch the first's files
            assert live.exists()
            assert not second.claim("k")  # claimed by the first
            first.release("k")
            assert second.claim("k")
    dead = d / "figures" / ".tmp-dead.png"
    dead.parent.mkdir()
    dead.write_text("x")  # no run holds the folder now: its owner is gone
    with RunFolder(str(d)):
        assert not live.exists() and not dead.exists()
        assert not list((d / "units").glob(".claim-*"))


def test_a_second_run_waits_for_the_first_instead_of_computing(tmp_path):
    import threading

    from webly.experiments.folder import RunFolder

    d = str(tmp_path / "run")
    entered = []

    def second_run():
        with RunFolder(d):
            entered.append(1)

    with RunFolder(d):
        t = threading.Thread(target=second_run)
        t.start()
        t.join(0.5)
        assert not entered  # blocked while the first holds the folder
    t.join(5)
    assert entered


def test_a_killed_extension_leaves_the_config_describing_the_results(tmp_path):
    out = tmp_path / "out"
    cfg = _write_cfg(tmp_path / "c.yaml", out, seeds=[0, 1])
    _run(cfg, tmp_path)
    run_dir = _run_dir(out)
    _write_cfg(cfg, out, seeds=list(range(8)))  # extend to more seeds, then kill mid-way
    proc = _run(cfg, tmp_path, wait=False)
    deadline = time.time() + 60
    while len(list((run_dir / "units").glob("*.json"))) < 6 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list((run_dir / "units").glob("*.json"))) < 16, "the kill should land mid-run"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    results = pd.read_csv(run_dir / "results.csv")
    assert config["seeds"] == sorted(results["seed"].unique().tolist()) == [0, 1]


def test_n_jobs_one_and_two_give_bit_identical_values(tmp_path):
    from webly.experiments.config import parse_config
    from webly.experiments.runner import run_experiment

    raw = {"name": "jobs", "dataset": {"name": "web-digits", "noise_rate": 0.4},
           "methods": ["MDA-HS+", "SVM"], "seeds": [0, 1]}
    values = []
    for n in (1, 2):
        cfg = parse_config({**raw, "output_dir": str(tmp_path / str(n)),
                            "parallel": {"n_jobs": n}})
        values.append(run_experiment(cfg, progress=False).results[["method", "seed", "metric",
                                                                   "value"]])
    assert any(values[0]["metric"].str.startswith("source_weight"))
    pd.testing.assert_frame_equal(values[0], values[1], check_exact=True)
