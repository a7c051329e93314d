"""Split leakage: the same picture (or the same source) in more than one split.

What it detects and how:

- exact duplicates: equal content hashes (same dtype, shape and pixels);
- near duplicates: pHash pairs within ``phash_radius`` bits (found with a
  multi-index hash join, no all-pairs loop), confirmed when their thumbnails
  correlate at ``similarity`` or more after a small shift search (hashes alone
  confuse distinct small images); with ``flip_invariant``, mirrored copies too;
- geometric copies across splits: rotated (up to ~6 degrees), shifted,
  cropped, blurred or down-sized copies move a hash by tens of bits, so each
  later split's images are also matched to their nearest earlier-split images
  in two descriptor spaces (``audit.descriptors``) and confirmed by aligning
  the thumbnails (``audit.alignment``);
- duplicate groups: connected components of the pairs, each reported once;
- label conflicts: duplicate pairs whose labels differ;
- group overlap: a group key (manifest ``group`` column or ``group_pattern``
  on file names) present in more than one split, even if the images differ.

Pairs are listed across and within splits; a finding says which copies to drop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from audit.alignment import aligned_similarity
from audit.config import LeakageConfig
from audit.descriptors import NeighbourIndex, flat
from audit.errors import UserError
from audit.hash_index import Matches, radius_join, self_pairs
from audit.hashes import hamming, mirrored_phash
from audit.result import (
    DuplicateGroup,
    DuplicatePair,
    Finding,
    GroupMember,
    Leakage,
    name_ids,
)
from audit.similarity import pair_similarity
from audit.table import decoded, thumbnails

PAIR_COLUMNS = ["i", "j", "kind", "hamming", "similarity"]


@dataclass(frozen=True)
class LeakageResult:
    """Findings, the report block, and the duplicate pairs and groups as frames."""

    findings: list[Finding]
    leakage: Leakage
    pairs: pd.DataFrame = field(repr=False)
    groups: list[list[str]] = field(repr=False)


def exact_pairs(rows: pd.DataFrame) -> pd.DataFrame:
    """Pairs of rows with equal content hashes: each member paired with its group's first row."""
    codes = pd.factorize(rows["content_hash"])[0]
    first = pd.Series(np.arange(len(rows))).groupby(codes).transform("min").to_numpy()
    members = np.nonzero(first != np.arange(len(rows)))[0]
    phash = rows["phash"].to_numpy()
    return pd.DataFrame(
        {
            "i": first[members],
            "j": members,
            "kind": "exact",
            "hamming": hamming(phash[first[members]], phash[members]).astype(int),
            "similarity": 1.0,
        }
    )


def _verified(
    candidates: pd.DataFrame, thumbs_a: np.ndarray, thumbs_b: np.ndarray, cfg: LeakageConfig
) -> pd.DataFrame:
    """Candidates (``i`` in a, ``j`` in b, ``hamming``, ``mirrored``) confirmed on thumbnails."""
    i, j = candidates["i"].to_numpy(), candidates["j"].to_numpy()
    mirrored = candidates["mirrored"].to_numpy()
    sim = pair_similarity(thumbs_a, thumbs_b, i, j, mirrored, cfg.max_shift, cfg.similarity)
    ok = sim >= cfg.similarity
    frame = pd.DataFrame(
        {
            "i": i[ok],
            "j": j[ok],
            "kind": "near",
            "hamming": candidates["hamming"].to_numpy()[ok],
            "similarity": sim[ok],
        }
    )
    # a pair found both ways (and mirrored) keeps its best match: highest similarity, then
    # fewest bits apart, whatever order the candidates came in
    frame = frame.sort_values(["similarity", "hamming"], ascending=[False, True], kind="stable")
    return frame.drop_duplicates(["i", "j"])


def _candidates(found: Matches, mirrored: bool) -> pd.DataFrame:
    """Hash matches as a candidate frame."""
    return pd.DataFrame(
        {"i": found.left, "j": found.right, "hamming": found.distance, "mirrored": mirrored}
    )


