"""What the VAE classifiers of :mod:`webly.semantic.vae` share: the reconstruction weights, the
feature scaling, and the estimator base with its training loop (skorch's shape: see
:mod:`webly.semantic.vae` for the method and :mod:`webly.semantic._vae_training` for the module,
the loss and the callbacks)."""

from __future__ import annotations

import copy
import math
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from torch.nn import functional as F

from ..base import WebClassifierMixin, check_is_fitted, check_row_features, encode_targets
from ..base import validate_data
from .._lupi_base import _dask_features, _is_dask
from .._torch import resolve_device
from ..errors import DataError
from ._vae_training import (OPTIMIZERS, EarlyStopping, ProgressBar, SemanticVAEModule,
                            generative_term, kl_divergence, vae_loss)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray


# --------------------------------------------------------------------------- array functions
def reconstruction_weights(log_lik, tau=0.01):
    """Noise weights from reconstruction log-likelihoods: ``exp(tau (l_i - max_j l_j))``.

    Parameters
    ----------
    log_lik : (n,) array
        ``log p(x_i | z_i)`` of each row (of one batch, or of the whole training set).
    tau : float
        Temperature; 0.01 in the authors' code. Smaller flattens the weights towards 1.

    Returns
    -------
    (n,) array in (0, 1]; the best reconstructed row gets 1.
    """
    log_lik = np.asarray(log_lik, dtype=np.float64)
    return np.exp(tau * (log_lik - log_lik.max()))


class _GlobalScaler:
    """Centre the features and divide them all by one number, the root mean feature variance.

    Keeps the relative scale of the features (unlike per-feature standardisation) while making
    the unit-variance Gaussian decoder independent of the features' unit.
    """

    def fit(self, X):
        self.__dict__.pop("n_samples_seen_", None)
        return self.partial_fit(X)

    def partial_fit(self, X):
        """Update the statistics with more rows (a streaming pass over partitions): Chan et
        al.'s pairwise update of the per-feature mean and variance. One call equals ``fit``."""
        n, mean, var = X.shape[0], X.mean(0), X.var(0)
        if getattr(self, "n_samples_seen_", 0):
            n_a = self.n_samples_seen_
            tot = n_a + n
            delta = mean - self.mean_
            mean = self.mean_ + delta * (n / tot)
            var = (self.var_ * n_a + var * n + delta ** 2 * (n_a * n / tot)) / tot
            n = tot
        self.n_samples_seen_, self.mean_, self.var_ = n, mean, var
        self.scale_ = float(np.sqrt(np.mean(var))) or 1.0
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_


