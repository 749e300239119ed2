"""Feature-level baselines on frozen image embeddings: what a practitioner tries first.

- :class:`LinearProbeClassifier`: multinomial logistic regression, out-of-fold noise scores;
- :class:`GCEClassifier`: a linear or one-hidden-layer head with the generalized cross-entropy
  (Zhang & Sabuncu, NeurIPS 2018);
- :class:`CoTeachingClassifier`: two heads that train each other on their small-loss rows
  (Han et al., NeurIPS 2018);
- :class:`ZeroShotClassifier`: cosine similarity to class vectors from a joint image-text model.

Attributes load lazily; the torch heads import torch in ``fit`` only (a fitted head predicts
in numpy).
"""

from .._lazy import lazy_attributes

_LAZY = {
    "LinearProbeClassifier": "webly.heads.linear",
    "GCEClassifier": "webly.heads.robust",
    "CoTeachingClassifier": "webly.heads.robust",
    "ZeroShotClassifier": "webly.heads.zeroshot",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = list(_LAZY)
