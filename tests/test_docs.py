"""The documentation site (mkdocs.yml, docs/) covers the public API, and its docstrings are complete.

The cheap checks read files only (no build): every public name has an API reference page, every
page of the navigation exists, every public estimator's docstring has the numpydoc sections.
``test_the_site_builds_without_warnings`` runs ``mkdocs build --strict`` where the ``docs`` extra
is installed (marked slow; ``python -m pytest -m slow tests/test_docs.py``).
"""

import importlib
import inspect
import os
import re
import subprocess
import sys

import pytest
import yaml
from sklearn.base import BaseEstimator

import webly

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("Parameters", "Attributes", "References", "Examples")
#: public estimators outside ``webly.__all__`` (their packages are optional extras)
PEERS = ("webly.peers.CleanLearningClassifier", "webly.peers.SkadaClassifier")


class _Loader(yaml.SafeLoader):
    """mkdocs.yml may hold tags (``!!python/name:``, ``!ENV``) that safe_load refuses."""


_Loader.add_multi_constructor("", lambda loader, suffix, node: None)


def _config():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


def _pages(nav):
    """(section titles, page path) of every page in a nav tree."""
    for entry in nav:
        if isinstance(entry, str):
            yield (), entry
        else:
            for title, value in entry.items():
                if isinstance(value, str):
                    yield (title,), value
                else:
                    yield from (((title, *t), p) for t, p in _pages(value))


def _api_targets():
    """The dotted paths of the ``::: path`` blocks of the nav's API reference pages."""
    config = _config()
    targets = []
    for titles, page in _pages(config["nav"]):
        if "API reference" not in titles:
            continue
        with open(os.path.join(ROOT, config["docs_dir"], page), encoding="utf-8") as f:
            targets += re.findall(r"^::: *([\w.]+)", f.read(), flags=re.MULTILINE)
    return targets


def _import(path):
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return importlib.import_module(path)


def _public_names():
    return [name for name in webly.__all__ if name != "__version__"]


def _public_estimators():
    found = [getattr(webly, name) for name in _public_names()]
    found += [_import(path) for path in PEERS]
    return [obj for obj in found if inspect.isclass(obj) and issubclass(obj, BaseEstimator)]


def test_every_page_of_the_navigation_exists():
    config = _config()
    for _, page in _pages(config["nav"]):
        assert os.path.isfile(os.path.join(ROOT, config["docs_dir"], page)), page


def test_every_public_name_is_documented_on_an_api_page():
    documented = [_import(path) for path in _api_targets()]
    missing = [name for name in _public_names()
               if not any(obj is getattr(webly, name) for obj in documented)]
    assert not missing, f"public names without an API page (mkdocs.yml nav): {missing}"
    peers = [path for path in PEERS if not any(obj is _import(path) for obj in documented)]
    assert not peers, peers


def test_every_public_estimator_is_counted():
    assert len(_public_estimators()) >= 30  # 28 in webly.__all__, 2 peers


@pytest.mark.parametrize("est", _public_estimators(), ids=lambda c: c.__name__)
def test_public_estimator_docstring_has_the_numpydoc_sections(est):
    doc = inspect.getdoc(est)
    missing = [s for s in SECTIONS if not re.search(rf"^{s}\n-{{3,}}$", doc, re.MULTILINE)]
    assert not missing, f"{est.__name__}: no {missing} section"
    examples = doc.split("Examples\n--------", 1)[1]
    assert f"from webly import {est.__name__}" in examples or (
        f"import {est.__name__}" in examples), "the example imports what it shows"


def _docs_extra_installed():
    for module in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material"):
        try:
            importlib.import_module(module)
        except ImportError:
            return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _docs_extra_installed(), reason='needs pip install -e ".[docs]"')
def test_the_site_builds_without_warnings(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "-f", os.path.join(ROOT, "mkdocs.yml"), "-d", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    page = (tmp_path / "site" / "api" / "mil" / "index.html").read_text(encoding="utf-8")
    assert "SMILPIClassifier" in page and "Examples" in page
