"""Run an experiment: units of work (method x seed x fold), resumable, atomic outputs.

Layout of a run (DESIGN.md section 5)::

    <output_dir>/<name>/<hash>/      hash of the dataset and protocol (what numbers compare on)
        config.yaml                  the resolved config of the latest run
        versions.json                python, libraries, machine, thread settings
        units/<key>.json             one finished (method, seed, fold): its metric rows
        results.csv                  long format, every unit of the current config
        report.md, figures/*.png

A unit's key hashes the dataset, protocol, method (name, label, parameters, search grid), seed
and fold; a unit whose file exists is read back instead of recomputed, so a rerun, or a run
resumed after a kill, does only the missing work. Every file is written atomically, and
``config.yaml``, ``results.csv`` and the report are written together at the end, so the config
always describes the results beside it.

The folder's hash ignores ``parallel``: ``n_jobs`` and the backend never change a value, because
every unit runs with ``parallel.threads`` BLAS/OpenMP threads (default 1) wherever it runs.
Two runs on one folder never compute a unit twice: the second waits, or with ``join`` shares the
units (:mod:`webly.experiments.folder`). Worker processes exit when the run's process dies.
"""

import hashlib
import json
import logging
import os
import platform
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import (MetadataRequest, MetadataRouter, MethodMapping,
                                            process_routing)
from threadpoolctl import threadpool_limits

from .. import metrics as M
from ..base import fit_kwargs_for
from ..blocks import FeatureBlocks
from ..errors import ConfigError
from ..fileio import atomic_path, write_json, write_text
from . import registry
from .config import resolved
from .folder import RunFolder
from .progress import Progress

log = logging.getLogger("webly")

RESULT_COLUMNS = ["experiment", "dataset", "method", "params", "seed", "fold", "metric", "value",
                  "fit_seconds", "predict_seconds", "n_train", "n_test", "convergence_warnings"]


def _hash(obj, n=12):
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


@dataclass
class Unit:
    method_index: int
    seed: int
    fold: int
    key: str


@dataclass
class RunResult:
    """What :func:`run_experiment` returns: where it wrote, the results, and what it computed."""

    run_dir: str
    results: pd.DataFrame
    n_computed: int
    n_reused: int
    #: method -> (noise-score percentiles within each run, truly-wrong flags) pooled over runs,
    #: for the noise-score histograms (methods with ``noise_scores_`` on data with true labels)
    noise: dict = field(default_factory=dict)
    #: seed -> premise figures of that seed's training rows (:func:`premise_of_run`)
    premise: dict = field(default_factory=dict)


def _data_key(cfg):
    res = resolved(cfg)
    protocol = {k: v for k, v in res["protocol"].items() if k != "save_models"}
    key = {"dataset": res["dataset"], "protocol": protocol}
    files = _file_fingerprints(res["dataset"])
    if files:  # a data file edited in place must not reuse the results of its old contents
        key["files"] = files
    return key


_FINGERPRINTS = {}


