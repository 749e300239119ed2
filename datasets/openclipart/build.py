"""Build ``openclipart_crawl.npz``: a real keyword crawl of the Open Clip Art Library 0.18.

Needs the Debian packages ``openclipart-svg`` (titles and keywords, in each SVG's RDF metadata)
and ``openclipart-png`` (the same images, rendered by the library to PNG) and webly with its
``embed`` extra. See PROVENANCE.md for what it does and why.

    python datasets/openclipart/build.py --cache /tmp/oca-cache

Writes ``openclipart_crawl.npz`` next to this file (``--out`` to change) and prints the noise
table of PROVENANCE.md. The manifests it embeds from are written to ``--work`` (a temp folder).
"""
import argparse
import collections
import dataclasses
import hashlib
import html
import os
import re
import sys
import tempfile
import time

import numpy as np
import pandas as pd

SVG_ROOT = "/usr/share/openclipart/svg"
PNG_ROOT = "/usr/share/openclipart/png"

#: query keyword -> the curated folder whose images are its true class
QUERIES = {
    "bird": "animals/birds",
    "fish": "animals/fish",
    "insect": "animals/bugs",
    "fruit": "food/fruit",
    "dessert": "food/desserts",
    "flower": "plants/flowers",
    "house": "buildings/homes",
    "boat": "transportation/boating",
    "music": "recreation/music",
    "sport": "recreation/sports",
    "religion": "recreation/religion",
    "weather": "signs_and_symbols/weather",
}
OTHER = "other"
MAX_PER_QUERY = 150      # first results (file order) of each query's crawl
TEST_ONE_IN = 3          # held-out share of the crawled images of each category
MAX_TEST_PER_CLASS = 60

