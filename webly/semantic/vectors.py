"""Category-level semantics: class vectors from word embeddings, attributes or shipped files.

Three ways to get the (C, a) matrix ``S`` of class vectors that the semantic VAE scores against:

* :func:`load_keyed_vectors` reads pre-trained word vectors from a user path (word2vec text or
  binary, GloVe text without header, fastText ``.vec``/``.bin``, gensim's native format) and
  :func:`embed_class_names` turns class names into vectors (multi-word names average their words);
* :func:`train_word2vec` learns word vectors from the crawl's own text (tags, captions);
* any (C, a) array (attribute matrices included) or a dict ``label -> vector`` is accepted as is;
  :func:`load_class_vectors` reads the small sets shipped in ``datasets/class_vectors``.

:func:`check_class_vectors` aligns any of these with the labels of a training set; the estimators
of :mod:`webly.semantic` call it at the top of ``fit``.

gensim is imported inside the functions that need it, so importing this module stays light.

References
----------
.. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
   category-level supervision. CVPR 2018 (arXiv:1803.03857): class-level semantic vectors
   against which the VAE's latent code is classified (see :mod:`webly.semantic.vae`).
.. [2] T. Mikolov, I. Sutskever, K. Chen, G. Corrado, J. Dean. Distributed representations of
   words and phrases and their compositionality. NIPS 2013.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..fileio import shipped_path

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from gensim.models import KeyedVectors
    from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

FORMATS = ("auto", "word2vec", "word2vec_binary", "glove", "fasttext", "gensim")
_FASTTEXT_MAGIC = 793712314            # first int32 of a Facebook fastText .bin file
_SPLIT = re.compile(r"[\s_+]+")
_TOKEN = re.compile(r"\w+(?:[-']\w+)*", re.UNICODE)


# --------------------------------------------------------------------------- word vectors
def _open_binary(path):
    from gensim import utils  # smart_open: transparent .gz/.bz2

    return utils.open(str(path), "rb")


def _sniff_format(path):
    """Guess the on-disk format of a word-vector file from its first bytes."""
    with _open_binary(path) as fh:
        head = fh.read(1 << 16)
    if head[:1] == b"\x80":                       # pickle protocol >= 2: gensim native
        return "gensim"
    if len(head) >= 4 and int.from_bytes(head[:4], "little") == _FASTTEXT_MAGIC:
        return "fasttext"
    first, _, rest = head.partition(b"\n")
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        dim = int(parts[1])
        line = rest.split(b"\n", 1)[0]
        try:
            fields = line.decode("utf-8").split()
            [float(v) for v in fields[1:]]
        except (UnicodeDecodeError, ValueError):
            return "word2vec_binary"
        return "word2vec" if len(fields) == dim + 1 else "word2vec_binary"
    return "glove"


def load_keyed_vectors(path: str | os.PathLike[str], format: str = "auto", *,
                       limit: int | None = None) -> KeyedVectors:
    """Load word vectors as gensim ``KeyedVectors`` from a file a user downloaded or trained.

    Parameters
    ----------
    path : str or path-like
        Word-vector file; ``.gz``/``.bz2`` compressed text is read transparently.
    format : {"auto", "word2vec", "word2vec_binary", "glove", "fasttext", "gensim"}
        ``"word2vec"``: text with a ``count dim`` header (also fastText ``.vec`` files);
        ``"word2vec_binary"``: the original C tool's binary format (GoogleNews);
        ``"glove"``: text without header (``glove.6B.300d.txt``);
        ``"fasttext"``: Facebook fastText ``.bin`` model (keeps sub-word n-grams, so words outside
        the vocabulary still get vectors); a ``.vec`` file given as ``"fasttext"`` is read as text;
        ``"gensim"``: ``KeyedVectors.save`` output. ``"auto"`` sniffs the first bytes.
    limit : int, optional
        Read only the first ``limit`` vectors (text and binary word2vec/GloVe formats).

    Returns
    -------
    gensim.models.KeyedVectors

    Raises
    ------
    DataError
        ``path`` does not exist or cannot be parsed in the format given; ``format`` unknown.
    """
    from gensim.models import KeyedVectors

    if format not in FORMATS:
        raise DataError("format", f"{format!r} is not one of {', '.join(FORMATS)}")
    path = Path(os.fspath(path))
    if not path.is_file():
        raise DataError("path", f"word-vector file {str(path)!r} does not exist; give the path of a "
                                "downloaded or trained word2vec/GloVe/fastText file")
    if format == "auto":
        format = _sniff_format(path)
        logger.info("word vectors %s: detected format %r", path, format)
    if format == "fasttext" and path.suffix.lower() in (".vec", ".txt", ".gz"):
        format = "word2vec"
    try:
        if format == "gensim":
            return KeyedVectors.load(str(path))
        if format == "fasttext":
            from gensim.models.fasttext import load_facebook_vectors

            return load_facebook_vectors(str(path))
        return KeyedVectors.load_word2vec_format(
            str(path), binary=format == "word2vec_binary", no_header=format == "glove", limit=limit)
    except (ValueError, EOFError, UnicodeDecodeError, OSError) as exc:
        raise DataError("path", f"could not read {str(path)!r} as {format!r} word vectors ({exc}); "
                                "pass format= explicitly") from exc


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of a tag string or caption (``\\w+`` runs, inner ``-``/``'`` kept)."""
    return _TOKEN.findall(str(text).lower())