def _file_fingerprints(dataset):
    """sha1 of every file a dataset parameter names (``path``, ``manifest`` ...), by parameter.

    Cached per (path, size, mtime) within a process, so planning a run hashes each file once.
    Files that a file refers to (a crawl manifest's images) are not covered.
    """
    out = {}
    for k, v in sorted(dataset.items()):
        if not (isinstance(v, str) and os.path.isfile(v)):
            continue
        st = os.stat(v)
        tag = (os.path.abspath(v), st.st_size, st.st_mtime_ns)
        if tag not in _FINGERPRINTS:
            h = hashlib.sha1()
            with open(v, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            _FINGERPRINTS[tag] = h.hexdigest()[:16]
        out[k] = _FINGERPRINTS[tag]
    return out


def plan(cfg):
    """The units of a config: every method x seed x fold, with their keys."""
    data_key = _data_key(cfg)
    n_folds = cfg.protocol.folds if cfg.protocol.split == "kfold" else 1
    units = []
    for i, m in enumerate(cfg.methods):
        mkey = m.model_dump()
        for seed in cfg.seeds:
            for fold in range(n_folds):
                key = _hash({**data_key, "method": mkey, "seed": seed, "fold": fold}, n=16)
                units.append(Unit(i, seed, fold, key))
    return units


def run_dir_of(cfg):
    return os.path.join(cfg.output_dir, cfg.name, _hash(_data_key(cfg)))


def _split(ds, protocol, seed, fold):
    """(train_rows, eval) where eval holds X, y, bags of the rows scored."""
    if protocol.split == "test":  # a test set is there: _check_needs ran first
        return np.arange(ds.n_rows), {"X": ds.X_test, "y": ds.y_test,
                                      "bags": np.arange(len(ds.y_test))}
    if protocol.split == "holdout":
        train, test = ds.split_by_bag(protocol.test_size, random_state=seed)
    else:
        folds = list(ds.kfold_by_bag(protocol.folds, random_state=seed))
        train, test = folds[fold]
    truth = ds.y_true if ds.y_true is not None else ds.y
    return train, {"X": ds.X[test], "y": truth[test], "bags": ds.bag_ids[test]}


def _fit_once(spec, entry, params, train_ds, X_target, seed):
    est = registry.make_estimator(spec.model_copy(update={"params": params}), random_state=seed)
    args = train_ds.fit_args(labels=entry.labels)
    args["X_target"] = X_target  # unlabelled target rows, used only by adaptation methods
    X, y = args.pop("X"), args.pop("y")
    return est.fit(X, y, **fit_kwargs_for(est, args))


#: fit arguments that are not one entry per training row: the search binds them to the estimator
#: (:class:`_FixedFitArgs`) instead of routing them, since scikit-learn cuts any routed argument
#: with as many rows as X down to the fold's rows
_NOT_PER_ROW = ("X_target", "class_vectors", "class_names")


class _FixedFitArgs(MetaEstimatorMixin, BaseEstimator):
    """``estimator`` fitted with the arguments ``fixed`` besides those routed to ``fit``.

    The inner search's estimator: grid points are set as ``estimator__<param>``; the per-row
    metadata the estimator requests (bags, X_priv, sources) are routed to it, cut to the fold's
    rows; ``fixed`` (X_target, class vectors and names) reaches every fit whole.
    """

    def __init__(self, estimator, fixed=None):
        self.estimator = estimator
        self.fixed = fixed

    def fit(self, X, y, **params):
        routed = process_routing(self, "fit", **params)
        self.estimator_ = clone(self.estimator).fit(X, y, **routed.estimator.fit,
                                                    **(self.fixed or {}))
        return self

    def get_metadata_routing(self):
        fit_to_fit = MethodMapping().add(caller="fit", callee="fit")
        return MetadataRouter(owner=self).add(estimator=self.estimator, method_mapping=fit_to_fit)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = get_tags(self.estimator).input_tags.pairwise  # kernel input
        return tags


class _SearchScorer:
    """Scorer of the inner search: one protocol metric of a fitted grid point on a fold's
    validation rows, by :func:`_metric_values` (the runner's one implementation of each metric).

    Besides ``X`` and ``y`` it takes, routed and cut to the validation rows, ``bags`` (their bag
    ids; each row its own bag when the data has none), which ``bag_accuracy`` scores with the
    estimator's own bag rule where it has one, and ``rows`` (their indices in the search's
    training rows), which name the fold and so its training rows, whose noise ``noise_auc``
    scores.
    """

    def __init__(self, metric, train_ds, splits):
        self.metric = metric
        self.train_ds = train_ds
        self._train_of = {va.tobytes(): tr for tr, va in splits}

    def __call__(self, estimator, X, y, bags=None, rows=None):
        inner = self.train_ds.subset(self._train_of[np.asarray(rows).tobytes()])
        ev = {"X": X, "y": y, "bags": np.arange(len(y)) if bags is None else bags}
        return _metric_values(estimator.estimator_, ev, [self.metric], inner).get(self.metric,
                                                                                  np.nan)

    def get_metadata_routing(self):
        request = MetadataRequest(owner=self)
        for param in ("bags", "rows"):
            request.score.add_request(param=param, alias=True)
        return request


def _best_point(cv_results, n_splits, metric):
    """Index of the grid point with the highest mean score over the folds; a fold where the
    metric is NaN is left out of the mean, a point NaN on every fold loses, and ties keep the
    earlier point. (GridSearchCV's own rank would sink a point NaN on any one fold.)"""
    means = []
    for j in range(len(cv_results["params"])):
        values = np.array([cv_results[f"split{i}_test_score"][j] for i in range(n_splits)])
        means.append(-np.inf if np.all(np.isnan(values)) else float(np.nanmean(values)))
    if np.all(np.isneginf(means)):
        warnings.warn(f"search: no grid point has a {metric} on any inner fold; the first point "
                      "is kept", UserWarning)
    return int(np.argmax(means))


def _inner_search(spec, entry, train_ds, X_target, seed, protocol):
    """Choose ``spec.search`` parameters by scikit-learn's ``GridSearchCV``, by bag on the
    training rows only; returns ``(chosen point, cv_results_)``.

    Folds: ``StratifiedGroupKFold`` (``protocol.inner_folds``, at most one per bag, shuffled with
    the seed), stratified by the labels the method fits on (web, or true for an oracle). Every
    point of the grid is fitted on each fold's training rows and scored with the protocol's
    first metric (e.g. bag accuracy for MIL, by the method's own bag rule) on the fold's
    validation rows, against those labels (:class:`_SearchScorer`); per-row metadata reaches
    the fits through metadata routing. The chosen point has the highest mean score over the
    folds where its metric is defined (:func:`_best_point`); ties keep the earlier point. A
    failing fit raises (``error_score="raise"``).

    ``X_target``: an adaptation method's fits on every fold adapt to the rows the final fit
    adapts to (the unit's evaluation rows), not to the fold's validation rows, which
    ``GridSearchCV`` cannot pass per fold.

    ``X_priv``: a fold's rows reach the fit as they are, so a fold whose rows all lack
    privileged features (all-NaN rows) gets an all-NaN ``X_priv`` where ``Dataset.subset``
    would give None; the estimators that take rows without privileged features (MDA-HS+,
    MDA-HS+ENR) fit an all-NaN ``X_priv`` exactly as None, and the others refuse NaN rows in
    any fit, the unit's final fit included.
    """
    from sklearn import config_context
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    groups = train_ds.bag_ids
    folds = min(protocol.inner_folds, len(np.unique(groups)))
    labels = train_ds.y if entry.labels == "web" else train_ds.y_true
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(cv.split(train_ds.X, labels, groups=groups))
    est = registry.make_estimator(spec, random_state=seed)  # the grid's points are set on it
    args = train_ds.fit_args(labels=entry.labels)
    args["X_target"] = X_target
    X, y = args.pop("X"), args.pop("y")
    routed = fit_kwargs_for(est, args)
    fixed = {k: routed.pop(k) for k in _NOT_PER_ROW if k in routed}
    routed["rows"] = np.arange(len(y))  # for the scorer, with bags
    if train_ds.bags is not None:
        routed["bags"] = train_ds.bags
    metric = protocol.metrics[0]
    search = GridSearchCV(_FixedFitArgs(est, fixed),
                          {f"estimator__{k}": v for k, v in spec.search.items()},
                          scoring=_SearchScorer(metric, train_ds, splits), cv=splits,
                          refit=False, n_jobs=1, error_score="raise")
    with config_context(enable_metadata_routing=True), warnings.catch_warnings():
        # NaN fold scores are expected (a class missing from a fold); _best_point handles them
        warnings.filterwarnings("ignore", "One or more of the test scores are non-finite",
                                UserWarning)
        search.fit(X, y, **routed)
    best = search.cv_results_["params"][_best_point(search.cv_results_, len(splits), metric)]
    return {k.removeprefix("estimator__"): v for k, v in best.items()}, search.cv_results_


def _fit(spec, entry, train_ds, eval_part, seed, protocol):
    """Fit a method on the training rows, with the point of its inner search when it has one;
    returns ``(estimator, chosen parameters)``."""
    chosen = {}
    if spec.search:
        chosen, _ = _inner_search(spec, entry, train_ds, eval_part["X"], seed, protocol)
    est = _fit_once(spec, entry, {**spec.params, **chosen}, train_ds, eval_part["X"], seed)
    return est, chosen


def _metric_values(est, ev, metrics, train_ds, fit_on="web"):
    """Metric name -> value for a fitted estimator on evaluation rows ``ev`` (X, y, bags)."""
    # scores for AP: decision_function, or class probabilities for estimators without one (MLP)
    score_fn = getattr(est, "decision_function", None) or est.predict_proba
    scores = score_fn(ev["X"])
    if scores.ndim == 2 and scores.shape[1] == 2 and score_fn == getattr(est, "predict_proba", None):
        scores = scores[:, 1]
    pred = est.predict(ev["X"])
    classes = est.classes_
    values = {}
    for metric in metrics:
        if metric == "accuracy":
            values["accuracy"] = M.accuracy(ev["y"], pred)
        elif metric == "map":
            values["map"] = M.mean_average_precision(ev["y"], scores, classes)
        elif metric == "ap":
            for c, v in M.average_precision_per_class(ev["y"], scores, classes).items():
                values[f"ap/{c}"] = v
        elif metric == "bag_accuracy":
            if hasattr(est, "bag_decision_function"):  # the method's own bag rule (MIL)
                _, S = est.bag_decision_function(ev["X"], ev["bags"])
                values["bag_accuracy"] = M.bag_accuracy_from_bag_scores(ev["y"], ev["bags"], S,
                                                                        classes)
            else:
                values["bag_accuracy"] = M.bag_accuracy(ev["y"], scores, ev["bags"], classes)
        elif metric == "noise_auc":
            ns = getattr(est, "noise_scores_", None)
            # only for methods fit on web labels (an oracle's scores are about other labels)
            if ns is not None and train_ds.y_true is not None and fit_on == "web":
                values["noise_auc"] = M.noise_auc(train_ds.is_noisy, ns)
    return values


def run_unit(cfg, unit, ds, *, save_model=True):
    """Fit and score one (method, seed, fold); returns its long-format rows.

    Runs with ``cfg.parallel.threads`` BLAS/OpenMP threads, so its values do not depend on how
    many units run beside it. ``save_model=False`` writes nothing even under ``save_models``.
    """
    with threadpool_limits(limits=cfg.parallel.threads):
        return _run_unit(cfg, unit, ds, save_model)


def _run_unit(cfg, unit, ds, save_model):
    spec = cfg.methods[unit.method_index]
    entry = registry.METHODS[spec.name]
    train_rows, ev = _split(ds, cfg.protocol, unit.seed, unit.fold)
    train_ds = ds.subset(train_rows) if len(train_rows) < ds.n_rows else ds
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est, chosen = _fit(spec, entry, train_ds, ev, unit.seed, cfg.protocol)
    fit_s = time.perf_counter() - t0
    n_conv = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    # other warnings of the fit (a -PI method without X_priv, a degenerate bandwidth ...): shown
    # once per unit, also from worker processes, instead of being lost with the record
    for message in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught
                                 if not issubclass(w.category, ConvergenceWarning)):
        log.warning("%s seed %d fold %d: %s", spec.display, unit.seed, unit.fold, message)
    if n_conv:
        log.warning("%s seed %d fold %d: %d convergence warnings (first: %s)", spec.display,
                    unit.seed, unit.fold, n_conv,
                    next(w.message for w in caught if issubclass(w.category, ConvergenceWarning)))
    t0 = time.perf_counter()
    values = _metric_values(est, ev, cfg.protocol.metrics, train_ds, entry.labels)
    pred_s = time.perf_counter() - t0
    for src, w in (getattr(est, "source_weights_", None) or {}).items():
        values[f"source_weight/{src}"] = w  # learned weights of multi-source methods
    for src, g in (getattr(est, "source_relevance_", None) or {}).items():
        values[f"source_relevance/{src}"] = g  # MDA-HS(+): the prior coefficient gamma_s
    if cfg.protocol.save_models and save_model:
        from ..persist import save
        save(est, _model_path(cfg, unit))
    params = {**spec.params, **chosen}
    base = {"experiment": cfg.name, "dataset": ds.name, "method": spec.display,
            "params": json.dumps(params, sort_keys=True, default=str), "seed": unit.seed,
            "fold": unit.fold, "fit_seconds": round(fit_s, 4), "predict_seconds": round(pred_s, 4),
            "n_train": len(train_rows), "n_test": len(ev["y"]), "convergence_warnings": n_conv}
    rows = [{**base, "metric": k, "value": float(v)} for k, v in values.items()]
    noise = None
    if "noise_auc" in values:  # per-row scores for the clean/noisy histograms of the report
        noise = {"percentile": _percentiles(est.noise_scores_),
                 "noisy": train_ds.is_noisy.astype(int).tolist()}
    return rows, noise


