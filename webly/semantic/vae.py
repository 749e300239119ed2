"""Semantic VAE for noisy web labels, with zero-shot scoring and low-rank domain adaptation.

A variational auto-encoder on frozen CNN features whose latent code ``z`` (dimension ``a``) is
also the input of a classifier that scores each class by its semantic vector:
``logit_c = z' s_c`` (bilinear compatibility with the class vectors ``S``). Each web row is
weighted by how well the VAE reconstructs it,

    ``w_i = exp(tau * (log p(x_i | z_i) - max_batch log p(x | z)))``  in (0, 1],

and the objective of a batch (averaged over its rows) is

    ``sum_i w_i CE(y_i, softmax(z_i' S)) + beta * sum_i [-log p(x_i | z_i) (+ KL_i)]``

with ``p(x | z)`` an isotropic Gaussian with unit variance on the scaled features (by default
centred and divided by one common scale, see ``feature_scaling``). ``objective="elbo"``
keeps the KL term of the paper's ELBO; ``objective="authors"`` drops it, as in the authors'
released code (see :class:`SemanticVAE` for which is the default and why).

Estimators in the skorch manner: ``__init__`` stores arguments; ``fit`` validates, builds
``module_`` (``initialize_module``) and ``optimizer_`` (``initialize_optimizer``: ``optimizer``,
``lr``, ``weight_decay``), then calls ``run_epoch`` until a callback stops it (``get_callbacks``:
early stopping on a held-out split of the web rows, a progress bar), keeping a per-epoch
``history_``. The loss is one function (``_vae_training.vae_loss``); the -DA variant adds its
target reconstruction through two hooks (``_target_batches``, ``_target_generative``).
Prediction changes no attribute. torch is imported by the semantic estimators only.

References
----------
.. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
   category-level supervision. CVPR 2018 (arXiv:1803.03857): the VAE + classification network
   with reconstruction-weighted web rows and the low-rank refinement of target latents.
   Often confused with the same group's CVPR 2018 "Webly supervised learning meets zero-shot
   learning: a hybrid approach for fine-grained classification" (Niu, Veeraraghavan,
   Sabharwal), which combines web data with labelled auxiliary categories.
.. [2] D. P. Kingma, M. Welling. Auto-encoding variational Bayes. ICLR 2014.
.. [3] G. Liu, Z. Lin, S. Yan, J. Sun, Y. Yu, Y. Ma. Robust recovery of subspace structures by
   low-rank representation. IEEE TPAMI 2013.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from torch.nn import functional as F

from ..base import WebClassifierMixin, check_is_fitted, check_row_features, encode_targets
from ..base import validate_data, warn_not_converged
from ..errors import DataError
from ._vae_training import (OPTIMIZERS, EarlyStopping, ProgressBar, SemanticVAEModule,
                            generative_term, kl_divergence, vae_loss)
from .lrr import lrr
from .vectors import check_class_vectors, load_class_vectors


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
        self.mean_ = X.mean(0)
        self.scale_ = float(np.sqrt(np.mean(X.var(0)))) or 1.0
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
            cv = torch.as_tensor(weights["class_vectors"]) if has_cv else None
            self.device_ = _available(saved_device)
            self.module_ = SemanticVAEModule(shape["n_features"], shape["hidden_size"],
                                             shape["latent_dim"], cv, shape["n_classes"])
            self.module_.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
            self.module_.to(self.device_).eval()
            self.optimizer_ = None

    # ----------------------------------------------------------------- helpers
    def _device(self):
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise DataError("device", f"{self.device!r} asked for but no CUDA device is available; "
                                      "use device='auto' or 'cpu'")
        return torch.device(self.device)

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
        """One pass over the training rows in a seeded order; returns the epoch's means."""
        n_tr = X_tr.shape[0]
        bs = min(self.batch_size, n_tr)
        n_steps = math.ceil(n_tr / bs)
        order = torch.randperm(n_tr, generator=perm_gen).to(self.device_)
        targets = self._target_batches(n_steps, perm_gen)
        sums = torch.zeros(5, device=self.device_)
        for step in range(n_steps):
            idx = order[step * bs:(step + 1) * bs]
            xt = None if targets is None else targets(step)
            loss, parts = self.train_step(X_tr[idx], y_tr[idx], gen, xt)
            with torch.no_grad():      # accumulate on the device: one sync per epoch
                sums += torch.stack([loss * idx.shape[0], parts["ce"].sum(), parts["recon"].sum(),
                                     parts["kl"].sum(), parts["weight"].sum()])
        return dict(zip(("train_loss", "train_ce", "train_recon", "train_kl", "mean_weight"),
                        (sums / n_tr).cpu().tolist()))

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
        X, y = validate_data(self, X, y, dtype=np.float64)
        if X_target is not None:
            X_target = check_row_features("X_target", X_target, allow_sparse=False)
            if X_target.shape[1] != X.shape[1]:
                raise DataError("X_target", f"has {X_target.shape[1]} features but X has "
                                            f"{X.shape[1]}; use the same feature extractor")
        self.classes_, y_idx, S = self._resolve_classes(y, class_vectors, class_names)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2**31 - 1))
        self.device_ = self._device()

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
        self._X_target_fit = (None if X_target is None else
                              self._tensor(self.scaler_.transform(X_target)))
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
        return Xs

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

    def decision_function(self, X):
        """Class scores: logits ``z' S`` at the latent mean (log of the averaged probabilities
        when ``n_predict_samples > 0``); (n,) log-odds of ``classes_[1]`` for two classes."""
        return _binary_or_multi(self._log_proba(X))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        return np.exp(self._log_proba(X))

    def encode(self, X):
        """Latent means ``mu(x)`` (n, latent_dim) of the rows of X."""
        return self._latent(self._check_X(X))


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
        validation rows are scored too (``valid_mask_`` marks them).
    log_lik_ : (n,) array
        ``log p(x_i | mu_i)`` of every training row.
    valid_mask_ : (n,) bool array
    latent_dim_ : int
    device_ : torch.device
