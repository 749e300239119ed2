"""The examples in webly's docstrings run and print what they say.

Every module of the package whose source holds a ``>>>`` example is imported and its doctests
(module, classes, methods, functions) are run as the documentation shows them: each public
estimator's ``Examples`` section among them (``tests/test_docs.py`` checks that each has one).
"""

import doctest
import importlib
import os
import pathlib
import warnings

import pytest
import sklearn

import webly

PACKAGE = pathlib.Path(webly.__file__).parent
#: modules whose examples need an optional extra: the packages they import
NEEDS = {"webly.peers": ("cleanlab", "skada")}


def _modules_with_examples():
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>> " not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules_with_examples()


def test_the_package_has_examples_to_run():
    assert "webly.mil.smil" in MODULES and "webly.svmplus" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    for package in NEEDS.get(name, ()):
        pytest.importorskip(package)
    monkeypatch.chdir(os.path.dirname(PACKAGE))  # examples may name repository files
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module) if t.examples]
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    report = []
    # sklearn's config as it was afterwards (importing skada turns metadata routing on)
    with warnings.catch_warnings(), sklearn.config_context():
        warnings.simplefilter("ignore")  # an example shows results; warnings are tested elsewhere
        for test in tests:
            runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
