"""The run store: the one place that writes and reads a run (docs/architecture.md section 2).

A saved run is a folder (``runs/<id>/`` in the app, ``train --out DIR`` on the command line) holding
``config.json`` (the exact RunConfig), ``metrics.json`` (``test/Recall@20`` ..., the per-epoch
history) and ``checkpoint.pt`` (weights, resume state, dataset fingerprint). A precomputed row
(``mambarec.artifacts``) is the same kind of thing without a folder. Both are read as a
``RunRecord``, so pages, tables and the recommender see one shape.

Listing runs imports no torch: checkpoints are written and read in ``mambarec.checkpoint``, imported
inside the functions that need it (it loads torch, which the app's first paint must not wait for).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mambarec.atomic import unwritable, write_atomically
from mambarec.config import RunConfig
from mambarec.config.params import EXECUTION_FIELDS, LENGTH_FIELDS, change_words
from mambarec.data.spec import dataset_slug
from mambarec.errors import UserError
from mambarec.lifeline import alive

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME, METRICS_NAME = "config.json", "metrics.json"
# metrics.json's mark of a run stopped by no one's hand: true for one listed from its last progress save after its
# process died (killed outright, or the server stopped with it); or why, in words (``save_run(interrupted=...)``)
INTERRUPTED = "interrupted"
STARTED_BY = "started_by"  # the label of the app session that started the run (random, never a name)
RUNS_DIR_ENV = "MAMBAREC_RUNS"
DEFAULT_RUNS_DIR = Path("runs")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class RunStoreError(UserError):
    """A run folder cannot be written, renamed or deleted as asked; the message says why."""


@dataclass(frozen=True)
class RunRecord:
    """One trained run, from a run folder or a precomputed row."""

    id: str  # folder name, or "<cell> s<seed>" for a precomputed row
    source: str  # "saved" | "precomputed"
    config: dict  # RunConfig.to_dict() (any version: ``run`` reads it)
    metrics: dict  # "test/Recall@20", "valid/NDCG@10", best_epoch, epochs_run, stopped_early, ...
    history: list = field(default_factory=list)  # one dict per evaluated epoch
    folder: Path | None = None
    checkpoint: Path | None = None
    cell: str | None = None  # grid cell, for precomputed rows
    dataset: str | None = None
    fingerprint: str | None = None

    @property
    def run(self) -> RunConfig:
        return RunConfig.from_dict(self.config)

    @property
    def seed(self) -> int | None:
        seed = self.metrics.get("seed", self.config.get("train", {}).get("seed"))
        return None if seed is None else int(seed)

    def test(self, metric: str) -> float | None:
        return self.metrics.get(f"test/{metric}")


def runs_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV, DEFAULT_RUNS_DIR))


GIVEN_ID = re.compile(r"^(?!\d{8}-\d{6}-)(?!uploaded-\d{8}-\d{6}-)")  # a run id a person chose (a rename)


def named_by_hand(run_id: str) -> bool:
    """Whether ``run_id`` is a name a person gave (a rename), not one ``new_run_id`` or an upload stamped."""
    return bool(GIVEN_ID.match(run_id))


SAFE_ID = re.compile(r"[^A-Za-z0-9._]")  # what a change's word may keep in a run id (its commas and spaces go)
ID_CHANGES_CHARS = 60  # at most this much of a run id names what differs from the preset; the label names all


def new_run_id(run: RunConfig, when: float | None = None) -> str:
    """A file-safe folder name that names what differs from the run's preset (``...-paper-use_mmd_off-r_16-s0-...``:
    a no-MMD run had been listed as ``...-paper-s0-...``, audit r74 item 12); the dataset part is ``dataset_slug``
    (a synthetic spec's ``/ ? & =`` go)."""
    label = run.variant if run.model_name == "mambarec" else run.model_name
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    return f"{stamp}-{dataset_slug(run.dataset)}-{label}{_id_changes(run)}-s{run.train.seed}-{os.getpid()}"


def _id_changes(run: RunConfig) -> str:
    """``-use_mmd_off-r_16`` for the fields ``setup_label`` names (their length aside), cut to ``ID_CHANGES_CHARS``
    with a count of the rest; empty for a preset as it is."""
    diffs = [SAFE_ID.sub("_", word) for word in change_words(run, EXECUTION_FIELDS + LENGTH_FIELDS, sep="_")]

    def joined(n: int) -> str:
        return "".join(f"-{part}" for part in diffs[:n] + ([f"and_{len(diffs) - n}_more"] if n < len(diffs) else []))

    kept = len(diffs)
    while kept and len(joined(kept)) > ID_CHANGES_CHARS + 1:  # + 1: the dash before the first
        kept -= 1
    return joined(kept)


def write_json(path: Path, data: dict) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True)))


