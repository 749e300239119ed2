"""The one training loop of the torch heads (:class:`~webly.heads.GCEClassifier`,
:class:`~webly.heads.CoTeachingClassifier`) and the losses it plugs in.

torch is imported here only, and this module only from ``fit``: a fitted head keeps its weights
as numpy arrays and predicts without torch (and a model file loads without it).
"""

import numpy as np
import torch
from torch.nn import functional as F

#: rows per forward pass when scoring every training row after training (bounds the memory of
#: the hidden activations, ``_EVAL_CHUNK x hidden`` floats)
_EVAL_CHUNK = 65536


def gce_loss(logits, y, q):
    """Per-row generalized cross-entropy ``(1 - p_y^q) / q`` (Zhang & Sabuncu 2018).

    ``q = 0`` is cross-entropy ``-log p_y`` (the limit); ``q = 1`` is the MAE ``1 - p_y``.
    Computed as ``-expm1(q log p_y) / q`` so that small ``q`` keeps its precision.
    """
    log_p = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    if q == 0:
        return -log_p
    return -torch.expm1(q * log_p) / q


def train_heads(params, X, y, *, forward, row_losses, select, lr, weight_decay, max_epochs,
                batch_size, rng, device):
    """Train one or more heads together with Adam; the loss and the row selection plug in.

    Parameters
    ----------
    params : list (one per head) of lists of numpy arrays
        Initial weights of each head.
    X : (n, d) float array, y : (n,) int array
    forward : callable ``(head_params, X_batch) -> logits``
        Works on torch tensors (and, for prediction, numpy arrays).
    row_losses : callable ``(logits, y_batch) -> (b,) tensor``
    select : callable ``(losses, epoch) -> list``
        Given each head's detached per-row losses of a batch, the batch rows each head is
        updated on (an index tensor, or None for all rows). Each head's objective is the mean
        loss over its rows; the heads share one Adam (per-parameter, so the same as one each).
    rng : numpy RandomState
        Draws the order of the rows of each epoch (the only randomness: deterministic on the CPU).
    device : torch.device

    Returns
    -------
    params : list of lists of float32 numpy arrays, the trained weights
    history : list of dict, per epoch: ``epoch``, ``train_loss`` (mean objective per row)
    losses : (n_heads, n) float64 array, each head's ``row_losses`` of every training row at the end
    stopped : str
        "" after ``max_epochs``, else why training stopped: a non-finite loss, after which the
        weights of the last epoch with a finite loss are returned.
    """
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
    heads = [[torch.tensor(np.asarray(p, dtype=np.float32), device=device, requires_grad=True)
              for p in head] for head in params]
    optimizer = torch.optim.Adam([p for head in heads for p in head], lr=lr,
                                 weight_decay=weight_decay)
    n, history, stopped = len(yt), [], ""
    kept = [[p.detach().clone() for p in head] for head in heads]  # of the last finite epoch
    for epoch in range(max_epochs):
        order = torch.as_tensor(rng.permutation(n), device=device)
        total = torch.zeros((), device=device)  # accumulated on the device: one sync per epoch
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            losses = [row_losses(forward(head, Xt[rows]), yt[rows]) for head in heads]
            picks = select([loss.detach() for loss in losses], epoch)
            objective = sum(loss.mean() if pick is None else loss[pick].mean()
                            for loss, pick in zip(losses, picks))
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
            total += objective.detach() * len(rows)
        mean = float(total) / n
        history.append({"epoch": epoch + 1, "train_loss": mean})
        if not np.isfinite(mean):
            stopped = (f"the training loss became {mean} at epoch {epoch + 1} (the weights "
                       f"after epoch {epoch} are kept); lower lr")
            with torch.no_grad():
                for head, saved in zip(heads, kept):
                    for p, q in zip(head, saved):
                        p.copy_(q)
            break
        kept = [[p.detach().clone() for p in head] for head in heads]
    with torch.no_grad():
        final = np.stack([np.concatenate([
            row_losses(forward(head, Xt[s:s + _EVAL_CHUNK]), yt[s:s + _EVAL_CHUNK]).cpu().numpy()
            for s in range(0, n, _EVAL_CHUNK)]) for head in heads]).astype(np.float64)
    trained = [[p.detach().cpu().numpy() for p in head] for head in heads]
    return trained, history, final, stopped
