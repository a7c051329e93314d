"""Cost of the geometric-copy search (descriptor neighbours + alignment) as the data grows.

Reference thumbnails are 32x32 grayscale crops of six real photos at random
positions and scales; queries are fresh crops, a tenth of them
rotated copies of references, the rest crops of other photos (any match
of theirs is false). For each size it times the three stages of
``audit.checks.leakage.geometric_pairs``: descriptors, FAISS neighbour search
(exact inner product) and the alignment of the KEEP=6 candidates per query,
next to the hash path's FAISS radius join on the same images (the peer that
every check already runs), and prints the rotated copies found.

Run: .venv/bin/python benchmarks/geometric_scale.py [--refs 10000 100000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from PIL import Image

from audit.alignment import aligned_similarity
from audit.checks.leakage import _accepted
from audit.config import LeakageConfig
from audit.descriptors import NeighbourIndex
from audit.hash_index import radius_join
from audit.hashes import pack_bits, phash_bits
from audit.sample_data import sample_photos

REFERENCE_PHOTOS = ("camera", "coins", "moon", "page")
"""scikit-image photos cropped for references (with scikit-learn's china and flower)."""

FRESH_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel", "text")
"""scikit-image photos cropped for the fresh queries: no reference shows them."""


def crops(n: int, photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """``n`` grayscale 32x32 thumbnails of random square crops of ``photos``."""
    out = np.empty((n, 32, 32), np.uint8)
    for k in range(n):
        photo = photos[k % len(photos)]
        h, w = photo.shape
        side = int(rng.integers(40, min(h, w) // 2))
        y, x = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
        im = Image.fromarray(photo[y : y + side, x : x + side])
        out[k] = np.asarray(im.resize((32, 32), Image.Resampling.LANCZOS))
    return out


def grey(names: tuple[str, ...]) -> list[np.ndarray]:
    """scikit-image's photos ``names`` in grayscale."""
    from skimage import data

    return [np.asarray(Image.fromarray(getattr(data, n)()).convert("L")) for n in names]


def run(n_refs: int, n_queries: int, seed: int = 0) -> dict[str, float]:
    """Stage timings for one size, and the share of planted rotated copies found."""
    rng = np.random.default_rng(seed)
    photos = [np.asarray(Image.fromarray(p).convert("L")) for p in sample_photos()]
    refs = crops(n_refs, photos + grey(REFERENCE_PHOTOS), rng)
    queries = crops(n_queries, grey(FRESH_PHOTOS), rng)
    planted = rng.choice(n_refs, n_queries // 10, replace=False)
    bilinear = Image.Resampling.BILINEAR
    for k, r in enumerate(planted):
        queries[k] = np.asarray(Image.fromarray(refs[r]).rotate(5, resample=bilinear))
    out: dict[str, float] = {}
    start = time.perf_counter()
    index = NeighbourIndex.of(refs)
    out["descriptor index (refs)"] = time.perf_counter() - start
    start = time.perf_counter()
    found = index.candidates(queries)
    out["neighbour search"] = time.perf_counter() - start
    start = time.perf_counter()
    score = aligned_similarity(refs, queries, pairs=(found["r"].to_numpy(), found["q"].to_numpy()))
    out["alignment"] = time.perf_counter() - start
    start = time.perf_counter()
    radius_join(pack_bits(phash_bits(queries)), pack_bits(phash_bits(refs)), 10)
    out["peer: pHash radius join"] = time.perf_counter() - start
    frame = pd.DataFrame(
        {"i": found["r"], "j": found["q"], "similarity": score, "group": found["r"]}
    )
    hit = _accepted(frame, LeakageConfig())
    hits = {(q, r) for q, r in zip(hit["j"], hit["i"], strict=True)}
    out["rotated copies found"] = np.mean([(k, r) in hits for k, r in enumerate(planted)])
    out["fresh queries matched (false)"] = float(np.sum(hit["j"].to_numpy() >= len(planted)))
    out["candidates"] = len(found)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    rows = {n: run(n, args.queries) for n in args.refs}
    stages = list(next(iter(rows.values())))
    print(f"{'stage':28s}" + "".join(f"{f'{n:,} refs':>16s}" for n in rows))
    for stage in stages:
        cells = "".join(f"{rows[n][stage]:>16.3f}" for n in rows)
        print(f"{stage:28s}{cells}")
    for n, r in rows.items():
        per_query = (r["neighbour search"] + r["alignment"]) / args.queries * 1e3
        print(f"{n:,} refs: {per_query:.2f} ms per query (search + alignment)")


if __name__ == "__main__":
    main()