# --------------------------------------------------------------------------- estimators
class _BaseVAEClassifier(WebClassifierMixin, BaseEstimator):
    """Shared training loop of the VAE classifiers (not public)."""

    _parameter_constraints = {
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "objective": [StrOptions({"authors", "elbo"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "tau": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "monitor": [StrOptions({"valid_loss", "valid_ce", "valid_acc"})],
        "feature_scaling": [StrOptions({"standard", "global", "center"})],
        "n_predict_samples": [Interval(Integral, 0, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
    }

    # ----------------------------------------------------------------- subclass hooks
    def _resolve_classes(self, y, class_vectors, class_names):
        classes, y_idx = encode_targets(y)
        return classes, y_idx, None

    def _default_latent_dim(self, S):
        return self.latent_dim

    # ----------------------------------------------------------------- persistence
    def __getstate__(self):
        """Plain-data state: the torch module as numpy arrays (safe model files, pickling).

        The optimiser is dropped (a loaded model predicts; refit to train again). The module is
        rebuilt on the device it was trained on when that device exists where it is loaded (so
        a round trip on the same machine predicts bit for bit the same), on the CPU otherwise.
        """
        state = dict(self.__dict__)
        module = state.pop("module_", None)
        state.pop("optimizer_", None)
        state.pop("device_", None)
        if module is not None:
            cv = module.class_vectors
            state["module_state_"] = {k: v.detach().cpu().numpy()
                                      for k, v in module.state_dict().items()}
            state["module_shape_"] = {
                "n_features": int(module.encoder[0].in_features),
                "hidden_size": int(module.encoder[0].out_features),
                "latent_dim": int(module.decoder[0].in_features),
                "n_classes": None if module.head is None else int(module.head.out_features)}
            state["module_has_class_vectors_"] = cv is not None
            state["module_device_"] = str(self.device_)
        return state

    def __setstate__(self, state):
        state = dict(state)
        weights = state.pop("module_state_", None)
        shape = state.pop("module_shape_", None)
        has_cv = state.pop("module_has_class_vectors_", False)
        saved_device = torch.device(state.pop("module_device_", "cpu"))
        self.__dict__.update(state)
        if weights is not None:
            # copies: arrays read back memory-mapped (joblib mmap_mode) are read-only, and the
            # class-vector buffer is written by load_state_dict (a segfault on such memory)
            weights = {k: np.array(v) for k, v in weights.items()}
            cv = torch.as_tensor(weights["class_vectors"]) if has_cv else None
            self.device_ = _available(saved_device)
            self.module_ = SemanticVAEModule(shape["n_features"], shape["hidden_size"],
                                             shape["latent_dim"], cv, shape["n_classes"])
            self.module_.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
            self.module_.to(self.device_).eval()
            self.optimizer_ = None

    # ----------------------------------------------------------------- helpers
    def _tensor(self, X):
        return torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device_)

    def _split(self, y_idx, rng):
        n = len(y_idx)
        idx = np.arange(n)
        if not self.early_stopping:
            return idx, idx[:0]
        n_valid = int(round(self.validation_fraction * n))
        if n_valid < 1 or n - n_valid < 2:
            raise DataError("validation_fraction",
                            f"leaves {n_valid} of {n} rows for early stopping; give more rows, "
                            "raise it, or set early_stopping=False")
        counts = np.bincount(y_idx)
        present = counts[counts > 0]
        stratify = y_idx if present.min() >= 2 and n_valid >= len(present) else None
        train, valid = train_test_split(idx, test_size=n_valid, stratify=stratify,
                                        random_state=rng.randint(2**31 - 1))
        return np.sort(train), np.sort(valid)

    # ----------------------------------------------------------------- training (skorch shape)
    def initialize_module(self, n_features, S, seed):
        """Build ``module_`` on ``device_``; its initial weights depend on ``seed`` only."""
        with torch.random.fork_rng(devices=[]):
            # the module is initialised on the CPU: seed only the CPU generator, which fork_rng
            # restores (torch.manual_seed would also reseed, and leave changed, every GPU's)
            torch.default_generator.manual_seed(seed)
            self.module_ = SemanticVAEModule(
                n_features, self.hidden_size, self.latent_dim_,
                None if S is None else torch.as_tensor(S, dtype=torch.float32),
                len(self.classes_)).to(self.device_)
        return self.module_

    def initialize_optimizer(self):
        """Build ``optimizer_`` (``optimizer``, ``lr``, ``weight_decay``) over ``module_``."""
        cls = OPTIMIZERS[self.optimizer] if isinstance(self.optimizer, str) else self.optimizer
        self.optimizer_ = cls(self.module_.parameters(), lr=self.lr,
                              weight_decay=self.weight_decay)
        return self.optimizer_

    def get_callbacks(self):
        """Callbacks of the loop: early stopping on held-out web rows, and a progress bar."""
        stop = [EarlyStopping(self.monitor, self.patience)] if self.early_stopping else []
        return stop + [ProgressBar()]

    def _target_batches(self, n_steps, perm_gen):
        """Hook of the -DA variant: per step, unlabelled target rows to reconstruct, or None."""
        return None

    def _target_generative(self, xt, gen):
        """Hook of the -DA variant: per-row generative terms of target rows ``xt``."""
        noise = torch.randn(xt.shape[0], self.module_.latent_dim, generator=gen, device=xt.device)
        _, mu, logvar, logp, _ = self.module_(xt, noise)
        return generative_term(logp, kl_divergence(mu, logvar), self.objective)

    def train_step(self, xb, yb, gen, xt=None):
        """One optimiser step on a batch (and target rows ``xt``); returns the loss and parts."""
        noise = torch.randn(xb.shape[0], self.module_.latent_dim, generator=gen, device=xb.device)
        out = self.module_(xb, noise)
        extra = None if xt is None else self._target_generative(xt, gen)
        loss, parts = vae_loss(out, yb, tau=self.tau, beta=self.beta, objective=self.objective,
                               extra_generative=extra)
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_.step()
        return loss, parts

    def run_epoch(self, X_tr, y_tr, gen, perm_gen):
        """One pass over the training rows in a seeded order; returns the epoch's means.

        ``X_tr`` is a tensor (rows in memory) or a :class:`_DaskRows` (rows streamed: the
        partitions in a seeded order, the rows of each in a seeded order; one partition has the
        draws, batches and steps of the same rows in memory)."""
        stream = isinstance(X_tr, _DaskRows)
        n_tr = X_tr.n_train if stream else X_tr.shape[0]
        bs = min(self.batch_size, n_tr)
        if stream:
            parts = X_tr.partitions
            n_steps = sum(math.ceil(X_tr.train_counts[p] / bs) for p in parts)
            if len(parts) > 1:
                parts = [parts[i] for i in torch.randperm(len(parts), generator=perm_gen).tolist()]
        else:
            n_steps = math.ceil(n_tr / bs)
            order = torch.randperm(n_tr, generator=perm_gen).to(self.device_)
        targets = self._target_batches(n_steps, perm_gen)
        sums = torch.zeros(5, device=self.device_)
        if not stream:
            self._batch_steps(X_tr, y_tr, order, bs, 0, gen, targets, sums)
        else:
            step = 0
            for p in parts:
                xp, yp = X_tr.load(p)   # one partition's training rows; freed at the next load
                order = torch.randperm(xp.shape[0], generator=perm_gen).to(self.device_)
                step = self._batch_steps(xp, yp, order, bs, step, gen, targets, sums)
                del xp, yp
        return dict(zip(("train_loss", "train_ce", "train_recon", "train_kl", "mean_weight"),
                        (sums / n_tr).cpu().tolist()))

    def _batch_steps(self, X, y, order, bs, step0, gen, targets, sums):
        """Optimiser steps on the rows ``X[order]`` in batches of ``bs`` (the batch step of both
        the in-memory and the streamed epoch); adds the batch sums to ``sums``; returns the next
        step number."""
        n_steps = math.ceil(order.shape[0] / bs)
        for k in range(n_steps):
            idx = order[k * bs:(k + 1) * bs]
            xt = None if targets is None else targets(step0 + k)
            loss, parts = self.train_step(X[idx], y[idx], gen, xt)
            with torch.no_grad():      # accumulate on the device: one sync per epoch
                sums += torch.stack([loss * idx.shape[0], parts["ce"].sum(), parts["recon"].sum(),
                                     parts["kl"].sum(), parts["weight"].sum()])
        return step0 + n_steps

    def _evaluate(self, X, y, batch_size=8192):
        """Held-out loss, weighted CE and accuracy at the latent mean (no sampling)."""
        module = self.module_
        module.eval()
        tot = wce = acc = 0.0
        with torch.no_grad():
            for i in range(0, X.shape[0], batch_size):
                xb, yb = X[i:i + batch_size], y[i:i + batch_size]
                z, mu, logvar, logp, logits = module(xb)
                w = torch.exp(self.tau * (logp - logp.max()))
                gen = generative_term(logp, kl_divergence(mu, logvar), self.objective)
                ce = w * F.cross_entropy(logits, yb, reduction="none")
                wce += float(ce.sum())
                tot += float((ce + self.beta * gen).sum())
                acc += float((logits.argmax(1) == yb).sum())
        module.train()
        n = X.shape[0]
        return {"valid_loss": tot / n, "valid_ce": wce / n, "valid_acc": acc / n}

    # ----------------------------------------------------------------- fit
    def _fit(self, X, y, class_vectors=None, class_names=None, X_target=None):
        self._validate_params()
        if _is_dask(X) or _is_dask(y):
            return self._fit_dask(X, y, class_vectors, class_names, X_target)
        X, y = validate_data(self, X, y, dtype=np.float64)
        if X_target is not None:
            X_target = check_row_features("X_target", X_target, allow_sparse=False)
            if X_target.shape[1] != X.shape[1]:
                raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                            f"{X.shape[1]}; use the same feature extractor")
        self.classes_, y_idx, S = self._resolve_classes(y, class_vectors, class_names)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2**31 - 1))
        self.device_ = resolve_device(self.device)

        self.scaler_ = (_GlobalScaler() if self.feature_scaling == "global" else
                        StandardScaler(with_std=self.feature_scaling == "standard")).fit(X)
        Xs = self.scaler_.transform(X)
        train, valid = self._split(y_idx, rng)
        self.latent_dim_ = self._default_latent_dim(S)
        self.initialize_module(X.shape[1], S, seed)
        self.initialize_optimizer()
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        perm_gen = torch.Generator().manual_seed(seed + 1)

        Xt_all = self._tensor(Xs)
        yt_all = torch.as_tensor(y_idx, dtype=torch.long, device=self.device_)
        X_tr, y_tr = Xt_all[train], yt_all[train]
        X_va, y_va = Xt_all[valid], yt_all[valid]
        Xs_target = None if X_target is None else self.scaler_.transform(X_target)
        self._X_target_fit = None if X_target is None else self._tensor(Xs_target)
        try:
            self._train(X_tr, y_tr, X_va, y_va, gen, perm_gen)
        finally:
            del self._X_target_fit  # data of this fit only, never part of the fitted state

        # noise weights and scores of every web row, from the latent mean
        logp, proba = self._loglik_and_proba(Xs)
        self.log_lik_ = logp
        self.sample_weights_ = reconstruction_weights(logp, self.tau)
        self.label_proba_ = proba[np.arange(len(y_idx)), y_idx]
        self.noise_scores_ = 1.0 - self.sample_weights_ * self.label_proba_
        self.valid_mask_ = np.zeros(len(y_idx), dtype=bool)
        self.valid_mask_[valid] = True
        return Xs, Xs_target

    # ----------------------------------------------------------------- fit on Dask rows
    #: whether ``fit`` takes row-chunked Dask arrays (streamed); the -DA variant needs all rows
    _accepts_dask = True

    def _fit_dask(self, X, y, class_vectors, class_names, X_target):
        """``_fit`` on row-chunked Dask arrays, streamed: never more than one partition in memory.

        One pass over the partitions checks the values, collects the labels, fits the scaler
        (``partial_fit`` per partition, Chan's pairwise update) and keeps the hold-out rows:
        in partition ``i`` of ``n_i`` rows, ``round(validation_fraction * n_i)`` rows drawn
        without replacement by ``numpy.random.default_rng([seed, i])`` (not stratified; they
        stay in memory, float32, for the per-epoch score). Each epoch then loads the partitions
        again, one at a time (``run_epoch`` on a :class:`_DaskRows`). The per-row attributes
        (``noise_scores_`` ...) are Dask arrays, computed lazily over the partitions."""
        import dask.array as da

        if not self._accepts_dask:
            raise DataError("X", f"{type(self).__name__} needs the web rows in memory (the LRR "
                                 "dictionary is built from all their latents); pass X.compute()")
        if X_target is not None:
            raise DataError("X_target", "is not used with Dask rows")
        X, y = _dask_rows_input(X, y)
        n, d = X.shape
        self.n_features_in_ = d
        self.__dict__.pop("feature_names_in_", None)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2**31 - 1))
        self.device_ = resolve_device(self.device)
        self.scaler_ = (_GlobalScaler() if self.feature_scaling == "global" else
                        StandardScaler(with_std=self.feature_scaling == "standard"))
        frac = self.validation_fraction if self.early_stopping else 0.0
        labels, valid_x, valid_y, train_masks = [], [], [], []
        for i in range(len(X.chunks[0])):     # the one pass before training
            xb, yb = _load_block(X, y, i)
            if not np.isfinite(xb).all():
                raise DataError("X", f"has NaN or infinite values (partition {i}); drop or "
                                     "impute those rows")
            labels.append(np.unique(yb))
            if len(xb):
                self.scaler_.partial_fit(xb)
            keep = _train_mask(len(yb), seed, i, frac)
            valid_x.append(xb[~keep].astype(np.float32))
            valid_y.append(yb[~keep])
            train_masks.append(keep)
            del xb, yb
        n_valid = sum(len(v) for v in valid_y)
        if self.early_stopping and (n_valid < 1 or n - n_valid < 2):
            raise DataError("validation_fraction",
                            f"leaves {n_valid} of {n} rows for early stopping; give more rows, "
                            "raise it, or set early_stopping=False")
        self.classes_, _, S = self._resolve_classes(np.unique(np.concatenate(labels)),
                                                    class_vectors, class_names)
        self.latent_dim_ = self._default_latent_dim(S)
        self.initialize_module(d, S, seed)
        self.initialize_optimizer()
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        perm_gen = torch.Generator().manual_seed(seed + 1)

        X_va = (self._tensor(self.scaler_.transform(np.vstack(valid_x))) if n_valid else
                self._tensor(np.empty((0, d))))
        y_va = torch.as_tensor(_label_index(self.classes_, np.concatenate(valid_y)),
                               dtype=torch.long, device=self.device_)
        del valid_x, valid_y
        rows = _DaskRows(self, X, y, train_masks)
        self._X_target_fit = None
        try:
            self._train(rows, None, X_va, y_va, gen, perm_gen)
        finally:
            del self._X_target_fit
        del X_va, y_va, rows

        # per-row scores, lazily: the fitted model (a shallow copy without these Dask
        # attributes) mapped over the partitions
        scores = da.map_blocks(copy.copy(self)._block_scores, X, y[:, None], dtype=np.float64,
                               chunks=(X.chunks[0], (2,)))
        self.log_lik_ = scores[:, 0]
        self.sample_weights_ = da.exp(self.tau * (self.log_lik_ - self.log_lik_.max()))
        self.label_proba_ = scores[:, 1]
        self.noise_scores_ = 1.0 - self.sample_weights_ * self.label_proba_
        self.valid_mask_ = y.map_blocks(_valid_mask_block, seed, frac, dtype=bool)
        return None, None

    def _block_scores(self, xb, yb):
        """``[log p(x|mu), p(web label | x)]`` of the rows of one partition (``yb`` (n, 1))."""
        logp, proba = self._loglik_and_proba(self.scaler_.transform(np.asarray(xb, np.float64)))
        idx = _label_index(self.classes_, yb[:, 0])
        return np.column_stack([logp, proba[np.arange(len(idx)), idx]])

    def _map_rows(self, X, method, width, dtype):
        """``method`` of the in-memory path mapped over the partitions of a Dask X (lazy)."""
        check_is_fitted(self, "module_")
        X = _dask_features("X", X, self.n_features_in_)
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        fn = getattr(self, method)
        if width is None:
            return X.map_blocks(fn, dtype=dtype, chunks=(X.chunks[0],), drop_axis=1)
        return X.map_blocks(fn, dtype=dtype, chunks=(X.chunks[0], (width,)))

    def _train(self, X_tr, y_tr, X_va, y_va, gen, perm_gen):
        """The epoch loop: ``run_epoch``, held-out scores, callbacks; fills ``history_``."""
        callbacks = self.get_callbacks()
        self.history_ = []
        self.module_.train()
        for cb in callbacks:
            cb.on_train_begin(self)
        for epoch in range(self.max_epochs):
            rec = self.run_epoch(X_tr, y_tr, gen, perm_gen)
            rec["epoch"] = epoch + 1
            if X_va.shape[0]:
                rec.update(self._evaluate(X_va, y_va))
            stop = [cb.on_epoch_end(self, rec) for cb in callbacks]
            self.history_.append(rec)
            if not math.isfinite(rec["train_loss"]):
                raise FloatingPointError(f"{type(self).__name__}: training loss became "
                                         f"{rec['train_loss']} at epoch {epoch + 1}; "
                                         "lower lr or beta")
            if any(stop):
                break
        self.best_epoch_ = len(self.history_)  # early stopping sets the restored epoch
        for cb in callbacks:
            cb.on_train_end(self)
        self.n_epochs_ = len(self.history_)
        self.module_.eval()

    def _latent(self, Xs, batch_size=8192):
        out = []
        with torch.no_grad():
            for i in range(0, Xs.shape[0], batch_size):
                mu, _ = self.module_.encode(self._tensor(Xs[i:i + batch_size]))
                out.append(mu.cpu().numpy().astype(np.float64))
        return np.vstack(out)

    def _loglik_and_proba(self, Xs, batch_size=8192):
        lps, probas = [], []
        with torch.no_grad():
            for i in range(0, Xs.shape[0], batch_size):
                z, mu, logvar, logp, logits = self.module_(self._tensor(Xs[i:i + batch_size]))
                lps.append(logp.cpu().numpy())
                probas.append(torch.softmax(logits, 1).cpu().numpy())
        return np.concatenate(lps).astype(np.float64), np.vstack(probas).astype(np.float64)

    def _logits_from_latent(self, Z):
        with torch.no_grad():
            return self.module_.classify(self._tensor(Z)).cpu().numpy().astype(np.float64)

    # ----------------------------------------------------------------- predict
    def _check_X(self, X):
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.scaler_.transform(X)

    def _log_proba(self, X):
        Xs = self._check_X(X)
        if self.n_predict_samples == 0:
            logits = self._logits_from_latent(self._latent(Xs))
            return logits - _logsumexp(logits)
        rng = check_random_state(self.random_state)
        gen = torch.Generator(device=self.device_).manual_seed(int(rng.randint(2**31 - 1)))
        out = []
        with torch.no_grad():
            for i in range(0, Xs.shape[0], 8192):
                xb = self._tensor(Xs[i:i + 8192])
                mu, logvar = self.module_.encode(xb)
                p = 0.0
                for _ in range(self.n_predict_samples):
                    eps = torch.randn(mu.shape, generator=gen, device=mu.device)
                    z = mu + eps * torch.exp(0.5 * logvar)
                    p = p + torch.softmax(self.module_.classify(z), 1)
                out.append(torch.log(p / self.n_predict_samples).cpu().numpy())
        return np.vstack(out).astype(np.float64)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class scores: logits ``z' S`` at the latent mean (log of the averaged probabilities
        when ``n_predict_samples > 0``); (n,) log-odds of ``classes_[1]`` for two classes.
        A Dask X gives a Dask array (computed per partition)."""
        if _is_dask(X):
            n_classes = len(self.classes_)
            return self._map_rows(X, "decision_function", None if n_classes == 2 else n_classes,
                                  np.float64)
        return _binary_or_multi(self._log_proba(X))

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes_`` (Dask X: a Dask array)."""
        if _is_dask(X):
            return self._map_rows(X, "predict_proba", len(self.classes_), np.float64)
        return np.exp(self._log_proba(X))

    def predict(self, X: ArrayLike) -> NDArray:
        """Class of each row (Dask X: a Dask array, computed per partition)."""
        if _is_dask(X):
            return self._map_rows(X, "predict", None, self.classes_.dtype)
        return super().predict(X)

    def encode(self, X: ArrayLike) -> NDArray[np.float64]:
        """Latent means ``mu(x)`` (n, latent_dim) of the rows of X (Dask X: a Dask array)."""
        if _is_dask(X):
            return self._map_rows(X, "encode", self.latent_dim_, np.float64)
        return self._latent(self._check_X(X))