def near_pairs(rows: pd.DataFrame, cfg: LeakageConfig) -> pd.DataFrame:
    """Hash candidates within the radius, confirmed on thumbnails, exact duplicates excluded."""
    phash, content = rows["phash"].to_numpy(), rows["content_hash"].to_numpy()
    thumbs = thumbnails(rows)
    parts = [_candidates(self_pairs(phash, cfg.phash_radius), False)]
    if cfg.flip_invariant:
        flips = radius_join(mirrored_phash(thumbs), phash, cfg.phash_radius)
        keep = flips.left != flips.right
        parts.append(
            _candidates(
                Matches(
                    np.minimum(flips.left, flips.right)[keep],
                    np.maximum(flips.left, flips.right)[keep],
                    flips.distance[keep],
                ),
                True,
            )
        )
    candidates = pd.concat(parts, ignore_index=True)
    candidates = candidates[content[candidates["i"]] != content[candidates["j"]]]
    return _verified(candidates, thumbs, thumbs, cfg)


def _accepted(frame: pd.DataFrame, cfg: LeakageConfig) -> pd.DataFrame:
    """Aligned candidates (``i``, ``j``, ``similarity``, ``group`` of ``i``) that are copies.

    A query's best candidate is a copy above ``aligned_similarity``, or when
    it passes the ratio test against the best candidate of another duplicate
    group (copies of the source among the references do not count against
    it). Further candidates need the threshold and a residual at most twice
    the best one's: a blurred digit fits many similar digits well, its
    source best; true repeated sources fit about equally.
    """
    frame = frame.sort_values(["j", "similarity"], ascending=[True, False])
    ranked = frame.groupby("j").cumcount().to_numpy()
    first = frame[ranked == 0].set_index("j")
    best_group = frame["j"].map(first["group"]).to_numpy()
    others = frame[(frame["group"].to_numpy() != best_group)]
    second = others.groupby("j")["similarity"].max().reindex(first.index, fill_value=0.0)
    residual = 1 - first["similarity"]
    stands_out = (first["similarity"] >= cfg.aligned_floor) & (
        (1 - second) >= cfg.aligned_ratio * residual
    )
    keep_first = (first["similarity"] >= cfg.aligned_similarity) | stands_out
    best_residual = frame["j"].map(residual).to_numpy()
    also = (
        (ranked > 0)
        & (frame["similarity"].to_numpy() >= cfg.aligned_similarity)
        & (1 - frame["similarity"].to_numpy() <= 2 * best_residual)
    )
    chosen = (ranked == 0) & frame["j"].map(keep_first).to_numpy(dtype=bool)
    return frame[chosen | also]


def aligned_candidates(
    queries: np.ndarray,
    references: np.ndarray,
    index: NeighbourIndex | None = None,
    block: int = 8192,
) -> pd.DataFrame:
    """Descriptor neighbours ``r`` of each query thumbnail ``q``, with their aligned score.

    ``index`` is the prebuilt NeighbourIndex of ``references`` (a dataset
    index keeps one); without it one is built. Queries go through in
    blocks, so the candidate frames stay bounded.
    """
    index = index or NeighbourIndex.of(references)
    parts = [pd.DataFrame({"q": [], "r": [], "score": [], "similarity": []})]
    for s in range(0, len(queries), block):
        part = queries[s : s + block]
        found = index.candidates(part)
        pairs = found["r"].to_numpy(), found["q"].to_numpy()
        score = aligned_similarity(references, part, pairs=pairs)
        parts.append(found.assign(q=found["q"] + s, similarity=score))
    return pd.concat(parts, ignore_index=True).astype({"q": int, "r": int})


