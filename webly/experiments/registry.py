"""Registries of datasets and methods that configs name.

Methods are registered as ``"module:Class"`` strings and imported only when used, so importing
the registry (and webly) never imports torch or gensim. Later families add themselves with
:func:`register_method`.
"""

import importlib
import inspect
from dataclasses import dataclass

from ..errors import ConfigError, DataError, did_you_mean


def _import(target):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class MethodEntry:
    """A registered method: the estimator class and which labels it fits on."""

    target: str
    labels: str = "web"
    description: str = ""

    def load(self):
        return _import(self.target)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its loader and whether it takes the run seed as ``random_state``.

    ``check`` optionally names a function that validates the loader's parameters by keyword
    (raising DataError naming the parameter), so a config is checked before anything runs.
    """

    target: str
    seeded: bool = False
    description: str = ""
    check: str = ""

    def load(self):
        return _import(self.target)


METHODS: dict[str, MethodEntry] = {}
DATASETS: dict[str, DatasetEntry] = {}


def register_method(name, target, *, labels="web", description=""):
    """Make ``name`` usable in configs; ``labels="true"`` fits on ``y_true`` (oracle references)."""
    METHODS[name] = MethodEntry(target, labels, description)


def register_dataset(name, target, *, seeded=False, description="", check=""):
    DATASETS[name] = DatasetEntry(target, seeded, description, check)


register_dataset("web-digits", "webly.synthetic:make_web_digits", seeded=True,
                 description="embedded web-like digits (noisy query bags, tags, sources)",
                 check="webly.synthetic:check_params")
# seeded: train_per_class draws its training rows with the run's seed (one subsample per seed,
# the same on every rerun); without train_per_class the seed is unused
register_dataset("npz", "webly.experiments.registry:load_npz", seeded=True,
                 description="your features in an .npz (keys X, y, bags, X_priv, ...)")
register_dataset("parquet", "webly.experiments.registry:load_parquet", seeded=True,
                 description="your features in a parquet file (columns X_*, y, bags, ...)")
register_dataset("npz-query-bags", "webly.experiments.registry:load_npz_query_bags", seeded=True,
                 description="a clean npz turned into noisy query bags (web-like MIL)",
                 check="webly.synthetic:check_params")
register_dataset("music-genre-crowd", "webly.io:load_music_genre_crowd", seeded=True,
                 description="700 songs with real MTurk genre labels, 300 gold test songs")
register_dataset("mil_csv", "webly.io:read_mil_csv",
                 description="bag CSV: bag_id,bag_label,f0,... (Musk, Elephant, Fox)")
register_dataset("web-crawl", "webly.crawl_scale:make_web_crawl", seeded=True,
                 description="a crawl-scale web set generated on the fly (10^5-10^6 rows x 512, "
                             "float32; both kinds of label noise, tags, sources)")
register_dataset("crawl", "webly.crawl:load_crawl",
                 description="a crawl manifest (image paths, queries, text) embedded offline",
                 check="webly.crawl:check_params")

register_method("SVM", "webly.baselines:SVMClassifier",
                description="kernel SVM on instances with the web labels")
register_method("SVM-oracle", "webly.baselines:SVMClassifier", labels="true",
                description="the same SVM on the true labels (upper reference, needs y_true)")


register_method("KMM-SVM", "webly.baselines:KMMSVMClassifier",
                description="KMM weights towards the unlabelled target rows, then a weighted SVM")
register_method("mi-SVM", "webly.mil:MiSVMClassifier",
                description="instance-level MIL SVM with relabelling (Andrews et al. 2003)")
register_method("MI-SVM", "webly.mil:MISVMClassifier",
                description="bag-level MIL SVM with witness instances (Andrews et al. 2003)")


register_method("sMIL", "webly.mil:SMILClassifier",
                description="sparse MIL on positive-bag means (Bunescu & Mooney 2007)")
register_method("sbMIL", "webly.mil:SbMILClassifier",
                description="balanced sMIL, then an instance SVM (Bunescu & Mooney 2007)")
register_method("sMIL-PI", "webly.mil:SMILPIClassifier",
                description="sMIL with privileged (text) slacks of positive bags (Li, Niu, Xu 2014)")
register_method("sMIL-PI-DA", "webly.mil:SMILPIDAClassifier",
                description="sMIL-PI + visual correcting function matching the target (Niu et al. 2016)")
register_method("mi-SVM-PI", "webly.mil:MiSVMPIClassifier",
                description="mi-SVM with privileged slacks of positive-bag instances (Li, Niu, Xu 2014)")
register_method("mi-SVM-PI-DA", "webly.mil:MiSVMPIDAClassifier",
                description="mi-SVM-PI + visual correcting function matching the target")
register_method("MIL-CPB", "webly.mil:MILCPBClassifier",
                description="cutting plane over instance labellings + l1-MKL of label kernels (Li et al. 2011)")
register_method("MIL-CPB-PI", "webly.mil:MILCPBPIClassifier",
                description="MIL-CPB with privileged slacks of positive-bag instances (Li, Niu, Xu 2014)")
register_method("MIL-CPB-PI-DA", "webly.mil:MILCPBPIDAClassifier",
                description="MIL-CPB-PI + visual correcting function matching the target (Niu et al. 2016)")
register_method("SVM+", "webly.svmplus:SVMPlusClassifier",
                description="SVM+ (LUPI): privileged features model the slacks (Vapnik & Vashist 2009)")
register_method("L2-SVM+", "webly.svmplus:L2SVMPlusClassifier",
                description="L2-loss SVM+ in closed form (Li et al. CVPR 2016)")
register_method("GD", "webly.distillation:GDClassifier",
                description="generalized distillation from a privileged teacher (Lopez-Paz et al. 2016)")


register_method("MDA-HS", "webly.multisource:MDAHS",
                description="multi-source adaptation: source weights + target pseudo-labels (Chen et al. 2013)")
register_method("MDA-HS+", "webly.multisource:MDAHSPlus",
                description="MDA-HS with text as privileged information (Niu et al. 2017)")
register_method("MDA-HS+ENR", "webly.multisource:MDAHSPlusENR",
                description="MDA-HS+ with elastic-net-like source weights")
register_method("pooled-SVM", "webly.baselines:SVMClassifier",
                description="SVM on all sources pooled")
register_method("uniform-sources", "webly.multisource:UniformSourcesClassifier",
                description="average of per-source classifiers")
register_method("single-source", "webly.multisource:SingleSourceClassifier",
                description="one source's classifier (the best-source oracle is picked offline)")
register_dataset("office-caltech10", "webly.multisource.datasets:load_office_caltech10",
                 seeded=True, description="Office-Caltech10 SURF: 3 source domains -> 1 target")
register_dataset("digit-domains", "webly.multisource.datasets:load_digit_domains", seeded=True,
                 description="MNIST / USPS / optdigits / mfeat digits: 3 sources -> 1 target")


register_method("SemanticVAE", "webly.semantic.vae:SemanticVAE",
                description="VAE + classifier on class vectors, noisy rows down-weighted (Niu et al. CVPR 2018)")
register_method("SemanticVAE-DA", "webly.semantic.vae:SemanticVAEDA",
                description="SemanticVAE reconstructing the target too, then low-rank refinement")
register_method("VAE-weighted", "webly.semantic.vae:VAEWeightedClassifier",
                description="the same VAE weighting with a plain softmax head (no semantics)")
register_method("MLP", "sklearn.neural_network:MLPClassifier",
                description="scikit-learn MLP (softmax) on the noisy web labels")
register_method("cleanlab", "webly.peers:CleanLearningClassifier",
                description="peer: cleanlab's CleanLearning around the same MLP (needs webly[peers])")
register_method("skada", "webly.peers:SkadaClassifier",
                description="peer: a skada domain-adaptation pipeline (KMM reweighting or CORAL) "
                            "around an SVC (needs webly[peers])")
register_method("LR-probe", "webly.heads.linear:LinearProbeClassifier",
                description="linear probe: multinomial logistic regression on standardised features")
register_method("GCE", "webly.heads.robust:GCEClassifier",
                description="torch head with the generalized cross-entropy (Zhang & Sabuncu 2018)")
register_method("co-teaching", "webly.heads.robust:CoTeachingClassifier",
                description="two MLP heads updated on each other's small-loss rows (Han et al. 2018)")
register_method("zero-shot", "webly.heads.zeroshot:ZeroShotClassifier",
                description="cosine similarity to class vectors of one joint image-text "
                            "embedding (CLIP-like); no training on labels")


def with_class_vectors(ds, class_vectors):
    """``ds`` with its class vectors replaced by a shipped set (a name of
    :func:`webly.semantic.load_class_vectors`) or an npz file (keys ``class_names``,
    ``vectors``), rows matched to ``ds.class_names`` by name."""
    from dataclasses import replace

    import numpy as np

    from ..semantic.vectors import load_class_vectors

    if class_vectors is None:
        return ds
    if str(class_vectors).endswith(".npz"):
        import os
        if not os.path.isfile(class_vectors):
            raise DataError("dataset.class_vectors", f"file {class_vectors!r} does not exist")
        with np.load(class_vectors, allow_pickle=False) as f:
            if not {"class_names", "vectors"} <= set(f.files):
                raise DataError("dataset.class_vectors", f"{class_vectors!r} needs arrays "
                                                         "'class_names' and 'vectors'")
            names, vectors = f["class_names"].astype(str), f["vectors"].astype(np.float64)
    else:
        names, vectors = load_class_vectors(class_vectors)
    row = {n: i for i, n in enumerate(names)}
    missing = [c for c in ds.class_names.astype(str) if c not in row]
    if missing:
        raise DataError("dataset.class_vectors", f"has no vector for classes {missing[:5]}; "
                                                 f"it has {list(names)[:10]}")
    return replace(ds, class_vectors=vectors[[row[c] for c in ds.class_names.astype(str)]])


def load_npz(path, train_per_class=None, standardize=False, class_vectors=None,
             random_state=None):
    """An npz dataset; ``train_per_class`` keeps that many training rows per class (seeded);
    ``standardize`` scales features on the (kept) training rows (WebDataset.standardized);
    ``class_vectors`` replaces the file's class vectors (see :func:`with_class_vectors`)."""
    from ..dataset import WebDataset
    ds = with_class_vectors(WebDataset.from_npz(path), class_vectors)
    if train_per_class is not None:
        ds = ds.subsample_per_class(train_per_class, random_state)
    return ds.standardized() if standardize else ds


