"""Throughput of ``webly.features.embed_images`` with the in-wheel EfficientNet-Lite0 (images/s).

The images are ``--n`` JPEGs of web-photo size (640 x 480, quality 90), random crops of
scikit-learn's two sample photos, written to a temporary folder. Each batch size is timed on a
cold cache (every image decoded, preprocessed and run through the network), then once more on
the filled cache (files read and hashed only).

Run from the repository root::

    python benchmarks/embed_speed.py [--n 256] [--batch-sizes 16 32 64] [--n-workers 2]
                                     [--device auto]

Prints the machine and its load average (other processes slow these figures down), then one line
per batch size: images/s computed and images/s from the cache.
"""

import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def make_photos(folder, n, seed=0):
    import sklearn.datasets
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    photos = [Image.open(os.path.join(base, f)).convert("RGB")
              for f in ("china.jpg", "flower.jpg")]
    paths = []
    for i in range(n):
        im = photos[i % 2]
        w, h = im.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        crop = im.crop((x, y, x + cw, y + ch)).resize((640, 480), Image.Resampling.BILINEAR)
        path = os.path.join(folder, f"photo{i:05d}.jpg")
        crop.save(path, quality=90)
        paths.append(path)
    return paths


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    import torch

    from webly.features import ImageEmbedder, efficientnet_lite0

    load0 = os.getloadavg()[0]
    backbone = efficientnet_lite0()
    embedder = ImageEmbedder(backbone, device=args.device, n_workers=args.n_workers,
                             progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(tmp, args.n)
        embedder.embed(paths[:4])  # warm-up: first-call allocations and kernel selection
        gpu = torch.cuda.get_device_name(0) if embedder.device_.startswith("cuda") else None
        print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
              f"{torch.get_num_threads()} threads, device {embedder.device_}"
              + (f" ({gpu})" if gpu else ""))
        print(f"{args.n} JPEGs 640x480, n_workers={args.n_workers}")
        for bs in args.batch_sizes:
            cache = os.path.join(tmp, f"cache{bs}")
            embedder.batch_size, embedder.cache_dir = bs, cache
            t = time.perf_counter()
            cold = embedder.embed(paths)
            cold_s = time.perf_counter() - t
            t = time.perf_counter()
            warm = embedder.embed(paths)
            warm_s = time.perf_counter() - t
            assert cold.n_computed == args.n and warm.n_computed == 0
            print(f"batch {bs:4d}: {args.n / cold_s:7.1f} images/s computed ({cold_s:.1f} s), "
                  f"{args.n / warm_s:8.1f} images/s from the cache ({warm_s:.2f} s)")
    print(f"load average before/after: {load0:.1f} / {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