def scored_candidates(rows: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """Descriptor neighbours in earlier splits of each later-split image, with aligned scores.

    Images of a later split that ``known`` pairs already tie to an earlier
    split, and flat thumbnails, are not searched again. Returns ``i``
    (earlier split), ``j`` (later split) and ``similarity``.
    """
    rank, thumbs = _split_rank(rows), thumbnails(rows)
    plain = flat(thumbs)
    matched = np.zeros(len(rows), bool)
    cross = known[rank[known["i"]] != rank[known["j"]]]
    matched[np.where(rank[cross["i"]] > rank[cross["j"]], cross["i"], cross["j"])] = True
    parts = [pd.DataFrame({"i": [], "j": [], "similarity": []})]
    for level in range(1, int(rank.max(initial=0)) + 1):
        queries = np.nonzero((rank == level) & ~plain & ~matched)[0]
        refs = np.nonzero((rank < level) & ~plain)[0]
        if len(queries) and len(refs):
            found = aligned_candidates(thumbs[queries], thumbs[refs])
            i, j = refs[found["r"].to_numpy()], queries[found["q"].to_numpy()]
            parts.append(pd.DataFrame({"i": i, "j": j, "similarity": found["similarity"]}))
    return pd.concat(parts, ignore_index=True).astype({"i": int, "j": int})


def geometric_pairs(rows: pd.DataFrame, cfg: LeakageConfig, known: pd.DataFrame) -> pd.DataFrame:
    """Copies in a later split of earlier splits' images under rotation, shift, crop or blur."""
    scored = scored_candidates(rows, known)
    scored["group"] = duplicate_groups(len(rows), known)[scored["i"].to_numpy()]
    pairs = _accepted(scored, cfg)
    phash = rows["phash"].to_numpy()
    hashes = hamming(phash[pairs["i"].to_numpy()], phash[pairs["j"].to_numpy()]).astype(int)
    return pairs.assign(kind="near", hamming=hashes)[PAIR_COLUMNS]


def pairs_against(
    batch: pd.DataFrame,
    indexed: pd.DataFrame,
    search: Callable[[np.ndarray], Matches],
    cfg: LeakageConfig,
    neighbours: NeighbourIndex | None = None,
) -> pd.DataFrame:
    """Exact and near duplicate pairs between batch rows ``i`` and indexed rows ``j``.

    ``search`` returns the indexed rows within ``cfg.phash_radius`` of each
    query hash (a prebuilt binary index); candidates are verified on
    thumbnails as within a dataset. ``neighbours`` (the indexed rows'
    NeighbourIndex, built when None) serves the geometric search.
    """
    content_b = indexed["content_hash"].to_numpy()
    content_a = batch["content_hash"].to_numpy()
    exact_j = pd.Series(np.arange(len(indexed))).groupby(content_b).first()
    hit = pd.Series(content_a).map(exact_j)
    exact = pd.DataFrame(
        {
            "i": np.nonzero(hit.notna().to_numpy())[0],
            "j": hit.dropna().astype(int).to_numpy(),
            "kind": "exact",
            "similarity": 1.0,
        }
    )
    exact["hamming"] = hamming(
        batch["phash"].to_numpy()[exact["i"]], indexed["phash"].to_numpy()[exact["j"]]
    ).astype(int)
    thumbs_a = thumbnails(batch)
    parts = [_candidates(search(batch["phash"].to_numpy()), False)]
    if cfg.flip_invariant:
        parts.append(_candidates(search(mirrored_phash(thumbs_a)), True))
    candidates = pd.concat(parts, ignore_index=True)
    candidates = candidates[content_a[candidates["i"]] != content_b[candidates["j"]]]
    pairs = exact[PAIR_COLUMNS]
    if not candidates.empty:
        needed = np.unique(candidates["j"].to_numpy())
        local = np.searchsorted(needed, candidates["j"].to_numpy())
        thumbs_b = thumbnails(indexed.iloc[needed])
        near = _verified(candidates.assign(j=local), thumbs_a, thumbs_b, cfg)
        near["j"] = needed[near["j"].to_numpy()]
        pairs = pd.concat([pairs, near[PAIR_COLUMNS]], ignore_index=True)
    if cfg.geometric:
        geometric = _geometric_against(batch, thumbs_a, indexed, pairs, cfg, neighbours)
        pairs = pd.concat([pairs, geometric])
    return pairs.reset_index(drop=True)


def _geometric_against(
    batch: pd.DataFrame,
    thumbs_a: np.ndarray,
    indexed: pd.DataFrame,
    known: pd.DataFrame,
    cfg: LeakageConfig,
    neighbours: NeighbourIndex | None,
) -> pd.DataFrame:
    """Rotated, shifted, cropped or blurred copies (batch ``i``) of indexed images (``j``).

    ``neighbours`` is the NeighbourIndex of all indexed rows (flat ones
    score 0 in it and are never candidates); ``thumbs_a`` are the batch's thumbnails.
    """
    thumbs_b = thumbnails(indexed)
    unmatched = ~np.isin(np.arange(len(batch)), known["i"].to_numpy())
    queries = np.nonzero(unmatched & ~flat(thumbs_a))[0]
    if not len(queries) or not len(indexed):
        return pd.DataFrame(columns=PAIR_COLUMNS)
    found = aligned_candidates(thumbs_a[queries], thumbs_b, neighbours)
    r = found["r"].to_numpy()
    frame = pd.DataFrame(
        {"i": r, "j": queries[found["q"].to_numpy()], "similarity": found["similarity"], "group": r}
    )
    pairs = _accepted(frame, cfg)
    batch_i, indexed_j = pairs["j"].to_numpy(), pairs["i"].to_numpy()
    hashes = hamming(batch["phash"].to_numpy()[batch_i], indexed["phash"].to_numpy()[indexed_j])
    return pd.DataFrame(
        {
            "i": batch_i,
            "j": indexed_j,
            "kind": "near",
            "hamming": hashes.astype(int),
            "similarity": pairs["similarity"].to_numpy(),
        }
    )


def find_indexed_duplicates(
    batch_table: pd.DataFrame,
    indexed: pd.DataFrame,
    search: Callable[[np.ndarray], Matches],
    cfg: LeakageConfig,
    neighbours: NeighbourIndex | None = None,
) -> tuple[list[Finding], list[DuplicatePair]]:
    """New images that duplicate (exactly or nearly) images already in an indexed dataset.

    For ingestion: a batch must not bring in copies of images the dataset
    already holds, above all of its test images.
    """
    batch = decoded(batch_table).reset_index(drop=True)
    pairs = pairs_against(batch, indexed, search, cfg, neighbours)
    if pairs.empty:
        return [], []
    new_ids, old_ids = batch["id"].to_numpy(), indexed["id"].to_numpy()
    old_split = indexed["split"].to_numpy()
    labels_a, labels_b = batch["class_name"].to_numpy(), indexed["class_name"].to_numpy()
    best = pairs.sort_values(["kind", "similarity"], ascending=[True, False]).drop_duplicates("i")
    listed = [
        {
            "new": str(new_ids[i]),
            "indexed": str(old_ids[j]),
            "indexed_split": str(old_split[j]),
            "kind": str(kind),
            "hamming": int(h),
            "similarity": round(float(s), 4),
            "label_differs": bool(labels_a[i] != labels_b[j]),
        }
        for i, j, kind, h, s in best[PAIR_COLUMNS].itertuples(index=False)
    ]
    per_split = pd.Series([p["indexed_split"] for p in listed]).value_counts().to_dict()
    copies = [p["new"] for p in listed]
    differ = sum(p["label_differs"] for p in listed)
    counts = ", ".join(f"{k}: {v}" for k, v in per_split.items())
    finding = Finding(
        check="leakage.indexed_duplicate",
        severity=cfg.cross_split_severity,
        message=f"{len(copies)} new images duplicate images already indexed ({counts})"
        + (f"; {differ} under another label" if differ else ""),
        count=len(copies),
        evidence={
            "per_indexed_split": per_split,
            "pairs": listed[:10_000],
            "copies_to_drop": copies,
        },
        fix=f"Do not ingest these copies: {name_ids(copies)}; they duplicate images the dataset "
        "already holds (a copy of a test image in train leaks it).",
    )
    report = [
        DuplicatePair(str(new_ids[i]), str(old_ids[j]), str(k), int(h), round(float(s), 4))
        for i, j, k, h, s in pairs[PAIR_COLUMNS].head(cfg.max_report_pairs).itertuples(index=False)
    ]
    return [finding], report


def duplicate_groups(n: int, pairs: pd.DataFrame) -> np.ndarray:
    """Connected-component label of every row (rows without a duplicate get their own)."""
    if pairs.empty:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(pairs)), (pairs["i"], pairs["j"])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def group_keys(rows: pd.DataFrame, pattern: str | None) -> pd.Series:
    """The group of each row: the source's group column, else ``pattern`` on the file name."""
    if rows["group"].notna().any() or not pattern:
        return rows["group"]
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise UserError(f"--group-pattern {pattern!r} is not a valid regex: {exc}") from None

    def key(ident: str) -> str | None:
        match = regex.search(PurePosixPath(ident).name)
        if not match:
            return None
        return match.group(1) if regex.groups else match.group(0)

    return rows["id"].map(key)


