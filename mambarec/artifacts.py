"""The precomputed folder's format: what ``precompute`` writes and what the app, the README and the
report read (docs/architecture.md section 4). Readers import this module, never the runner.

Layout:
* ``results.csv`` / ``results.json``: one row per (dataset, cell, seed): test and valid
  Recall/NDCG/Precision@10/@20, n_params, s_per_epoch, best_epoch, epochs_run (the JSON adds
  every metric and the per-epoch losses and the curves' metrics, ``compact_history``);
* ``alignment/<dataset>/<cell>_s<seed>.json`` for the headline cells (first seed): alignment
  metrics and 2-D PCA and UMAP coordinates of the "modal" stage of the initialized model
  ("before") and of the trained one ("after"); row i of every list is ``item_id[i]``;
* ``checkpoints/synthetic/<cell>_s<seed>.pt`` and ``labels/synthetic.json`` (title, category) for
  redistributable data only: for ml100k nothing derived from MovieLens content is written except
  numbers keyed by item id (its licence forbids redistribution);
* ``REPORT.md``: the ablation tables beside the paper's claims;
* ``manifest.json``: every run's exact config, dataset fingerprints, budgets, wall time, machine,
  one numerics probe per cell (``mambarec.probes``), the sha256 of every file and of the manifest
  itself.

``load_precomputed`` refuses modified or foreign folders. Whether the numbers are still today's
is a separate question, answered by ``staleness`` from the probes: a stale folder is still
readable, so the app can show it under a banner that names what moved.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from mambarec import probes
from mambarec.config import RunConfig
from mambarec.data.spec import dataset_slug
from mambarec.errors import UserError
from mambarec.grid import CELLS, CHECKPOINT_DATASETS, GRID, budget_for

FORMAT = "mambarec-precomputed"
FORMAT_VERSION = 2  # 1: staleness by source hashes; 2: by numerics probes
DEFAULT_OUT = "precomputed"
REDISTRIBUTABLE = ("synthetic",)  # datasets (and their scenarios, synthetic/...) whose content may be shipped
METRIC_COLUMNS = tuple(f"{split}/{m}@{k}" for split in ("test", "valid") for m in ("Recall", "NDCG", "Precision")
                       for k in (10, 20))
ROW_COLUMNS = ("dataset", "cell", "model_name", "variant", "schedule", "group", "seed", *METRIC_COLUMNS, "n_params",
               "s_per_epoch", "best_epoch", "epochs_run", "stopped_early", "wall_s")


class PrecomputedError(UserError):
    """A precomputed folder is missing, unreadable or of another format."""


class TamperedArtifactError(PrecomputedError):
    """A file or the manifest differs from what ``precompute`` wrote."""


def is_redistributable(dataset: str) -> bool:
    """Whether a dataset's content (labels, weights) may ship: built-in synthetic data and its scenarios."""
    return any(dataset == name or dataset.startswith(name + "/") for name in REDISTRIBUTABLE)


def ships_checkpoints(dataset: str) -> bool:
    """Whether ``precompute`` stores checkpoints of this dataset's headline cells in precomputed/ (weights are
    content: only a redistributable dataset's, and only for ``grid.CHECKPOINT_DATASETS``, to keep the folder small)."""
    return is_redistributable(dataset) and dataset in CHECKPOINT_DATASETS


def dataset_folder(dataset: str) -> str:
    """The file-safe folder name of a dataset inside precomputed/ (a scenario spec's "/ ? & =" go)."""

    return dataset_slug(dataset)


def regenerate_hint(folder: Path, damaged: bool = True) -> str:
    """How to get a damaged or missing folder back: from git where it is the shipped one (seconds), else by
    training it again (the whole default grid is hours). ``damaged`` off (a stale folder): training only. A folder
    of other files (a dataset's) is not one: `precompute --out` there is refused, so that was no advice (audit r75)."""
    folder_path = Path(folder)
    replace = " --overwrite" if (folder_path / "manifest.json").is_file() else ""  # precompute keeps a grid otherwise
    again = f"`python -m mambarec precompute --out {folder}{replace}` trains it again (the default grid: hours)"
    shipped = Path(__file__).resolve().parents[1] / "precomputed"
    if damaged and folder_path.resolve() == shipped and (shipped.parent / ".git").exists():
        return f"restore the shipped files with `git checkout -- {folder}`, or {again}"
    grid_parts = ("manifest.json", "results.json", "checkpoints", "alignment")  # what a damaged grid still has
    if folder_path.is_dir() and any(folder_path.iterdir()) and not any((folder_path / p).exists() for p in grid_parts):
        return ("it holds other files and no grid: name the folder that `python -m mambarec precompute --out DIR` "
                "wrote (the shipped one is precomputed/), or train a grid into a new DIR")
    return f"regenerate it: {again}"


