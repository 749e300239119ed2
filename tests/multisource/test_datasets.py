"""Shipped multi-source datasets: loaders, seeds, errors."""

import numpy as np
import pytest

from webly.errors import DataError
from webly.multisource.data import MultiSourceData
from webly.multisource.datasets import load_digit_domains, load_office_caltech10


def test_office_caltech10_target_and_sources():
    ds = load_office_caltech10("dslr", random_state=0)
    assert set(np.unique(ds.source)) == {"amazon", "caltech", "webcam"}
    assert ds.X.shape == (958 + 1123 + 295, 800) and len(ds.class_names) == 10
    assert 120 <= len(ds.y_test) <= 130  # 80% of dslr's 157 rows, per class
    again = load_office_caltech10("dslr", random_state=0)
    other = load_office_caltech10("dslr", random_state=1)
    assert np.array_equal(ds.X_test, again.X_test) and not np.array_equal(ds.X_test, other.X_test)
    data = MultiSourceData.from_webdataset(ds)
    assert data.source_names == ["amazon", "caltech", "webcam"] and data.n_target == len(ds.y_test)


def test_digit_domains_shapes_and_balance():
    ds = load_digit_domains("usps", source_per_class=5, target_per_class=7, random_state=3)
    assert ds.X.shape == (3 * 50, 256) and ds.X_test.shape == (70, 256)
    assert ds.X.min() >= 0 and ds.X.max() <= 1
    assert np.all(np.bincount(ds.y_test) == 7)


def test_loader_errors_name_the_field():
    with pytest.raises(DataError, match="dataset.target"):
        load_office_caltech10("imagenet")
    with pytest.raises(DataError, match="dataset.sources"):
        load_digit_domains("mnist", sources=["mnist"])
    with pytest.raises(DataError, match="target_fraction"):
        load_office_caltech10("amazon", target_fraction=0.0)
