"""The ``leakage-audit`` command line: one function per subcommand, wiring only.

Exit codes (DESIGN.md): 0 the gate passed, 1 the gate failed, 2 a usage or
input error (one line on stderr, nothing written half-way).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import shlex
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from audit import __version__, tf_loading
from audit.errors import UserError
from reports.io import atomic_write_text

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _console(stderr: bool = False) -> Any:
    """A rich console (imported late so ``--help`` stays fast)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _source_options(parser: argparse.ArgumentParser, out: str | None = "audit-report") -> None:
    """Options shared by every subcommand that reads a dataset.

    ``out`` is the default of ``--out``; None means the subcommand has no ``--out``.
    """
    from pipelines.formats import FORMATS

    parser.add_argument(
        "src",
        help="dataset: a directory tree, .npz, .csv/.parquet manifest, "
        "TFRecord file or folder, prepared TFDS folder, or tfds:NAME",
    )
    if out is not None:
        parser.add_argument(
            "--out",
            type=Path,
            default=Path(out),
            help="output folder (default: %(default)s)",
        )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="source kind; 'auto' detects it from the path (default)",
    )
    parser.add_argument(
        "--data-dir", type=Path, help="TFDS data dir for tfds:NAME (never downloads)"
    )
    parser.add_argument("--image-key", default="image/encoded", help="TFRecord image feature key")
    parser.add_argument(
        "--label-key", default="image/class/label", help="TFRecord label feature key"
    )
    parser.add_argument("--id-key", default=None, help="TFRecord feature holding the image id")
    parser.add_argument(
        "--config", type=Path, help="AuditConfig TOML file (thresholds, batch size)"
    )
    parser.add_argument("--batch-size", type=int, help="images per profiling batch (default 256)")
    parser.add_argument(
        "--no-cache", action="store_true", help="profile again; ignore the Parquet cache"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="profile cache folder (default: $LEAKAGE_AUDIT_CACHE or ~/.cache/leakage-audit)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")