def _split_rank(rows: pd.DataFrame) -> np.ndarray:
    """Position of each row's split in table order (train before test)."""
    order = {s: k for k, s in enumerate(dict.fromkeys(rows["split"]))}
    return rows["split"].map(order).to_numpy()


def _cross_split_finding(
    rows: pd.DataFrame, pairs: pd.DataFrame, cfg: LeakageConfig
) -> list[Finding]:
    """Copies in a later split of images in an earlier one (test copies of train images)."""
    rank = _split_rank(rows)
    cross = pairs[rank[pairs["i"]] != rank[pairs["j"]]]
    if cross.empty:
        return []
    later = np.where(rank[cross["i"]] > rank[cross["j"]], cross["i"], cross["j"])
    earlier = np.where(rank[cross["i"]] > rank[cross["j"]], cross["j"], cross["i"])
    split = rows["split"].to_numpy()
    per_pair: dict[str, dict[str, int]] = {}
    for e, l_, kind in zip(earlier, later, cross["kind"], strict=True):
        key = f"{split[e]}-{split[l_]}"
        per_pair.setdefault(key, {"exact": 0, "near": 0})[kind] += 1
    copies = sorted(set(rows["id"].to_numpy()[later].tolist()))
    counts = ", ".join(f"{k}: {v['exact']} exact, {v['near']} near" for k, v in per_pair.items())
    return [
        Finding(
            check="leakage.cross_split_duplicate",
            severity=cfg.cross_split_severity,
            message=f"{len(copies)} images duplicate an image in an earlier split ({counts})",
            count=len(copies),
            evidence={"per_split_pair": per_pair, "copies_to_drop": copies},
            fix=f"Drop these copies from the later split (or move them to the earlier one): "
            f"{name_ids(copies)}; test accuracy on leaked copies measures memory, not "
            "generalisation.",
        )
    ]