def train_word2vec(texts: Iterable[str | Sequence[str]], *, vector_size: int = 100, window: int = 5,
                   min_count: int = 1, epochs: int = 50, sg: int = 1,
                   random_state: int = 0) -> KeyedVectors:
    """Train Word2Vec on the crawl's own text (tags, titles, captions of the web images).

    Parameters
    ----------
    texts : iterable of str or of list of str
        One document per image/page: a string (tokenised by :func:`tokenize`) or a token list
        (used as given).
    vector_size, window, min_count, epochs, sg : see :class:`gensim.models.Word2Vec`
        Skip-gram (``sg=1``) by default, which suits small corpora of rare tags better.
    random_state : int
        Seed; training runs on one worker thread so that a seed gives identical vectors.

    Returns
    -------
    gensim.models.KeyedVectors
    """
    from gensim.models import Word2Vec

    sentences = []
    for doc in texts:
        if isinstance(doc, str):
            sentences.append(tokenize(doc))
        else:
            sentences.append([str(t) for t in doc])
    sentences = [s for s in sentences if s]
    if not sentences:
        raise DataError("texts", "has no tokens; give tags or captions (strings or token lists)")
    if not isinstance(random_state, (int, np.integer)):
        raise DataError("random_state", "must be an int seed for Word2Vec (gensim hashes it)")
    model = Word2Vec(sentences, vector_size=vector_size, window=window, min_count=min_count,
                     epochs=epochs, sg=sg, seed=int(random_state), workers=1)
    return model.wv


def _lookup(kv, word):
    for cand in (word, word.lower()):
        if cand in kv:
            return kv[cand]
    return None


