"""Multi-source adaptation from heterogeneous web sources (DESIGN.md section 3.3).

* :class:`MDAHS`, :class:`MDAHSPlus` (text as privileged information), :class:`MDAHSPlusENR`
  (elastic-net-like source weights): source weights, target pseudo-labels and a target
  classifier learned together (Chen, Duan, Xu CVPR 2013; Niu et al. T-NNLS 2017);
* baselines :class:`UniformSourcesClassifier` (average of per-source classifiers) and
  :class:`SingleSourceClassifier` (one source; the ``best-source`` oracle picks among them
  after evaluation, :func:`webly.multisource.reporting.add_best_source_rows`); the pooled
  SVM is :class:`webly.baselines.SVMClassifier` on all rows;
* sources with their own feature types and a target with all of them come as flat rows with
  ``X`` a :class:`webly.FeatureBlocks` (:meth:`webly.WebDataset.from_sources` builds one), frame
  blocks (:class:`webly.GroupedFeatures`) give keyframe-averaged (image-to-video) kernels; the
  estimators' internal per-source view is :class:`webly.multisource.data.MultiSourceData`;
* the algorithms on plain arrays in :mod:`webly.multisource._mdahs`; dataset loaders in
  :mod:`webly.multisource.datasets`.
"""

from .ensembles import SingleSourceClassifier, UniformSourcesClassifier
from .mdahs import MDAHS
from .mdahs_plus import MDAHSPlus, MDAHSPlusENR
from ..solvers.mkl import update_group_weights
from ..solvers.simplex import solve_simplex_qp
from ._mdahs import balanced_labelling, mdahs_binary, positive_band
from ..blocks import FeatureBlocks, GroupedFeatures

__all__ = ["MDAHS", "MDAHSPlus", "MDAHSPlusENR", "UniformSourcesClassifier",
           "SingleSourceClassifier", "FeatureBlocks", "GroupedFeatures", "mdahs_binary",
           "solve_simplex_qp", "update_group_weights", "positive_band", "balanced_labelling"]


def __getattr__(name):
    # the second data container, public until this release: one release of FutureWarning
    if name == "MultiSourceData":
        import warnings

        from .data import MultiSourceData

        warnings.warn("webly.multisource.MultiSourceData is deprecated and will be removed in the "
                      "next release; build the data with webly.WebDataset.from_sources (same "
                      "dicts) and fit(**ds.fit_args(target=True)), or pass X as a "
                      "webly.FeatureBlocks", FutureWarning, stacklevel=2)
        return MultiSourceData
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
