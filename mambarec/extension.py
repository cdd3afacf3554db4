"""Extending a precomputed folder (``precompute --extend`` and ``--refresh-stale``): what the folder keeps, what it
must agree on with the command, and its manifest afterwards.

An extension keeps the folder's runs and trains only what it lacks (and, with ``--refresh-stale``, the runs of the
cells whose numerics probes moved). It must see the same data and keep one budget per dataset, or REPORT.md would
compare runs of two caps as one setup; the cells it keeps keep the probe of the code that trained them.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from mambarec.artifacts import PrecomputedError, dataset_folder, key_parts, load_precomputed, staleness
from mambarec.grid import budget_for


def previous_folder(out: Path, tmp: Path, refresh_stale: bool, progress: bool,
                    retrainable: set[tuple[str, str]]) -> dict | None:
    """For ``extend``: the folder ``out`` copied into ``tmp``, without the runs of cells whose probes moved
    (``refresh_stale``; they are listed in ``redo`` with their seeds), or refused when stale. Refused too when a
    stale run's (dataset, cell) is not among ``retrainable`` (what this command trains: its --datasets that
    loaded and its --only): it would leave the folder without being trained again."""

    if not (out / "manifest.json").is_file():
        return None
    prev = load_precomputed(out)
    found = staleness(prev["manifest"], progress)
    if not found.current and not refresh_stale:
        raise PrecomputedError(f"{out} is stale ({found.message()}); extending it would mix the numbers of two "
                               "codes: add --refresh-stale to retrain the cells that moved, or regenerate it")
    moved = found.stale_cells
    left = sorted({(r["dataset"], r["cell"]) for r in prev["results"] if r["cell"] in moved} - retrainable)
    if left:
        named = ", ".join(f"{c} on {d}" for d, c in left[:6]) + (f" and {len(left) - 6} more" if len(left) > 6 else "")
        raise PrecomputedError(f"{out}: the stale runs of {named} are outside this command's --datasets / --only "
                               "(or their data did not load), so --refresh-stale would drop them without training "
                               "them again; include them, or run --refresh-stale without --only")
    shutil.copytree(out, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("manifest.json", "REPORT.md"))
    redo: dict[tuple[str, str], list[int]] = {}
    for r in prev["results"]:
        if r["cell"] in moved:
            redo.setdefault((r["dataset"], r["cell"]), []).append(int(r["seed"]))
            stem = f"{r['cell']}_s{r['seed']}"
            for sub, ext in (("alignment", "json"), ("checkpoints", "pt")):
                (tmp / sub / dataset_folder(r["dataset"]) / f"{stem}.{ext}").unlink(missing_ok=True)
    prev["results"] = [r for r in prev["results"] if r["cell"] not in moved]
    prev["manifest"]["runs"] = {k: v for k, v in prev["manifest"]["runs"].items() if key_parts(k)[1] not in moved}
    prev["redo"] = redo
    return prev


def kept_probes(prev: dict, today: dict) -> dict:
    """An extended folder's probes: the stored one of every cell whose runs were kept (today's is within tolerance
    of it, or the folder was refused as stale), today's for the cells retrained (``redo``) or new to the folder. A
    ``--refresh-stale`` that retrained nothing had moved every stored probe to today's code, so that changes each
    within tolerance of the last could drift without end from the code that trained the runs (audit r73)."""
    stored = prev["manifest"].get("probes", {})
    retrained = {cell for _, cell in prev.get("redo") or {}}
    return {cell: stored[cell] if cell in stored and cell not in retrained else probe
            for cell, probe in today.items()}


def check_extension(out: Path, prev: dict | None, fingerprints: dict[str, str], epochs: int | None) -> None:
    """An extended folder's datasets must be the data its runs saw, and its runs one budget per dataset: an
    ``--extend --epochs 5`` into a folder of 2-epoch runs wrote "at most 5 epochs" over all of them in REPORT.md and
    compared runs of both caps as one setup (audit r73)."""
    for name in fingerprints if prev else ():
        old = prev["manifest"]["datasets"].get(name, {}).get("fingerprint")
        if old not in (None, fingerprints[name]):
            raise PrecomputedError(f"{out}: {name} has changed since its runs were computed (fingerprint {old}, now "
                                   f"{fingerprints[name]}); regenerate without --extend")
        held = prev["manifest"].get("budgets", {}).get(name)
        asked = dataclasses.asdict(budget_for(name, epochs))
        if held is not None and {k: asked.get(k) for k in held} != held:  # (the fields its version stored)
            flag = (f"--epochs {held['epochs']}" if held.get("epochs") != budget_for(name).epochs
                    else "no --epochs (the grid's own budget)")
            raise PrecomputedError(
                f"{out}: its runs on {name} were trained with at most {held.get('epochs')} epochs and patience "
                f"{held.get('patience')}, and this command asks for at most {asked['epochs']} and patience "
                f"{asked['patience']}; a folder holds one budget per dataset, so its runs stay comparable. Extend it "
                f"with {flag}, or write the new budget to another --out")


def merge_manifest(prev: dict | None, new: dict) -> dict:
    """The manifest of an extended folder: the union of the previous runs, cells, datasets and budgets."""
    if prev is None:
        return new
    merged = dict(new)
    for key in ("cells", "datasets", "budgets"):
        merged[key] = {**prev.get(key, {}), **new[key]}
    merged["seeds"] = sorted(set(prev.get("seeds", [])) | set(new["seeds"]))
    merged["only"] = None if prev.get("only") is None else sorted(set(prev["only"]) | set(new["only"] or []))
    merged["wall_time_s"] = prev.get("wall_time_s", 0.0) + new["wall_time_s"]
    merged["machine"] = prev.get("machine", new["machine"])
    return merged