# --------------------------------------------------------------------------- Dask rows
class _DaskRows:
    """The training rows of a Dask fit: ``load(p)`` computes partition ``p`` and returns its
    training rows, scaled, as tensors (the caller drops them before the next load)."""

    def __init__(self, est, X, y, train_masks):
        self.est, self.X, self.y, self.masks = est, X, y, train_masks
        self.train_counts = [int(m.sum()) for m in train_masks]
        self.partitions = [p for p, c in enumerate(self.train_counts) if c]
        self.n_train = sum(self.train_counts)

    def load(self, p):
        est, keep = self.est, self.masks[p]
        xb, yb = _load_block(self.X, self.y, p)
        xp = est._tensor(est.scaler_.transform(xb[keep]))
        yp = torch.as_tensor(_label_index(est.classes_, yb[keep]), dtype=torch.long,
                             device=est.device_)
        return xp, yp


def _load_block(X, y, i):
    """Partition ``i`` of X (float64, as ``validate_data`` gives in memory) and y, computed."""
    import dask

    xb, yb = dask.compute(X.blocks[i], y.blocks[i])
    return np.asarray(xb, dtype=np.float64), np.asarray(yb)


def _train_mask(n_rows, seed, i, frac):
    """Training rows of partition ``i``: all but ``round(frac * n_rows)`` drawn by
    ``default_rng([seed, i])`` (the hold-out rule of a Dask fit)."""
    keep = np.ones(n_rows, dtype=bool)
    n_valid = int(round(frac * n_rows))
    if n_valid:
        keep[np.random.default_rng([seed, i]).choice(n_rows, n_valid, replace=False)] = False
    return keep