# ---- writing ------------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def write_json(path: Path, data: Any, indent: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent, sort_keys=True, separators=None if indent else (",", ":")))


HISTORY_DIGITS = 6  # significant digits of the per-epoch history in results.json (a run's own metrics keep all)
# The per-epoch metrics results.json keeps (valid/ and test/): the ones the app's and the report's learning curves
# draw. A row's final metrics keep every K and measure; only its history is trimmed, and saved runs keep theirs whole.
HISTORY_METRICS = ("Recall@20", "NDCG@20")


def kept_in_history(key: str) -> bool:
    """Whether results.json keeps the per-epoch history column ``key`` (losses, lr and timings always)."""
    split, _, metric = key.partition("/")
    return split not in ("valid", "test") or metric in HISTORY_METRICS


def compact_history(rows: list[dict]) -> list[dict]:
    """Rows whose per-epoch history keeps the columns ``kept_in_history`` allows, floats at HISTORY_DIGITS
    significant digits: curves need no more, and results.json shrinks to about two fifths."""
    def short(v):
        return float(f"{v:.{HISTORY_DIGITS}g}") if isinstance(v, float) else v

    return [{**r, "history": [{k: short(v) for k, v in h.items() if kept_in_history(k)} for h in r["history"]]}
            if r.get("history") else r for r in rows]


def write_results(folder: Path, rows: list[dict]) -> None:
    """results.json (every metric, history) and results.csv (ROW_COLUMNS)."""
    write_json(folder / "results.json", {"columns": list(ROW_COLUMNS), "rows": compact_history(rows)})
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ROW_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def seal_manifest(folder: Path, manifest: dict) -> dict:
    """Add every file's sha256 and the manifest's own, and write ``manifest.json``."""
    manifest = dict(manifest)
    manifest.pop("manifest_sha256", None)
    manifest["files"] = {p.relative_to(folder).as_posix(): sha256_file(p)
                         for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}
    manifest["manifest_sha256"] = hashlib.sha256(canonical(manifest).encode()).hexdigest()
    write_json(folder / "manifest.json", manifest, indent=1)
    return manifest


