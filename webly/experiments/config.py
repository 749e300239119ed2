"""Experiment configuration: YAML in, a validated :class:`ExperimentConfig` out.

Shape (DESIGN.md section 5)::

    name: quickstart                      # optional; defaults to the file name
    dataset: {name: web-digits, noise_rate: 0.4}
    methods: [SVM, {name: SVM, label: SVM-C10, C: 10}, {name: SVM, search: {C: [0.1, 1, 10]}}]
    protocol: {split: test, metrics: [accuracy, map]}
    seeds: [0, 1, 2]
    output_dir: runs
    parallel: {backend: local, n_jobs: 1}

Every error names the field as a dotted path (``protocol.folds``, ``methods[1].C``) and says
how to fix it; :class:`~webly.errors.ConfigError` carries it.
"""

import os
from collections.abc import Iterable
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError, did_you_mean
from . import registry

METRICS = ("accuracy", "map", "ap", "bag_accuracy", "noise_auc")
_RESERVED_METHOD_KEYS = ("name", "label", "search")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MethodSpec(_Strict):
    """One method: registry name, display label, fixed parameters, optional inner search grid."""

    name: str
    label: Optional[str] = None
    params: dict[str, Any] = Field(default_factory=dict)
    search: Optional[dict[str, list]] = None

    @property
    def display(self):
        return self.label or self.name


class ProtocolSpec(_Strict):
    """How rows are split into training and evaluation, and what is measured.

    ``split``: ``test`` trains on all web rows and evaluates on the dataset's clean test set;
    ``holdout`` holds out ``test_size`` of the bags per seed; ``kfold`` runs ``folds`` folds by bag
    per seed (stratified by web label; a bag is never cut). Held-out web rows are scored against
    ``y_true`` where the dataset has it, else against their own labels. ``inner_folds`` is the
    number of folds by bag of a method's ``search`` (inner validation on training rows only).
    ``save_models`` writes each fitted model to ``models/<unit>.webly`` (see webly.persist).
    """

    split: Literal["test", "holdout", "kfold"] = "test"
    test_size: float = Field(0.3, gt=0, lt=1)
    folds: int = Field(5, ge=2)
    inner_folds: int = Field(3, ge=2)
    metrics: list[str] = Field(default_factory=lambda: ["accuracy", "map"])
    save_models: bool = False

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v):
        for m in v:
            if m not in METRICS:
                raise ValueError(f"unknown metric {m!r}{did_you_mean(m, METRICS)}; "
                                 f"choose from {', '.join(METRICS)}")
        if not v:
            raise ValueError("give at least one metric")
        return v


class ParallelSpec(_Strict):
    """Where units of work run: joblib locally, or a dask.distributed cluster.

    ``threads``: BLAS/OpenMP threads of each unit, wherever it runs. Fixed, so that ``n_jobs``
    and the backend never change a value (a run folder's hash ignores ``parallel``); another
    ``threads`` may change the last bits of some values.
    """

    backend: Literal["local", "dask"] = "local"
    n_jobs: int = Field(1, ge=-1)
    address: Optional[str] = None
    threads: int = Field(1, ge=1)

    @field_validator("n_jobs")
    @classmethod
    def _some_jobs(cls, v):
        if v == 0:  # joblib refuses 0 only when the run starts
            raise ValueError("must be -1 (one process per core) or a positive number of "
                             "processes, got 0")
        return v


class PublishedSpec(_Strict):
    """Published numbers shown beside a run's own, clearly marked (never used by the run).

    ``values`` maps a dataset name (as results name it, e.g. ``musk1``) to method label -> value
    of ``metric``, as a fraction (0.874, not 87.4).
    """

    source: str
    metric: str
    values: dict[str, dict[str, float]]


class ExperimentConfig(_Strict):
    name: str = "experiment"
    dataset: dict[str, Any]
    methods: list[MethodSpec] = Field(min_length=1)
    protocol: ProtocolSpec = Field(default_factory=ProtocolSpec)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    output_dir: str = "runs"
    parallel: ParallelSpec = Field(default_factory=ParallelSpec)
    sweep: Optional[dict[str, list]] = None
    published: Optional[PublishedSpec] = None
    notes: Optional[str] = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v):
        # a run's folder is <output_dir>/<name>/...: a name must not reach outside output_dir
        bad = [c for c in ("/", "\\", "\0") if c in v]
        if not v.strip() or v in (".", "..") or bad or v.startswith("."):
            raise ValueError(f"{v!r} is not a plain name: a run name becomes one folder under "
                             "output_dir, so use letters, digits, '-' or '_' (no path separators, "
                             "no leading '.')")
        return v

    @field_validator("sweep")
    @classmethod
    def _sweep_keys(cls, v):
        if v is None:
            return v
        for key, values in v.items():
            head = key.split(".")[0]
            if head not in ("dataset", "protocol", "methods") or "." not in key:
                raise ValueError(f"cannot sweep {key!r}: sweep dotted keys under dataset., "
                                 "protocol. or methods.<i>. (seeds already repeat)")
            if not values:
                raise ValueError(f"give at least one value for {key!r}")
        return v

    @field_validator("methods", mode="before")
    @classmethod
    def _method_shorthand(cls, v):
        if not isinstance(v, list):
            raise ValueError("must be a list of method names or {name: ..., <params>} mappings")
        out = []
        for item in v:
            if isinstance(item, str):
                out.append({"name": item})
            elif isinstance(item, dict):
                params = {k: val for k, val in item.items()
                          if k not in _RESERVED_METHOD_KEYS and k != "params"}
                if isinstance(item.get("params"), dict):  # the long form {name, params: {...}}
                    params = {**item["params"], **params}
                out.append({**{k: item[k] for k in _RESERVED_METHOD_KEYS if k in item},
                            "params": params})
            else:
                out.append(item)
        return out

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_scalar(cls, v):
        return [v] if isinstance(v, int) else v

    @field_validator("seeds")
    @classmethod
    def _numpy_seeds(cls, v):
        bad = [s for s in v if not 0 <= s <= 2**32 - 1]
        if bad:  # numpy's RandomState (datasets, estimators, inner folds) takes no others
            raise ValueError(f"must be integers in [0, 2**32 - 1] (numpy seeds), got {bad[0]}")
        return v

    @field_validator("output_dir")
    @classmethod
    def _output_folder(cls, v):
        # refused here, before anything runs; makedirs would fail only after the data is built
        path = os.path.abspath(v)
        while not os.path.exists(path) and os.path.dirname(path) != path:
            path = os.path.dirname(path)
        if not os.path.isdir(path):
            raise ValueError(f"{path!r} is a file, not a folder; name a folder for the runs "
                             "(it is created if missing)")
        return v


