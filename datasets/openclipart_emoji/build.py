"""Build ``crawl_two_sources.npz``: the Open Clip Art crawl plus a second, real web source,
Google's Noto Emoji searched by the same 12 keywords as an emoji picker's search does.

Needs the npm packages ``emoji-datasource-google`` (the Noto Emoji PNGs and ``emoji.json``:
names, Unicode group/subgroup), ``cldr-annotations-full`` and ``cldr-annotations-derived-full``
(the Unicode CLDR English keywords of every emoji), the shipped
``datasets/openclipart/openclipart_crawl.npz`` and webly with its ``embed`` extra. See
PROVENANCE.md for what it does and why.

    npm install --prefix /tmp/emoji-npm emoji-datasource-google@16.0.0 \\
        cldr-annotations-full@48.2.0 cldr-annotations-derived-full@48.2.0
    python datasets/openclipart_emoji/build.py --npm /tmp/emoji-npm --cache /tmp/emoji-cache

Writes ``crawl_two_sources.npz`` next to this file (``--out`` to change) and prints the noise
table of PROVENANCE.md.
"""
import argparse
import collections
import json
import os
import re
import sys
import tempfile
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
OPENCLIPART_NPZ = os.path.join(HERE, os.pardir, "openclipart", "openclipart_crawl.npz")

#: the npm packages read, with the versions the shipped file was built from
PACKAGES = {"emoji-datasource-google": "16.0.0", "cldr-annotations-full": "48.2.0",
            "cldr-annotations-derived-full": "48.2.0"}
IMAGES = "emoji-datasource-google/img/google/64"   # one 64x64 RGBA PNG per emoji

#: query keyword -> the Unicode emoji subgroups (emoji-test.txt, as in emoji.json's
#: ``subcategory``) whose emoji are its true class; the queries of the openclipart crawl, in its
#: order. Every other subgroup is ``other``.
QUERIES = {
    "bird": ["animal-bird"],
    "fish": ["animal-marine"],
    "insect": ["animal-bug"],
    "fruit": ["food-fruit"],
    "dessert": ["food-sweet"],
    "flower": ["plant-flower"],
    "house": ["place-building"],
    "boat": ["transport-water"],
    "music": ["music", "musical-instrument"],
    "sport": ["sport", "person-sport"],
    "religion": ["religion", "place-religious"],
    "weather": ["sky & weather"],
}
OTHER = "other"
SOURCES = ("openclipart", "emoji")


def _variants(word):
    return {word, word + "s", word + "es"}


def _tokens(phrases):
    return {t for p in phrases for t in re.split(r"[^a-z0-9]+", p.lower()) if t}


def _without(text, word):
    """``text`` minus the tokens that are ``word`` or its plural (as the openclipart build)."""
    drop = _variants(word)
    return " ".join(t for t in re.split(r"[^A-Za-z0-9']+", text) if t and t.lower() not in drop)


def _char(codepoints):
    return "".join(chr(int(c, 16)) for c in codepoints.split("-"))


def scan(npm):
    """One record per emoji of ``emoji.json`` (base emoji: no skin-tone variants), in Unicode
    order (``sort_order``): ``image``, ``name`` (the CLDR short name), ``keywords`` (the CLDR
    keywords), ``group``, ``subgroup``."""
    modules = os.path.join(npm, "node_modules")
    with open(os.path.join(modules, "emoji-datasource-google", "emoji.json"),
              encoding="utf-8") as fh:
        emoji = sorted(json.load(fh), key=lambda e: e["sort_order"])
    with open(os.path.join(modules, "cldr-annotations-full", "annotations", "en",
                           "annotations.json"), encoding="utf-8") as fh:
        plain = json.load(fh)["annotations"]["annotations"]
    with open(os.path.join(modules, "cldr-annotations-derived-full", "annotationsDerived", "en",
                           "annotations.json"), encoding="utf-8") as fh:
        derived = json.load(fh)["annotationsDerived"]["annotations"]
    records, missing = [], []
    for e in emoji:
        if not e.get("has_img_google"):
            continue
        ann = None
        for cps in (e["unified"], e.get("non_qualified")):
            for char in ([_char(cps), _char(cps).replace("\ufe0f", "")] if cps else []):
                ann = ann or plain.get(char) or derived.get(char)
        if ann is None:
            missing.append(e["name"])
            continue
        records.append({"image": os.path.join(modules, IMAGES, e["image"]),
                        "name": ann.get("tts", [e["name"].lower()])[0],
                        "keywords": list(ann.get("default", [])),
                        "group": e["category"], "subgroup": e["subcategory"]})
    return records, missing


