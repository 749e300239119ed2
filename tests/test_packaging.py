"""Packaging (issue 21): one version, the package list, and a wheel that carries the shipped
datasets and py.typed and finds the datasets from any working directory."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import webly

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def test_version_is_written_once_and_installed_metadata_agrees():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "webly.__version__"}
    # the installed metadata (pip install -e . reads webly/__init__.py): reinstall after a bump
    assert importlib.metadata.version("webly") == webly.__version__


def _shipped_files():
    """Repository-relative paths of the data files under datasets/ that the wheel must carry."""
    out = []
    for folder, _, files in os.walk(os.path.join(ROOT, "datasets")):
        for f in files:
            if f.endswith((".npz", ".csv.gz", ".md")):
                out.append(os.path.relpath(os.path.join(folder, f), ROOT).replace(os.sep, "/"))
    return sorted(out)


def test_package_list_matches_the_folders_on_disk():
    """pyproject.toml lists the packages (datasets/ is mapped into webly/datasets/): a new
    subpackage or dataset folder must be added there, or the wheel would go without it."""
    cfg = _pyproject()["tool"]["setuptools"]
    assert cfg["package-dir"] == {"webly.datasets": "datasets"}
    on_disk = {"webly", "webly.datasets"}
    for folder, dirs, files in os.walk(os.path.join(ROOT, "webly")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        if folder != os.path.join(ROOT, "webly") and files:
            on_disk.add("webly." + os.path.relpath(folder, os.path.join(ROOT, "webly"))
                        .replace(os.sep, "."))
    for name in os.listdir(os.path.join(ROOT, "datasets")):
        if os.path.isdir(os.path.join(ROOT, "datasets", name)) and name != "__pycache__":
            on_disk.add(f"webly.datasets.{name}")
    assert sorted(cfg["packages"]) == sorted(on_disk)
    assert len(_shipped_files()) >= 30


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from a copy of the sources (nothing written into the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    for name in ("webly", "datasets"):
        shutil.copytree(os.path.join(ROOT, name), src / name, ignore=skip)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    (whl,) = (tmp / "dist").glob("webly-*.whl")
    return whl


def test_wheel_carries_the_shipped_datasets_and_py_typed(wheel):
    assert wheel.name.startswith(f"webly-{webly.__version__}-")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [p for p in _shipped_files() if "webly/" + p not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert {"webly/py.typed", "webly/data/digits_class_vectors.npz"} <= names


def test_wheel_finds_the_shipped_datasets_from_another_directory(wheel, tmp_path):
    """The unpacked wheel first on the path, run from an empty folder: every shipped loader (and
    shipped_path for the files that configs name by path) reads its data from inside the
    installed package."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = """
import os, webly
from webly.fileio import shipped_path
from webly.dataset import WebDataset
from webly.io import load_music_genre_crowd, read_mil_csv
from webly.multisource.datasets import load_digit_domains, load_office_caltech10
from webly.semantic import list_class_vectors, load_class_vectors
package = os.path.dirname(webly.__file__)
assert shipped_path() == os.path.join(package, "datasets"), shipped_path()
assert load_class_vectors("digits")[1].shape == (10, 384)
assert len(list_class_vectors()) >= 10
assert load_music_genre_crowd().X.shape == (700, 124)
assert load_office_caltech10(random_state=0).X.shape[1] == 800
assert load_digit_domains(random_state=0).X.shape[1] == 256
for name in ("musk1", "elephant", "fox"):
    read_mil_csv(shipped_path("mil_classic", name + ".csv.gz"))
for parts in [("openclipart", "openclipart_crawl.npz"),
              ("openclipart_emoji", "crawl_two_sources.npz"),
              ("wikipedia_xmodal", "wikipedia.npz")]:
    WebDataset.from_npz(shipped_path(*parts))
print(package)
"""
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(site / "webly")