def load_npz_query_bags(path, n_bags_per_class=8, bag_size=12, noise_rate=0.3,
                        noise_type="uniform", random_state=None):
    """An npz of cleanly labelled rows turned into noisy query bags (see make_query_bags)."""
    from ..dataset import WebDataset
    from ..synthetic import make_query_bags
    return make_query_bags(WebDataset.from_npz(path), n_bags_per_class=n_bags_per_class,
                           bag_size=bag_size, noise_rate=noise_rate, noise_type=noise_type,
                           random_state=random_state)


def load_parquet(path, train_per_class=None, standardize=False, class_vectors=None,
                 random_state=None):
    """A parquet dataset; ``train_per_class``, ``standardize`` and ``class_vectors`` as for npz."""
    from ..dataset import WebDataset
    ds = with_class_vectors(WebDataset.from_parquet(path), class_vectors)
    if train_per_class is not None:
        ds = ds.subsample_per_class(train_per_class, random_state)
    return ds.standardized() if standardize else ds


def _loader_params(entry):
    sig = inspect.signature(entry.load())
    return {k: p for k, p in sig.parameters.items() if k not in ("name",)}


def check_dataset(spec):
    """Validate ``dataset: {name: ..., params}`` against the loader's signature."""
    name = spec.get("name")
    if name is None:
        raise ConfigError("dataset.name", f"is required; one of {', '.join(DATASETS)}")
    if name not in DATASETS:
        raise ConfigError("dataset.name", f"unknown dataset {name!r}{did_you_mean(name, DATASETS)}; "
                                          f"available: {', '.join(DATASETS)}")
    params = _loader_params(DATASETS[name])
    for key in spec:
        if key != "name" and key not in params:
            raise ConfigError(f"dataset.{key}", f"unknown parameter of {name}"
                                                f"{did_you_mean(key, params)}; it takes: "
                                                f"{', '.join(params)}")
    for key, p in params.items():
        if p.default is inspect.Parameter.empty and key not in spec:
            raise ConfigError(f"dataset.{key}", f"is required for {name}")
    if DATASETS[name].check:
        try:
            _import(DATASETS[name].check)(**{k: v for k, v in spec.items() if k != "name"})
        except DataError as exc:
            raise _config_error(exc, params) from None