# ---- writing --------------------------------------------------------------------------------------
def metrics_payload(result, run: RunConfig, dataset) -> dict:
    """``metrics.json`` of a finished or stopped run (``result``: a ``train.TrainResult``)."""
    out = {f"test/{k}": v for k, v in result.test.items()}
    out.update({f"valid/{k}": v for k, v in result.valid.items()})
    out.update(best_epoch=result.best_epoch, epochs_run=result.epochs_run, s_per_epoch=result.s_per_epoch,
               n_params=result.n_params, cancelled=result.cancelled, stopped_early=result.stopped_early,
               seed=run.train.seed, dataset=dataset.name, dataset_fingerprint=dataset.fingerprint(),
               history=result.history)
    return out


LOCK_NAME = ".train.lock"  # a `train` writing into the folder: "<process id>@<host>" (a bare id: this host's)
HOST = socket.gethostname()  # a runs folder shared across machines (NFS) holds other hosts' claims, unverifiable here
BUSY = "{folder}: another `train` (process {pid}) is writing there; wait for it to end or choose another --out"


@contextlib.contextmanager
def claimed(folder: Path):
    """Hold ``folder`` for one `train` from its start to its save: a second one into the same --out is refused
    before it trains (both used to train, and the second's result was thrown away at its save, or with
    --overwrite each replaced the other's files one by one). A claim whose process has ended is taken over."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with holding(folder / LOCK_NAME, lambda pid: BUSY.format(folder=folder, pid=pid)):
            yield folder
    finally:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # nothing was saved: leave no empty folder behind


@contextlib.contextmanager
def holding(lock: Path, busy: Callable[[str], str]):
    """Hold the file ``lock``, which names this process, for the block; refused with ``busy(holder)`` (its process
    id, and its host when not this one) while a living process holds it; a lock whose process has ended is taken
    over. The lock appears with its process id already in it (a hard link of a written file): created empty and
    written after, a second process starting at the same instant read no holder, took it for a dead one's and both
    went on (2 of 6 simultaneous `train --out SAME`, audit r60)."""
    for _ in range(2):
        if _take(lock):
            break
        holder = lock_owner(lock)
        if holder is not None and held(*holder):
            raise RunStoreError(busy(holder_words(*holder, lock))) from None
        lock.unlink(missing_ok=True)  # its process is gone: a run killed before it could let go
    else:
        raise RunStoreError(f"{lock.parent}: could not claim {lock.name} for this process; try again")
    try:
        yield
    finally:
        if lock_owner(lock) == (os.getpid(), HOST):
            lock.unlink(missing_ok=True)


def _take(lock: Path) -> bool:
    """Create ``lock`` holding this process id, atomically; False when it exists."""
    mine = lock.with_name(f"{lock.name}.{os.getpid()}.{HOST}")
    mine.write_text(f"{os.getpid()}@{HOST}")
    try:
        os.link(mine, lock)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: create, then write at once
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}@{HOST}")
        return True
    finally:
        mine.unlink(missing_ok=True)


def lock_owner(lock: Path) -> tuple[int, str] | None:
    """(process id, host) in the file ``lock``, or None (no such file, or not a claim); a bare process id, as
    claims were written before hosts were named, is this host's."""
    try:
        text = lock.read_text().strip()
    except OSError:
        return None
    pid, _, host = text.partition("@")
    return (int(pid), host or HOST) if pid.isdigit() else None


def held(pid: int, host: str) -> bool:
    """Whether a claim by process ``pid`` on ``host`` still holds: here, while that process lives; another host's
    cannot be checked from this one, so it holds (a runs folder shared across machines: a run training on one had
    read as dead on the other, which adopted it and took over its claim)."""
    return host != HOST or alive(pid)