def _within_split_finding(
    rows: pd.DataFrame, pairs: pd.DataFrame, cfg: LeakageConfig
) -> list[Finding]:
    """Duplicates inside one split (they over-weight some images)."""
    rank = _split_rank(rows)
    within = pairs[rank[pairs["i"]] == rank[pairs["j"]]]
    if within.empty:
        return []
    extra = sorted(set(rows["id"].to_numpy()[within["j"]].tolist()))
    per_split = rows["split"].to_numpy()[within["j"]]
    return [
        Finding(
            check="leakage.within_split_duplicate",
            severity=cfg.within_split_severity,
            message=f"{len(extra)} images duplicate another image of the same split",
            count=len(extra),
            evidence={
                "per_split": pd.Series(per_split).value_counts().to_dict(),
                "copies_to_drop": extra,
            },
            fix=f"Keep one image per duplicate group; drop {name_ids(extra)}.",
        )
    ]


def _conflict_finding(
    rows: pd.DataFrame, conflicts: pd.DataFrame, cfg: LeakageConfig
) -> list[Finding]:
    """Duplicate pairs that carry different labels."""
    if conflicts.empty:
        return []
    ids, labels = rows["id"].to_numpy(), rows["class_name"].to_numpy()
    listed = [
        {"a": ids[i], "b": ids[j], "label_a": labels[i], "label_b": labels[j]}
        for i, j in zip(conflicts["i"], conflicts["j"], strict=True)
    ]
    return [
        Finding(
            check="leakage.label_conflict",
            severity=cfg.label_conflict_severity,
            message=f"{len(listed)} duplicate pairs carry different labels "
            f"(first: {listed[0]['a']} is {listed[0]['label_a']}, "
            f"{listed[0]['b']} is {listed[0]['label_b']})",
            count=len(listed),
            evidence={"pairs": listed},
            fix="Relabel each pair consistently (the same picture cannot be two classes) "
            "or drop one copy.",
        )
    ]


