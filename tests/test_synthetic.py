import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from webly.errors import DataError
from webly.synthetic import CORRUPTIONS, corrupt, make_web_digits


def test_every_bag_has_the_requested_fraction_of_wrong_images():
    ds = make_web_digits(noise_rate=0.25, bag_size=12, random_state=0)
    wrong_per_bag = ds.meta.assign(bag=ds.bags).groupby("bag")["is_noisy"].sum()
    assert (wrong_per_bag == 3).all()
    assert np.array_equal(ds.is_noisy, ds.meta["is_noisy"].to_numpy())


def test_shapes_and_fields():
    ds = make_web_digits(n_bags_per_class=3, bag_size=5, sources=("clean", "noise"), random_state=1)
    assert ds.X.shape == (150, 64) and ds.n_bags == 30
    assert set(ds.source) == {"clean", "noise"}
    assert ds.class_vectors.shape == (10, 384)
    assert ds.class_names.tolist()[:3] == ["zero", "one", "two"]
    assert ds.X_test.shape[1] == 64 and len(ds.y_test) == ds.X_test.shape[0]
    # a bag comes from one source
    assert (ds.meta.assign(bag=ds.bags).groupby("bag")["source"].nunique() == 1).all()


def test_same_seed_same_data_other_seed_other_data():
    a, b = make_web_digits(random_state=5), make_web_digits(random_state=5)
    c = make_web_digits(random_state=6)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.X_priv, b.X_priv)
    assert np.array_equal(a.y_true, b.y_true)
    assert not np.array_equal(a.X, c.X)


def test_tags_follow_the_true_class_not_the_query():
    ds = make_web_digits(noise_rate=0.4, random_state=0)
    half = ds.n_rows // 2
    idx = np.random.default_rng(0).permutation(ds.n_rows)
    tr, te = idx[:half], idx[half:]
    clf = LogisticRegression(max_iter=2000).fit(ds.X_priv[tr], ds.y_true[tr])
    acc_true = (clf.predict(ds.X_priv[te]) == ds.y_true[te]).mean()
    acc_query = (clf.predict(ds.X_priv[te]) == ds.y[te]).mean()
    assert acc_true > 0.9
    assert acc_true > acc_query + 0.2


def test_pair_noise_uses_the_next_class():
    ds = make_web_digits(noise_rate=0.3, noise_type="pair", random_state=0)
    names = list(ds.class_names)
    wrong = ds.is_noisy
    nxt = [names[(names.index(q) + 1) % 10] for q in ds.y[wrong]]
    assert np.array_equal(np.array(nxt), ds.y_true[wrong])


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruptions_stay_in_range_and_change_images(kind):
    imgs = np.random.default_rng(0).random((5, 8, 8))
    out = corrupt(imgs, kind, random_state=0)
    assert out.shape == imgs.shape and out.min() >= 0 and out.max() <= 1
    assert np.array_equal(out, imgs) == (kind == "clean")


def test_target_corruption_shifts_the_test_set():
    clean = make_web_digits(random_state=0)
    inv = make_web_digits(target="invert", random_state=0)
    assert np.allclose(inv.X_test, 1 - clean.X_test)


@pytest.mark.parametrize("kw,field", [
    (dict(noise_rate=1.2), "noise_rate"),
    (dict(sources=("clean", "fog")), "sources"),
    (dict(target="fog"), "target"),
    (dict(bag_size=0), "bag_size"),
    (dict(noise_type="weird"), "noise_type"),
    (dict(sources="clean"), "sources"),
])
def test_bad_parameters_name_the_field(kw, field):
    with pytest.raises(DataError) as info:
        make_web_digits(**kw)
    assert info.value.field == field


def test_make_query_bags_turns_a_clean_set_into_noisy_bags(repo_root):
    import os
    from webly.dataset import WebDataset
    from webly.synthetic import make_query_bags
    clean = WebDataset.from_npz(os.path.join(repo_root, "datasets", "wikipedia_xmodal",
                                             "wikipedia.npz"))
    ds = make_query_bags(clean, n_bags_per_class=4, bag_size=10, noise_rate=0.3, random_state=0)
    assert ds.n_rows == 400 and ds.n_bags == 40 and abs(ds.is_noisy.mean() - 0.3) < 1e-9
    rows = ds.meta["row"].to_numpy()
    assert np.array_equal(ds.X, clean.X[rows]) and np.array_equal(ds.y_true, clean.y[rows])
    assert len(np.unique(rows)) == len(rows)  # drawn without replacement while rows last
    assert ds.X_test is clean.X_test