def _valid_mask_block(yb, seed, frac, block_id=None):
    return ~_train_mask(len(yb), seed, block_id[0], frac)


def _label_index(classes, labels):
    """Index in ``classes`` (any order) of each label; a label not in ``classes`` is an error."""
    sorter = np.argsort(classes, kind="stable")
    pos = np.clip(np.searchsorted(classes, labels, sorter=sorter), 0, len(classes) - 1)
    idx = sorter[pos]
    if not np.array_equal(classes[idx], labels):
        raise DataError("y", "has a label outside the classes seen when fitting")
    return idx


def _short(chunks, k=4):
    return str(chunks[:k])[:-1] + (", ...)" if len(chunks) > k else ")")


def _dask_rows_input(X, y):
    """Checked Dask X (2-D, known partition sizes, one column chunk) and a Dask y on its rows."""
    import dask.array as da

    if not _is_dask(X):
        raise DataError("X", "must be a Dask array when y is one (rows are streamed by "
                             "partition); pass both as Dask arrays or both in memory")
    X = _dask_features("X", X)
    if any(math.isnan(c) for c in X.chunks[0]):
        raise DataError("X", "has partitions of unknown size; call X.compute_chunk_sizes()")
    n = X.shape[0]
    if n < 2:
        raise DataError("X", f"needs at least 2 rows, got {n}")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if not _is_dask(y):
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise DataError("y", f"must be one label per row ({n}), got shape {y.shape}")
        return X, da.from_array(y, chunks=(X.chunks[0],))
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError("y", f"must be one label per row ({n}), got shape {y.shape}")
    if y.chunks[0] != X.chunks[0]:
        raise DataError("y", f"has partitions of {_short(y.chunks[0])} rows but X has "
                             f"{_short(X.chunks[0])}; use y.rechunk(X.chunks[0])")
    return X, y