def _group_finding(rows: pd.DataFrame, cfg: LeakageConfig) -> list[Finding]:
    """Group keys present in more than one split."""
    keys = group_keys(rows, cfg.group_pattern)
    frame = pd.DataFrame({"group": keys, "split": rows["split"]}).dropna()
    spread = frame.groupby("group")["split"].agg(lambda s: sorted(set(s)))
    leaked = spread[spread.map(len) > 1]
    if leaked.empty:
        return []
    shown = {str(g): splits for g, splits in leaked.items()}
    return [
        Finding(
            check="leakage.group_overlap",
            severity=cfg.group_overlap_severity,
            message=f"{len(shown)} groups have images in more than one split: "
            f"{name_ids(list(shown))}",
            count=len(shown),
            evidence={"groups": shown},
            fix="Split by group, not by image (e.g. sklearn GroupShuffleSplit): move each group's "
            "images into a single split.",
        )
    ]


def _to_pairs(rows: pd.DataFrame, pairs: pd.DataFrame, limit: int) -> list[DuplicatePair]:
    """Report pairs with image ids, exact ones first, at most ``limit``."""
    ids = rows["id"].to_numpy()
    top = pairs.sort_values(["kind", "similarity"], ascending=[True, False]).head(limit)
    return [
        DuplicatePair(str(ids[i]), str(ids[j]), str(k), int(h), round(float(s), 4))
        for i, j, k, h, s in top[PAIR_COLUMNS].itertuples(index=False)
    ]


def _report_groups(
    rows: pd.DataFrame, members: list[np.ndarray], pairs: pd.DataFrame, limit: int
) -> list[DuplicateGroup]:
    """The duplicate groups for the report: cross-split and label-conflicting first, then size.

    ``members`` are the groups' rows (``group_members``). Groups are ranked on
    a per-group summary and only the ``limit`` reported ones are built member
    by member (5,000 digits have hundreds of groups).
    """
    if not members:
        return []
    grouped, sizes = np.concatenate(members), [len(m) for m in members]
    group_of = np.repeat(np.arange(len(members)), sizes)  # the group of each row of grouped
    frame = pd.DataFrame(
        {
            "c": group_of,
            "split": rows["split"].to_numpy()[grouped],
            "label": rows["class_name"].to_numpy()[grouped],
        }
    )
    summary = frame.groupby("c").agg(splits=("split", "nunique"), labels=("label", "nunique"))
    summary["size"] = sizes
    summary["cross"] = summary["splits"] > 1
    summary["conflict"] = summary["labels"] > 1
    # groups in order of their first row, as listed; then the ranking, stable
    summary = summary.iloc[np.argsort([m[0] for m in members], kind="stable")]
    summary = summary.sort_values(
        ["cross", "conflict", "size"], ascending=[False, False, False], kind="stable"
    ).head(limit)
    component = np.full(len(rows), -1)
    component[grouped] = group_of
    lowest = pairs.groupby(component[pairs["i"].to_numpy()])["similarity"].min()
    ids, splits, labels = (rows[k].to_numpy() for k in ("id", "split", "class_name"))

    def member(r: int) -> GroupMember:
        label = labels[r]
        return GroupMember(str(ids[r]), str(splits[r]), None if pd.isna(label) else str(label))

    return [
        DuplicateGroup(
            members=[member(r) for r in members[c]],
            cross_split=bool(cross),
            label_conflict=bool(conflict),
            similarity=round(float(lowest.get(c, 1.0)), 4),
        )
        for c, cross, conflict in zip(
            summary.index, summary["cross"], summary["conflict"], strict=True
        )
    ]


