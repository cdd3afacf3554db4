"""Run folders: ``runs/<id>/`` (git-ignored) laid out like ``train --out``.

Each holds ``config.json`` (the exact RunConfig), ``metrics.json`` (``test/Recall@20`` ...,
per-epoch history) and ``checkpoint.pt`` (weights, resume state, dataset fingerprint).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mambarec.config import RunConfig

CHECKPOINT_NAME = "checkpoint.pt"  # defined here, not in checkpoint.py, so listing runs needs no torch

RUNS_DIR_ENV = "MAMBAREC_RUNS"
DEFAULT_RUNS_DIR = Path("runs")


def runs_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV, DEFAULT_RUNS_DIR))


def new_run_id(run: RunConfig) -> str:
    """A file-safe folder name; the dataset part is ``dataset_slug`` (a synthetic spec's ? & = go)."""
    from mambarec.data.spec import dataset_slug

    label = run.model.variant if run.model_name == "mambarec" else run.model_name
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{dataset_slug(run.dataset)}-{label}-s{run.train.seed}-{os.getpid()}"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def save_run(folder: Path, trainer, result, with_resume: bool = True) -> Path:
    """Write config.json, metrics.json and checkpoint.pt of a finished (or stopped) run."""
    from mambarec.checkpoint import save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    run, dataset = trainer.run, trainer.dataset
    metrics = result.metrics_json(run, dataset)
    _write_json(folder / "config.json", run.to_dict())
    _write_json(folder / "metrics.json", metrics)
    save_checkpoint(folder / CHECKPOINT_NAME, run, trainer.model.state_dict(), metrics, dataset.name,
                    dataset.fingerprint(), resume=trainer.resume_state() if with_resume else None)
    return folder


def import_checkpoint(data: bytes, filename: str, dataset, root: Path | None = None) -> Path:
    """Validate checkpoint bytes against ``dataset`` and store them as a new run folder under ``root``.

    Raises ``mambarec.checkpoint.CheckpointError`` (with the reason) for a file that is not a valid
    checkpoint of this dataset; nothing is written then.
    """
    import io

    from mambarec.checkpoint import load_checkpoint

    buf = io.BytesIO(data)
    buf.name = filename
    ckpt = load_checkpoint(buf, expect_fingerprint=dataset.fingerprint())
    stem = Path(filename).stem.replace(" ", "_")[:40] or "checkpoint"
    folder = (root or runs_dir()) / f"uploaded-{time.strftime('%Y%m%d-%H%M%S')}-{stem}"
    folder.mkdir(parents=True, exist_ok=False)
    metrics = dict(ckpt["metrics"], dataset=ckpt["dataset"] or dataset.name,
                   dataset_fingerprint=ckpt["dataset_fingerprint"])
    (folder / CHECKPOINT_NAME).write_bytes(data)
    _write_json(folder / "config.json", ckpt["run"].to_dict())
    _write_json(folder / "metrics.json", metrics)  # last: its presence lists the run
    return folder


def list_runs(root: Path | None = None) -> list[dict]:
    """Every run folder under ``root`` with its config and metrics (newest first); broken ones skipped."""
    root = root or runs_dir()
    out = []
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir(), reverse=True):
        try:
            cfg = json.loads((folder / "config.json").read_text())
            metrics = json.loads((folder / "metrics.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        out.append({"id": folder.name, "path": folder, "config": cfg, "metrics": metrics})
    return out
