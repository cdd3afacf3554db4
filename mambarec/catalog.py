"""Reading the runs back: one saved run folder (``read_run``), every run folder of a runs folder (``list_runs``,
which names the folders it cannot read with what to do), and a precomputed folder's rows as the same records
(``precomputed_records``); renaming and deleting a saved run (``rename_run``, ``delete_run``), which say so when
another tab, session or process renamed or deleted it first. Writing runs is ``mambarec.store``'s.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

from mambarec.store import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    SAFE_NAME,
    RunRecord,
    RunStoreError,
    claim_words,
    live_claim,
    refuse_if_claimed,
    runs_dir,
)


def read_run(folder: Path) -> RunRecord:
    """The run saved in ``folder`` (raises OSError or ValueError when it is not one, or when its metrics.json holds
    a metric that is not a finite number: a damaged or edited file, which the newest-copy rule would otherwise pick
    over a sound copy of the same run)."""
    folder = Path(folder)
    config = json.loads((folder / CONFIG_NAME).read_text())
    metrics = json.loads((folder / METRICS_NAME).read_text())
    broken = [k for k, v in metrics.items() if k.startswith(("test/", "valid/")) and isinstance(v, float)
              and not math.isfinite(v)]
    if broken:
        raise ValueError(f"{METRICS_NAME} holds {metrics[broken[0]]} for {broken[0]}"
                         + (f" and {len(broken) - 1} more" if len(broken) > 1 else ""))
    ckpt = folder / CHECKPOINT_NAME
    return RunRecord(id=folder.name, source="saved", config=config,
                     metrics={k: v for k, v in metrics.items() if k != "history"},
                     history=metrics.get("history", []), folder=folder, checkpoint=ckpt if ckpt.is_file() else None,
                     dataset=metrics.get("dataset", config.get("dataset")),
                     fingerprint=metrics.get("dataset_fingerprint"))


def list_runs(root: Path | None = None, unreadable: list[tuple[Path, str]] | None = None,
              busy: list[tuple[Path, str]] | None = None) -> list[RunRecord]:
    """Every run folder under ``root`` (newest first); folders that are not runs are skipped, and so are run folders
    that cannot be read (a damaged metrics.json, a folder without read permission, a name that is not UTF-8), each
    added to ``unreadable`` with the reason and what to do when it is given, by a name that can be printed. One such
    folder never hides the rest: it had crashed ``compare`` and the Compare page (audit r59). A run another process
    is writing (a `train --resume` continuing it) is left out too, and added to ``busy`` with its writer: its
    metrics.json is the state before the resume, which ``compare`` had shown as an ended run (audit r73)."""
    root = Path(root) if root is not None else runs_dir()
    out: list[RunRecord] = []
    if not root.is_dir():
        return out

    def left_out(folder: Path, exc: Exception) -> None:
        if unreadable is not None:
            unreadable.append((folder.with_name(printable_name(folder)), unreadable_reason(folder, exc)))

    found = []
    for folder in root.iterdir():
        try:
            folder.name.encode()
            if (folder / METRICS_NAME).is_file():
                found.append(((folder / METRICS_NAME).stat().st_mtime_ns, folder))
        except (OSError, UnicodeError) as exc:
            left_out(folder, exc)
    for _, folder in sorted(found, key=lambda pair: pair[0], reverse=True):
        writer = claim_words(folder)
        if writer is not None:
            if busy is not None:
                busy.append((folder.with_name(printable_name(folder)), writer))
            continue
        try:
            out.append(read_run(folder))
        except (OSError, ValueError) as exc:  # one renamed or deleted since the listing is not damaged (audit r60)
            if not (isinstance(exc, FileNotFoundError) and not folder.exists()):
                left_out(folder, exc)
    return out


def unreadable_reason(folder: Path, exc: Exception) -> str:
    """Why a run folder cannot be listed, and what to do about it."""
    if isinstance(exc, UnicodeError):
        return "its name is not valid UTF-8, which the tables cannot show: rename the folder"
    if isinstance(exc, PermissionError):
        return (f"permission denied: make it readable (chmod -R u+rX '{printable_name(folder)}') or move it out of "
                "the runs folder")
    return (f"{type(exc).__name__}: {exc}; a damaged or edited {CONFIG_NAME} or {METRICS_NAME}: retrain the run, "
            "or delete the folder or move it out of the runs folder")


def printable_name(folder: Path) -> str:
    """A folder's name as it can be printed: bytes that are not UTF-8 as \\xNN."""
    return os.fsencode(folder.name).decode("utf-8", "backslashreplace")


