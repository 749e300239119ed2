"""webly: learn image/video classifiers from noisy web data.

Importing webly is fast and offline: estimators load lazily on first attribute access, and torch
and gensim are imported only by the families that need them.
"""

from ._lazy import lazy_attributes

__version__ = "0.1.0"

# public name -> module that defines it (loaded on first access)
_LAZY = {
    "WebDataset": "webly.dataset",
    "DataWarning": "webly.base",
    "make_web_digits": "webly.synthetic",
    "Kernel": "webly.kernels",
    "SVMClassifier": "webly.baselines",
    "KMMSVMClassifier": "webly.baselines",
    "MiSVMClassifier": "webly.mil",
    "MISVMClassifier": "webly.mil",
    "MiSVMPIClassifier": "webly.mil",
    "MiSVMPIDAClassifier": "webly.mil",
    "SMILClassifier": "webly.mil",
    "SbMILClassifier": "webly.mil",
    "SMILPIClassifier": "webly.mil",
    "SMILPIDAClassifier": "webly.mil",
    "MILCPBClassifier": "webly.mil",
    "MILCPBPIClassifier": "webly.mil",
    "MILCPBPIDAClassifier": "webly.mil",
    "SVMPlusClassifier": "webly.svmplus",
    "L2SVMPlusClassifier": "webly.svmplus",
    "GDClassifier": "webly.distillation",
    "MDAHS": "webly.multisource",
    "MDAHSPlus": "webly.multisource",
    "MDAHSPlusENR": "webly.multisource",
    "UniformSourcesClassifier": "webly.multisource",
    "SingleSourceClassifier": "webly.multisource",
    "FeatureBlocks": "webly.blocks",
    "GroupedFeatures": "webly.blocks",
    "MultiSourceData": "webly.multisource",  # deprecated (FutureWarning): WebDataset.from_sources
    "SemanticVAE": "webly.semantic.vae",
    "SemanticVAEDA": "webly.semantic.vae",
    "VAEWeightedClassifier": "webly.semantic.vae",
    "LinearProbeClassifier": "webly.heads",
    "GCEClassifier": "webly.heads",
    "CoTeachingClassifier": "webly.heads",
    "ZeroShotClassifier": "webly.heads",
    "load_class_vectors": "webly.semantic.vectors",
    "kmm_weights": "webly.weighting",
    "save": "webly.persist",
    "load": "webly.persist",
    "run_experiment": "webly.experiments.runner",
    "load_config": "webly.experiments.config",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = ["__version__", *(k for k in _LAZY if k != "MultiSourceData")]