def _percentiles(scores):
    """Rank of each score within its run, in (0, 1] (ties share their mean rank); 4 decimals."""
    from scipy.stats import rankdata

    s = np.asarray(scores, dtype=float)
    return np.round(rankdata(s) / len(s), 4).tolist()


def _model_path(cfg, unit):
    return os.path.join(run_dir_of(cfg), "models", unit.key + ".webly")


def _unit_path(cfg, unit):
    return os.path.join(run_dir_of(cfg), "units", unit.key + ".json")


def _finished(cfg, unit):
    """A unit is finished when its file exists (and its model, when the run saves models)."""
    return os.path.exists(_unit_path(cfg, unit)) and (
        not cfg.protocol.save_models or os.path.exists(_model_path(cfg, unit)))


def _exit_with_parent(parent_pid):
    """Initializer of the local worker processes: exit as soon as the run's process is gone.

    A SIGKILL of the run cannot be caught, and joblib's idle workers would otherwise live on for
    minutes; a daemon thread polls the parent id (twice a second) and ends the worker. A worker
    whose parent is already gone when it starts exits at once.
    """
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="webly-exit-with-parent", daemon=True).start()


def _local_workers():
    """joblib's process workers, each watching the run's process from the moment it starts
    (dask workers are their cluster's to manage)."""
    return parallel_config(backend="loky", initializer=_exit_with_parent,
                           initargs=(os.getpid(),))


