"""webly.crawl: a crawl manifest -> WebDataset, `webly embed`, and `dataset: {name: crawl}`."""

import os

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from PIL import Image
from sklearn.datasets import load_digits

from webly.cli import main as cli_main
from webly.crawl import crawl_dataset, read_manifest
from webly.dataset import WebDataset
from webly.errors import ConfigError, DataError
from webly.experiments.config import parse_config
from webly.experiments.runner import run_experiment
from webly.features import BACKBONES, Backbone, ImagePreprocessing

QUERIES = {0: "zero", 1: "one", 2: "two"}


class FlatNet(torch.nn.Module):
    """A fast stand-in backbone: the grey 8 x 8 image as 64 numbers (digits stay separable)."""

    def forward(self, x):
        return x.mean(dim=1).flatten(1)


def flat_backbone():
    return Backbone(FlatNet(), ImagePreprocessing(size=8, crop_fraction=1.0), name="flat")


@pytest.fixture(autouse=True)
def flat_model(monkeypatch):
    monkeypatch.setitem(BACKBONES, "flat", flat_backbone)


def _save_digit(img, path):
    pixels = (img / 16 * 255).astype(np.uint8)
    Image.fromarray(np.repeat(pixels[:, :, None], 3, axis=2)).resize((16, 16)).save(path)


@pytest.fixture
def crawl(tmp_path):
    """36 web images of digits 0-2 (3 queries x 12 results, every 4th one of another digit),
    with titles and tags, one corrupt and one missing file, and a 12-image clean test set."""
    digits = load_digits()
    by_class = {c: list(np.flatnonzero(digits.target == c)) for c in QUERIES}
    (tmp_path / "imgs").mkdir()
    rows = []
    for c, query in QUERIES.items():
        for r in range(12):
            true = (c + 1) % 3 if r % 4 == 3 else c
            name = f"imgs/{query}_{r}.png"
            _save_digit(digits.images[by_class[true].pop()], tmp_path / name)
            rows.append({"path": name, "query": query, "source": "site-a" if r < 6 else "site-b",
                         "title": f"picture of {QUERIES[true]}",
                         "tags": f"{query} digit {QUERIES[true]}", "rank": 11 - r,
                         "label": QUERIES[true]})
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not an image")
    rows.append({"path": "imgs/broken.png", "query": "one", "source": "site-a", "title": "x",
                 "tags": "one", "rank": 99, "label": "one"})
    rows.append({"path": "imgs/gone.png", "query": "two", "source": "site-a", "title": "x",
                 "tags": "two", "rank": 98, "label": "two"})
    pd.DataFrame(rows).to_csv(tmp_path / "crawl.csv", index=False)
    test = []
    for c, query in QUERIES.items():
        for k in range(4):
            name = f"imgs/test_{query}_{k}.png"
            _save_digit(digits.images[by_class[c].pop()], tmp_path / name)
            test.append({"path": os.path.abspath(tmp_path / name), "label": query})
    pd.DataFrame(test).to_csv(tmp_path / "test.csv", index=False)
    return tmp_path


def test_manifest_paths_resolve_against_its_folder_and_text_joins_title_and_tags(crawl):
    rows = read_manifest(crawl / "crawl.csv")
    assert rows["path"][0] == os.path.join(str(crawl), "imgs", "zero_0.png")
    assert rows["text"][0] == "picture of zero zero digit zero"
    assert set(rows["split"]) == {"train"}


def test_crawl_fields_bags_truth_and_failures(crawl):
    ds, failures = crawl_dataset(crawl / "crawl.csv", test_manifest=crawl / "test.csv",
                                 image_model="flat", bag_size=4, return_failures=True)
    assert isinstance(ds, WebDataset)
    assert ds.X.shape == (36, 64)
    assert sorted(os.path.basename(p) for p, _ in failures) == ["broken.png", "gone.png"]
    assert sp.issparse(ds.X_priv) and ds.X_priv.shape[0] == 36
    assert ds.class_names.tolist() == ["one", "two", "zero"]
    assert ds.X_test.shape == (12, 64) and sorted(set(ds.y_test)) == ["one", "two", "zero"]
    assert np.mean(ds.y != ds.y_true) == pytest.approx(9 / 36)
    assert set(ds.source) == {"site-a", "site-b"}
    assert ds.class_vectors.shape[0] == 3
    # bags: per (source, query), bag_size consecutive results in rank order, never mixed
    assert ds.n_bags == 3 * 2 * 2
    for b in np.unique(ds.bags):
        rows = ds.bags == b
        assert rows.sum() == 3 or rows.sum() == 4 or rows.sum() == 2
        assert len(set(ds.y[rows])) == 1 and len(set(ds.source[rows])) == 1
    zero_a = ds.meta[(ds.meta["query"] == "zero") & (ds.source == "site-a")]
    ranks_by_bag = zero_a.groupby(ds.bags[zero_a.index])["rank"].apply(sorted).tolist()
    assert ranks_by_bag == [[6.0, 7.0, 8.0, 9.0], [10.0, 11.0]]
    assert list(ds.meta.columns) == ["path", "query", "text", "rank"]


