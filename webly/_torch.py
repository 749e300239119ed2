"""What every torch path of webly shares (the VAE family, the feature-level heads, the image
embedder): choosing the device. torch is imported when a function runs, never on import."""

from .errors import DataError


def resolve_device(name):
    """``"auto"`` -> cuda when available, else the CPU; a cuda name without CUDA -> DataError
    naming ``device``; anything torch does not know -> DataError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str):
        raise DataError("device", f"must be a string such as 'auto', 'cpu' or 'cuda', got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DataError("device", f"{name!r} asked for but no CUDA device is available; use "
                                  "device='auto' or 'cpu'")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise DataError("device", f"{name!r} is not a torch device ({exc}); use 'auto', 'cpu' "
                                  "or 'cuda'") from None