def embed_class_names(keyed_vectors: KeyedVectors, class_names: Sequence[str], *,
                      phrases: Mapping[str, str] | None = None,
                      normalize: bool = True) -> NDArray[np.float64]:
    """Class vectors from word vectors: each name's words averaged, one row per class.

    A name is looked up whole first (with spaces as ``_``, as in GoogleNews phrases), then split
    on spaces, ``_`` and ``+`` and its words averaged; each word is tried as given, then
    lower-cased.

    Parameters
    ----------
    keyed_vectors : gensim.models.KeyedVectors
        From :func:`load_keyed_vectors` or :func:`train_word2vec`.
    class_names : sequence of str
        Class names, one per class, in label order.
    phrases : dict, optional
        ``class name -> text`` to embed instead of the name (e.g. ``{"tv": "television"}``).
    normalize : bool
        L2-normalise each class vector (the classifier scores ``z' s_c``, so scales matter).

    Returns
    -------
    (C, a) float64 array

    Raises
    ------
    DataError
        Naming ``class_names`` and every missing word, if any word is out of vocabulary.
    """
    names = [str(n) for n in np.asarray(class_names).ravel()]
    if not names:
        raise DataError("class_names", "is empty; give one name per class")
    phrases = dict(phrases or {})
    rows, missing = [], []
    for name in names:
        text = str(phrases.get(name, name))
        whole = _lookup(keyed_vectors, _SPLIT.sub("_", text.strip()))
        if whole is not None:
            rows.append(np.asarray(whole, dtype=np.float64))
            continue
        words = [w for w in _SPLIT.split(text.strip()) if w]
        vecs = []
        for w in words:
            v = _lookup(keyed_vectors, w)
            if v is None:
                missing.append((w, name))
            else:
                vecs.append(np.asarray(v, dtype=np.float64))
        if not words:
            missing.append(("", name))
        if vecs:
            rows.append(np.mean(vecs, axis=0))
    if missing:
        listed = ", ".join(f"{w!r} (in {n!r})" for w, n in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise DataError("class_names", f"words not in the word-vector vocabulary: {listed}{more}; fix "
                                       "the spelling, map the class to known words with phrases="
                                       "{name: text}, or train vectors on text that contains them")
    S = np.vstack(rows)
    if normalize:
        S = S / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)
    return S


# --------------------------------------------------------------------------- shipped files
def _default_data_home():
    return Path(shipped_path("class_vectors"))