def _gate_options(parser: argparse.ArgumentParser) -> None:
    """Options of the checks and the gate, shared by ``check`` and ``audit``."""
    parser.add_argument(
        "--fail-on",
        choices=("error", "warning"),
        help="lowest finding severity that fails the gate on top of the suite (default: error)",
    )
    parser.add_argument(
        "--suite",
        type=Path,
        metavar="FILE",
        help="Great Expectations suite (JSON) for the gate; default: the packaged suite "
        "(write it out with 'leakage-audit suite init')",
    )
    parser.add_argument(
        "--flip-invariant", action="store_true", help="also match horizontally mirrored copies"
    )
    parser.add_argument(
        "--no-geometric",
        action="store_true",
        help="skip the search for rotated, shifted, cropped and blurred copies across splits "
        "(descriptor neighbours aligned on thumbnails; about 3 ms per image of a later split)",
    )
    parser.add_argument(
        "--group-pattern",
        metavar="REGEX",
        help="regex on file names naming the group (first capture group), "
        "e.g. '(patient\\d+)_'; a group in two splits is leakage",
    )
    parser.add_argument(
        "--phash-radius",
        type=int,
        help="pHash bits within which pairs are duplicate candidates (default 10)",
    )
    parser.add_argument(
        "--similarity",
        type=float,
        help="thumbnail correlation that confirms a near duplicate (default 0.99)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="leakage-audit",
        description="Audit an image-classification dataset: split leakage, class balance, "
        "normalization, integrity; exit 0 when the gate passes, 1 when it fails, 2 on bad input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    profile = sub.add_parser(
        "profile",
        help="profile every image into OUT/profile.parquet",
        description="Decode and measure every image once; write the ImageTable.",
    )
    _source_options(profile)
    profile.set_defaults(run=cmd_profile)

    check = sub.add_parser(
        "check",
        help="run the data checks and the gate; write OUT/report.json",
        description="Profile the dataset, run the checks and the gate (no training).",
    )
    _source_options(check)
    _gate_options(check)
    check.add_argument(
        "--against",
        type=Path,
        metavar="INDEX",
        help="treat SRC as a new batch: also report its duplicates of the images in INDEX "
        "(built with 'leakage-audit index build')",
    )
    check.add_argument(
        "--runner",
        metavar="RUNNER",
        help="profile and join duplicates on Apache Beam: DirectRunner (local), PrismRunner, "
        "FlinkRunner, SparkRunner or DataflowRunner; options the tool does not know "
        "(--project, --region, --temp_location, --direct_num_workers ...) go to Beam. "
        "Needs pip install 'leakage-audit[beam]'",
    )
    check.add_argument(
        "--beam-dir",
        metavar="DIR",
        help="where the Beam workers write profile shards and pairs (default: OUT/beam; on "
        "a cluster a path every worker can write, such as gs://bucket/run)",
    )
    check.set_defaults(run=cmd_check)

    audit = sub.add_parser(
        "audit",
        help="check, then train a reference CNN and attribute the train/test gap",
        description="Everything 'check' does, then train the reference CNN (or --model) on "
        "train, and attribute its train/test gap to data causes (leakage, normalization, "
        "label mapping, prior or covariate shift, label noise, too little data) or model "
        "causes (overfitting, underfitting) by counterfactual experiments.",
    )
    _source_options(audit)
    _gate_options(audit)
    audit.add_argument("--epochs", type=int, help="training epochs at most (default 8)")
    audit.add_argument(
        "--max-train-images", type=int, help="seeded sample of train above this (default 20000)"
    )
    audit.add_argument(
        "--model",
        type=Path,
        help="a saved, compiled Keras model (.keras) to retrain instead of the reference CNN; "
        "images are resized to its input shape, and it needs one output per class",
    )
    audit.add_argument(
        "--seed", type=int, help="seed of sampling, weights and shuffling (default 0)"
    )
    audit.add_argument(
        "--no-retrain",
        action="store_true",
        help="skip the retraining counterfactuals (overfitting, learning curve): faster",
    )
    audit.set_defaults(run=cmd_audit)

    index = sub.add_parser(
        "index",
        help="build or extend a dataset index for 'check NEW --against INDEX'",
        description="Persist a dataset's profile and pHash index, so new batches are checked "
        "for copies of its images without profiling it again.",
    )
    index_sub = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = index_sub.add_parser(
        "build",
        help="index the dataset SRC into the folder --out",
        description="Profile SRC and write INDEX/{profile.parquet,phash.faiss,index.json}.",
    )
    _source_options(build, out="leakage-audit-index")
    build.set_defaults(run=cmd_index_build)
    add = index_sub.add_parser(
        "add",
        help="append an accepted batch SRC to the index INDEX",
        description="Profile SRC and append its readable images to INDEX.",
    )
    add.add_argument("index", type=Path, help="the index folder")
    _source_options(add, out=None)
    add.add_argument("--split", help="put every added image in this split (default: keep SRC's)")
    add.add_argument(
        "--prefix", default="", help="prefix for the added image ids, to keep them unique"
    )
    add.set_defaults(run=cmd_index_add)

    report = sub.add_parser(
        "report",
        help="render report.html again from DIR/report.json",
        description="Re-render the self-contained HTML report from an existing report.json "
        "(for example after upgrading leakage-audit, or from a CI artifact).",
    )
    report.add_argument("dir", type=Path, help="folder holding report.json (or the file itself)")
    report.add_argument(
        "--out", type=Path, help="where to write the page (default: DIR/report.html)"
    )
    report.set_defaults(run=cmd_report)

    suite = sub.add_parser(
        "suite",
        help="write the default expectation suite out for editing",
        description="Manage the Great Expectations suite that the gate runs.",
    )
    suite_sub = suite.add_subparsers(dest="suite_command", required=True, metavar="ACTION")
    init = suite_sub.add_parser(
        "init",
        help="write the default suite to FILE",
        description="Write the default suite (GE 1.x JSON) to FILE; edit its bounds, "
        "then pass it to 'check --suite FILE'.",
    )
    init.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=Path("leakage-audit-suite.json"),
        help="where to write it (default: %(default)s)",
    )
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    init.set_defaults(run=cmd_suite_init)

    demo = sub.add_parser(
        "demo",
        help="audit a small real-MNIST dataset with planted faults",
        description="Build a train/test tree of real MNIST digits with planted "
        "duplicates, label conflicts and broken files, then check it.",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("demo-report"),
        help="folder for the reports (default: %(default)s)",
    )
    demo.add_argument(
        "--data", type=Path, help="where to write the demo dataset (default: a temp dir)"
    )
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    demo.set_defaults(run=cmd_demo)
    return parser