def _unit_job(cfg, unit, ds, save_model=True):
    rows, noise = run_unit(cfg, unit, ds, save_model=save_model)
    return unit.key, rows, noise


def _run_sweep(cfg, progress, join=False):
    from .config import sweep_variants
    from .report import write_sweep_report

    frames, computed, reused, noise, premise = [], 0, 0, {}, {}
    for assignment, variant in sweep_variants(cfg):
        out = run_experiment(variant, progress=progress, join=join)
        title = ", ".join(f"{k} = {v}" for k, v in assignment.items())
        if out.noise:
            noise[title] = out.noise
        premise[title] = out.premise
        frame = out.results.copy()
        for pos, (k, v) in enumerate(assignment.items()):
            frame.insert(1 + pos, k, json.dumps(v) if isinstance(v, (list, dict)) else v)
        frames.append(frame)
        computed, reused = computed + out.n_computed, reused + out.n_reused
    results = pd.concat(frames, ignore_index=True)
    # the sweep's folder is named by what it computes, not by how (parallel settings)
    res = resolved(cfg)
    key = {k: v for k, v in res.items() if k != "parallel"}
    run_dir = os.path.join(cfg.output_dir, cfg.name, "sweep-" + _hash(key))
    with RunFolder(run_dir):
        with atomic_path(os.path.join(run_dir, "results.csv")) as tmp:
            results.to_csv(tmp, index=False)
        write_text(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(res, sort_keys=False))
        write_json(os.path.join(run_dir, "versions.json"), _versions())
        write_sweep_report(run_dir, cfg, results, list(cfg.sweep), noise=noise,
                           premise=premise)
    return RunResult(run_dir, results, computed, reused)


