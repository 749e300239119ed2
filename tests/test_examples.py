"""The gallery examples (examples/*.py) run: their core functions on a tiny setting."""

import importlib.util
import json
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: a fit of seconds: what is checked here is the plumbing, not the numbers of the gallery
TINY_VAE = {"max_epochs": 2, "hidden_size": 16, "early_stopping": False}


def _example(name):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def zsl():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield _example("semantic_zero_shot")
    torch.set_num_threads(before)


def test_semantic_zero_shot_splits(zsl):
    ds, names, S = zsl.load()
    assert len(names) == 12 and "other" not in names and S.shape == (12, 384)
    rows = zsl.zero_shot_splits(ds, names, S, n_unseen=2, seeds=(0, 1), vae_params=TINY_VAE)
    assert [(r["seed"], r["method"]) for r in rows] == [
        (0, "SemanticVAE"), (0, "ridge+nearest"), (1, "SemanticVAE"), (1, "ridge+nearest")]
    for r in rows:
        assert len(r["unseen"]) == 2 and set(r["unseen"]) <= set(names)
        for column in zsl.COLUMNS:
            assert 0.0 <= r[column] <= 1.0
    vae = rows[0]
    assert 0.0 <= vae["z off seen span"] <= 1.0
    assert 0.0 < vae["unseen vectors off seen span"] <= 1.0
    assert rows[1]["alpha"] in zsl.RIDGE_ALPHAS


def test_semantic_zero_shot_scores():
    zsl = _example("semantic_zero_shot")
    classes = np.array(["a", "b", "c"])
    y = np.array(["a", "a", "c", "c", "b"])
    decision = np.array([[3.0, 0, 1],    # a: right in both settings
                         [1.0, 2, 0],    # a: b over all classes, a among the unseen (a, c)
                         [0.0, 0, 1],    # c: right in both
                         [2.0, 0, 1],    # c: a in both
                         [0.0, 1, 0]])   # b (seen): right
    res = zsl.scores(y, decision, classes, unseen=np.array(["a", "c"]))
    assert res["zero-shot"] == pytest.approx(0.75)      # per-class mean of a 1.0, c 0.5
    assert res["gen unseen"] == pytest.approx(0.5) and res["gen seen"] == 1.0
    assert res["gen H"] == pytest.approx(2 / 3)


def test_semantic_zero_shot_premise():
    zsl = _example("semantic_zero_shot")
    rng = np.random.RandomState(0)
    names = np.array(["a", "b", "c", "d", "e", "f"])
    S = rng.randn(6, 8)
    S -= S.mean(axis=0)          # the image side is centred on the images' mean
    # images: class means equal to the class vectors (plus noise): the premise holds
    y = np.repeat(names, 20)
    X = S[np.repeat(np.arange(6), 20)] + 0.05 * rng.randn(120, 8)
    pr = zsl.premise(X, y, names, S, n_permutations=199)
    assert pr["n_pairs"] == 15 and pr["pearson_r"] > 0.95 and pr["p_value"] < 0.05
    # images unrelated to the names: no correlation to speak of
    pr = zsl.premise(rng.randn(120, 8), y, names, S, n_permutations=199)
    assert abs(pr["pearson_r"]) < 0.8 and pr["p_value"] > 0.01


def test_semantic_zero_shot_writes_only_its_out(zsl, tmp_path, monkeypatch, capsys):
    real = zsl.zero_shot_splits
    monkeypatch.setattr(zsl, "zero_shot_splits",
                        lambda *a, **k: real(*a, **{**k, "vae_params": TINY_VAE}))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sub" / "zsl.json"
    out.parent.mkdir()
    zsl.main(["--seeds", "3", "--unseen", "4", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "premise:" in printed and "chance: zero-shot 0.250 (1/4)" in printed
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["sub", "zsl.json"]
    saved = json.loads(out.read_text())
    assert [r["method"] for r in saved["rows"]] == ["SemanticVAE", "ridge+nearest"]
    assert saved["premise"]["n_pairs"] == 66
