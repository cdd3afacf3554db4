"""The training loop (docs/model.md section 6, docs/protocol.md section 5), shared by the CLI, the app and
``precompute``.

Uniform negative sampling (one negative per positive, never a training positive of the user),
Adam with the smooth decay lr x decay^(epoch / decay_epochs) stepped every epoch, evaluation on
valid each epoch, early stopping on valid Recall@20 (stop after patience + 1 epochs without a
strict improvement), test metrics of the best valid epoch. Every random draw comes from the run's
own generator (on the CPU, whatever the device), so two runs training at once stay deterministic and
a CUDA run draws what a CPU run of the seed draws. The trainer receives a ready model
(``mambarec.model.zoo.build_model``) and the generator that initialized it, calls the model's
``on_epoch_start`` hook before each epoch, sends one ``EpochEvent`` per epoch to ``on_event`` and polls
``should_stop`` between batches (cooperative cancel keeps the best state so far; an epoch cut short, by
``should_stop`` or Ctrl-C, is rewound to its start, so a resumed run repeats it exactly).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mambarec import heap
from mambarec.config import RunConfig
from mambarec.data.dataset import Dataset, DatasetError
from mambarec.evaluate import evaluate_model
from mambarec.graphs import Graphs
from mambarec.model.base import Recommender
from mambarec.model.dream import compile_dream
from mambarec.model.zoo import build_model, run_generator
from mambarec.optim import Adam, RateSchedule

SELECT_METRIC = "Recall@20"  # model selection and early stopping (docs/protocol.md section 5)
MAX_RESAMPLE_ROUNDS = 100  # negative re-draws before giving up on users who rated nearly everything
# Up to this many (user, item) cells the sampler tests membership in a dense table (one byte a cell: 64 MiB at
# most; ml100k needs 1.3 MB), larger catalogs by binary search in the sorted keys (Baby: 137 M cells)
DENSE_MEMBERSHIP_MAX_CELLS = 1 << 26


@dataclass(frozen=True)
class EpochEvent:
    epoch: int
    losses: dict[str, float]
    valid: dict[str, float]
    test: dict[str, float]
    elapsed_s: float
    epoch_s: float
    lr: float
    best_epoch: int
    is_best: bool


@dataclass(frozen=True)
class TrainResult:
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict]
    epochs_run: int
    s_per_epoch: float
    n_params: int
    cancelled: bool = False
    stopped_early: bool = False


def lr_factor(decay: float, every: int, warmup: int):
    """The learning rate's factor at epoch e (from 0): a linear warm-up over ``warmup`` epochs, then the smooth
    decay decay ** (e / every) of the released code (docs/model.md section 6)."""

    def factor(e: int) -> float:
        ramp = min(1.0, (e + 1) / warmup) if warmup else 1.0
        return ramp * decay ** (e / every)

    return factor


class NegativeSampler:
    """Uniform negatives that are not training positives of the user, drawn in vectorized rounds on the
    CPU generator and moved to the users' device.

    Equivalent rewrite: whether a (user, item) key is a training positive is read from a dense table of every
    cell when the catalog is small enough (``DENSE_MEMBERSHIP_MAX_CELLS``), by binary search in the sorted keys
    otherwise; both give the same answer, so the same draws: on ml100k the binary search took ~70% of sampling.
    """

    def __init__(self, train: np.ndarray, n_items: int, device: torch.device) -> None:
        self.n_items = n_items
        keys = np.unique(train[:, 0].astype(np.int64) * n_items + train[:, 1])
        full = np.flatnonzero(np.bincount(keys // n_items) >= n_items)
        if len(full):
            raise DatasetError(f"user {int(full[0])} (and {len(full) - 1} more) has every item as a training "
                               "positive: no negative can be drawn for BPR; drop such users from the data")
        self.keys = torch.from_numpy(keys).to(device)
        cells = (int(keys[-1]) // n_items + 1) * n_items if len(keys) else 0  # the rows of users with positives
        self.table = None
        if 0 < cells <= DENSE_MEMBERSHIP_MAX_CELLS:
            self.table = torch.zeros(cells, dtype=torch.bool, device=device)
            self.table[self.keys] = True

    def _is_positive(self, query: torch.Tensor) -> torch.Tensor:
        """Membership of each key in the training positives (see the class doc)."""
        if len(self.keys) == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        if self.table is not None:  # a user past the table's last row has no positives
            inside = query < len(self.table)
            return self.table.index_select(0, torch.where(inside, query, 0)) & inside
        return self.search(query)

    def search(self, query: torch.Tensor) -> torch.Tensor:
        """Membership in the sorted keys by binary search (no sort of the keys on every call)."""
        at = torch.searchsorted(self.keys, query).clamp_(max=len(self.keys) - 1)
        return self.keys[at] == query

    def __call__(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        neg = torch.randint(0, self.n_items, users.shape, generator=generator).to(users.device)
        for _ in range(MAX_RESAMPLE_ROUNDS):
            clash = self._is_positive(users * self.n_items + neg)
            if not clash.any():
                break
            neg[clash] = torch.randint(0, self.n_items, (int(clash.sum()),), generator=generator).to(users.device)
        return neg


class Trainer:
    """Trains one run: the model, its optimizer and scheduler, the run's generator, the early-stopping state.

    ``model`` must come from ``build_model(run, dataset, generator=generator)``: the generator then
    continues where initialization left it, and the run's numbers depend on its seed alone.
    ``Trainer.for_run`` does both.
    """

    def __init__(self, model: Recommender, run: RunConfig, dataset: Dataset, generator: torch.Generator) -> None:
        self.model, self.run, self.dataset, self.generator = model, run, dataset, generator
        self.device = model.device
        if run.train.compile == "dream":
            compile_dream(model)
        heap.retain_freed_memory()  # each step's temporaries reuse the last step's pages (mambarec/heap.py)
        tc = run.train
        params = [p for p in self.model.parameters() if p.requires_grad]
        # torch's fused Adam kernel (the same update rule in one kernel per step, 7x faster on the 4096-d feature
        # table), called without torch.optim, whose import of torch._dynamo cost each process 1.5 s (mambarec/optim.py)
        self.optimizer = Adam(params, lr=tc.learning_rate) if params else None
        self.scheduler = (RateSchedule(self.optimizer, lr_factor(tc.lr_decay, tc.lr_decay_epochs, tc.warmup_epochs))
                          if self.optimizer else None)
        self.sampler = NegativeSampler(dataset.train, dataset.n_items, self.device)
        # int64: user * n_items (the sampler's keys) overflows int32 ids at MovieLens-20M's sizes
        self.train_pairs = torch.from_numpy(dataset.train.astype(np.int64, copy=False)).to(self.device)
        if self.model.trainable and len(dataset.valid) == 0:
            raise DatasetError(f"{dataset.source or dataset.name}: no validation interactions (x_label 1); model "
                               "selection and early stopping need them and never fall back to test (docs/protocol.md "
                               "section 5). Split the data again with a valid part (`python -m mambarec data build` "
                               "gives each user one)")
        self.matrices = {s: dataset.matrix(s) for s in ("train", "valid", "test")}
        self.epoch = 0
        self.best_epoch, self.best_score, self.bad_epochs = 0, -1.0, 0
        self.best_valid: dict[str, float] = {}
        self.best_test: dict[str, float] = {}
        self.best_state = copy.deepcopy(self.model.state_dict())
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self.last_state: dict | None = None

    @classmethod
    def for_run(cls, run: RunConfig, dataset: Dataset, graphs: Graphs | None = None) -> Trainer:
        """A new run: its generator, its model built and initialized from it, and the trainer."""
        generator = run_generator(run)
        return cls(build_model(run, dataset, generator=generator, graphs=graphs), run, dataset, generator)

    # ---- evaluation ---------------------------------------------------------------------
    def evaluate(self, splits: tuple[str, ...] = ("valid", "test"), per_user: bool = False) -> dict[str, dict]:
        """The model's metrics on ``splits`` now (``mambarec.evaluate``); leaves the model in eval mode."""
        out = evaluate_model(self.model, self.dataset, splits, per_user, self.run.train.eval_batch_users,
                             matrices=self.matrices)
        self.model.eval()
        return out

    # ---- training -----------------------------------------------------------------------
    def train_epoch(self, should_stop: Callable[[], bool]) -> tuple[dict[str, float], bool]:
        self.model.train()
        bs = self.run.train.batch_size
        perm = torch.randperm(len(self.train_pairs), generator=self.generator).to(self.device)
        sums: dict[str, float] = {}
        n_batches = 0
        for start in range(0, len(perm), bs):
            if should_stop():
                return self._mean(sums, n_batches), True
            batch = self.train_pairs[perm[start: start + bs]]
            users, pos = batch[:, 0], batch[:, 1]
            neg = self.sampler(users, self.generator)
            parts = self.model.loss(users, pos, neg)
            self.optimizer.zero_grad(set_to_none=True)
            parts["total"].backward()
            self.optimizer.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n_batches += 1
            if not torch.isfinite(parts["total"]).item():
                raise FloatingPointError(
                    f"the loss became {float(parts['total'].detach())} at epoch {self.epoch + 1}; lower learning_rate "
                    "or the loss weights (lambda_mmd, lambda_cl)"
                )
        return self._mean(sums, n_batches), False

    @staticmethod
    def _mean(sums: dict[str, float], n: int) -> dict[str, float]:
        return {k: v / max(n, 1) for k, v in sums.items()}

    def fit(self, on_event: Callable[[EpochEvent], None] | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_epoch_end: Callable[[], None] | None = None) -> TrainResult:
        """Train to early stopping, the cap or ``should_stop``; ``on_event`` after each evaluated epoch's record,
        ``on_epoch_end`` once its counters are final too (where ``resume_state`` continues exactly: a periodic
        checkpoint's moment)."""
        should_stop = should_stop or (lambda: False)
        tc = self.run.train
        if self.last_state is not None:  # a second fit continues from where the first stopped
            self.model.load_state_dict(self.last_state)
            self.last_state = None  # from here the model's own weights are where training is
        cancelled = stopped_early = False
        if not self.model.trainable:  # nothing to learn: one evaluation is the whole run
            tc_epochs = 0
            self._record(self.evaluate(), {}, 0.0, on_event)
        else:
            tc_epochs = tc.epochs
        start_clock = time.perf_counter()
        while self.epoch < tc_epochs:
            if should_stop():  # before the epoch hook draws anything: a cancelled run resumes exactly
                cancelled = True
                break
            t0 = time.perf_counter()
            start = self._epoch_start()
            try:  # an epoch cut short (Stop between batches, Ctrl-C anywhere before its record) is rewound
                self.model.on_epoch_start(self.epoch, self.generator)
                losses, cancelled = self.train_epoch(should_stop)
                if not cancelled:
                    self.scheduler.step()
                    epoch_s = time.perf_counter() - t0
                    due = (self.epoch + 1) % tc.eval_every == 0 or self.epoch + 1 == tc_epochs
                    metrics = self.evaluate() if due else None
            except KeyboardInterrupt:
                self._rewind(start)
                raise
            if cancelled:
                self._rewind(start)
                break
            self.epoch += 1
            self.train_seconds += epoch_s
            if metrics is not None:
                improved = self._record(metrics, losses, epoch_s, on_event, start_clock)
                self.bad_epochs = 0 if improved else self.bad_epochs + 1
                if self.bad_epochs > tc.patience:
                    stopped_early = True
                    break
                if on_epoch_end is not None:
                    on_epoch_end()
        self.last_state = copy.deepcopy(self.model.state_dict())  # where training stopped, for resuming
        self.model.load_state_dict(self.best_state)
        return self.result_so_far(cancelled, stopped_early)

    def result_so_far(self, cancelled: bool = True, stopped_early: bool = False) -> TrainResult:
        """The run as it stands: its best epoch's numbers and every epoch's record (mid-fit: as if stopped now)."""
        return TrainResult(
            best_epoch=self.best_epoch, valid=self.best_valid, test=self.best_test, history=list(self.history),
            epochs_run=self.epoch, s_per_epoch=self.train_seconds / max(self.epoch, 1),
            n_params=self.model.n_parameters(), cancelled=cancelled, stopped_early=stopped_early,
        )

    def _epoch_start(self) -> dict:
        """What an epoch changes (weights, buffers, optimizer, scheduler, generator), to rewind an epoch cut short."""
        frozen = {name for name, p in self.model.named_parameters() if not p.requires_grad}  # never change
        return {"model": {k: v.clone() for k, v in self.model.state_dict().items() if k not in frozen},
                "optimizer": copy.deepcopy(self.optimizer.state_dict()), "scheduler": self.scheduler.state_dict(),
                "generator": self.generator.get_state()}

    def _rewind(self, start: dict) -> None:
        self.model.load_state_dict(start["model"], strict=False)  # all but the frozen tables, which did not move
        self.optimizer.load_state_dict(start["optimizer"])
        self.scheduler.load_state_dict(start["scheduler"])
        self.generator.set_state(start["generator"])

    def _record(self, metrics: dict[str, dict], losses: dict[str, float], epoch_s: float,
                on_event: Callable[[EpochEvent], None] | None, start_clock: float | None = None) -> bool:
        valid, test = metrics["valid"], metrics["test"]
        # never test's metric: a model with no valid part to score (only an untrained one gets here; a trainable
        # model without valid interactions is refused above) has one epoch to keep, whatever its score
        score = valid.get(SELECT_METRIC, 0.0)
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch = score, self.epoch
            self.best_valid, self.best_test = valid, test
            self.best_state = copy.deepcopy(self.model.state_dict())
        # the rate after this epoch's scheduler step, i.e. the one the next epoch trains with (the stored grid's
        # histories and probes hold this; the rate epoch e trained with is the row of epoch e - 1, or lr x warm-up)
        lr = self.optimizer.param_groups[0]["lr"] if self.optimizer else 0.0
        row = {"epoch": self.epoch, "epoch_s": epoch_s, "lr": lr, **{f"loss/{k}": v for k, v in losses.items()},
               **{f"valid/{k}": v for k, v in valid.items()}, **{f"test/{k}": v for k, v in test.items()}}
        self.history.append(row)
        if on_event is not None:
            elapsed = time.perf_counter() - start_clock if start_clock else 0.0
            on_event(EpochEvent(self.epoch, losses, valid, test, elapsed, epoch_s, lr, self.best_epoch, improved))
        return improved

    # ---- resume ---------------------------------------------------------------------------
    def resume_state(self) -> dict:
        """Everything needed to continue this run exactly (tensors and plain values only)."""
        return {
            "model": self.last_state if self.last_state is not None else self.model.state_dict(),
            "best_state": self.best_state,
            "optimizer": self.optimizer.state_dict() if self.optimizer else {},
            "scheduler": self.scheduler.state_dict() if self.scheduler else {},
            "generator": self.generator.get_state(),
            "counters": {"epoch": self.epoch, "best_epoch": self.best_epoch, "best_score": self.best_score,
                         "bad_epochs": self.bad_epochs, "train_seconds": self.train_seconds},
            "best_valid": self.best_valid, "best_test": self.best_test, "history": self.history,
        }

    def load_resume_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.best_state = state["best_state"]
        if self.optimizer and state["optimizer"]:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])  # format 1 also held "device_generator": on CPU the same one
        c = state["counters"]
        self.epoch, self.best_epoch, self.best_score = int(c["epoch"]), int(c["best_epoch"]), float(c["best_score"])
        self.bad_epochs, self.train_seconds = int(c["bad_epochs"]), float(c["train_seconds"])
        self.best_valid, self.best_test = dict(state["best_valid"]), dict(state["best_test"])
        self.history = list(state["history"])


def train(run: RunConfig, dataset: Dataset, on_event: Callable[[EpochEvent], None] | None = None,
          should_stop: Callable[[], bool] | None = None, graphs: Graphs | None = None) -> tuple[Trainer, TrainResult]:
    """Build ``run``'s model and trainer on ``dataset`` and fit it; returns both."""
    trainer = Trainer.for_run(run, dataset, graphs)
    return trainer, trainer.fit(on_event, should_stop)
