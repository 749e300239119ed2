"""Rebuild the compact class-vector files of this folder from the shared raw data.

Run from the repository root: ``python datasets/class_vectors/build.py [SHARED_DATA_DIR]``
(default ``../shared/data``). Each output ``<set>.npz`` holds ``class_names`` (str, label order of
the matching dataset), ``vectors`` (C x a float32, one row per class) and ``description`` (str).
See PROVENANCE.md for the sources.
"""

import sys
from pathlib import Path

import numpy as np
import scipy.io

HERE = Path(__file__).resolve().parent
MINILM_SETS = ("digits", "office_caltech10", "wikipedia10", "music_genre10", "msrc_voc6",
               "amazon_sentiment2", "movie_rating3", "awa1", "awa2", "apy")
ATTRIBUTE_SETS = {"awa1_attributes": "AWA1", "awa2_attributes": "AWA2", "apy_attributes": "APY"}


def main(shared):
    shared = Path(shared)
    emb = np.load(shared / "class_name_embeddings" / "minilm_l6_v2_class_name_embeddings.npz")
    for name in MINILM_SETS:
        np.savez_compressed(
            HERE / f"{name}.npz", class_names=emb[f"{name}_names"].astype(str),
            vectors=emb[f"{name}_emb"].astype(np.float32),
            description=np.array(f"all-MiniLM-L6-v2 sentence embedding (384-d, L2-normalised) "
                                 f"of the {name} class names"))
    for name, key in ATTRIBUTE_SETS.items():
        mat = scipy.io.loadmat(shared / "zsl_class_semantics" / f"{key}_att_splits.mat")
        names = np.array([str(v[0][0]).replace("+", " ") for v in mat["allclasses_names"]])
        att = mat["att"].T.astype(np.float32)          # (a x C) in the .mat -> (C x a)
        np.savez_compressed(
            HERE / f"{name}.npz", class_names=names, vectors=att,
            description=np.array(f"{key} class-level attributes ({att.shape[1]}-d, L2-normalised "
                                 f"per class) from the GBU xlsa17 att_splits.mat"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "data")