@dataclass
class VerifyResult:
    """What :func:`verify_experiment` found: values compared, mismatches, units not stored, and
    metrics the code reports now that a stored unit predates (new, not compared)."""

    n_compared: int
    mismatches: list
    n_missing: int
    n_new: int = 0


#: metric prefixes added to the results after units were stored (verify does not ask old units
#: for them)
NEW_METRICS = ("source_relevance/",)


def verify_experiment(cfg, seeds=None):
    """Recompute stored units and compare their metric values with the stored ones, exactly.

    For each run folder of ``cfg`` (each sweep point), the finished units of ``seeds`` (default:
    the config's first seed) are fitted and scored again, in ``cfg.parallel.n_jobs`` processes;
    nothing is written. A mismatch is a dict with the point's ``run_dir``, ``method``, ``seed``,
    ``fold``, ``metric``, the ``stored`` and ``recomputed`` values. Units never computed count as
    missing (run the config first). A metric of :data:`NEW_METRICS` that a stored unit lacks (it
    was written before the code reported it) counts as new, not as a mismatch; any other metric
    missing on either side is a mismatch.
    """
    from .config import sweep_variants

    variants = [v for _, v in sweep_variants(cfg)] if cfg.sweep else [cfg]
    seeds = set(cfg.seeds[:1] if seeds is None else seeds)
    compared, mismatches, missing, new = 0, [], 0, 0
    for v in variants:
        run_dir = run_dir_of(v)
        stored, todo = {}, []
        for u in plan(v):
            if u.seed not in seeds:
                continue
            path = os.path.join(run_dir, "units", u.key + ".json")
            if not os.path.exists(path):
                missing += 1
                continue
            with open(path, encoding="utf-8") as fh:
                stored[u.key] = {r["metric"]: r["value"] for r in json.load(fh)["rows"]}
            todo.append(u)
        if not todo:
            continue
        datasets = _datasets(v, sorted({u.seed for u in todo}))
        for ds in {id(d): d for d in datasets.values()}.values():
            _check_needs(v, ds)
        with _local_workers():
            again = Parallel(n_jobs=v.parallel.n_jobs)(
                delayed(_unit_job)(v, u, datasets[u.seed], save_model=False) for u in todo)
        for u, (_, rows, _) in zip(todo, again):
            recomputed = {r["metric"] for r in rows}
            for metric in sorted(set(stored[u.key]) - recomputed):  # stored, no longer computed
                mismatches.append({"run_dir": run_dir,
                                   "method": v.methods[u.method_index].display, "seed": u.seed,
                                   "fold": u.fold, "metric": metric,
                                   "stored": stored[u.key][metric], "recomputed": None})
            for r in rows:
                if r["metric"] not in stored[u.key] and r["metric"].startswith(NEW_METRICS):
                    new += 1
                    continue
                old = stored[u.key].get(r["metric"])
                compared += 1
                same = old is not None and (old == r["value"] or (np.isnan(old)
                                                                  and np.isnan(r["value"])))
                if not same:
                    mismatches.append({"run_dir": run_dir, "method": r["method"],
                                       "seed": u.seed, "fold": u.fold, "metric": r["metric"],
                                       "stored": old, "recomputed": r["value"]})
    return VerifyResult(compared, mismatches, missing, new)


