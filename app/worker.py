"""The process a live run trains in: one per run, forked from a server that already imported torch.

A run trained in the app's own process shares Python's interpreter lock with every page the server
draws for every session; each refresh of a page then stalls the training loop between torch calls
(an ml100k epoch took 4x longer with a 1-second progress refresh). In its own process a run only
shares the CPU. This module imports no Streamlit; ``app.jobs`` starts it and reads its messages:

* ``("built", n_params)`` once the model is built;
* ``("epoch", row)`` after each evaluated epoch (``app.jobs.event_row``);
* ``("result", fields, saved)`` when the run ended (``TrainResult`` as a dict);
* ``("error", message, traceback)`` when it failed.

While it trains, the worker saves its progress every ``$MAMBAREC_SAVE_EVERY`` seconds (``mambarec.progress.Autosave``,
as ``train --save-every`` does), so that a worker killed outright (the out-of-memory killer) loses at most that much:
the server lists the last save as a stopped run (``app.jobs``), and one killed with its server is listed by the next
server that shows the runs (its claim on the folder names a process that is gone: ``mambarec.progress.adopt_orphans``).

A run outlives no server, and no server's end loses a run: when the server goes (stopped with Ctrl-C or SIGTERM,
whereupon multiprocessing sends its daemon workers SIGTERM and waits for them; or killed, whereupon the next
report finds the pipe closed) the worker stops as the Stop button does, keeping the best state so far, and saves
the run where the server would have listed it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import traceback
from pathlib import Path

import torch

from app.errors import ADVISED, said
from mambarec.config import RunConfig
from mambarec.progress import Autosave
from mambarec.store import claimed, save_run
from mambarec.train import Trainer

THREADS_ENV = "MAMBAREC_TORCH_THREADS"
# torch's intra-op threads per run. One: runs train side by side, and a busy machine does not make
# spinning OpenMP threads fight (2 threads on 2 loaded cores measured 10-20x slower).
DEFAULT_TORCH_THREADS = 1
SAVE_EVERY_ENV = "MAMBAREC_SAVE_EVERY"
# Seconds between progress saves of a live run; 0 or less: none. An ml100k checkpoint (~50 MB) takes well under a
# second to write, under 1% of this; a live run of the paper's model on ml100k trains for several minutes.
DEFAULT_SAVE_EVERY_S = 120.0
# how Compare tells a run whose server went (stopped, or killed) from one stopped by hand (audit r59, item 10)
SERVER_GONE = "its server stopped; its best state so far was kept"


def use_threads() -> None:
    """Set torch's intra-op thread count for this process (``$MAMBAREC_TORCH_THREADS``, default 1)."""
    n = int(os.environ.get(THREADS_ENV, DEFAULT_TORCH_THREADS))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def event_row(event) -> dict:
    """One row of a job's progress: what the Train page draws, from a trainer's ``EpochEvent``."""
    return {"epoch": event.epoch, "elapsed_s": event.elapsed_s, "epoch_s": event.epoch_s, "lr": event.lr,
            **{f"loss/{k}": v for k, v in event.losses.items()},
            "valid/Recall@20": event.valid.get("Recall@20"), "best_epoch": event.best_epoch}


class Reporter:
    """The worker's side of the pipe. Once the server is gone (the pipe broke, or SIGTERM arrived) it says so
    through ``gone``, which the trainer polls with the Stop button's event, and sends nothing more."""

    def __init__(self, conn, stop) -> None:
        self.conn, self.stop, self.gone = conn, stop, False

    def send(self, message: tuple) -> None:
        if self.gone:
            return
        try:
            self.conn.send(message)
        except (BrokenPipeError, ConnectionError, EOFError, OSError):
            self.gone = True

    def should_stop(self) -> bool:
        return self.gone or self.stop.is_set()

    def on_sigterm(self, signum, frame) -> None:  # a flag only: safe at any point of the training loop
        self.gone = True


def train_job(run_json: str, dataset, folder: str, env: dict, conn, stop, owner: str = "") -> None:
    """Train ``run_json`` on ``dataset``, save it to ``folder``, report through ``conn``; ``stop``: an Event;
    ``owner``: the label of the session that started it, saved with the run."""
    report = Reporter(conn, stop)
    signal.signal(signal.SIGTERM, report.on_sigterm)
    try:
        os.environ.update(env)  # the server's data, cache and runs folders as they are now
        use_threads()
        trainer = Trainer.for_run(RunConfig.from_dict(json.loads(run_json)), dataset)
        report.send(("built", trainer.model.n_parameters()))
        # claimed: a folder whose worker died with the server (no one left to list it) is known by its dead claim
        with claimed(Path(folder)):
            autosave = Autosave(Path(folder), trainer, float(os.environ.get(SAVE_EVERY_ENV, DEFAULT_SAVE_EVERY_S)))
            result = trainer.fit(on_event=lambda e: report.send(("epoch", event_row(e))),
                                 should_stop=report.should_stop, on_epoch_end=autosave)
            saved = bool(result.history)
            if saved:  # stopped before the first epoch ended: nothing to keep
                save_run(Path(folder), trainer, result, resuming=autosave.saved,
                         interrupted=SERVER_GONE if report.gone and not stop.is_set() else None, started_by=owner)
        report.send(("result", dataclasses.asdict(result), saved))
    except BaseException as exc:  # noqa: BLE001  (the server must learn why; a bug report needs the stack)
        report.send(("error", said(exc), "" if isinstance(exc, ADVISED) else traceback.format_exc()))
    finally:
        conn.close()
