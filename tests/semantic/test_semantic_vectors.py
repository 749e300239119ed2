"""Class vectors: gensim formats, crawl-trained Word2Vec, name embedding, shipped sets, alignment."""

import numpy as np
import pytest

from webly.errors import DataError
from webly.semantic.vectors import (check_class_vectors, embed_class_names, list_class_vectors,
                                    load_class_vectors, load_keyed_vectors, train_word2vec)

WORDS = ["grizzly", "bear", "killer", "whale", "antelope", "grizzly_bear", "zebra"]


@pytest.fixture(scope="module")
def small_kv():
    from gensim.models import KeyedVectors

    rng = np.random.RandomState(0)
    kv = KeyedVectors(vector_size=8)
    kv.add_vectors(WORDS, rng.randn(len(WORDS), 8).astype(np.float32))
    return kv


def _write(kv, path, fmt):
    if fmt == "word2vec":
        kv.save_word2vec_format(str(path), binary=False)
    elif fmt == "word2vec_binary":
        kv.save_word2vec_format(str(path), binary=True)
    elif fmt == "glove":
        kv.save_word2vec_format(str(path), binary=False, write_header=False)
    elif fmt == "gensim":
        kv.save(str(path))


@pytest.mark.parametrize("fmt, name", [("word2vec", "vectors.txt"), ("word2vec_binary", "vectors.bin"),
                                       ("glove", "glove.8d.txt"), ("word2vec", "wiki.vec"),
                                       ("gensim", "vectors.kv"), ("word2vec", "vectors.txt.gz")])
@pytest.mark.parametrize("given", ["auto", "explicit"])
def test_word_vector_formats_round_trip(small_kv, tmp_path, fmt, name, given):
    path = tmp_path / name
    _write(small_kv, path, fmt)
    kv = load_keyed_vectors(path, format="auto" if given == "auto" else fmt)
    assert list(kv.index_to_key) == WORDS
    np.testing.assert_allclose(kv.vectors, small_kv.vectors, rtol=1e-5, atol=1e-6)


def test_fasttext_bin_round_trip_and_subword_vectors(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    corpus = [["red", "fox", "jumps"], ["brown", "fox", "runs"], ["red", "bird", "sings"]] * 5
    model = FastText(corpus, vector_size=8, min_count=1, bucket=200, epochs=2, seed=0, workers=1)
    path = tmp_path / "model.bin"
    save_facebook_model(model, str(path))
    for fmt in ("auto", "fasttext"):
        kv = load_keyed_vectors(path, format=fmt)
        np.testing.assert_allclose(kv["fox"], model.wv["fox"], rtol=1e-5, atol=1e-6)
    # fastText composes vectors for unseen words from character n-grams: no OOV error
    S = embed_class_names(kv, ["foxes", "red bird"])
    assert S.shape == (2, 8) and np.all(np.isfinite(S))


def test_load_keyed_vectors_errors_name_the_field(tmp_path):
    with pytest.raises(DataError, match="path: .*does not exist"):
        load_keyed_vectors(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="format: .*not one of"):
        load_keyed_vectors(tmp_path / "missing.txt", format="word2vec_text")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"3 4\n\x00\x01\x02")
    with pytest.raises(DataError, match="path: could not read"):
        load_keyed_vectors(bad, format="word2vec_binary")


def test_multi_word_names_average_their_words_and_phrases_win(small_kv):
    S = embed_class_names(small_kv, ["killer whale", "antelope"], normalize=False)
    np.testing.assert_allclose(S[0], (small_kv["killer"] + small_kv["whale"]) / 2, rtol=1e-6)
    np.testing.assert_allclose(S[1], small_kv["antelope"], rtol=1e-6)
    # the whole phrase token (GoogleNews style) is preferred over averaging; "+" splits like AwA
    S = embed_class_names(small_kv, ["grizzly+bear", "Zebra"], normalize=False)
    np.testing.assert_allclose(S[0], small_kv["grizzly_bear"], rtol=1e-6)
    np.testing.assert_allclose(S[1], small_kv["zebra"], rtol=1e-6)
    S = embed_class_names(small_kv, ["killer whale", "zebra"])
    np.testing.assert_allclose(np.linalg.norm(S, axis=1), 1.0)


