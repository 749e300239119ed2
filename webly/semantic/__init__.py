"""Category-level semantics for noisy web labels: word/attribute class vectors, the semantic VAE
(CVPR 2018) with zero-shot scoring, its low-rank domain adaptation, and the VAE-weighted baseline.

Attributes load lazily: ``webly.semantic.load_class_vectors`` needs neither torch nor gensim;
the estimators import torch, :func:`load_keyed_vectors` and :func:`train_word2vec` import gensim.
"""

from .._lazy import lazy_attributes

_LAZY = {
    "SemanticVAE": "webly.semantic.vae",
    "SemanticVAEDA": "webly.semantic.vae",
    "VAEWeightedClassifier": "webly.semantic.vae",
    "reconstruction_weights": "webly.semantic.vae",
    "load_keyed_vectors": "webly.semantic.vectors",
    "train_word2vec": "webly.semantic.vectors",
    "embed_class_names": "webly.semantic.vectors",
    "load_class_vectors": "webly.semantic.vectors",
    "list_class_vectors": "webly.semantic.vectors",
    "check_class_vectors": "webly.semantic.vectors",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = list(_LAZY)