def group_members(component: np.ndarray) -> list[np.ndarray]:
    """The rows of each duplicate group (a component of two or more rows), in component order.

    Array work: a pandas ``agg(list)`` over every row (5,000 digits are
    mostly single-row components) took a tenth of a second.
    """
    rows = np.nonzero(np.bincount(component)[component] > 1)[0]
    rows = rows[np.argsort(component[rows], kind="stable")]
    return np.split(rows, np.flatnonzero(np.diff(component[rows])) + 1) if len(rows) else []


def hash_pairs(rows: pd.DataFrame, cfg: LeakageConfig) -> pd.DataFrame:
    """Exact and verified near pairs of decoded ``rows``, exact first, then by similarity.

    The order is fixed (not the join's), so the Beam join (pipelines.beam),
    which computes the same pairs on workers, reports them identically.
    """
    pairs = pd.concat([exact_pairs(rows), near_pairs(rows, cfg)], ignore_index=True)
    return ordered_pairs(pairs)


def ordered_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Exact pairs first, then by falling similarity, then by rows."""
    rank = (pairs["kind"] != "exact").astype(int)
    order = np.lexsort((pairs["j"], pairs["i"], -pairs["similarity"].astype(float), rank))
    return pairs.iloc[order].reset_index(drop=True)


def find_leakage(
    table: pd.DataFrame, cfg: LeakageConfig, precomputed: pd.DataFrame | None = None
) -> LeakageResult:
    """Duplicates across and within splits, label conflicts and group overlap.

    ``precomputed``: the exact and near pairs already found by the Beam join
    (``i``, ``j`` into the decoded rows); the geometric search still runs here.
    """
    rows = decoded(table).reset_index(drop=True)
    pairs = hash_pairs(rows, cfg) if precomputed is None else ordered_pairs(precomputed)
    if cfg.geometric:
        pairs = pd.concat([pairs, geometric_pairs(rows, cfg, pairs)], ignore_index=True)
    pairs = pairs.astype({"i": int, "j": int, "hamming": int, "similarity": float})
    labels = rows["label"].to_numpy()
    conflicts = pairs[
        (labels[pairs["i"]] != labels[pairs["j"]])
        & (labels[pairs["i"]] >= 0)
        & (labels[pairs["j"]] >= 0)
    ]
    members = group_members(duplicate_groups(len(rows), pairs))
    ids = rows["id"].to_numpy()
    groups = [ids[m].tolist() for m in members]
    reported = _report_groups(rows, members, pairs, cfg.max_report_groups)
    findings = (
        _cross_split_finding(rows, pairs, cfg)
        + _within_split_finding(rows, pairs, cfg)
        + _conflict_finding(rows, conflicts, cfg)
        + _group_finding(rows, cfg)
    )
    leakage = Leakage(
        pairs=_to_pairs(rows, pairs, cfg.max_report_pairs),
        label_conflicts=_to_pairs(rows, conflicts, cfg.max_report_pairs),
        groups=reported,
        groups_total=len(groups),
    )
    return LeakageResult(findings=findings, leakage=leakage, pairs=pairs, groups=groups)