def test_out_of_vocabulary_error_names_class_names_and_every_missing_word(small_kv):
    with pytest.raises(DataError, match="class_names") as err:
        embed_class_names(small_kv, ["killer whale", "polar bear", "okapi"])
    msg = str(err.value)
    assert "'polar' (in 'polar bear')" in msg and "'okapi'" in msg and "'killer'" not in msg
    assert err.value.field == "class_names"
    # phrases= maps a class to in-vocabulary words
    S = embed_class_names(small_kv, ["killer whale", "okapi"], phrases={"okapi": "zebra antelope"})
    assert S.shape == (2, 8)


def test_word2vec_on_crawl_text_is_seeded_and_learns_cooccurrence():
    captions = (["a zebra with stripes on the savanna", "zebra stripes black white"] * 20
                + ["the whale swims in the ocean", "ocean whale blue water"] * 20)
    tags = [["zebra", "stripes"], ["whale", "ocean"]] * 10
    kv1 = train_word2vec(captions + tags, vector_size=16, epochs=30, random_state=3)
    kv2 = train_word2vec(captions + tags, vector_size=16, epochs=30, random_state=3)
    np.testing.assert_array_equal(kv1.vectors, kv2.vectors)
    assert kv1.similarity("zebra", "stripes") > kv1.similarity("zebra", "ocean")
    S = embed_class_names(kv1, ["zebra", "whale"])
    assert S.shape == (2, 16)
    with pytest.raises(DataError, match="texts"):
        train_word2vec(["", "  "])


def test_shipped_digits_vectors_load_by_name():
    names, S = load_class_vectors("digits")
    assert names.tolist() == ["zero", "one", "two", "three", "four", "five", "six", "seven",
                              "eight", "nine"]
    assert S.shape == (10, 384) and S.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(S, axis=1), 1.0, atol=1e-5)
    assert {"awa1_attributes", "apy_attributes", "office_caltech10"} <= set(list_class_vectors())
    names, A = load_class_vectors("awa1_attributes")
    assert A.shape == (50, 85) and names[1] == "grizzly bear"


def test_shipped_vectors_errors_say_what_is_available(tmp_path):
    with pytest.raises(DataError, match="name: no class-vector set 'digitz'.*digits"):
        load_class_vectors("digitz")
    with pytest.raises(DataError, match="data_home: .*does not exist.*pass data_home="):
        load_class_vectors("digits", data_home=tmp_path / "nowhere")


def test_check_class_vectors_aligns_arrays_and_dicts_and_keeps_zero_shot_classes():
    S = np.arange(12.0).reshape(3, 4)
    classes, out = check_class_vectors(S, np.array([0, 1, 2]))
    assert classes.tolist() == [0, 1, 2] and out is not None and np.array_equal(out, S)
    # class_names reorders to sorted labels and keeps classes without training rows
    classes, out = check_class_vectors(S, np.array(["b", "c"]), class_names=["c", "a", "b"])
    assert classes.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(out, S[[1, 2, 0]])
    d = {"cat": [1.0, 0.0], "dog": [0.0, 1.0], "yak": [1.0, 1.0]}
    classes, out = check_class_vectors(d, np.array(["cat", "dog"]))
    assert classes.tolist() == ["cat", "dog", "yak"] and out.shape == (3, 2)


@pytest.mark.parametrize("vectors, y, names, match", [
    (np.ones((4, 3)), [0, 1, 2], None, "class_vectors: has 4 rows but y has 3 classes"),
    (np.ones((5, 3)), [0, 1, 2], None, "transpose"),
    (np.ones((3, 2)), [0, 1, 2], ["a", "b"], "class_names: has 2 names"),
    (np.ones((2, 2)), ["a", "b", "c"], ["a", "b"], r"class_vectors: has no vector for training labels \['c'\]"),
    (np.array([[1.0, np.nan], [0, 1]]), [0, 1], None, "class_vectors: contains NaN"),
    ({"a": [1.0, 2.0], "b": [1.0]}, ["a", "b"], None, "class_vectors: dict vectors must all"),
    (np.ones((2, 2)), [0, 1], ["a", "b"], "class_names: labels are strings but y holds integers"),
])
def test_check_class_vectors_errors_name_the_field_and_fix(vectors, y, names, match):
    with pytest.raises(DataError, match=match):
        check_class_vectors(vectors, np.unique(y), class_names=names)


def test_vectors_and_lrr_modules_import_neither_torch_nor_gensim():
    import subprocess
    import sys

    code = ("import sys, webly.semantic, webly.semantic.vectors, webly.semantic.lrr; "
            "webly.semantic.load_class_vectors('digits'); "
            "print(sorted(m for m in ('torch', 'gensim') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