_WORK = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)
_TITLE = re.compile(r"<dc:title>(.*?)</dc:title>", re.S)
_SUBJECT = re.compile(r"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(r"<rdf:li>(.*?)</rdf:li>", re.S)
_JUNK = re.compile(r"^hash\(0x[0-9a-f]+\)$")   # Inkscape object ids that leaked into keywords


def scan(svg_root=SVG_ROOT, png_root=PNG_ROOT):
    """One record per image (a file name; the library files one image under several folders).

    Returns {stem: {"folders", "keywords" (union over its copies), "title", "png"}}, in file
    order (sorted relative path of the image's first copy).
    """
    images = {}
    for rel in sorted(os.path.relpath(os.path.join(d, f), svg_root)
                      for d, _, files in os.walk(svg_root) for f in files if f.endswith(".svg")):
        with open(os.path.join(svg_root, rel), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        work = _WORK.search(text)
        work = work.group(0) if work else text
        title, subject = _TITLE.search(work), _SUBJECT.search(work)
        stem = os.path.basename(rel)[:-4]
        rec = images.setdefault(stem, {"folders": set(), "keywords": [], "title": "",
                                       "png": os.path.join(png_root, rel[:-4] + ".png")})
        rec["folders"].add(os.path.dirname(rel))
        if title and not rec["title"]:
            rec["title"] = " ".join(html.unescape(title.group(1)).split())
        for kw in _LI.findall(subject.group(1)) if subject else []:
            kw = " ".join(html.unescape(kw).split()).lower()
            if kw and not _JUNK.match(kw) and kw not in rec["keywords"]:
                rec["keywords"].append(kw)
    return images


def _variants(word):
    return {word, word + "s", word + "es"}


def _tokens(keywords):
    return {t for kw in keywords for t in re.split(r"[^a-z0-9]+", kw) if t}


def _without(text, word):
    """``text`` minus the tokens that are ``word`` or its plural."""
    drop = _variants(word)
    return " ".join(t for t in re.split(r"[^A-Za-z0-9']+", text) if t and t.lower() not in drop)


def categories(folders):
    """The chosen queries whose curated folder holds one of ``folders`` (in QUERIES order)."""
    return [q for q, c in QUERIES.items()
            if any(f == c or f.startswith(c + "/") for f in folders)]


def build_manifests(images):
    """(web manifest, test manifest, noise table) as frames; see PROVENANCE.md."""
    crawl = {q: [s for s, r in images.items() if _variants(q) & _tokens(r["keywords"])]
             for q in QUERIES}
    crawled = {s for stems in crawl.values() for s in stems[:MAX_PER_QUERY]}
    # clean test: images of exactly one chosen category; all those no query returned, plus one
    # in TEST_ONE_IN of the crawled ones (by the sha1 of the file name); removed from every crawl
    test = collections.defaultdict(list)
    for s, r in images.items():
        cats = categories(r["folders"])
        held = int(hashlib.sha1(s.encode()).hexdigest(), 16) % TEST_ONE_IN == 0
        if len(cats) == 1 and (s not in crawled or held):
            test[cats[0]].append(s)
    test_stems = {s for q in test for s in test[q][:MAX_TEST_PER_CLASS]}
    web, table = [], []
    for q, stems in crawl.items():
        rows = 0
        truths = []
        for rank, s in enumerate(stems[:MAX_PER_QUERY]):
            cats = categories(images[s]["folders"])
            truth = q if q in cats else (cats[0] if cats else OTHER)
            truths.append(truth)
            if s in test_stems:
                continue
            r = images[s]
            keywords = [k for k in (_without(k, q) for k in r["keywords"]) if k]
            web.append({"path": r["png"], "query": q, "title": _without(r["title"], q),
                        "tags": ", ".join(keywords), "label": truth, "rank": rank,
                        "folder": sorted(r["folders"])[0]})
            rows += 1
        shipped = [w for w in web if w["query"] == q]
        table.append({"query": q, "folder": QUERIES[q], "results": len(stems),
                      "crawl_noise": np.mean([t != q for t in truths]),
                      "train_rows": rows,
                      "noisy": sum(w["label"] != q for w in shipped),
                      "test": len([s for s in test[q][:MAX_TEST_PER_CLASS]]),
                      "wrong_truths": dict(collections.Counter(
                          w["label"] for w in shipped if w["label"] != q))})
    tests = [{"path": images[s]["png"], "label": q}
             for q in QUERIES for s in test[q][:MAX_TEST_PER_CLASS]]
    table = pd.DataFrame(table)
    table["noise"] = table["noisy"] / table["train_rows"]
    return pd.DataFrame(web), pd.DataFrame(tests), table


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "openclipart_crawl.npz"))
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "oca-cache"))
    ap.add_argument("--work", default=None, help="folder for the manifests (default: a temp one)")
    ap.add_argument("--bag-size", type=int, default=10)
    args = ap.parse_args(argv)
    for root in (SVG_ROOT, PNG_ROOT):
        if not os.path.isdir(root):
            sys.exit(f"{root} missing: apt-get install openclipart-svg openclipart-png")
    from webly.crawl import crawl_dataset

    t0 = time.time()
    images = scan()
    web, tests, table = build_manifests(images)
    work = args.work or tempfile.mkdtemp(prefix="oca-")
    os.makedirs(work, exist_ok=True)
    manifest, test_manifest = os.path.join(work, "crawl.csv"), os.path.join(work, "test.csv")
    web.drop(columns="folder").to_csv(manifest, index=False)
    tests.to_csv(test_manifest, index=False)
    ds, failures = crawl_dataset(manifest, test_manifest=test_manifest, text_model="tfidf",
                                 bag_size=args.bag_size, cache_dir=args.cache,
                                 name="openclipart_crawl", return_failures=True)
    if failures:
        sys.exit(f"{len(failures)} images failed (first: {failures[0]}); nothing written")
    # the library holds some pictures twice under two names (and a few renderings are blank):
    # drop the test images whose features equal a training row's
    dup = (np.abs(ds.X_test[:, None, :] - ds.X[None]).max(axis=2) < 1e-6).any(axis=1)
    ds = dataclasses.replace(ds, X_test=ds.X_test[~dup], y_test=ds.y_test[~dup])
    # compact: image features rounded to float16 precision (the file stores them compressed)
    ds.X = ds.X.astype(np.float16).astype(np.float64)
    ds.X_test = ds.X_test.astype(np.float16).astype(np.float64)
    ds.to_npz(args.out)
    print(f"{len(images)} images, {sum(bool(r['keywords']) for r in images.values())} with "
          f"keywords; wrote {args.out}: {ds.X.shape[0]} web rows "
          f"({len(set(ds.meta['path']))} images) x {ds.X.shape[1]}, X_priv {ds.X_priv.shape}, "
          f"{len(ds.class_names)} classes, {ds.n_bags} bags, {len(ds.y_test)} test rows ({dup.sum()} duplicates of "
          f"training images dropped), "
          f"{os.path.getsize(args.out) / 1e6:.2f} MB, {time.time() - t0:.0f} s")
    print("\n| query | curated folder | results | noise of all results | train rows | "
          "wrong | noise (train rows) | test images | true class of the wrong rows |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(f"| {r.query} | {r.folder} | {r.results} | {r.crawl_noise:.1%} | {r.train_rows} | "
              f"{r.noisy} | {r.noise:.1%} | {r.test} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(r.wrong_truths.items())) or '-'} |")
    print(f"| all | | {table.results.sum()} | | {table.train_rows.sum()} | {table.noisy.sum()} | "
          f"{table.noisy.sum() / table.train_rows.sum():.1%} | {table.test.sum()} | |")


if __name__ == "__main__":
    main()