def _versions():
    import importlib.metadata as md

    libs = {}
    for name in ("webly", "numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "cvxpy",
                 "joblib", "pydantic", "torch", "gensim", "numba", "matplotlib"):
        try:
            libs[name] = md.version(name)
        except md.PackageNotFoundError:
            libs[name] = None
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    from threadpoolctl import threadpool_info

    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "libraries": libs,
            "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                           "OPENBLAS_NUM_THREADS")},
            "threadpools": [{k: d.get(k) for k in ("internal_api", "num_threads")}
                            for d in threadpool_info()]}


def _datasets(cfg, seeds):
    """One dataset per seed for seeded (generated) datasets, else one shared dataset."""
    entry = registry.DATASETS[cfg.dataset["name"]]
    if entry.seeded and "random_state" not in cfg.dataset:
        return {s: registry.load_dataset(cfg.dataset, s) for s in seeds}
    ds = registry.load_dataset(cfg.dataset, seeds[0])
    return {s: ds for s in seeds}


def _executor(cfg):
    par = cfg.parallel
    if par.backend == "local":
        return None
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("parallel.backend", "dask is not installed; pip install "
                                              "'webly[dask]' or use backend: local") from None
    if par.address:
        return Client(par.address)
    n = par.n_jobs if par.n_jobs > 0 else 2
    logging.getLogger("distributed").setLevel(logging.ERROR)
    return Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR))


