import glob
import os

import pytest

from webly.errors import ConfigError
from webly.experiments.config import apply_overrides, load_config, parse_config

BASE = {"dataset": {"name": "web-digits"}, "methods": ["SVM"]}


def cfg(**kw):
    return {**BASE, **kw}


@pytest.mark.parametrize("data,field,match", [
    (cfg(protocl={}), "protocl", "did you mean 'protocol'"),
    (cfg(protocol={"foldz": 3}), "protocol.foldz", "did you mean 'folds'"),
    (cfg(protocol={"split": "random"}), "protocol.split", "'test', 'holdout' or 'kfold'"),
    (cfg(protocol={"folds": 1}), "protocol.folds", "greater than or equal to 2"),
    (cfg(protocol={"metrics": ["acuracy"]}), "protocol.metrics", "did you mean 'accuracy'"),
    (cfg(methods=["SVN"]), "methods[0].name", "did you mean 'SVM'"),
    (cfg(methods=[{"name": "SVM", "Cc": 1}]), "methods[0].Cc", "has no parameter 'Cc'"),
    (cfg(methods=[{"name": "SVM", "C": -1}]), "methods[0].C", "range"),
    (cfg(methods=[{"name": "SVM", "search": {"D": [1]}}]), "methods[0].search.D", "no parameter"),
    (cfg(methods=[{"name": "SVM", "search": {"C": [1, -2]}}]), "methods[0].search.C", "range"),
    (cfg(methods=["SVM", "SVM"]), "methods", "appears twice"),
    (cfg(methods=[]), "methods", "at least 1"),
    (cfg(dataset={"name": "web-digit"}), "dataset.name", "did you mean 'web-digits'"),
    (cfg(dataset={"name": "web-digits", "noise": 0.1}), "dataset.noise", "noise_rate"),
    (cfg(dataset={"name": "npz"}), "dataset.path", "required"),
    (cfg(parallel={"backend": "spark"}), "parallel.backend", "'local' or 'dask'"),
    (cfg(seeds="zero"), "seeds", "list"),
    ({"methods": ["SVM"]}, "dataset", "required"),
])
def test_invalid_configs_name_the_field(data, field, match):
    with pytest.raises(ConfigError, match=match) as info:
        parse_config(data)
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_method_shorthands_and_params():
    c = parse_config(cfg(methods=["SVM", {"name": "SVM", "label": "SVM-C10", "C": 10},
                                  {"name": "SVM", "label": "tuned", "search": {"C": [1, 10]}}]))
    assert [m.display for m in c.methods] == ["SVM", "SVM-C10", "tuned"]
    assert c.methods[1].params == {"C": 10}
    assert c.methods[2].search == {"C": [1, 10]}


def test_dotted_overrides():
    data = cfg(seeds=[0])
    apply_overrides(data, ["seeds=[0,1]", "parallel.backend=dask", "methods.0.C=10",
                           "dataset.noise_rate=0.2"])
    c = parse_config(data)
    assert c.seeds == [0, 1] and c.parallel.backend == "dask"
    assert c.methods[0].params == {"C": 10} and c.dataset["noise_rate"] == 0.2
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(data, ["seeds"])


def test_load_config_reads_yaml_and_names_it_after_the_file(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("dataset: {name: web-digits}\nmethods: [SVM]\n")
    assert load_config(p).name == "mine"
    p.write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")


_SHIPPED = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "**",
                                         "*.yaml"), recursive=True))


@pytest.mark.parametrize("path", _SHIPPED, ids=[os.path.basename(p) for p in _SHIPPED])
def test_every_shipped_config_validates(path):
    # quickstart, benchmarks and the dev configs that docstrings cite: known datasets, methods,
    # parameters and grid values (the same validation a run does before computing anything)
    assert load_config(path).methods