def precomputed_records(pre: dict) -> list[RunRecord]:
    """The rows of a loaded precomputed folder (``artifacts.load_precomputed``) as RunRecords."""
    manifest = pre["manifest"]
    runs = manifest.get("runs", {})
    fingerprints = {name: entry.get("fingerprint") for name, entry in manifest.get("datasets", {}).items()}
    out = []
    for row in pre["results"]:
        ds, cell, seed = row["dataset"], row["cell"], int(row["seed"])
        config = runs.get(f"{ds}/{cell}/s{seed}", {"model_name": row.get("model_name"), "model": {}, "train": {}})
        metrics = {k: v for k, v in row.items() if k not in ("history", "all_metrics")}
        metrics.update(row.get("all_metrics", {}))
        ckpt = pre["checkpoints"].get(ds, {}).get(f"{cell}_s{seed}")
        out.append(RunRecord(id=f"{cell} s{seed}", source="precomputed", config=config, metrics=metrics,
                             history=row.get("history", []), checkpoint=Path(ckpt) if ckpt else None, cell=cell,
                             dataset=ds, fingerprint=fingerprints.get(ds)))
    return out


def model_name_of(record: RunRecord) -> str:
    """The model of a record, read through the config version it was saved with."""
    try:
        return record.run.model_name
    except ValueError:
        return str(record.config.get("model_name", "?"))


def live_writers(root: Path) -> dict[str, int]:
    """The run folders of ``root`` that a living process of this host other than this one is writing (a `train` from
    the command line, another server's run): folder name -> that process's id. Another host's run does not use this
    machine's cores."""
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return {}
    return {e.name: pid for e in entries if (pid := live_claim(Path(e.path), here_only=True)) is not None}


NAME_BYTES = 200  # a run name's longest (file systems allow 255 bytes a name; the app shows it in pickers)


def rename_run(folder: Path, new_name: str) -> Path:
    """Rename a saved run folder (the id the pickers show); refuses names that exist or are not file-safe."""
    folder = Path(folder)
    name = new_name.strip()
    if not name or SAFE_NAME.search(name) or name in (".", ".."):
        raise RunStoreError(f"{new_name!r} is not a usable run name: use letters, digits, '.', '_' and '-'")
    if len(name.encode()) > NAME_BYTES:
        raise RunStoreError(f"{name[:40]}...: a run name has at most {NAME_BYTES} characters; choose a shorter one")
    target = folder.with_name(name)
    if target.exists():
        raise RunStoreError(f"a run named {name!r} already exists; choose another name")
    refuse_if_gone(folder, "renamed")
    if not (folder / METRICS_NAME).is_file():
        raise RunStoreError(f"{folder} is not a saved run")
    refuse_if_claimed(folder, "rename")
    try:
        os.replace(folder, target)
    except FileNotFoundError as exc:  # renamed or deleted since the check, by another process
        raise RunGoneError(gone(folder, "renamed")) from exc
    return target


def delete_run(folder: Path) -> None:
    """Delete a saved run folder (only a folder that is one)."""
    folder = Path(folder)
    refuse_if_gone(folder, "deleted")
    if not (folder / METRICS_NAME).is_file() or not (folder / CONFIG_NAME).is_file():
        raise RunStoreError(f"{folder} is not a saved run; nothing was deleted")
    refuse_if_claimed(folder, "delete")
    try:
        shutil.rmtree(folder)
    except FileNotFoundError as exc:  # another delete of the same run got there first: its files vanished here
        raise RunGoneError(gone(folder, "deleted")) from exc


class RunGoneError(RunStoreError):
    """The run's folder is no longer there: renamed or deleted by another tab, session or process."""


def gone(folder: Path, what: str) -> str:
    return (f"the run {folder.name!r} was renamed or deleted meanwhile (in another tab, session or process), so "
            f"this one was not {what}")


def refuse_if_gone(folder: Path, what: str) -> None:
    """A RunGoneError that says so when ``folder`` no longer exists: "not a saved run" had blamed the run (audit
    r60, item 7: two sessions renaming one run at once)."""
    if not os.path.lexists(folder):
        raise RunGoneError(gone(folder, what))


__all__ = ["read_run", "list_runs", "unreadable_reason", "printable_name", "precomputed_records", "model_name_of",
           "live_writers", "rename_run", "delete_run", "RunGoneError", "refuse_if_gone", "NAME_BYTES"]