def _config(args: argparse.Namespace) -> Any:
    """AuditConfig from --config, overridden by flags."""
    from audit.config import load_config

    cfg = load_config(args.config)
    training = {
        "epochs": getattr(args, "epochs", None),
        "max_train_images": getattr(args, "max_train_images", None),
        "model_path": str(args.model) if getattr(args, "model", None) else None,
        "seed": getattr(args, "seed", None),
        "retrain": False if getattr(args, "no_retrain", False) else None,
    }
    training = {k: v for k, v in training.items() if v is not None}
    if training:
        cfg = dataclasses.replace(cfg, attribution=dataclasses.replace(cfg.attribution, **training))
    if getattr(args, "batch_size", None):
        cfg = dataclasses.replace(
            cfg, profile=dataclasses.replace(cfg.profile, batch_size=args.batch_size)
        )
    if getattr(args, "fail_on", None):
        cfg = dataclasses.replace(cfg, fail_on=args.fail_on)
    leakage = {
        "flip_invariant": True if getattr(args, "flip_invariant", False) else None,
        "geometric": False if getattr(args, "no_geometric", False) else None,
        "group_pattern": getattr(args, "group_pattern", None),
        "phash_radius": getattr(args, "phash_radius", None),
        "similarity": getattr(args, "similarity", None),
    }
    changes = {k: v for k, v in leakage.items() if v is not None}
    if changes:
        cfg = dataclasses.replace(cfg, leakage=dataclasses.replace(cfg.leakage, **changes))
    return cfg


def _spec(args: argparse.Namespace) -> Any:
    """The SourceSpec the arguments name (plain values: importing it loads nothing heavy)."""
    from pipelines.second_process import SourceSpec

    return SourceSpec(
        args.src, args.format, args.data_dir, args.image_key, args.label_key, args.id_key
    )


def _open(args: argparse.Namespace) -> Any:
    """The Source the arguments name."""
    from pipelines.sources import is_remote

    if is_remote(args.src) and not getattr(args, "runner", None):
        raise UserError(
            f"{args.src}: locations with a scheme are read through Apache Beam "
            "(leakage-audit check SRC --runner ...); copy the data to a local path otherwise"
        )
    return _spec(args).open()


def _cache_dir(args: argparse.Namespace) -> Path | None:
    """The cache folder, or None with --no-cache."""
    from pipelines.cache import default_cache_dir

    return None if args.no_cache else (args.cache_dir or default_cache_dir())


def _progress(args: argparse.Namespace) -> Any:
    """A progress bar on stderr unless --quiet."""
    from reports.terminal import progress_bar

    return progress_bar(args.quiet)


@contextlib.contextmanager
def _profile_process(args: argparse.Namespace) -> Iterator[Any]:
    """A ProfileProcess for ``check`` (see pipelines.second_process), or None.

    None when the profile is better made here: on Beam, with
    ``profile.second_process = false``, or when TensorFlow is loaded already
    (this process is not a fresh CLI run and has nothing to overlap).
    """
    cfg = _config(args)
    if args.runner or not cfg.profile.second_process or "tensorflow" in sys.modules:
        yield None
        return
    from pipelines.second_process import ProfileProcess
    from reports.terminal import progress_bar

    bar = functools.partial(progress_bar, args.quiet)
    with ProfileProcess(_spec(args), cfg.profile, _cache_dir(args), bar) as process:
        yield process


