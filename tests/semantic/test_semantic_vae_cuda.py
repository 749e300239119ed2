"""SemanticVAE on a GPU: placement, repeatability with a seed, CPU-loadable models, adaptation.

Skipped where torch sees no CUDA device (CI has none); run on a GPU machine with
``python -m pytest -q tests/semantic/test_semantic_vae_cuda.py``.
"""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

from webly.semantic import SemanticVAE, SemanticVAEDA, load_class_vectors  # noqa: E402

PARAMS = dict(hidden_size=128, max_epochs=30, batch_size=128, random_state=0)


@pytest.fixture(scope="module")
def noisy_digits():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    rng = np.random.RandomState(0)
    wrong = rng.rand(len(y_tr)) < 0.4
    y_noisy = y_tr.copy()
    y_noisy[wrong] = (y_tr[wrong] + rng.randint(1, 10, wrong.sum())) % 10
    _, S = load_class_vectors("digits")
    return X_tr, y_noisy, X_te, y_te, S


@pytest.fixture(scope="module")
def on_cuda(noisy_digits):
    X_tr, y_noisy, _, _, S = noisy_digits
    return SemanticVAE(device="cuda", **PARAMS).fit(X_tr, y_noisy, class_vectors=S)


def test_auto_device_trains_on_the_gpu_and_learns_as_on_the_cpu(noisy_digits, on_cuda):
    X_tr, y_noisy, X_te, y_te, S = noisy_digits
    auto = SemanticVAE(device="auto", **{**PARAMS, "max_epochs": 2}).fit(
        X_tr, y_noisy, class_vectors=S)
    assert auto.device_.type == "cuda"
    assert all(p.device.type == "cuda" for p in on_cuda.module_.parameters())
    cpu = SemanticVAE(device="cpu", **PARAMS).fit(X_tr, y_noisy, class_vectors=S)
    acc_gpu = np.mean(on_cuda.predict(X_te) == y_te)
    acc_cpu = np.mean(cpu.predict(X_te) == y_te)
    assert acc_gpu > 0.75 and abs(acc_gpu - acc_cpu) < 0.05, (acc_gpu, acc_cpu)
    assert on_cuda.noise_scores_.shape == (len(X_tr),)
    assert np.all((on_cuda.sample_weights_ > 0) & (on_cuda.sample_weights_ <= 1))


def test_same_seed_on_the_gpu_gives_the_same_model(noisy_digits, on_cuda):
    X_tr, y_noisy, X_te, _, S = noisy_digits
    again = SemanticVAE(device="cuda", **PARAMS).fit(X_tr, y_noisy, class_vectors=S)
    assert again.n_epochs_ == on_cuda.n_epochs_
    np.testing.assert_array_equal(again.predict(X_te), on_cuda.predict(X_te))
    np.testing.assert_allclose(again.decision_function(X_te), on_cuda.decision_function(X_te),
                               rtol=1e-4, atol=1e-4)


def test_a_gpu_model_pickles_on_the_gpu_and_loads_on_a_machine_without_one(
        noisy_digits, on_cuda, monkeypatch):
    X_te = noisy_digits[2]
    same = pickle.loads(pickle.dumps(on_cuda))           # same machine: same device, same bits
    assert same.device_.type == "cuda"
    np.testing.assert_array_equal(same.predict_proba(X_te), on_cuda.predict_proba(X_te))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(pickle.dumps(on_cuda))         # a CPU-only machine
    assert loaded.device_.type == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    np.testing.assert_allclose(loaded.predict_proba(X_te), on_cuda.predict_proba(X_te),
                               rtol=1e-4, atol=1e-5)


def test_domain_adaptation_runs_on_the_gpu(noisy_digits):
    X_tr, y_noisy, X_te, y_te, _ = noisy_digits
    S16 = np.random.RandomState(0).normal(size=(10, 16))
    da = SemanticVAEDA(device="cuda", **{**PARAMS, "beta": 0.1, "max_epochs": 40}).fit(
        X_tr, y_noisy, X_target=X_te, class_vectors=S16)
    assert da.device_.type == "cuda" and da.lrr_info_["status"] == "converged"
    assert np.mean(da.predict(X_te) == y_te) > 0.7


def test_fitting_leaves_the_global_cuda_generator_alone(noisy_digits):
    X_tr, y_noisy, _, _, S = noisy_digits
    torch.cuda.manual_seed(123)
    before = torch.cuda.get_rng_state()
    SemanticVAE(device="cuda", **{**PARAMS, "max_epochs": 2}).fit(X_tr, y_noisy, class_vectors=S)
    assert torch.equal(torch.cuda.get_rng_state(), before)