def truth(subgroup):
    """The class of an emoji: the query whose subgroups hold its subgroup, else ``other``."""
    return next((q for q, groups in QUERIES.items() if subgroup in groups), OTHER)


def build_manifest(records):
    """(web manifest, noise table) of the emoji source as frames; see PROVENANCE.md.

    The crawl of a query = every emoji whose CLDR keywords or short name hold the query word or
    its plural (``-s``, ``-es``) as a token, in Unicode order. Nothing is held out: the target
    (test) set is the openclipart one.
    """
    web, table = [], []
    for q in QUERIES:
        hits = [r for r in records if _variants(q) & _tokens(r["keywords"] + [r["name"]])]
        for rank, r in enumerate(hits):
            keywords = [k for k in (_without(k, q) for k in r["keywords"]) if k]
            web.append({"path": r["image"], "query": q, "source": "emoji",
                        "title": _without(r["name"], q), "tags": ", ".join(keywords),
                        "label": truth(r["subgroup"]), "rank": rank,
                        "category": f"{r['group']}/{r['subgroup']}"})
        table.append(_noise_row("emoji", q, [truth(r["subgroup"]) for r in hits]))
    return pd.DataFrame(web), table


def _noise_row(source, query, truths):
    wrong = [t for t in truths if t != query]
    return {"source": source, "query": query, "rows": len(truths), "wrong": len(wrong),
            "noise": len(wrong) / len(truths) if truths else 0.0,
            "wrong_truths": dict(collections.Counter(wrong))}


def _round16(a):
    """Features rounded to float16 precision, stored as float64 (the npz compresses them)."""
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float64)


def _folder(path):
    """The curated folder of an openclipart row, from its PNG path (its first copy's folder)."""
    return os.path.dirname(os.path.relpath(path, "/usr/share/openclipart/png"))


