import subprocess
import sys


def test_importing_webly_loads_neither_torch_nor_gensim_nor_estimators():
    code = ("import sys, webly, webly.dataset, webly.kernels, webly.experiments.registry; "
            "print(sorted(m for m in ('torch', 'gensim', 'cvxpy', 'webly.baselines') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_public_names_resolve():
    import webly
    assert webly.WebDataset.__name__ == "WebDataset"
    assert webly.SVMClassifier.__name__ == "SVMClassifier"
