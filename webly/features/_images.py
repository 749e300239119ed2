"""Reading web images and the preprocessing of pretrained CNNs, with PIL and numpy only.

No torchvision: the resize, centre crop and normalisation of ImageNet models are a few lines of
PIL and numpy, and :class:`ImagePreprocessing` describes itself (:meth:`~ImagePreprocessing.config`)
so the embedding cache can key vectors by the exact settings that produced them.
"""

import io
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["ImagePreprocessing", "decode_image"]

#: bump when the way bytes become an RGB image changes (it is part of every cache key)
READER_VERSION = 1

_RESAMPLE = ("nearest", "bilinear", "bicubic", "lanczos")


def decode_image(data, background=(255, 255, 255)):
    """Decode image bytes into an RGB PIL image, completely (a truncated file fails here).

    The EXIF orientation of phone photos is applied; transparent pixels (RGBA, LA, palette
    transparency, as in clip art and icons) are laid over ``background``; the first frame of an
    animation is used.

    Raises what PIL raises for bytes that are not a complete image it can read
    (``UnidentifiedImageError``, ``OSError: image file is truncated``, ``DecompressionBombError``
    ...); :func:`webly.features.embed_images` reports those per file and goes on.
    """
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.load()  # decode everything now: a truncated or corrupt file fails here, not later
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            base = Image.new("RGBA", im.size, tuple(background) + (255,))
            return Image.alpha_composite(base, im).convert("RGB")
        return im.convert("RGB")


@dataclass(frozen=True)
class ImagePreprocessing:
    """Centre crop, resize and normalise one PIL image into a (3, size, size) float32 array.

    The crop is the centred square of side ``crop_fraction * min(width, height)`` (0.875 is the
    usual 256 -> 224 ImageNet evaluation crop), resized to ``size`` with PIL's antialiasing
    resampling; pixel values in [0, 1] are then standardised per channel with ``mean`` and
    ``std``.

    Parameters
    ----------
    size : int, default=224
        Side of the network input in pixels.
    crop_fraction : float in (0, 1], default=0.875
        Side of the centre crop relative to the image's shorter side (1 keeps the whole shorter
        side).
    mean, std : tuple of 3 floats
        Per-channel normalisation of [0, 1] RGB values (defaults: the torchvision ImageNet
        statistics; EfficientNet-Lite uses 127/255 and 128/255, i.e. inputs in [-1, 1]).
    resample : {"bicubic", "bilinear", "lanczos", "nearest"}, default="bicubic"
        PIL resampling filter.

    Examples
    --------
    >>> from PIL import Image
    >>> ImagePreprocessing(size=32)(Image.new("RGB", (64, 48))).shape
    (3, 32, 32)
    """

    size: int = 224
    crop_fraction: float = 0.875
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    resample: str = "bicubic"

    def __post_init__(self):
        if not isinstance(self.size, (int, np.integer)) or isinstance(self.size, bool) \
                or self.size < 1:
            raise ValueError(f"size: a positive number of pixels, got {self.size!r}")
        if not 0 < float(self.crop_fraction) <= 1:
            raise ValueError(f"crop_fraction: in (0, 1], got {self.crop_fraction!r}")
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3 or not np.all(np.isfinite(value)):
                raise ValueError(f"{name}: three finite numbers (R, G, B), got {value!r}")
            object.__setattr__(self, name, value)
        if min(self.std) <= 0:
            raise ValueError(f"std: positive numbers, got {self.std!r}")
        if self.resample not in _RESAMPLE:
            raise ValueError(f"resample: one of {_RESAMPLE}, got {self.resample!r}")

    def __call__(self, image):
        from PIL import Image

        w, h = image.size
        side = self.crop_fraction * min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        resample = getattr(Image.Resampling, self.resample.upper())
        image = image.resize((self.size, self.size), resample, box=box)
        x = np.asarray(image, dtype=np.float32) / np.float32(255)
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def config(self):
        """The settings as a plain dict (part of the embedding cache key)."""
        return {**asdict(self), "type": "ImagePreprocessing"}
