"""A run while it trains, and after its writer died: periodic progress saves and their adoption.

``Trainer.fit`` calls ``Autosave`` at each epoch's end (``train --save-every``, the app's live runs every
``$MAMBAREC_SAVE_EVERY`` seconds); a progress save is a checkpoint in the run folder without metrics.json, so the
folder is not listed as a run until it ends. When its writer dies outright (the out-of-memory killer, a server
killed with its workers), ``adopt_progress`` lists the last save as a stopped run, and ``adopt_orphans`` finds such
folders by their claim (``mambarec.store.claimed``) naming a process that is gone. The run store
(``mambarec.store``) stays the one place that lists, reads and writes finished runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mambarec.atomic import temporary_name
from mambarec.store import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    HOST,
    INTERRUPTED,
    LOCK_NAME,
    METRICS_NAME,
    held,
    lock_owner,
    metrics_payload,
    runs_dir,
    write_json,
)


def save_progress(folder: Path, trainer) -> Path:
    """A running run's checkpoint in ``folder`` (mid-fit, at ``Trainer.fit``'s ``on_epoch_end``): the best weights
    so far and the state to resume exactly; no metrics.json, so the folder is not listed as a run until its end.
    A run killed outright (SIGKILL, out of memory) resumes from it with ``train --resume``."""
    from mambarec.checkpoint import save_checkpoint  # lazy: torch-backed, kept off the light path

    run, dataset = trainer.run, trainer.dataset
    return save_checkpoint(Path(folder) / CHECKPOINT_NAME, run, trainer.best_state,
                           metrics_payload(trainer.result_so_far(), run, dataset), dataset.name,
                           dataset.fingerprint(), resume=trainer.resume_state())


class Autosave:
    """``Trainer.fit``'s ``on_epoch_end`` for a run that must survive its process: ``save_progress`` into ``folder``
    at an epoch's end once ``every_s`` seconds (0 or less: never) have passed since the start or the last save.
    ``saved`` says whether one was written (the final ``save_run`` then continues the folder)."""

    def __init__(self, folder: Path, trainer, every_s: float) -> None:
        self.folder, self.trainer, self.every_s = Path(folder), trainer, every_s
        self.saved, self._last = False, time.monotonic()

    def __call__(self) -> None:
        if self.every_s > 0 and time.monotonic() - self._last >= self.every_s:
            save_progress(self.folder, self.trainer)
            self.saved, self._last = True, time.monotonic()


def adopt_progress(folder: Path, writer_pid: int | None = None) -> dict | None:
    """List a run whose process (``writer_pid``) died mid-fit (killed, out of memory) after a ``save_progress``: its
    config.json and metrics.json are written from the progress checkpoint's own (the best state then, marked
    cancelled), so the folder reads as a run stopped at that save; the half-written checkpoint of a death mid-save
    and the writer's claim are removed. Returns the metrics the folder is listed with (also when it already was a
    run: another caller adopted it first), or None when it holds no progress. The checkpoint is loaded safely
    (``mambarec.checkpoint``) and left as it is: it still resumes with ``train --resume``."""
    from mambarec.checkpoint import CheckpointError, load_checkpoint  # lazy: torch-backed

    folder = Path(folder)
    if writer_pid is not None:  # what the dead writer left: a half-written checkpoint, its claim
        temporary_name(folder / CHECKPOINT_NAME, writer_pid).unlink(missing_ok=True)
        if lock_owner(folder / LOCK_NAME) == (writer_pid, HOST):
            (folder / LOCK_NAME).unlink(missing_ok=True)
        if folder.is_dir() and not any(folder.iterdir()):  # it died before its first save: leave no empty folder
            folder.rmdir()
            return None
    if (folder / METRICS_NAME).is_file():
        return json.loads((folder / METRICS_NAME).read_text())
    if not (folder / CHECKPOINT_NAME).is_file():
        return None
    try:
        ckpt = load_checkpoint(folder / CHECKPOINT_NAME)
    except CheckpointError:  # damaged: nothing to list (a save cut short leaves the previous one whole, not this)
        return None
    metrics = {**ckpt["metrics"], INTERRUPTED: True}  # stopped, and said so, but by no one's hand
    write_json(folder / CONFIG_NAME, ckpt["run"].to_dict())
    write_json(folder / METRICS_NAME, metrics)  # last: its presence lists the run
    return metrics


def adopt_orphans(root: Path | None = None) -> list[Path]:
    """``adopt_progress`` every run folder under ``root`` whose writer died with it: a progress checkpoint, no
    metrics.json, and a claim (``claimed``) naming a process that is gone (a machine or server killed together with
    its training processes, a `train` killed outright). A folder whose writer lives, or that was never claimed, is
    left alone. Returns the folders now listed as runs."""
    root = Path(root) if root is not None else runs_dir()
    out = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        try:
            if (folder / METRICS_NAME).is_file() or not (folder / CHECKPOINT_NAME).is_file():
                continue
            holder = lock_owner(folder / LOCK_NAME)  # another host's run is never taken for dead (``held``)
            if holder is not None and not held(*holder) and adopt_progress(folder, holder[0]) is not None:
                out.append(folder)
        except OSError:  # a folder it may not read or write: ``catalog.list_runs`` names it
            continue
    return out


__all__ = ["save_progress", "Autosave", "adopt_progress", "adopt_orphans"]