def run_experiment(cfg, *, progress=None, join=False):
    """Run every unit of a validated config not already finished; write outputs; return them.

    A config with a ``sweep`` runs each point as its own experiment (its own run folder, reused
    on rerun) and writes the combined ``results.csv`` and report, with one column per swept key,
    into ``<output_dir>/<name>/sweep-<hash>/``.

    Another run already using the folder is waited for; with ``join=True`` this run instead
    computes the units no other joining run has claimed, then waits for theirs.
    """
    if cfg.sweep:
        return _run_sweep(cfg, progress, join)
    run_dir = run_dir_of(cfg)
    units = plan(cfg)
    todo = [u for u in units if not _finished(cfg, u)]
    log.info("%s: %d units, %d already finished", cfg.name, len(units), len(units) - len(todo))
    # build the data first: a bad dataset parameter or file fails before anything is written
    datasets = _datasets(cfg, sorted({u.seed for u in todo})) if todo else {}
    for ds in {id(d): d for d in datasets.values()}.values():
        _check_needs(cfg, ds)
    with RunFolder(run_dir, join=join) as folder:
        os.makedirs(os.path.join(run_dir, "units"), exist_ok=True)
        n_computed = _compute(cfg, [u for u in todo if not _finished(cfg, u)], datasets, folder,
                              progress)
        rows, noise = [], {}
        for u in units:
            with open(_unit_path(cfg, u), encoding="utf-8") as fh:
                saved = json.load(fh)
            rows.extend(saved["rows"])
            if "noise" in saved:
                pct, noisy = noise.setdefault(saved["unit"]["method"], ([], []))
                pct.extend(saved["noise"]["percentile"])
                noisy.extend(saved["noise"]["noisy"])
        results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
        res = resolved(cfg)
        # written together, after every unit: the config always describes the results
        with atomic_path(os.path.join(run_dir, "results.csv")) as tmp:
            results.to_csv(tmp, index=False)
        write_text(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(res, sort_keys=False))
        write_json(os.path.join(run_dir, "versions.json"), _versions())
        premise = premise_of_run(cfg, datasets)
        from .report import write_report
        write_report(run_dir, cfg, results, res, noise=noise, premise=premise)
    return RunResult(run_dir, results, n_computed, len(units) - n_computed, noise, premise)


def premise_of_run(cfg, datasets=None):
    """Seed -> :func:`webly.diagnostics.premise_report` of that seed's training rows.

    The rows a unit of the seed trains on (fold 0 under ``kfold``), so, like ``noise_auc``, the
    figures use the true labels of training rows only (evaluation information, no method sees
    them). Kept in ``premise.json`` of the run folder and reused while the diagnostics version
    is the same; ``datasets`` (seed -> dataset, as the run loaded them) saves loading them again.
    """
    from ..diagnostics import PREMISE_VERSION, premise_report

    path = os.path.join(run_dir_of(cfg), "premise.json")
    stored = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            saved = json.load(fh)
        if saved.get("version") == PREMISE_VERSION:
            stored = saved["seeds"]
    missing = [s for s in cfg.seeds if str(s) not in stored]
    if missing:
        have = dict(datasets or {})
        need = [s for s in missing if s not in have]
        if need:
            have.update(_datasets(cfg, need))
        with threadpool_limits(limits=cfg.parallel.threads):
            for s in missing:
                train = _split(have[s], cfg.protocol, s, 0)[0]
                part = have[s].subset(train) if len(train) < have[s].n_rows else have[s]
                stored[str(s)] = premise_report(part, random_state=s)
        write_json(path, {"version": PREMISE_VERSION, "seeds": stored})
    return {s: stored[str(s)] for s in cfg.seeds}