def test_rank_absent_means_file_order_and_no_text_means_no_x_priv(crawl):
    frame = pd.read_csv(crawl / "crawl.csv").drop(columns=["rank", "source"]).iloc[:12]
    frame.to_csv(crawl / "plain.csv", index=False)
    ds = crawl_dataset(crawl / "plain.csv", image_model="flat", bag_size=5, text_columns=[])
    assert ds.X_priv is None and ds.X_test is None
    assert ds.bags.tolist() == [0] * 5 + [1] * 5 + [2] * 2


def test_parquet_split_column_gives_the_test_set_and_tfidf_svd_is_dense(crawl):
    web = pd.read_csv(crawl / "crawl.csv")
    test = pd.read_csv(crawl / "test.csv").assign(split="test")
    pd.concat([web, test]).to_parquet(crawl / "both.parquet")
    ds = crawl_dataset(crawl / "both.parquet", image_model="flat", text_model="tfidf-svd",
                       n_components=5)
    assert ds.X_test.shape == (12, 64) and ds.X_priv.shape == (36, 5)


@pytest.mark.parametrize("edit,field,match", [
    (lambda f: f.drop(columns=["query"]), "manifest.query", "expected columns: path, query"),
    (lambda f: f.rename(columns={"path": "pth"}), "manifest.path", "did you mean 'pth'"),
    (lambda f: f.assign(split="validation"), "manifest.split", "'train' or 'test'"),
    (lambda f: f.assign(rank="first"), "manifest.rank", "not a number"),
    (lambda f: f.assign(label=[None] + list(f["label"][1:])), "manifest.label", "label every"),
])
def test_bad_manifests_name_the_column(crawl, edit, field, match):
    edit(pd.read_csv(crawl / "crawl.csv")).to_csv(crawl / "bad.csv", index=False)
    with pytest.raises(DataError, match=match) as info:
        crawl_dataset(crawl / "bad.csv", image_model="flat")
    assert info.value.field == field


def test_explicit_text_column_must_exist(crawl):
    with pytest.raises(DataError, match="text column missing") as info:
        read_manifest(crawl / "crawl.csv", text_columns=["caption"])
    assert info.value.field == "manifest.caption"


def test_cli_embed_writes_an_npz_that_reloads(crawl, capsys):
    out = crawl / "out" / "crawl.npz"
    rc = cli_main(["embed", str(crawl / "crawl.csv"), "--out", str(out), "--test",
                   str(crawl / "test.csv"), "--image-model", "flat", "--bag-size", "4",
                   "--quiet"])
    assert rc == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "36 web rows" in line and "3 classes" in line
    assert "12 bags" in line and "2 failures" in line
    ds = WebDataset.from_npz(out)
    assert ds.X.shape == (36, 64) and ds.X_test.shape == (12, 64) and ds.n_bags == 12
    failures = pd.read_csv(crawl / "out" / "crawl.failures.csv")
    assert len(failures) == 2


def test_cli_embed_bad_manifest_is_one_line_naming_the_column(crawl, capsys):
    pd.read_csv(crawl / "crawl.csv").drop(columns=["query"]).to_csv(crawl / "bad.csv",
                                                                      index=False)
    rc = cli_main(["embed", str(crawl / "bad.csv"), "--out", str(crawl / "x.npz"),
                   "--image-model", "flat"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err.startswith("error: manifest.query: column missing")
    assert not (crawl / "x.npz").exists()


def test_cli_embed_unknown_model_names_the_option(crawl, capsys):
    rc = cli_main(["embed", str(crawl / "crawl.csv"), "--out", str(crawl / "x.npz"),
                   "--text-model", "tfidff"])
    assert rc == 2
    assert capsys.readouterr().err.startswith("error: --text-model: unknown text model 'tfidff' "
                                              "(did you mean 'tfidf'?)")


def test_config_crawl_dataset_runs_end_to_end(crawl):
    cfg = parse_config({
        "name": "crawl-run", "output_dir": str(crawl / "runs"), "seeds": [0],
        "dataset": {"name": "crawl", "manifest": str(crawl / "crawl.csv"),
                    "test_manifest": str(crawl / "test.csv"), "image_model": "flat",
                    "bag_size": 4, "cache_dir": str(crawl / "cache")},
        "methods": ["SVM"], "protocol": {"split": "test", "metrics": ["accuracy"]}})
    result = run_experiment(cfg, progress=False)
    acc = result.results.query("metric == 'accuracy'")["value"]
    assert len(acc) == 1 and acc.iloc[0] > 0.6


@pytest.mark.parametrize("params,field", [
    ({"bag_size": 0}, "dataset.bag_size"),
    ({"image_model": "resnet"}, "dataset.image_model"),
    ({"manifest": "nowhere.csv"}, "dataset.manifest"),
    ({"texture_model": "tfidf"}, "dataset.texture_model"),
])
def test_config_crawl_errors_name_the_dataset_parameter(crawl, params, field):
    spec = {"name": "crawl", "manifest": str(crawl / "crawl.csv"), **params}
    with pytest.raises(ConfigError) as info:
        parse_config({"dataset": spec, "methods": ["SVM"]})
    assert info.value.field == field