def _loc(loc, data):
    """Dotted path of a pydantic error location, with method params flattened back."""
    parts = []
    for i, p in enumerate(loc):
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p == "params" and i > 0 and loc[i - 1] != "params" and len(loc) > i + 1:
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


def _from_validation_error(exc, data):
    err = exc.errors()[0]
    where = _loc(err["loc"], data)
    if err["type"] == "extra_forbidden":
        parent = err["loc"][:-1]
        model = {(): ExperimentConfig, ("protocol",): ProtocolSpec,
                 ("parallel",): ParallelSpec}.get(tuple(parent))
        allowed = list(model.model_fields) if model else []
        msg = f"unknown field{did_you_mean(err['loc'][-1], allowed)}"
        if allowed:
            msg += f"; allowed: {', '.join(allowed)}"
        return ConfigError(where, msg)
    if err["type"] == "missing":
        return ConfigError(where, "is required")
    msg = err["msg"].removeprefix("Value error, ")
    return ConfigError(where, f"{msg} (got {err.get('input')!r})" if err["type"] != "value_error"
                       else msg)


def parse_config(data, *, source="config"):
    """Validate a config mapping; return an :class:`ExperimentConfig` or raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError("", f"{source}: the top level must be a mapping with keys dataset, "
                              "methods, protocol, seeds, output_dir, parallel")
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(exc, data) from None
    registry.check_dataset(cfg.dataset)
    for i, m in enumerate(cfg.methods):
        registry.check_method(m, where=f"methods[{i}]")
    sweep_variants(cfg)  # every point of a sweep must be a valid config too
    labels = [m.display for m in cfg.methods]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError("methods", f"method {dup[0]!r} appears twice; give one a distinct label")
    return cfg


def apply_overrides(data, overrides):
    """Apply ``key=value`` overrides (dotted keys, YAML values) to a config mapping, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(item, "overrides are written key=value, e.g. seeds=[0,1] or "
                                    "parallel.backend=dask")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(p.strip() for p in parts):
            what = "no key before '='" if not key.strip() else f"an empty part in key {key!r}"
            raise ConfigError(item, f"malformed override: {what}; overrides are written "
                                    "key=value with a dotted key, e.g. seeds=[0,1] or "
                                    "methods.0.C=10")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        for j, p in enumerate(parts[:-1]):
            if isinstance(node, list):
                if not p.isdigit() or int(p) >= len(node):
                    raise ConfigError(".".join(parts[:j + 1]), f"no list item {p}")
                if isinstance(node[int(p)], str):
                    node[int(p)] = {"name": node[int(p)]}
                node = node[int(p)]
            else:
                node = node.setdefault(p, {})
                if not isinstance(node, (dict, list)):
                    raise ConfigError(".".join(parts[:j + 1]), "is not a mapping; cannot set a "
                                                               "sub-field of it")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(key, f"no list item {last}")
            node[int(last)] = value
        else:
            node[last] = value
    return data


def sweep_variants(cfg):
    """``[(assignment, config)]``: one validated config per point of ``cfg.sweep``.

    ``assignment`` maps each swept dotted key to its value at that point. Without a sweep the
    list is empty.
    """
    if not cfg.sweep:
        return []
    import itertools

    keys = list(cfg.sweep)
    out = []
    for values in itertools.product(*(cfg.sweep[k] for k in keys)):
        data = cfg.model_dump(exclude={"sweep", "published", "notes"})
        data["methods"] = [{"name": m["name"], "label": m["label"], "search": m["search"],
                            **m["params"]} for m in data["methods"]]
        assignment = dict(zip(keys, values))
        try:
            apply_overrides(data, [f"{k}={_yaml_value(v)}" for k, v in assignment.items()])
            variant = parse_config(data)
        except ConfigError as exc:
            raise ConfigError(f"sweep.{exc.field}" if exc.field else "sweep",
                              str(exc).split(": ", 1)[-1]) from None
        out.append((assignment, variant))
    return out


def _yaml_value(v):
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def load_config(path: str | os.PathLike[str],
                overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Read a YAML config file, apply overrides, validate. The name defaults to the file stem."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError("config", f"file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError("config", f"{path!r} is not valid YAML{where}") from None
    if data is None:
        data = {}
    if isinstance(data, dict):
        data.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    apply_overrides(data, overrides)
    return parse_config(data, source=path)


def resolved(cfg):
    """The config as plain data with every default filled in (what a run records)."""
    out = cfg.model_dump()
    out["dataset"] = registry.resolved_dataset(cfg.dataset)
    return out