def _available(device):
    """``device`` if this machine has it, else the CPU (a GPU-trained model loaded elsewhere)."""
    if device.type == "cuda" and torch.cuda.is_available():
        if device.index is None or device.index < torch.cuda.device_count():
            return device
    return torch.device("cpu")


def _logsumexp(a):
    m = a.max(1, keepdims=True)
    return m + np.log(np.exp(a - m).sum(1, keepdims=True))


def _binary_or_multi(log_proba):
    if log_proba.shape[1] == 2:
        return log_proba[:, 1] - log_proba[:, 0]
    return log_proba


_DOC_COMMON = """
    hidden_size : int, default=512
        Width of the one hidden ReLU layer of the encoder and of the decoder.
    objective : {"authors", "elbo"}, default="authors"
        ``"elbo"``: generative term ``-log p(x|z) + KL(q(z|x) || N(0, I))`` (the paper's ELBO);
        ``"authors"``: ``-log p(x|z)`` only (no KL), the variant of the authors' code. Default
        ``"authors"`` from measurements on sklearn digits (70/30 split, symmetric label noise
        20/40/60%, MiniLM class vectors, seed 0, ``feature_scaling="standard"``), test
        accuracy / noise AUC:
        authors 0.928/0.993, 0.913/0.988, 0.826/0.973; elbo 0.876/0.961, 0.726/0.919,
        0.622/0.889 (beta=1). The KL on a 384-d latent pulls ``z`` to the prior and shrinks the
        class margins ``z' s_c``; with ``beta=0.1`` the ELBO comes close (0.944/0.987,
        0.887/0.954, 0.854/0.965).
    feature_scaling : {"global", "standard", "center"}, default="global"
        How features are scaled before the encoder and the unit-variance Gaussian decoder (the
        scaling is fitted on the training rows). ``"global"``: centre, then divide every feature
        by one number (the root mean feature variance): the features keep their relative
        scale, as an isotropic decoder on CNN activations (the method's input) assumes, and the
        objective does not depend on their unit. ``"standard"``: per-feature standardisation, for features in
        unrelated units (hand-crafted audio or tabular descriptors); it inflates near-constant
        features (image borders that vary only through sensor noise, rarely active CNN units) to
        the weight of informative ones, in the encoder's input and in the reconstruction term.
        ``"center"``: centre only (raw units; the balance of reconstruction and classification
        then depends on the unit, e.g. pixels in [0, 1] vs [0, 16]). Default ``"global"``: chosen
        by 3-fold inner CV by bag on web rows of dev crawls (web-digits, bag_size 10,
        random_state 100-104, never the benchmark's seeds or test split), where per-feature
        standardisation was worst at 40 and 60% noise; ``configs/benchmarks/
        semantic_noise_webdigits.yaml`` searches ``global`` vs ``center`` per run.
    beta : float, default=1.0
        Weight of the generative term (per row, summed over features). Lower it (e.g. 0.1) for
        high-dimensional features or low-dimensional class vectors, where reconstruction
        otherwise dominates the classification loss.
    tau : float, default=0.01
        Temperature of the reconstruction weights (0.01 as in the authors' code).
    optimizer : {"adam", "adamw", "sgd"} or torch.optim.Optimizer subclass, default="adam"
        Built by ``initialize_optimizer`` with ``lr`` and ``weight_decay``. A name keeps the
        model file loadable (a class must be passed to ``webly.load(trusted=...)``).
    lr : float, default=1e-3
        Learning rate.
    weight_decay : float, default=0.0
    batch_size : int, default=256
    max_epochs : int, default=100
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the web rows (stratified, never the test set), stop
        when their loss has not improved for ``patience`` epochs and restore the best epoch.
    validation_fraction : float, default=0.1
    patience : int, default=10
    monitor : {"valid_acc", "valid_ce", "valid_loss"}, default="valid_acc"
        Early-stopping criterion on the held-out web rows: accuracy against their (noisy) web
        labels, their weighted cross-entropy, or the whole objective. Accuracy is robust to
        label noise (with symmetric noise below (C-1)/C the most accurate model on clean labels
        is also the most accurate on noisy ones), whereas the cross-entropy of noisy labels
        rises from the first epochs at 60% noise and the objective is dominated by the
        reconstruction term, which keeps improving while the classifier memorises noise.
    n_predict_samples : int, default=0
        0 predicts at the latent mean; k > 0 averages the class probabilities of k latent
        samples (seeded by ``random_state``).
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        ``"auto"`` uses a GPU when torch sees one.
    random_state : int, RandomState or None, default=None
        Seeds the split, initialisation, batches and latent noise (local generators only); with
        an int, two fits on CPU give identical results.
"""