def list_class_vectors(data_home: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the class-vector sets available in ``data_home`` (default: the shipped ones)."""
    home = Path(data_home) if data_home is not None else _default_data_home()
    return sorted(p.stem for p in home.glob("*.npz")) if home.is_dir() else []


def load_class_vectors(
    name: str, *, data_home: str | os.PathLike[str] | None = None
) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
    """Load a class-vector set shipped with webly (``datasets/class_vectors``).

    Parameters
    ----------
    name : str
        Set name, e.g. ``"digits"`` (MiniLM vectors of ``zero`` .. ``nine``), ``"office_caltech10"``,
        ``"awa1_attributes"``; see ``datasets/class_vectors/PROVENANCE.md`` or
        :func:`list_class_vectors`.
    data_home : str or path-like, optional
        Folder holding ``<name>.npz`` files (keys ``class_names``, ``vectors``); defaults to the
        shipped ``datasets/class_vectors`` (inside the installed package for a wheel, next to it
        for a source checkout or an editable install).

    Returns
    -------
    class_names : (C,) str array
    vectors : (C, a) float64 array, row c for ``class_names[c]``

    Examples
    --------
    >>> names, S = load_class_vectors("digits")
    >>> names[:3].tolist(), S.shape
    (['zero', 'one', 'two'], (10, 384))
    """
    home = Path(data_home) if data_home is not None else _default_data_home()
    if not home.is_dir():
        raise DataError("data_home", f"class-vector folder {str(home)!r} does not exist. The shipped "
                                     "sets live in datasets/class_vectors of the webly repository "
                                     "(webly/datasets/class_vectors of the wheel): reinstall webly, "
                                     "or pass data_home= a copy of that folder")
    path = home / f"{name}.npz"
    if not path.is_file():
        raise DataError("name", f"no class-vector set {name!r} in {str(home)!r}; available: "
                                f"{', '.join(list_class_vectors(home)) or 'none'}")
    with np.load(path, allow_pickle=False) as f:
        return f["class_names"].astype(str), f["vectors"].astype(np.float64)


# --------------------------------------------------------------------------- alignment
def _finite_vectors(S, field):
    try:
        S = np.asarray(S, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(field, f"must be numeric vectors ({exc})") from None
    if S.ndim != 2 or S.shape[0] == 0 or S.shape[1] == 0:
        raise DataError(field, f"must be a non-empty (classes x dimensions) matrix, got shape {S.shape}")
    if not np.all(np.isfinite(S)):
        raise DataError(field, "contains NaN or infinite values; fill missing attributes first")
    return S


def check_class_vectors(
    class_vectors: ArrayLike | Mapping[Any, ArrayLike], y_classes: ArrayLike,
    class_names: ArrayLike | None = None
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Align class vectors with the training labels.

    Parameters
    ----------
    class_vectors : (C, a) array-like or dict ``label -> (a,) vector``
        An array's rows follow ``class_names`` when given, else the sorted labels of ``y``
        (``np.unique(y)``). An attribute matrix stored as (a, C) must be transposed first.
    y_classes : (K,) array
        Sorted distinct training labels.
    class_names : (C,) array-like, optional
        Label of each row of an array ``class_vectors``; labels not in ``y_classes`` are kept as
        zero-shot classes (scored, never trained on).

    Returns
    -------
    classes : (C',) array
        Sorted union of the training labels and the labels that have a vector.
    S : (C', a) float64 array
        Row c is the vector of ``classes[c]``.

    Raises
    ------
    DataError
        Naming ``class_vectors`` or ``class_names`` when shapes disagree, a training label has no
        vector, or values are not finite.
    """
    y_classes = np.asarray(y_classes)
    if isinstance(class_vectors, Mapping):
        if class_names is not None:
            raise DataError("class_names", "give class_names only with an array of class vectors; "
                                           "a dict already names its classes")
        if not class_vectors:
            raise DataError("class_vectors", "is an empty dict; give one vector per class")
        labels = np.asarray(list(class_vectors.keys()))
        rows = [np.ravel(np.asarray(v, dtype=np.float64)) for v in class_vectors.values()]
        if len({r.shape[0] for r in rows}) != 1:
            raise DataError("class_vectors", "dict vectors must all have the same length; got "
                                             f"lengths {sorted({r.shape[0] for r in rows})}")
        S = _finite_vectors(rows, "class_vectors")
    else:
        S = _finite_vectors(class_vectors, "class_vectors")
        if class_names is None:
            if S.shape[0] != len(y_classes):
                hint = (" (it looks like an a x C matrix: pass its transpose)"
                        if S.shape[1] == len(y_classes) else "")
                raise DataError("class_vectors", f"has {S.shape[0]} rows but y has {len(y_classes)} "
                                                 f"classes{hint}; give one row per class in the "
                                                 "order of np.unique(y), or pass class_names= (one "
                                                 "label per row) to also score classes without rows")
            return y_classes, S
        labels = np.asarray(class_names).ravel()
        if labels.shape[0] != S.shape[0]:
            raise DataError("class_names", f"has {labels.shape[0]} names but class_vectors has "
                                           f"{S.shape[0]} rows; give one name per row")
    field = "class_names" if class_names is not None else "class_vectors"
    if len(np.unique(labels)) != len(labels):
        raise DataError(field,
                        "contains duplicate labels; give each class one vector")
    if labels.dtype.kind in "OUS" and y_classes.dtype.kind in "iu":
        raise DataError(field, "labels are strings but y holds integers; use the same label type")
    try:
        missing = np.setdiff1d(y_classes, labels)
    except TypeError:
        raise DataError(field, f"labels of type {labels.dtype} cannot be compared with the "
                                       f"labels of y ({y_classes.dtype}); use the same label type") from None
    if len(missing):
        raise DataError("class_vectors", f"has no vector for training labels {missing[:10].tolist()}; "
                                         "give every class of y a vector")
    classes = np.unique(labels)
    order = {lab: i for i, lab in enumerate(labels.tolist())}
    return classes, S[[order[c] for c in classes.tolist()]]


__all__ = ["load_keyed_vectors", "train_word2vec", "tokenize", "embed_class_names",
           "load_class_vectors", "list_class_vectors", "check_class_vectors", "FORMATS"]