# ---- reading ------------------------------------------------------------------------------------
def read_manifest(folder: Path) -> dict:
    """The manifest, checked against its own checksum and format (without the checksum key)."""
    regen = regenerate_hint(folder)
    path = folder / "manifest.json"
    if not Path(folder).is_dir():  # a typo more often than a grid to retrain: no hours-long advice for it
        raise PrecomputedError(f"{folder}: no such folder (the repository's own is precomputed/)")
    if not path.is_file():
        raise PrecomputedError(f"{folder}: no manifest.json, so this is not a precomputed folder; {regen}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TamperedArtifactError(f"{path}: unreadable ({exc}); {regen}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PrecomputedError(f"{path}: not a '{FORMAT}' manifest; {regen}")
    claimed = manifest.pop("manifest_sha256", None)
    if claimed != hashlib.sha256(canonical(manifest).encode()).hexdigest():
        raise TamperedArtifactError(f"{path} does not match its own checksum: it was edited or corrupted after "
                                    f"precompute wrote it; {regen}")
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise PrecomputedError(f"{path}: format version {manifest.get('format_version')!r} is newer than this "
                               f"mambarec reads ({FORMAT_VERSION}); update this checkout (`git pull`), or "
                               "regenerate the folder with this one (`python -m mambarec precompute --out ...`)")
    return manifest


def load_precomputed(directory: str | Path = DEFAULT_OUT) -> dict:
    """Read and verify a precomputed folder.

    Returns ``dir``, ``manifest``, ``results`` (rows, with history), ``alignment``
    ({dataset: {"<cell>_s<seed>": dict}}), ``labels`` ({dataset: dict}), ``checkpoints``
    ({dataset: {"<cell>_s<seed>": Path}}) and ``report`` (REPORT.md). Raises
    TamperedArtifactError when a file or the manifest differs from what was written, and
    PrecomputedError when the folder is not one. The manifest's own sha256 is an integrity check,
    not a signature: it catches edits and corruption, not someone who recomputes every hash.
    """
    d = Path(directory)
    regen = regenerate_hint(d)
    manifest = read_manifest(d)
    files = manifest.get("files")
    if not isinstance(files, dict) or "results.json" not in files:
        raise TamperedArtifactError(f"{d}/manifest.json: the file list is missing; {regen}")
    for rel, digest in files.items():
        target = d / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not target.is_file():
            raise TamperedArtifactError(f"{d}: {rel} is missing or outside the folder; {regen}")
        if sha256_file(target) != digest:
            raise TamperedArtifactError(f"{d}: {rel} differs from what precompute wrote (sha256 mismatch); {regen}")
    out: dict[str, Any] = {"dir": d, "manifest": manifest, "alignment": {}, "labels": {}, "checkpoints": {},
                           "results": json.loads((d / "results.json").read_text())["rows"],
                           "report": (d / "REPORT.md").read_text() if "REPORT.md" in files else ""}
    names = {dataset_folder(name): name for name in manifest.get("datasets", {})}
    for rel in files:
        parts = Path(rel).parts
        if parts[0] == "alignment" and len(parts) == 3:
            name = names.get(parts[1], parts[1])
            out["alignment"].setdefault(name, {})[Path(rel).stem] = json.loads((d / rel).read_text())
        elif parts[0] == "labels" and len(parts) == 2:
            out["labels"][names.get(Path(rel).stem, Path(rel).stem)] = json.loads((d / rel).read_text())
        elif parts[0] == "checkpoints" and len(parts) == 3:
            out["checkpoints"].setdefault(names.get(parts[1], parts[1]), {})[Path(rel).stem] = d / rel
    return out


def read_alignment(folder: Path) -> dict:
    """{dataset: {"<cell>_s<seed>": snapshot}} of a folder being written (each file names its dataset)."""
    out: dict = {}
    for p in sorted((folder / "alignment").glob("*/*.json")):
        data = json.loads(p.read_text())
        out.setdefault(data.get("dataset", p.parent.name), {})[p.stem] = data
    return out


# ---- staleness ----------------------------------------------------------------------------------
def key_parts(key: str) -> tuple[str, str, int]:
    """(dataset, cell, seed) of a run key ``<dataset>/<cell>/s<seed>``; dataset specs may hold "/" themselves."""
    dataset, cell, seed = key.rsplit("/", 2)
    return dataset, cell, int(seed.lstrip("s"))


def staleness(manifest: dict, progress: bool = False):
    """``probes.Staleness`` of a loaded manifest: today's probe of every cell it holds against the stored one
    (seconds the first time per source version, then read from the probe cache), and every stored run's
    exact config against the one today's grid gives it (a changed budget, schedule preset or cell)."""
    cells = [c for c in GRID if c.name in manifest.get("cells", {})]
    stored = manifest.get("probes", {})
    found = probes.check(stored, probes.cells_to_runs(cells), progress=progress)
    gone = tuple(sorted(set(manifest.get("cells", {})) - {c.name for c in GRID}))
    redefined = redefined_runs(manifest)
    return probes.Staleness(found.checked, found.moved, found.unprobed + gone, redefined)


def stale_notice(folder: Path, found) -> str | None:
    """What a reader of a stale folder is told (the Compare page's banner, ``compare --precomputed``); None when
    ``found`` (a ``staleness`` outcome) is current."""
    if found.current:
        return None
    return (f"These precomputed results are stale: today's code computes other numbers. {found.message()}. They are "
            f"shown as stored; {regenerate_hint(Path(folder), damaged=False)} (or `--refresh-stale` to retrain only "
            "those cells).")


def redefined_runs(manifest: dict) -> dict[str, list[str]]:
    """cell -> the first differences between a stored run's config and the one today's grid defines."""
    out: dict[str, list[str]] = {}
    for key, stored in sorted(manifest.get("runs", {}).items()):
        dataset, cell, seed = key_parts(key)
        if cell not in CELLS or cell in out:
            continue
        today = CELLS[cell].run_config(dataset, seed, budget_for(dataset, manifest.get("epochs_override")))
        try:
            old = RunConfig.from_dict(stored)
        except ValueError as exc:
            out[cell] = [f"its stored config cannot be read: {exc}"]
            continue
        diffs = _config_diffs(old.to_dict(), today.to_dict())
        if diffs:
            out[cell] = diffs
    return out


def _config_diffs(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for k in sorted(set(old) | set(new)):
        if prefix == "train." and k == "device":  # where it ran, not what it computes
            continue
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_diffs(a, b, f"{prefix}{k}.")
        elif a != b:
            diffs.append(f"{prefix}{k} {a!r} -> {b!r}")
    return diffs


__all__ = ["FORMAT", "FORMAT_VERSION", "DEFAULT_OUT", "REDISTRIBUTABLE", "METRIC_COLUMNS", "ROW_COLUMNS",
           "is_redistributable", "ships_checkpoints", "dataset_folder",
           "PrecomputedError", "TamperedArtifactError", "load_precomputed", "read_manifest", "write_results",
           "write_json", "seal_manifest", "sha256_file", "HISTORY_METRICS", "kept_in_history", "compact_history",
           "staleness", "stale_notice", "read_alignment", "key_parts", "redefined_runs"]
