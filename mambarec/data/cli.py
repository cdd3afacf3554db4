"""``python -m mambarec data ...``: build MMRec-format folders from a catalogue or the raw ml100k files,
and list the built-in synthetic scenarios.

The main CLI calls ``add_data_commands(subparsers)`` and then ``args.func(args)``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mambarec.atomic import unwritable
from mambarec.data.builder import build_catalogue
from mambarec.data.dataset import DatasetError
from mambarec.data.movielens import build_movielens
from mambarec.data.scenarios import SCENARIOS, scenario_config, scenario_summary
from mambarec.data.spec import ScenarioSpec, load_scenario


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


SPLIT_SEED_MAX = 2**32 - 1  # numpy's legacy shuffle (the split's) takes seeds in [0, 2^32 - 1]


def _split_seed(value: str) -> int:
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 0 <= seed <= SPLIT_SEED_MAX:
        raise argparse.ArgumentTypeError(f"{seed} is outside 0 to {SPLIT_SEED_MAX:,} (2^32 - 1)")
    return seed


def _dataset_name(value: str) -> str:
    """A dataset name is a file name inside --out (its .inter file): no folders, not empty."""
    name = value.strip()
    if not name or name in (".", "..") or any(sep in name for sep in ("/", "\\")):
        raise argparse.ArgumentTypeError(f"{value!r} is not a file name: the dataset's name becomes <name>.inter "
                                         "inside --out; use letters, digits, '-' and '_'")
    return name


def _add_build(sub) -> None:
    p = sub.add_parser(
        "build", help="build an MMRec folder from your own interactions + item table (+ images)",
        description="Interactions (CSV/TSV with user and item columns, optional rating/timestamp) and "
        "an item table (id + text columns) -> k-core, re-indexed, split, encoded MMRec folder.",
    )
    p.add_argument("--interactions", required=True, type=Path, help="CSV/TSV of user,item[,rating,timestamp]")
    p.add_argument("--items", required=True, type=Path, help="CSV/TSV item table: id + text columns")
    p.add_argument("--out", required=True, help="output folder (created; one holding a dataset is replaced only "
                                                "with --overwrite)")  # a str: an empty one is refused (cli.main)
    p.add_argument("--overwrite", action="store_true", help="rebuild an --out folder that already holds a dataset")
    p.add_argument("--image-dir", type=Path, default=None, help="folder of item images (optional)")
    p.add_argument("--image-pattern", default="{id}.jpg", help="image file name per item (default {id}.jpg)")
    p.add_argument("--text-columns", type=_csv_list, default=None,
                   help="comma-separated item-table columns to encode (default: all but the id)")
    p.add_argument("--id-column", default=None, help="item-table id column (default: id, item_id, ...)")
    p.add_argument("--user-column", default=None, help="interactions user column (default: user, ...)")
    p.add_argument("--item-column", default=None, help="interactions item column (default: item, ...)")
    p.add_argument("--k-core", type=int, default=5,
                   help="keep users and items with >= K interactions [default: %(default)s]")
    p.add_argument("--seed", type=_split_seed, default=2026, help="split shuffle seed, 0 to 2^32 - 1 "
                   "[default: %(default)s]")
    p.add_argument("--name", type=_dataset_name, default=None, help="dataset name (default: the output folder's "
                   "name)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_data_command, data_command="build")


def _add_build_movielens(sub) -> None:
    p = sub.add_parser(
        "build-movielens", help="build ml100k from the raw GroupLens + TMDB files",
        description="Rebuild the ml100k MMRec folder from RAW (u.data, items.csv, posters/).",
    )
    p.add_argument("--raw", required=True, type=Path, help="folder with u.data, items.csv, posters/")
    p.add_argument("--out", required=True, help="output folder (created; one holding a dataset is replaced only "
                                                "with --overwrite)")  # a str: an empty one is refused (cli.main)
    p.add_argument("--overwrite", action="store_true", help="rebuild an --out folder that already holds a dataset")
    p.add_argument("--limit-items", type=int, default=None, help="only the N lowest movie ids (quick build)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_data_command, data_command="build-movielens")


def _add_scenarios(sub) -> None:
    p = sub.add_parser(
        "scenarios", help="list the built-in synthetic scenarios (use them as --dataset synthetic/<name>)",
        description="One line per scenario: its spec, size, world knobs and what it is for. Override "
        "knobs with a query, e.g. --dataset 'synthetic/cold-items?cold_share=0.6&seed=3'.",
    )
    p.add_argument("--build", action="store_true", help="also build each one and print its realized size")
    p.set_defaults(func=run_scenarios_command, data_command="scenarios")


def add_data_commands(subparsers) -> argparse.ArgumentParser:
    """Register ``data build``, ``data build-movielens`` and ``data scenarios`` under an argparse
    subparsers object."""
    data = subparsers.add_parser("data", help="build datasets (MMRec format), list synthetic scenarios",
                                 description="Build MMRec-format dataset folders; list synthetic scenarios.")
    sub = data.add_subparsers(dest="data_command", metavar="{build,build-movielens,scenarios}")
    sub.required = True
    _add_build(sub)
    _add_build_movielens(sub)
    _add_scenarios(sub)
    return data


def _build(args, notes: list[str]) -> Path:
    return build_catalogue(
        args.interactions, args.items, args.out, image_dir=args.image_dir, text_columns=args.text_columns,
        id_column=args.id_column, user_column=args.user_column, item_column=args.item_column,
        image_pattern=args.image_pattern, k_core=args.k_core, seed=args.seed, name=args.name,
        progress=not args.no_progress, notes=notes,
    )


def _build_movielens(args, notes: list[str]) -> Path:
    return build_movielens(args.raw, args.out, limit_items=args.limit_items, progress=not args.no_progress,
                           notes=notes)


def _say(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def run_data_command(args) -> int:
    """Handler of ``data build`` / ``data build-movielens``: build, then print a one-line summary.

    Returns the exit status: 0, or 2 after printing a DatasetError's message to stderr.
    """

    if Path(args.out).exists() and not Path(args.out).is_dir() or any(p.is_file() for p in Path(args.out).parents):
        print(f"error: {args.out} is not a folder (a file of that name, or above it, is in the way); choose another "
              "--out", file=sys.stderr)
        return 2
    held = sorted(p.name for p in Path(args.out).glob("*.inter")) if Path(args.out).is_dir() else []
    if held and not args.overwrite:
        print(f"error: {args.out} already holds a dataset ({held[0]}); nothing was overwritten. Choose another --out "
              "or add --overwrite to rebuild it", file=sys.stderr)
        return 2
    why = unwritable(Path(args.out))  # before the items are encoded (minutes), not after (audit r75: a traceback)
    if why:
        print(f"error: {args.out} cannot be written ({why}); choose another --out", file=sys.stderr)
        return 2
    notes: list[str] = []
    try:
        out = (_build if args.data_command == "build" else _build_movielens)(args, notes)
    except DatasetError as exc:
        _say(notes)  # also when the build then fails, before its error: the note may be why
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _say(notes)
    stats = json.loads((Path(out) / "stats.json").read_text())
    split = stats["split"]
    missing = stats.get("items_without_image", stats.get("items_without_poster", 0))
    print(
        f"wrote {out}: {stats['users']} users, {stats['items']} items, {stats['interactions']} interactions "
        f"(train {split['0']} / valid {split['1']} / test {split['2']}), {missing} item(s) without an image"
    )
    return 0


def scenario_line(name: str) -> str:
    """``spec  size  knobs  summary`` of one named scenario, for ``data scenarios``."""

    c = scenario_config(name)
    size = f"{c.n_users}x{c.n_items} ~{c.interactions_per_user:g}/user v{c.visual_dim}/t{c.text_dim}"
    knobs = (f"cold {c.cold_share:g} content {c.content_share:g} noise {c.visual_noise:g}/{c.text_noise:g} "
             f"gap {c.modality_gap:g}")
    return f"{ScenarioSpec(name).canonical():<25} {size:<32} {knobs:<43} {scenario_summary(name).replace('``', '')}"


def run_scenarios_command(args) -> int:
    """Handler of ``data scenarios``: one line per scenario (and its realized size with --build)."""


    print(f"{'spec':<25} {'users x items, activity, widths':<32} {'cold share, content share, noise v/t, gap':<43} "
          "what it is")
    for name in SCENARIOS:
        print(scenario_line(name))
        if args.build:
            start = time.perf_counter()
            s = load_scenario(ScenarioSpec(name).canonical()).summary()
            print(f"{'':<25} -> {s['users']} users, {s['items']} items, {s['interactions']:,} interactions "
                  f"(density {s['density']:.2%}), built in {time.perf_counter() - start:.1f} s")
    return 0
