"""scikit-learn's estimator checks on every public webly estimator: the one place they run.

Which estimators: every scikit-learn estimator class named in ``webly.__all__`` and in
``webly.peers.__all__`` (a peer is skipped, with the reason, when its package is missing), plus a
few parameter variants that take another code path (``VARIANTS``).
``test_every_public_estimator_is_checked`` pins that none is left out, registry methods included.

Deviations are declared on the classes, never here: each class's ``_expected_failed_checks``
(check name -> reason; see :class:`webly.base.WebClassifierMixin`) is passed to scikit-learn as
``expected_failed_checks`` with ``xfail_strict=True``, so a declared failure that passes fails
the run, and ``test_declared_deviations_name_checks_that_run`` catches a name no check has.

scikit-learn's checks call ``fit(X, y)`` only: no bags, privileged features, sources, target
rows or class vectors. They check each method's no-metadata path (every row its own bag, no
privileged term, one source, nothing to adapt to, learned class embeddings); the metadata paths
have their own tests next to each family.
"""

import importlib.util
import re
import warnings
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import estimator_checks_generator, parametrize_with_checks

import webly
from webly import peers
from webly.base import DataWarning
from webly.experiments import registry

#: constructor parameters for the checks' toy data (30-300 rows), each with why; every other
#: estimator runs with its defaults
CHECK_PARAMS = {
    # defaults sized for embeddings of thousands of rows: on ~100 rows an epoch is one or two
    # steps, and 100 steps at lr 1e-3 of the GCE loss stay below check_classifiers_train's
    # 0.83 training accuracy
    "GCEClassifier": dict(max_epochs=20, lr=1e-2),
    # speed: a 128-unit pair of MLPs for 100 epochs takes 4x as long and checks nothing more
    "CoTeachingClassifier": dict(hidden=8, max_epochs=20, lr=1e-2),
    # speed: the LRR over 128-d latents (the default without class vectors) takes 3x as long
    "SemanticVAEDA": dict(latent_dim=8),
    # speed: the default (100,) MLP, five folds, with early stopping takes 3x as long; a
    # smaller MLP needs its full max_iter (no early stopping) to reach the 0.83 bar
    "CleanLearningClassifier": dict(hidden_layer_sizes=(32,), max_iter=100,
                                    early_stopping=False, cv_n_folds=3),
}

#: peer wrapper -> the package its fit needs
PEER_PACKAGES = {"CleanLearningClassifier": "cleanlab", "SkadaClassifier": "skada"}


def _estimator_classes(module):
    return {name: getattr(module, name) for name in module.__all__
            if isinstance(getattr(module, name), type)
            and issubclass(getattr(module, name), BaseEstimator)}


PUBLIC = _estimator_classes(webly)
PEERS = _estimator_classes(peers)
MISSING_PEERS = {name: pkg for name, pkg in PEER_PACKAGES.items()
                 if importlib.util.find_spec(pkg) is None}


def _instance(cls):
    return cls(**CHECK_PARAMS.get(cls.__name__, {}))


#: other code paths of one class, each checked once too (the -DA classes without X_target take
#: their -PI parent's path, so their primal variants add nothing)
VARIANTS = [
    webly.MILCPBClassifier(loss="hinge"),               # the box-constrained QP
    webly.MILCPBPIClassifier(loss="hinge"),
    webly.MDAHSPlus(variant="authors"),                 # the authors' kernels and labellings
    webly.SVMPlusClassifier(solver="primal"),           # explicit features (Nystroem)
    webly.L2SVMPlusClassifier(solver="primal"),
    webly.SVMPlusClassifier(solver="primal", kernel="linear", features="rbf_sampler",
                            n_components=64),           # random Fourier features
    webly.SMILClassifier(solver="primal"),              # MIL on explicit features
    webly.SbMILClassifier(solver="primal"),
    webly.SMILPIClassifier(solver="primal"),
    webly.MiSVMClassifier(solver="primal"),
    webly.MiSVMPIClassifier(solver="primal"),
    webly.MILCPBClassifier(solver="primal"),            # label-kernel MKL on feature blocks
    webly.MILCPBPIClassifier(solver="primal", loss="hinge"),
]

ESTIMATORS = ([_instance(cls) for cls in PUBLIC.values()]
              + [_instance(cls) for name, cls in PEERS.items() if name not in MISSING_PEERS]
              + VARIANTS)


def _expected_failed_checks(estimator):
    return dict(estimator._expected_failed_checks)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks,
                         xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    # toy fits stop at solver limits (ConvergenceWarning) and run without the metadata a
    # method is for (DataWarning, e.g. MDA-HS+ without privileged features): both expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DataWarning)
        check(estimator)


if MISSING_PEERS:
    @pytest.mark.parametrize("name", sorted(MISSING_PEERS))
    def test_peer_without_its_package_is_skipped(name):
        pytest.skip(f"{name} needs {MISSING_PEERS[name]} (pip install 'webly[peers]')")


def _check_name(check):
    func = getattr(check, "func", check)
    return getattr(func, "__wrapped__", func).__name__


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda est: type(est).__name__)
def test_declared_deviations_name_checks_that_run(estimator):
    declared = _expected_failed_checks(estimator)
    assert all(isinstance(r, str) and r.strip() for r in declared.values()), declared
    run = {_check_name(check) for _, check in estimator_checks_generator(clone(estimator))}
    assert set(declared) <= run, sorted(set(declared) - run)


def test_every_public_estimator_is_checked():
    checked = {type(est) for est in ESTIMATORS}
    missing = set(PUBLIC.values()) - checked
    assert not missing, missing
    assert {cls for name, cls in PEERS.items() if name not in MISSING_PEERS} <= checked
    assert set(PEERS) == set(PEER_PACKAGES)
    # every method a config can name is one of them (or scikit-learn's own)
    for name, entry in registry.METHODS.items():
        if entry.target.startswith("webly."):
            assert entry.load() in set(PUBLIC.values()) | set(PEERS.values()), name
    # and CHECK_PARAMS names no estimator that is gone
    assert set(CHECK_PARAMS) <= set(PUBLIC) | set(PEERS)


def test_readme_names_every_public_estimator():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in [*PUBLIC, *PEERS]:
        assert re.search(rf"\b{name}\b", readme), name