_DOC_ATTRS = """
    classes_ : (C,) array
        Training labels plus, for the semantic models, zero-shot labels that only have vectors.
    module_ : SemanticVAEModule
    optimizer_ : torch.optim.Adam
    scaler_ : object with ``transform``
        Feature scaling fitted on the training rows (see ``feature_scaling``).
    history_ : list of dict
        Per epoch: ``train_loss``, ``train_ce``, ``train_recon``, ``train_kl``, ``mean_weight``
        and, with early stopping, ``valid_loss``, ``valid_acc`` (against the held-out web labels).
    n_epochs_, best_epoch_ : int
    sample_weights_ : (n,) array in (0, 1]
        Reconstruction weight of every training row, ``exp(tau (log p(x_i|mu_i) - max_j log
        p(x_j|mu_j)))`` over all rows at the end of training (at the latent mean).
    label_proba_ : (n,) array
        Model probability of each row's web label.
    noise_scores_ : (n,) array in [0, 1)
        ``1 - sample_weights_ * label_proba_``: high for rows the VAE reconstructs poorly
        (outlier images) or whose web label the classifier disagrees with (wrong labels).
        Higher = more likely a wrong web label. The reconstruction weights alone flag
        off-distribution images (uniform-noise images mixed into digits: AUC > 0.95) but carry
        no information about a wrong label on a typical image (flipped digit labels: AUC
        within 0.4-0.6); the classifier term carries that (AUC > 0.95); tests/semantic pins
        all three. The encoder never sees the label, so ``log p(x_i | mu_i)`` can depend on it
        only through the pull of the classification loss on the shared encoder. Held-out
        validation rows are scored too (``valid_mask_`` marks them). After a fit on Dask
        rows, these per-row attributes are Dask arrays (the model mapped over the partitions).
    log_lik_ : (n,) array
        ``log p(x_i | mu_i)`` of every training row.
    valid_mask_ : (n,) bool array
    latent_dim_ : int
    device_ : torch.device
"""
