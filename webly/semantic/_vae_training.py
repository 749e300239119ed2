"""The torch side of the semantic VAE: the module, its loss in one function, and the callbacks of
the training loop (early stopping, progress), in the manner of skorch.

The estimators in :mod:`webly.semantic.vae` (base in ``_vae_base``) own the data, the seeds and the loop
(``initialize_module``, ``initialize_optimizer``, ``run_epoch``); this module holds what the loop
calls, so each concept is written once: the KL term (:func:`kl_divergence`), the generative term
(:func:`generative_term`), the weighted objective (:func:`vae_loss`).
"""

import copy
import logging
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

logger = logging.getLogger("webly.semantic.vae")

_LOG_2PI = math.log(2.0 * math.pi)

#: optimisers by name (a name persists in a model file; a class object would not load safely)
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class SemanticVAEModule(nn.Module):
    """Encoder x -> (mu, log sigma^2), decoder z -> x_hat, and a classification head on z.

    Parameters
    ----------
    n_features : int
    hidden_size : int
        Width of the one hidden ReLU layer of the encoder and of the decoder.
    latent_dim : int
    class_vectors : (C, a) tensor or None
        Semantic head ``logits = (z W) S'`` (``W`` a learned (latent_dim, a) projection, only
        when ``latent_dim != a``); None gives a plain linear softmax head with ``n_classes``.
    n_classes : int
    """

    def __init__(self, n_features, hidden_size, latent_dim, class_vectors=None, n_classes=None):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden_size), nn.ReLU(),
                                     nn.Linear(hidden_size, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_size), nn.ReLU(),
                                     nn.Linear(hidden_size, n_features))
        if class_vectors is not None:
            self.register_buffer("class_vectors", class_vectors)
            a = class_vectors.shape[1]
            self.projection = None if a == latent_dim else nn.Linear(latent_dim, a, bias=False)
            self.head = None
        else:
            self.class_vectors = None
            self.projection = None
            self.head = nn.Linear(latent_dim, n_classes)

    @property
    def latent_dim(self):
        return self.decoder[0].in_features

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def classify(self, z):
        if self.head is not None:
            return self.head(z)
        if self.projection is not None:
            z = self.projection(z)
        return z @ self.class_vectors.T

    def log_lik(self, x, z):
        """``log p(x | z)`` under a unit-variance Gaussian decoder, one value per row."""
        return -0.5 * ((x - self.decoder(z)) ** 2).sum(1) - 0.5 * x.shape[1] * _LOG_2PI

    def forward(self, x, noise=None):
        mu, logvar = self.encode(x)
        z = mu if noise is None else mu + noise * torch.exp(0.5 * logvar)
        return z, mu, logvar, self.log_lik(x, z), self.classify(z)


def kl_divergence(mu, logvar):
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` of each row."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def generative_term(logp, kl, objective):
    """Per-row generative loss: ``-log p(x|z)`` (+ the KL term ``kl`` when ``objective="elbo"``)."""
    return -logp + kl if objective == "elbo" else -logp


def vae_loss(out, y, *, tau, beta, objective, extra_generative=None):
    """The objective of one batch and its per-row parts.

    ``sum_i w_i CE(y_i, logits_i) / n + beta * mean(generative terms)`` with the reconstruction
    weights ``w_i = exp(tau (log p(x_i|z_i) - max log p))`` held constant (no gradient).
    ``extra_generative`` (per-row generative terms of other rows, e.g. unlabelled target rows)
    joins the mean of the generative part.

    Returns
    -------
    loss : scalar tensor
    parts : dict of per-row tensors ``ce``, ``recon``, ``kl``, ``weight`` (labelled rows)
    """
    z, mu, logvar, logp, logits = out
    w = torch.exp(tau * (logp - logp.max())).detach()
    ce = F.cross_entropy(logits, y, reduction="none")
    kl = kl_divergence(mu, logvar)
    gen = generative_term(logp, kl, objective)
    if extra_generative is not None:
        gen = torch.cat([gen, extra_generative])
    loss = (w * ce).mean() + beta * gen.mean()
    return loss, {"ce": ce, "recon": -logp, "kl": kl, "weight": w}


# --------------------------------------------------------------------------- callbacks
class Callback:
    """Hooks of the training loop; ``on_epoch_end`` returns True to stop training."""

    def on_train_begin(self, net):
        pass

    def on_epoch_end(self, net, record):
        return False

    def on_train_end(self, net):
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` of the held-out rows has not improved for ``patience`` epochs; at the
    end, restore the best epoch's weights (``net.best_epoch_``). Marks the best records."""

    def __init__(self, monitor, patience, threshold=1e-4):
        self.monitor, self.patience, self.threshold = monitor, patience, threshold

    def on_train_begin(self, net):
        self.best, self.best_state, self.bad_epochs = np.inf, None, 0

    def on_epoch_end(self, net, record):
        if self.monitor not in record:  # no held-out rows
            return False
        value = record[self.monitor]
        score = -value if self.monitor == "valid_acc" else value
        if self.best_state is None or score < self.best - self.threshold * abs(self.best):
            self.best, self.bad_epochs = score, 0
            self.best_state = copy.deepcopy(net.module_.state_dict())
            record["best"] = True
        else:
            self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            logger.info("%s: early stop at epoch %d (best %d)", type(net).__name__,
                        record["epoch"], record["epoch"] - self.bad_epochs)
            return True
        return False

    def on_train_end(self, net):
        if self.best_state is not None:
            net.module_.load_state_dict(self.best_state)
            net.best_epoch_ = max(h["epoch"] for h in net.history_ if h.get("best"))


class ProgressBar(Callback):
    """A tqdm bar over epochs with the training and held-out loss (hidden when not a terminal)."""

    def on_train_begin(self, net):
        self.bar = tqdm(total=net.max_epochs, desc=type(net).__name__, disable=None, leave=False)

    def on_epoch_end(self, net, record):
        self.bar.update()
        self.bar.set_postfix(loss=f"{record['train_loss']:.3g}",
                             valid=f"{record.get('valid_loss', float('nan')):.3g}")
        return False

    def on_train_end(self, net):
        self.bar.close()