def holder_words(pid: int, host: str, lock: Path) -> str:
    """A claim's holder in words: ``4242``, or ``4242 on host b``, with how to free a claim whose process is gone."""
    return str(pid) if host == HOST else (f"{pid} on host {host}; this machine cannot tell whether it still runs: "
                                          f"if it has ended, delete {lock}")


def other_claim(folder: Path) -> tuple[int, str] | None:
    """(process id, host) of another process whose claim on ``folder`` still holds (``held``), or None."""
    owner = lock_owner(folder / LOCK_NAME)
    return None if owner is None or owner == (os.getpid(), HOST) or not held(*owner) else owner


def claim_words(folder: Path) -> str | None:
    """Who holds ``folder``'s claim, in words (``holder_words``), when another process holds it; else None."""
    owner = other_claim(folder)
    return None if owner is None else holder_words(*owner, folder / LOCK_NAME)


def live_claim(folder: Path, here_only: bool = False) -> int | None:
    """The process id of another process that holds ``folder``'s claim (``other_claim``), or None; ``here_only``:
    only a living process of this host (what takes this machine's cores)."""
    owner = other_claim(folder)
    return None if owner is None or (here_only and owner[1] != HOST) else owner[0]


def refuse_if_claimed(folder: Path, what: str) -> None:
    """Refuse to ``what`` (rename, delete) a run folder that a living process is writing: renamed while a
    `train --resume` wrote it, a run split in two; deleted, its save brought it back (audit r60)."""
    holder = claim_words(folder)
    if holder is not None:
        raise RunStoreError(f"{folder.name} is being written by process {holder} (a run training or resuming "
                            f"into it): {what} it once that run has ended")


def check_writable(folder: Path, overwrite: bool = False, resuming: bool = False) -> None:
    """Refuse to replace an existing run folder unless asked to (``overwrite``) or continuing it (``resuming``)."""
    if folder.exists() and not folder.is_dir():
        raise RunStoreError(f"{folder} exists and is not a folder; choose another --out")
    holder = claim_words(folder) if folder.is_dir() else None
    if holder is not None:  # before suggesting --overwrite or --resume, which it refuses too
        raise RunStoreError(BUSY.format(folder=folder, pid=holder))
    if folder.is_dir() and any(p.name != LOCK_NAME for p in folder.iterdir()) and not (overwrite or resuming):
        what = "a saved run" if (folder / METRICS_NAME).is_file() else "files"
        resume = (", or --resume its checkpoint to continue it" if (folder / CHECKPOINT_NAME).is_file() else "")
        raise RunStoreError(f"{folder} already holds {what}; nothing was overwritten. Choose another --out or add "
                            f"--overwrite to replace it{resume}")
    _probe_writable(folder)


# A checkpoint holds the weights and, to resume, the last and best states and Adam's two moments: five copies
CHECKPOINT_COPIES = 5
CHECKPOINT_SLACK = 2**20  # the JSON files and the archive's own bytes


def check_room(folder: Path, state_bytes: int) -> None:
    """Refuse, before training, an ``--out`` whose disk cannot hold the checkpoint of a model whose state takes
    ``state_bytes``: a full disk found at the end loses the whole run (the save fails, the weights are gone)."""
    p = folder
    while not p.exists() and p != p.parent:
        p = p.parent
    need = CHECKPOINT_COPIES * state_bytes + CHECKPOINT_SLACK
    free = shutil.disk_usage(p).free
    if free < need:
        raise RunStoreError(f"{folder}: the run's checkpoint needs about {need / 2**20:.1f} MiB and only "
                            f"{free / 2**20:.1f} MiB are free there; free some space or choose another --out")


def _probe_writable(folder: Path) -> None:
    """Write a scratch file in ``folder`` (creating it and its parents for the test, removed after) so that a
    folder that cannot be written fails before a run trains, not when it is saved."""
    why = unwritable(folder)
    if why:
        raise RunStoreError(f"{folder} cannot be written ({why}); choose another --out")