"""


class SemanticVAE(_BaseVAEClassifier):
    __doc__ = """VAE + classifier with category-level semantics for noisy web labels (CVPR 2018).

    The latent code ``z`` of a VAE on the image features is scored against the class vectors:
    ``logit_c = z' s_c``. Web rows are weighted by their reconstruction likelihood, so outlier
    images count less; classes that have a vector but no training row are scored too
    (zero-shot).

    Parameters
    ----------
    class_vectors : array (C, a), dict label -> vector, str or None, default=None
        Used when ``fit`` gets no ``class_vectors``. A str names a set shipped in
        ``datasets/class_vectors`` (see :func:`webly.semantic.load_class_vectors`); its
        class names are used as labels when ``y`` holds strings.
    class_names : array (C,) or None, default=None
        Labels of the rows of an array ``class_vectors`` (used with the constructor's vectors).
    latent_dim : int or None, default=None
        None: the dimension ``a`` of the class vectors, with ``logits = z' S``; another value
        adds a learned projection ``logits = (z W) S'``.
    normalize_class_vectors : bool, default=True
        L2-normalise each class vector before use.""" + _DOC_COMMON + """
    Attributes
    ----------
    class_vectors_ : (C, a) array
        The class vectors used, row c for ``classes_[c]``.
    zero_shot_classes_ : array
        Labels in ``classes_`` that had no training row.""" + _DOC_ATTRS + """
    See Also
    --------
    SemanticVAEDA : the same model adapted to unlabelled target rows.
    VAEWeightedClassifier : the same weights without semantics (softmax head on z).

    References
    ----------
    .. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
       category-level supervision. CVPR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from webly.semantic import SemanticVAE
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.randn(40, 5) + 3 * c for c in range(3)])
    >>> y = np.repeat(["cat", "dog", "owl"], 40)
    >>> S = {"cat": [1.0, 0, 0, 0], "dog": [0, 1.0, 0, 0], "owl": [0, 0, 1.0, 0],
    ...      "yak": [0, 0, 0, 1.0]}
    >>> clf = SemanticVAE(hidden_size=32, max_epochs=30, random_state=0).fit(X, y, class_vectors=S)
    >>> clf.classes_.tolist(), clf.predict_proba(X).shape
    (['cat', 'dog', 'owl', 'yak'], (120, 4))
    """

    _parameter_constraints = {
        **_BaseVAEClassifier._parameter_constraints,
        "class_vectors": ["array-like", dict, str, None],
        "class_names": ["array-like", None],
        "normalize_class_vectors": ["boolean"],
    }

    def __init__(self, class_vectors=None, class_names=None, *, latent_dim=None, hidden_size=512,
                 objective="authors", beta=1.0, tau=0.01, optimizer="adam", lr=1e-3,
                 weight_decay=0.0, batch_size=256, max_epochs=100, early_stopping=True,
                 validation_fraction=0.1, patience=10, monitor="valid_acc", n_predict_samples=0,
                 normalize_class_vectors=True, feature_scaling="global", device="auto",
                 random_state=None):
        self.class_vectors = class_vectors
        self.class_names = class_names
        self.latent_dim = latent_dim
        self.hidden_size = hidden_size
        self.objective = objective
        self.beta = beta
        self.tau = tau
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.monitor = monitor
        self.n_predict_samples = n_predict_samples
        self.normalize_class_vectors = normalize_class_vectors
        self.feature_scaling = feature_scaling
        self.device = device
        self.random_state = random_state

    def _resolve_classes(self, y, class_vectors, class_names):
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)
        y_classes = np.unique(y)
        if class_vectors is None:
            class_vectors = self.class_vectors
            if class_names is None:
                class_names = self.class_names
        if class_vectors is None:
            raise DataError("class_vectors", f"{type(self).__name__} needs class vectors: pass "
                                             "class_vectors= to fit or the constructor (an array "
                                             "(C, a) in np.unique(y) order, a dict label -> vector, "
                                             "or a shipped set name); without semantics use "
                                             "VAEWeightedClassifier")
        if isinstance(class_vectors, str):
            names, vectors = load_class_vectors(class_vectors)
            class_vectors = vectors
            if class_names is None and y_classes.dtype.kind in "OUS":
                class_names = names
        classes, S = check_class_vectors(class_vectors, y_classes, class_names)
        if len(classes) < 2:
            raise DataError("y", f"needs at least 2 classes to fit a classifier, got {len(classes)}")
        if self.normalize_class_vectors:
            norms = np.linalg.norm(S, axis=1, keepdims=True)
            if np.any(norms == 0):
                raise DataError("class_vectors", "has an all-zero vector; give every class a "
                                                 "non-zero vector or set normalize_class_vectors=False")
            S = S / norms
        self.class_vectors_ = S
        self.zero_shot_classes_ = np.setdiff1d(classes, y_classes)
        y_idx = np.searchsorted(classes, y)
        return classes, y_idx, S

    def _default_latent_dim(self, S):
        return S.shape[1] if self.latent_dim is None else self.latent_dim

    def fit(self, X, y, *, class_vectors=None, class_names=None):
        """Fit on web rows ``X`` with their (noisy) web labels ``y``.

        Parameters
        ----------
        X : (n, d) array
            Frozen features of the web images.
        y : (n,) array
            Web labels.
        class_vectors : (C, a) array, dict label -> vector, str, optional
            Category-level semantics (word vectors, attributes); overrides the constructor's.
            An array's rows follow ``class_names`` if given, else ``np.unique(y)``.
        class_names : (C,) array, optional
            Label of each row of ``class_vectors``; labels without rows are zero-shot classes.

        Returns
        -------
        self
        """
        self._fit(X, y, class_vectors, class_names)
        return self


class SemanticVAEDA(SemanticVAE):
    __doc__ = """Semantic VAE adapted to unlabelled target rows by low-rank representation.

    A separate class, not a flag of :class:`SemanticVAE`, because prediction changes meaning: the
    VAE is trained on the web rows *and* reconstructs the unlabelled target rows ``X_target``
    (no classification loss on them); at prediction the latent means ``Z_t`` of the rows given
    are represented over the training latents ``Z_s`` by low-rank representation,

        ``min ||Z||_* + lrr_lambda ||E||_{2,1}  s.t.  Z_t = Z_s Z + E``

    (inexact ALM, mu0 1e-6, rho 1.1, mu_max 1e10; :func:`webly.semantic.lrr.lrr`), and the refined
    target latents ``Z_s Z`` are classified with the semantic head. The LRR couples the rows
    predicted together (transductive): predict the whole target set in one call, as in the paper.
    The training latents used as dictionary are the latent means of all web rows given to fit;
    prediction always uses latent means (``n_predict_samples`` is ignored).

    Parameters
    ----------
    (as :class:`SemanticVAE`, plus)
    lrr_lambda : float, default=1.0
        Weight of the column-sparse error, relative: the LRR runs on latents divided by the
        largest singular value of ``Z_s``, so the value does not depend on the latent scale.
        Smaller values move more of each target latent into ``E`` (and lower the rank of ``Z``);
        large values (>~ 3 on digits) give ``E = 0`` and ``Z_s Z = Z_t``, i.e. no refinement.
        Measured on sklearn digits (40% label noise, blurred test images as target): raw target
        latents 0.839 / 0.889 accuracy (16-d random / 384-d MiniLM vectors), LRR with
        lambda 1.0: 0.841 / 0.878 (rank 13 / 19), 0.3: 0.794 / 0.587, <= 0.1: collapse.
    lrr_max_iter : int, default=1000
    use_lrr : bool, default=True
        False classifies the raw target latents (the ablation "VAE trained with target
        reconstruction, no LRR").

    Attributes
    ----------
    (as :class:`SemanticVAE`, plus)
    lrr_info_ : dict or None
        Status, iterations, residual and objective of the LRR solve on ``X_target`` in fit
        (None when ``use_lrr=False``); prediction changes no attribute.
    target_decision_ : (m, C) array
        Class scores of the ``X_target`` rows given to fit.
    training_latents_ : (n, latent_dim) array
        The LRR dictionary ``Z_s`` (latent means of the web rows).
    lrr_scale_ : float
        Largest singular value of ``Z_s`` (the LRR runs on latents divided by it).
    lrr_error_norms_ : (m,) array or None
        Column norms of ``E`` of the LRR solve on ``X_target``: how much of each target row's
        latent the training latents do not explain.

    References
    ----------
    .. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
       category-level supervision. CVPR 2018.
    .. [2] G. Liu, Z. Lin, S. Yan, J. Sun, Y. Yu, Y. Ma. Robust recovery of subspace structures by
       low-rank representation. IEEE TPAMI 2013.
    """

    _parameter_constraints = {
        **SemanticVAE._parameter_constraints,
        "lrr_lambda": [Interval(Real, 0, None, closed="neither")],
        "lrr_max_iter": [Interval(Integral, 1, None, closed="left")],
        "use_lrr": ["boolean"],
    }

    def __init__(self, class_vectors=None, class_names=None, *, latent_dim=None, hidden_size=512,
                 objective="authors", beta=1.0, tau=0.01, optimizer="adam", lr=1e-3,
                 weight_decay=0.0, batch_size=256, max_epochs=100, early_stopping=True,
                 validation_fraction=0.1, patience=10, monitor="valid_acc", n_predict_samples=0,
                 normalize_class_vectors=True, lrr_lambda=1.0, lrr_max_iter=1000, use_lrr=True,
                 feature_scaling="global", device="auto", random_state=None):
        super().__init__(class_vectors, class_names, latent_dim=latent_dim,
                         hidden_size=hidden_size, objective=objective, beta=beta, tau=tau,
                         optimizer=optimizer, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         patience=patience, monitor=monitor, n_predict_samples=n_predict_samples,
                         normalize_class_vectors=normalize_class_vectors,
                         feature_scaling=feature_scaling, device=device,
                         random_state=random_state)
        self.lrr_lambda = lrr_lambda
        self.lrr_max_iter = lrr_max_iter
        self.use_lrr = use_lrr

    def fit(self, X, y, *, X_target=None, class_vectors=None, class_names=None):
        """Fit on web rows and unlabelled target rows.

        Parameters
        ----------
        X, y, class_vectors, class_names
            As :meth:`SemanticVAE.fit`.
        X_target : (m, d) array
            Unlabelled target rows (e.g. the test images), reconstructed during training.

        Returns
        -------
        self
        """
        if X_target is None:
            raise DataError("X_target", "SemanticVAEDA adapts to unlabelled target rows: pass "
                                        "X_target= (e.g. the test features), or use SemanticVAE")
        Xs = self._fit(X, y, class_vectors, class_names, X_target=X_target)
        Xs_target = self.scaler_.transform(check_row_features("X_target", X_target,
                                                              allow_sparse=False))
        Zs = self._latent(Xs)
        # the dictionary enters the LRR only through its column space: keep U diag(s) (a x r);
        # Z_s Z = B Z_r with Z_r the LRR solution over B (Theorem 3.1 of Liu et al.)
        # latents are divided by the largest singular value of Z_s so that lrr_lambda is
        # scale-free (the LRR objective is not invariant to scaling the data)
        U, s, _ = np.linalg.svd(Zs.T, full_matrices=False)
        r = int(np.sum(s > s[0] * max(Zs.shape) * np.finfo(float).eps))
        self.training_latents_ = Zs
        self.lrr_scale_ = float(s[0])
        self._dictionary = U[:, :r] * (s[:r] / s[0])
        Z, self.lrr_info_, self.lrr_error_norms_ = self._refine(self._latent(Xs_target))
        logits = self._logits_from_latent(Z)
        self.target_decision_ = _binary_or_multi(logits - _logsumexp(logits))
        return self

    def _target_batches(self, n_steps, perm_gen):
        # every step reconstructs its share of the target rows, in a new order each epoch
        X_tg = self._X_target_fit
        t_order = torch.randperm(X_tg.shape[0], generator=perm_gen).to(self.device_)
        t_bs = math.ceil(X_tg.shape[0] / n_steps)
        return lambda step: X_tg[t_order[step * t_bs:(step + 1) * t_bs]]

    def _refine(self, Zt):
        """``(refined latents, LRR info, error column norms)``; changes nothing on self."""
        if not self.use_lrr:
            return Zt, None, None
        Zr, E, info = lrr(Zt.T / self.lrr_scale_, self._dictionary, lam=self.lrr_lambda,
                          max_iter=self.lrr_max_iter, reduce=False)
        if info["status"] != "converged":
            warn_not_converged(self, [f"LRR stopped after {info['n_iter']} iterations (residual "
                                      f"{info['residual']:.2e}); raise lrr_max_iter"])
        return ((self._dictionary @ Zr).T * self.lrr_scale_, info,
                np.linalg.norm(E, axis=0) * self.lrr_scale_)

    def _log_proba(self, X):
        Xs = self._check_X(X)
        logits = self._logits_from_latent(self._refine(self._latent(Xs))[0])
        return logits - _logsumexp(logits)

    def encode(self, X):
        """Refined latents ``Z_s Z`` of the rows of X (LRR over the training latents)."""
        return self._refine(self._latent(self._check_X(X)))[0]


class VAEWeightedClassifier(_BaseVAEClassifier):
    __doc__ = """The reconstruction-weighted VAE classifier without semantics (baseline).

    The same encoder, decoder, weights and objective as :class:`SemanticVAE`, with a plain
    linear softmax head on ``z`` instead of the class vectors: the ablation "VAE-weighted" of the
    CVPR 2018 paper. No zero-shot classes.

    Parameters
    ----------
    latent_dim : int, default=128
        Dimension of z.""" + _DOC_COMMON + """
    Attributes
    ----------""" + _DOC_ATTRS + """
    References
    ----------
    .. [1] L. Niu, Q. Tang, A. Veeraraghavan, A. Sabharwal. Learning from noisy web data with
       category-level supervision. CVPR 2018.
    """

    _parameter_constraints = {
        **_BaseVAEClassifier._parameter_constraints,
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, latent_dim=128, hidden_size=512, objective="authors", beta=1.0, tau=0.01,
                 optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=256, max_epochs=100,
                 early_stopping=True, validation_fraction=0.1, patience=10, monitor="valid_acc", n_predict_samples=0,
                 feature_scaling="global", device="auto", random_state=None):
        self.latent_dim = latent_dim
        self.hidden_size = hidden_size
        self.objective = objective
        self.beta = beta
        self.tau = tau
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.monitor = monitor
        self.n_predict_samples = n_predict_samples
        self.feature_scaling = feature_scaling
        self.device = device
        self.random_state = random_state

    def fit(self, X, y):
        """Fit on web rows ``X`` with their (noisy) web labels ``y``; returns self."""
        self._fit(X, y)
        return self


__all__ = ["SemanticVAE", "SemanticVAEDA", "VAEWeightedClassifier", "SemanticVAEModule",
           "reconstruction_weights"]