def _check_needs(cfg, ds):
    """Refuse, before any unit runs, what the config asks of data that cannot give it."""
    if cfg.protocol.split == "test" and (ds.X_test is None or ds.y_test is None):
        raise ConfigError("protocol.split", f"dataset {ds.name!r} has no labelled test set; use "
                                            "split: holdout or split: kfold")
    if isinstance(ds.X, FeatureBlocks):
        # held-out web rows (holdout / kfold, inner search folds) may lack feature types, and
        # they become X_target and the scored rows: only the complete test rows can
        if cfg.protocol.split != "test":
            raise ConfigError("protocol.split", f"dataset {ds.name!r} has feature types "
                                                f"{ds.X.feature_types} that some web rows lack; "
                                                "use split: test (its test rows have every type)")
        searched = [m.display for m in cfg.methods if m.search]
        if searched:
            raise ConfigError("methods", f"{searched[0]} has a search, whose held-out web rows "
                                         f"may lack some of the feature types of dataset "
                                         f"{ds.name!r}; give fixed hyperparameters")
        flat = [m.display for m in cfg.methods
                if not getattr(registry.METHODS[m.name].load(), "accepts_feature_blocks", False)]
        if flat:
            raise ConfigError("methods", f"{flat[0]} takes one feature array, but dataset "
                                         f"{ds.name!r} has feature types {ds.X.feature_types}; "
                                         "use the multi-source methods (MDA-HS, MDA-HS+, "
                                         "uniform-sources, single-source) or one feature type")
    searched = [m.display for m in cfg.methods if m.search]
    if searched and cfg.protocol.metrics[0] == "ap":
        raise ConfigError("protocol.metrics", f"{searched[0]} has a search, which scores its grid "
                                              "with the first metric, and ap gives one value per "
                                              "class; put accuracy, map or bag_accuracy first")
    if ds.y_true is None:
        if "noise_auc" in cfg.protocol.metrics:
            raise ConfigError("protocol.metrics", f"noise_auc scores noise detection against the "
                                                  f"true labels of web rows (y_true), which "
                                                  f"dataset {ds.name!r} does not have; drop "
                                                  "noise_auc or add y_true to the data")
        oracles = [m.display for m in cfg.methods if registry.METHODS[m.name].labels == "true"]
        if oracles:
            raise ConfigError("methods", f"{oracles[0]} fits on the true labels of web rows "
                                         f"(y_true), which dataset {ds.name!r} does not have; "
                                         "drop it or add y_true to the data")


def _compute(cfg, todo, datasets, folder, progress):
    """Compute the units of ``todo`` that no other run claims; wait for the ones others claim.

    Each unit is claimed before it is dispatched and its file written as soon as it finishes (a
    kill loses only the work in progress). Returns the number of units this run computed.
    """
    if not todo:
        return 0
    taken_by_others = []

    def claimed(units):
        for u in units:
            if not folder.claim(u.key):
                taken_by_others.append(u)
            elif _finished(cfg, u):  # finished by another run since we looked
                folder.release(u.key)
            else:
                yield u

    bar = Progress(cfg, len(todo), progress)  # a bar on a terminal, else a line per unit
    n_computed = _dispatch(cfg, claimed(todo), datasets, folder, bar)
    retry = []
    for u in taken_by_others:  # wait for the other run's units; take over any it gave up
        folder.claim(u.key, wait=True)
        if _finished(cfg, u):
            folder.release(u.key)
            bar.update(u)
        else:
            retry.append(u)
    if retry:
        n_computed += _dispatch(cfg, iter(retry), datasets, folder, bar)
    bar.close()
    return n_computed


def _dispatch(cfg, units, datasets, folder, bar):
    """Run the (claimed) units the iterator yields; save each as it finishes."""
    client = _executor(cfg)
    unit_by_key, n = {}, 0

    def jobs():
        for u in units:
            unit_by_key[u.key] = u
            yield delayed(_unit_job)(cfg, u, datasets[u.seed])

    try:
        backend = parallel_config(backend="dask") if client else _local_workers()
        with backend:
            stream = Parallel(n_jobs=-1 if client else cfg.parallel.n_jobs,
                              return_as="generator")(jobs())
            for key, rows, noise in stream:
                u = unit_by_key[key]
                unit = {"unit": {"method": cfg.methods[u.method_index].display,
                                 "seed": u.seed, "fold": u.fold}, "rows": rows}
                if noise is not None:
                    unit["noise"] = noise
                write_json(_unit_path(cfg, u), unit)
                folder.release(key)
                n += 1
                bar.update(u, rows)
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    return n