def save_run(folder: Path, trainer, result, with_resume: bool = True, overwrite: bool = False,
             resuming: bool = False, interrupted: str | None = None, started_by: str = "") -> Path:
    """Write config.json, metrics.json and checkpoint.pt of a finished (or stopped) run; ``interrupted``: why a run
    stopped by no one's hand stopped (``INTERRUPTED``); ``started_by``: the app session's label (``STARTED_BY``),
    so that its owner is told of an interrupted run when back."""
    from mambarec.checkpoint import save_checkpoint  # lazy: torch-backed, kept off the light path

    folder = Path(folder)
    check_writable(folder, overwrite, resuming)
    folder.mkdir(parents=True, exist_ok=True)
    run, dataset = trainer.run, trainer.dataset
    metrics = metrics_payload(result, run, dataset)
    if interrupted:
        metrics[INTERRUPTED] = interrupted
    if started_by:
        metrics[STARTED_BY] = started_by
    try:
        save_checkpoint(folder / CHECKPOINT_NAME, run, trainer.model.state_dict(), metrics, dataset.name,
                        dataset.fingerprint(), resume=trainer.resume_state() if with_resume else None)
        write_json(folder / CONFIG_NAME, run.to_dict())
        write_json(folder / METRICS_NAME, metrics)  # last: its presence lists the run
    except (OSError, RuntimeError) as exc:  # a full disk surfaces from torch.save as RuntimeError("unexpected pos")
        free = shutil.disk_usage(folder).free if folder.exists() else None
        raise RunStoreError(
            f"{folder}: the run could not be saved ({exc.strerror if isinstance(exc, OSError) else exc}"
            f"{f'; {free / 2**20:.1f} MiB free there' if free is not None else ''}). A full disk is the usual "
            "cause: free some space or choose another --out (no file there was left half-written)"
        ) from exc
    return folder


def saved_copy(data: bytes, root: Path) -> Path | None:
    """The run folder under ``root`` whose checkpoint holds exactly ``data``, if any (files of another size are not
    read)."""
    if not root.is_dir():
        return None
    for path in sorted(root.glob(f"*/{CHECKPOINT_NAME}")):
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return path.parent
        except OSError:  # removed or unreadable meanwhile: not a copy to point at
            continue
    return None


def import_checkpoint(data: bytes, filename: str, dataset, root: Path | None = None) -> tuple[Path, bool]:
    """Validate checkpoint bytes against ``dataset`` and store them as a new run folder under ``root``.

    Returns the folder and whether it is new: the same bytes uploaded again return the run that holds them (three
    uploads of one file were three runs in every picker). Raises ``mambarec.checkpoint.CheckpointError`` (with the
    reason) for a file that is not a valid checkpoint of this dataset; nothing is written then.
    """

    from mambarec.checkpoint import load_checkpoint  # lazy: torch-backed, kept off the light path

    buf = io.BytesIO(data)
    buf.name = filename
    ckpt = load_checkpoint(buf, expect_fingerprint=dataset.fingerprint())
    from mambarec.checkpoint import load_model  # lazy: torch-backed
    load_model(ckpt, dataset)  # its weights must fit the model its config describes, or the pages fail later
    metrics = dict(ckpt["metrics"], dataset=ckpt["dataset"] or dataset.name,
                   dataset_fingerprint=ckpt["dataset_fingerprint"])
    root = root or runs_dir()
    copy = saved_copy(data, root)
    if copy is not None:
        return copy, False
    stem = SAFE_NAME.sub("_", Path(filename).stem)[:40] or "checkpoint"
    base = root / f"uploaded-{time.strftime('%Y%m%d-%H%M%S')}-{stem}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):  # the same file uploaded twice within a second gets its own folder
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir(exist_ok=False)
            break
        except FileExistsError:
            continue
    else:
        raise RunStoreError(f"{base}: could not find a free folder name for the upload")
    try:
        (folder / CHECKPOINT_NAME).write_bytes(data)
        write_json(folder / CONFIG_NAME, ckpt["run"].to_dict())
        write_json(folder / METRICS_NAME, metrics)  # last: its presence lists the run
    except BaseException:  # a full disk or an interrupt: no half-written folder is left to list
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, True


__all__ = ["RunRecord", "RunStoreError", "CHECKPOINT_NAME", "runs_dir", "new_run_id", "named_by_hand",
           "metrics_payload", "save_run",
           "import_checkpoint",
           "check_writable", "check_room", "claimed", "holding", "lock_owner", "held",
           "HOST", "other_claim", "claim_words",
           "refuse_if_claimed", "LOCK_NAME",
           "METRICS_NAME", "CONFIG_NAME", "write_json", "INTERRUPTED", "STARTED_BY"]