def resolved_dataset(spec):
    """Dataset spec with the loader's defaults filled in (``random_state`` left to the seed)."""
    entry = DATASETS[spec["name"]]
    out = {"name": spec["name"]}
    for key, p in _loader_params(entry).items():
        if key in spec:
            out[key] = spec[key]
        elif p.default is not inspect.Parameter.empty and key != "random_state":
            out[key] = list(p.default) if isinstance(p.default, tuple) else p.default
    return out


def load_dataset(spec, seed):
    """Build the dataset a spec names; seeded datasets get ``random_state=seed`` unless fixed."""
    entry = DATASETS[spec["name"]]
    params = {k: v for k, v in spec.items() if k != "name"}
    if entry.seeded and "random_state" not in params:
        params["random_state"] = seed
    try:
        return entry.load()(**params)
    except DataError as exc:
        raise _config_error(exc, _loader_params(entry)) from None


def _config_error(exc, params):
    """A loader's DataError as a ConfigError: ``dataset.<param>`` for one of the loader's
    parameters, ``dataset (<field>)`` for a field of the data it read."""
    field = exc.field
    if field in params:
        field = f"dataset.{field}"
    elif not field.startswith("dataset."):
        field = f"dataset ({field})"
    return ConfigError(field, exc.message)


def check_method(spec, where="method"):
    """Validate a method spec: known name, known parameters, valid values."""
    if spec.name not in METHODS:
        raise ConfigError(f"{where}.name", f"unknown method {spec.name!r}"
                                           f"{did_you_mean(spec.name, METHODS)}; available: "
                                           f"{', '.join(METHODS)}")
    make_estimator(spec, random_state=0, where=where)
    if spec.search:
        cls = METHODS[spec.name].load()
        valid = cls().get_params()
        for key, values in spec.search.items():
            if key not in valid:
                raise ConfigError(f"{where}.search.{key}", f"{spec.name} has no parameter {key!r}"
                                                           f"{did_you_mean(key, valid)}")
            if not values:
                raise ConfigError(f"{where}.search.{key}", "give at least one value to try")
            for v in values:
                try:
                    make_estimator(spec.model_copy(update={"params": {**spec.params, key: v},
                                                           "search": None}),
                                   random_state=0, where=where)
                except ConfigError as exc:  # the fixed parameters passed: the grid value is bad
                    raise ConfigError(f"{where}.search.{key}", exc.message) from None


def make_estimator(spec, random_state, where="method"):
    """Instantiate the estimator of a method spec, validating its parameters."""
    cls = METHODS[spec.name].load()
    est = cls()
    valid = est.get_params()
    for key in spec.params:
        if key not in valid:
            raise ConfigError(f"{where}.{key}", f"{spec.name} has no parameter {key!r}"
                                                f"{did_you_mean(key, valid)}; it takes: "
                                                f"{', '.join(sorted(valid))}")
    params = dict(spec.params)
    if "random_state" in valid and "random_state" not in params:
        params["random_state"] = random_state
    est.set_params(**params)
    if hasattr(est, "_validate_params"):
        from sklearn.utils._param_validation import InvalidParameterError
        try:
            est._validate_params()
        except InvalidParameterError as exc:
            msg = str(exc)
            bad = next((k for k in params if f"'{k}'" in msg), None)
            raise ConfigError(f"{where}.{bad}" if bad else where, msg) from None
    return est