def _profiled(process: Any) -> Any:
    """The second process's (table, cache hit); None, with a note, when it failed."""
    from pipelines.second_process import ProfileProcessError

    try:
        return process.table()
    except ProfileProcessError as exc:
        print(
            f"leakage-audit: note: the profiling process failed ({exc}); profiling here",
            file=sys.stderr,
        )
        return None


def _check_out(out: Path) -> None:
    """Fail with a clear message when ``out`` cannot be the output folder (creating nothing)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: --out exists and is not a folder")


def _prepare_out(out: Path) -> None:
    """Create the output folder or fail with a clear message."""
    _check_out(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create output folder ({exc.strerror})") from None


def cmd_profile(args: argparse.Namespace) -> int:
    """``leakage-audit profile``: write the ImageTable as Parquet."""
    from pipelines.cache import profile_cached, write_cached

    cfg = _config(args)
    source = _open(args)
    _prepare_out(args.out)
    table, _ = profile_cached(source, cfg.profile, _cache_dir(args), _progress(args))
    path = args.out / "profile.parquet"
    write_cached(table, path)
    if not args.quiet:
        errors = int(table["error_kind"].notna().sum())
        counts = ", ".join(f"{k}={v}" for k, v in table.groupby("split", sort=False).size().items())
        _console().print(
            f"profiled {len(table)} images ({counts}); {errors} unreadable\nprofile  {path}"
        )
    return EXIT_PASSED


def _write_reports(run: Any, out: Path, quiet: bool) -> None:
    """Write report.json, report.html, junit.xml and validation.json, then print the summary."""
    from reports.html import write_html
    from reports.json import render_json, write_validation
    from reports.junit import write_junit
    from reports.terminal import print_summary

    names = ("report.json", "report.html", "junit.xml", "validation.json")
    paths = [out / name for name in names]
    text = render_json(run.result)
    write_html(json.loads(text), paths[1])  # the page shows exactly what report.json holds
    write_junit(run.result, paths[2])
    write_validation(run.validation, paths[3])
    atomic_write_text(paths[0], text)
    if not quiet:
        print_summary(run.result, paths, _console())


def _gated(args: argparse.Namespace, runner: Any, profiling: Any = None, **extra: Any) -> int:
    """Load the suite, open the source, run ``runner`` (check or audit), write reports, exit code.

    The suite (and any extra input such as an index) is read before the
    source is profiled, so a bad one fails in a second, not after the work.
    ``profiling`` is a ProfileProcess already at work on the source (check).
    """
    from expectations.suite import load_suite
    from expectations.validate import check_suite

    cfg = _config(args)
    suite = load_suite(args.suite)
    check_suite(suite)
    source = _open(args)
    _check_out(args.out)
    if profiling is not None:
        # --out may lie inside the dataset: the second process must list it before it exists
        extra["profiled"] = _profiled(profiling)
    _prepare_out(args.out)
    run = runner(
        source,
        cfg,
        suite=suite,
        cache_dir=_cache_dir(args),
        progress=_progress(args),
        command=args.command_line,
        **extra,
    )
    _write_reports(run, args.out, args.quiet)
    return EXIT_PASSED if run.result.gate.passed else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    """``leakage-audit check``: checks and gate, reports, exit code.

    The profile starts first, in a second process, and the rest of the
    start-up (the checks' and the gate's imports, the suite, the index)
    happens meanwhile here.
    """
    if args.beam_options and not args.runner:
        raise UserError(f"unknown options {' '.join(args.beam_options)} (Beam's need --runner)")
    with _profile_process(args) as profiling:
        from audit.run import run_check
        from pipelines.dataset_index import load_index

        against = load_index(args.against) if args.against else None
        beam = None
        if args.runner:
            from audit.run import BeamSettings
            from pipelines.beam import RUNNERS

            if args.runner not in RUNNERS:
                raise UserError(f"--runner {args.runner}: not one of {', '.join(RUNNERS)}")
            work = args.beam_dir or str(args.out / "beam")
            beam = BeamSettings(args.runner, list(args.beam_options), work)
        return _gated(args, run_check, profiling, against=against, beam=beam)


def cmd_audit(args: argparse.Namespace) -> int:
    """``leakage-audit audit``: check, train, attribute; reports and exit code."""
    from audit.run import run_audit

    model = getattr(args, "model", None)
    if model is not None and not model.is_file():
        raise UserError(f"{model}: model file not found")
    return _gated(args, run_audit)


def _profile(args: argparse.Namespace) -> Any:
    """Open the source the arguments name and profile it (cached)."""
    from pipelines.cache import profile_cached

    source = _open(args)
    table, _ = profile_cached(source, _config(args).profile, _cache_dir(args), _progress(args))
    return source, table


def _index_summary(index: Any, quiet: bool, verb: str) -> None:
    """One line on what the index now holds."""
    if not quiet:
        splits = ", ".join(f"{k}={v}" for k, v in index.meta["splits"].items())
        _console().print(
            f"{verb}; index {index.path} holds {index.meta['images']} images ({splits})",
            soft_wrap=True,
        )


def cmd_index_build(args: argparse.Namespace) -> int:
    """``leakage-audit index build``: profile SRC and persist its index."""
    from pipelines.dataset_index import build_index

    source, table = _profile(args)
    index = build_index(table, source.location, args.out, _progress(args))
    skipped = int(table["error_kind"].notna().sum())
    _index_summary(
        index, args.quiet, f"indexed {len(index.table)} images, skipped {skipped} unreadable"
    )
    return EXIT_PASSED


def cmd_index_add(args: argparse.Namespace) -> int:
    """``leakage-audit index add``: append an accepted batch to an index."""
    from pipelines.dataset_index import append_batch, load_index

    index = load_index(args.index)
    source, table = _profile(args)
    before = len(index.table)
    index = append_batch(index, table, source.location, args.split, args.prefix, _progress(args))
    _index_summary(index, args.quiet, f"added {len(index.table) - before} images from {args.src}")
    return EXIT_PASSED


def cmd_report(args: argparse.Namespace) -> int:
    """``leakage-audit report``: render report.html again from an existing report.json."""
    from reports.html import read_report, write_html

    report = read_report(args.dir)
    folder = args.dir if args.dir.is_dir() else args.dir.parent
    path = args.out or folder / "report.html"
    write_html(report, path)
    print(f"wrote {path}")
    return EXIT_PASSED


def cmd_suite_init(args: argparse.Namespace) -> int:
    """``leakage-audit suite init``: write the default suite out for editing."""
    from expectations.suite import write_default_suite

    write_default_suite(args.file, force=args.force)
    print(f"wrote the default suite to {args.file}; edit it, then: check SRC --suite {args.file}")
    return EXIT_PASSED


def cmd_demo(args: argparse.Namespace) -> int:
    """``leakage-audit demo``: build the demo dataset and check it; exits 0 when it ran."""
    from audit.config import AuditConfig
    from audit.run import run_check
    from audit.sample_data import build_demo
    from pipelines.sources import open_source

    _prepare_out(args.out)
    root = args.data or Path(tempfile.mkdtemp(prefix="leakage-audit-demo-"))
    plan = build_demo(root)
    run = run_check(
        open_source(str(root)),
        AuditConfig(),
        cache_dir=None,
        progress=_progress(args),
        command=args.command_line,
    )
    _write_reports(run, args.out, args.quiet)
    if not args.quiet:
        _console().print(
            f"demo data {root}\nplanted: {len(plan.exact_copies)} exact and "
            f"{len(plan.near_copies)} near copies of train digits in test, "
            f"{len(plan.label_conflicts)} copies under another label, "
            f"{len(plan.unreadable)} broken files"
        )
    return EXIT_PASSED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``leakage-audit`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "run", None) is not cmd_check:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.beam_options = extra
    args.command_line = shlex.join(["leakage-audit", *argv])
    tf_loading.install()
    try:
        return int(args.run(args))
    except UserError as exc:
        print(f"leakage-audit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("leakage-audit: interrupted", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """The console script: ``main``, then exit without tearing the interpreter down.

    Every report is written and closed by then (``tf_loading.exit_now``).
    """
    tf_loading.exit_now(main())


if __name__ == "__main__":
    entry()