def combine(oca, emo, category, npm):
    """One WebDataset of both sources' web rows; openclipart's clean test set is the target.

    Text: one TF-IDF fitted on both sources' rows (``meta.text``), so both share its columns;
    the openclipart rows' text features are re-derived from their ``meta__text``. ``category``
    is the emoji rows' Unicode group/subgroup; their paths are stored relative to ``npm``.
    """
    from webly import WebDataset
    from webly.features import TextEmbedder

    meta = pd.concat([
        pd.DataFrame({"path": oca.meta["path"], "query": oca.meta["query"],
                      "text": oca.meta["text"], "rank": oca.meta["rank"],
                      "source": "openclipart", "category": [_folder(p) for p in oca.meta["path"]]}),
        pd.DataFrame({"path": [os.path.relpath(p, npm) for p in emo.meta["path"]],
                      "query": emo.meta["query"], "text": emo.meta["text"],
                      "rank": emo.meta["rank"], "source": "emoji", "category": category}),
    ], ignore_index=True)
    texts = list(meta["text"])
    text = TextEmbedder("tfidf").fit(texts)
    class_names = oca.class_names
    cv = text.transform([str(c) for c in class_names]).toarray().astype(np.float32)
    return WebDataset(
        X=_round16(np.vstack([oca.X, emo.X])), y=np.concatenate([oca.y, emo.y]),
        bags=np.concatenate([oca.bags, emo.bags + oca.bags.max() + 1]),
        X_priv=text.transform(texts), source=meta["source"].to_numpy(dtype=str),
        y_true=np.concatenate([oca.y_true, emo.y_true]), meta=meta,
        X_test=_round16(oca.X_test), y_test=oca.y_test, class_names=class_names,
        class_vectors=cv, name="crawl_two_sources"), text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npm", default=os.path.join(tempfile.gettempdir(), "emoji-npm"),
                    help="the npm prefix holding node_modules/ of the three packages")
    ap.add_argument("--openclipart", default=OPENCLIPART_NPZ)
    ap.add_argument("--out", default=os.path.join(HERE, "crawl_two_sources.npz"))
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "emoji-cache"))
    ap.add_argument("--work", default=None, help="folder for the manifest (default: a temp one)")
    ap.add_argument("--bag-size", type=int, default=10)
    args = ap.parse_args(argv)
    for pkg, version in PACKAGES.items():
        meta = os.path.join(args.npm, "node_modules", pkg, "package.json")
        if not os.path.isfile(meta):
            sys.exit(f"{meta} missing: npm install --prefix {args.npm} " + " ".join(
                f"{p}@{v}" for p, v in PACKAGES.items()))
        with open(meta, encoding="utf-8") as fh:
            found = json.load(fh)["version"]
        if found != version:
            print(f"warning: {pkg} {found}, not {version}: the numbers may differ from "
                  "PROVENANCE.md", file=sys.stderr)
    from webly import WebDataset
    from webly.crawl import crawl_dataset

    t0 = time.time()
    records, missing = scan(args.npm)
    web, table = build_manifest(records)
    work = args.work or tempfile.mkdtemp(prefix="emoji-")
    os.makedirs(work, exist_ok=True)
    manifest = os.path.join(work, "emoji.csv")
    web.drop(columns="category").to_csv(manifest, index=False)
    emo, failures = crawl_dataset(manifest, text_model="tfidf", bag_size=args.bag_size,
                                  cache_dir=args.cache, name="emoji", return_failures=True)
    if failures:
        sys.exit(f"{len(failures)} images failed (first: {failures[0]}); nothing written")
    oca = WebDataset.from_npz(args.openclipart)
    # nothing failed, so the emoji rows are the manifest's, in its order
    ds, text = combine(oca, emo, web["category"].to_numpy(), os.path.abspath(args.npm))
    # how much of the emoji text the openclipart vocabulary alone would keep
    oca_vocab = set(text.vectorizer_.build_analyzer()(" ".join(oca.meta["text"])))
    kept = [bool(set(text.vectorizer_.build_analyzer()(t)) & oca_vocab) for t in emo.meta["text"]]
    same = (np.abs(ds.X_test[:, None, :] - ds.X[None]).max(axis=2) < 1e-6).any(axis=1)
    if same.any():
        sys.exit(f"{same.sum()} test images equal a training row; nothing written")
    ds.to_npz(args.out)
    print(f"{len(records)} emoji with Noto images and CLDR keywords ({len(missing)} without "
          f"keywords); wrote {args.out}: {ds.n_rows} web rows "
          f"({', '.join(f'{s} {(ds.source == s).sum()}' for s in SOURCES)}) x {ds.X.shape[1]}, "
          f"X_priv {ds.X_priv.shape} (joint TF-IDF; {np.mean(kept):.0%} of the emoji rows share "
          f"a word with the openclipart text), {len(ds.class_names)} classes, {ds.n_bags} bags, "
          f"{len(ds.y_test)} test rows, {os.path.getsize(args.out) / 1e6:.2f} MB, "
          f"{time.time() - t0:.0f} s")
    rows = [_noise_row("openclipart", q, list(oca.y_true[oca.y == q])) for q in QUERIES] + table
    print("\n| source | query | rows | wrong | noise | true class of the wrong rows |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | {r['query']} | {r['rows']} | {r['wrong']} | {r['noise']:.1%} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(r['wrong_truths'].items())) or '-'} |")
    for s in SOURCES:
        n, w = sum(r["rows"] for r in rows if r["source"] == s), \
            sum(r["wrong"] for r in rows if r["source"] == s)
        print(f"| {s} | all | {n} | {w} | {w / n:.1%} | |")


if __name__ == "__main__":
    main()
