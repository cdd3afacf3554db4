"""Safe checkpoints: weights + exact config + metrics + seed + dataset fingerprint + versions.

One ``torch.save`` file holding tensors and plain values only, read back with
``torch.load(weights_only=True)``, which never unpickles code. Loading checks the format, its
version, the weights' digest and the dataset fingerprint, and says clearly what is wrong otherwise. The digest
(SHA-256 of every tensor's name, dtype, shape and bytes, written by ``save_checkpoint``) catches a file damaged
after it was written, which ``torch.load`` reads without complaint when the damage lies in tensor data (a
partial copy, a flipped byte); files written before the digest existed load without that check, and any file
whose weights hold NaN or infinity is refused (training stops before it would save one). Format 2 stores a
version-2 run config (each model with its own config); format 1 files load through
``mambarec.config.migrate_v1``. Weights are stored on the CPU, so a checkpoint written on a GPU
loads on a CPU and the other way round.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from pathlib import Path

import torch

import mambarec
from mambarec.atomic import write_atomically
from mambarec.config import ConfigError, RunConfig
from mambarec.errors import UserError

FORMAT = "mambarec-checkpoint"
FORMAT_VERSION = 2  # 1: one MambaRec-shaped config for every model; 2: a config per model


class CheckpointError(UserError):
    """A checkpoint is unreadable, of another format or version, or for another dataset."""


class DatasetMismatchError(CheckpointError):
    """A checkpoint trained on another dataset than the one given; ``trained_on`` is the name it stores (None in a
    file that names none), so a caller can say how to pick that dataset (the app names its sidebar's picker)."""

    def __init__(self, message: str, trained_on: str | None = None):  # a default: an unpickled copy still builds
        super().__init__(message)
        self.trained_on = trained_on


def versions() -> dict[str, str]:
    return {"mambarec": mambarec.__version__, "torch": torch.__version__.split("+")[0]}


def weights_digest(state: dict) -> str:
    """SHA-256 over a (nested) state's tensors and plain values, in sorted key order: names, dtypes, shapes, bytes."""
    h = hashlib.sha256()

    def feed(value, name: str) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for k in sorted(value, key=str):
                feed(value[k], f"{name}/{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                feed(v, f"{name}/{i}")
        else:
            h.update(f"{name}|{value!r}|".encode())

    feed(state, "")
    return h.hexdigest()


def checkpoint_payload(run: RunConfig, state_dict: dict, metrics: dict, dataset_name: str, dataset_fingerprint: str,
                       resume: dict | None = None) -> dict:
    """What a checkpoint file holds: tensors (on the CPU) and plain values only."""
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "config": run.to_json(),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "metrics": json.dumps(metrics), "seed": run.train.seed, "dataset": dataset_name,
        "dataset_fingerprint": dataset_fingerprint, "versions": versions(),
    }
    if resume is not None:
        payload["resume"] = _to_cpu(resume)
    payload["digest"] = weights_digest({"state_dict": payload["state_dict"], "resume": payload.get("resume")})
    return payload


def save_checkpoint(path: str | Path, run: RunConfig, state_dict: dict, metrics: dict, dataset_name: str,
                    dataset_fingerprint: str, resume: dict | None = None) -> Path:
    """Write atomically (a crash mid-write never leaves a half file under ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = checkpoint_payload(run, state_dict, metrics, dataset_name, dataset_fingerprint, resume)
    return write_atomically(path, lambda tmp: torch.save(payload, tmp))


def checkpoint_bytes(run: RunConfig, state_dict: dict, metrics: dict, dataset_name: str,
                     dataset_fingerprint: str) -> bytes:
    """A checkpoint file's bytes (weights only), for a worker that cannot write where the driver reads."""
    buf = io.BytesIO()
    torch.save(checkpoint_payload(run, state_dict, metrics, dataset_name, dataset_fingerprint), buf)
    return buf.getvalue()


def _to_cpu(value):
    """Every tensor of a nested resume state on the CPU (a GPU's checkpoint loads anywhere)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _refused_object(exc: Exception) -> str | None:
    """The class or function a weights-only load refused (torch names it: "Unsupported global: GLOBAL
    torch.nn.modules.linear.Linear", "unsupported GLOBAL posix.system"), or None for any other failure."""
    found = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", str(exc))
    return found.group(1) if found else None


def load_checkpoint(source, expect_fingerprint: str | None = None) -> dict:
    """Read a checkpoint (a path or a binary file object) safely and validate it.

    Returns a dict with ``run`` (RunConfig), ``state_dict``, ``metrics`` (dict), ``seed``,
    ``dataset``, ``dataset_fingerprint``, ``versions`` and ``resume`` (or None).
    """
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "uploaded file")
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise CheckpointError(f"{name}: no such checkpoint file")
    if _is_empty(source):  # torch's reader calls it damaged, which sends a user looking for a fault in the wrong place
        raise CheckpointError(
            f"{name}: the file is empty (0 bytes), so it holds no checkpoint (an interrupted copy or download, or "
            "the wrong file). Pick the .pt file that `python -m mambarec train` saved (checkpoint.pt in its --out "
            "folder) or the app saved (Compare page, Checkpoints tab: Download checkpoint.pt)."
        )
    try:
        with warnings.catch_warnings():  # torch warns of a plain pickle with advice for torch's developers
            warnings.simplefilter("ignore")
            payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (what torch's reader raises on a damaged file varies: IndexError for
        # a text file, KeyError for random bytes, UnpicklingError, ...; weights_only never runs the file's code).
        # Never torch's own advice: it suggests weights_only=False, i.e. running the file's code.
        # The reader's exception names ("IndexError") say nothing to a user; they stay chained for a traceback.
        refused = _refused_object(exc)
        if refused:  # an intact file: "damaged" sent the user looking for a fault in the download
            raise CheckpointError(
                f"{name}: not a MambaRec checkpoint: torch saved it, but it holds a Python object ({refused}) and "
                "loading one could run code from the file, so it is refused and nothing in it ran. A whole model "
                "saved with torch.save(model) is such a file. Save checkpoints with `python -m mambarec train` or "
                "the app: they hold tensors, numbers and text only."
            ) from exc
        raise CheckpointError(
            f"{name}: not a readable MambaRec checkpoint: torch cannot read it (a damaged or truncated file, or not "
            "one torch saved). Save checkpoints with `python -m mambarec train` or the app."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{name}: this file is not a MambaRec checkpoint (no '{FORMAT}' marker): torch saved it, but probably as "
            "a bare state_dict or for another program. Save checkpoints with `python -m mambarec train` or the app: "
            "they write the marker, the run's config and the dataset's fingerprint, which a bare state_dict lacks."
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{name}: checkpoint format version {version!r} is not a version mambarec wrote")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{name}: checkpoint format version {version!r} is newer than this mambarec understands "
            f"({FORMAT_VERSION}); upgrade mambarec to load it"
        )
    missing = [k for k in ("config", "state_dict") if k not in payload]
    if missing or not isinstance(payload["state_dict"], dict):
        raise CheckpointError(f"{name}: the checkpoint lacks its {' and '.join(missing) or 'weights'}; "
                              "it was not written by mambarec or was damaged")
    _check_weights(name, payload)
    try:
        run = RunConfig.from_dict(json.loads(payload["config"]))
    except (ConfigError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{name}: the stored config is invalid: {exc}") from exc
    try:
        metrics = json.loads(payload.get("metrics", "{}"))
    except (json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"{name}: the stored metrics are not readable JSON: {exc}") from exc
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{name}: the stored metrics are a JSON {type(metrics).__name__}, not an object of "
                              "named values; this file was not written by mambarec (save checkpoints with "
                              "`python -m mambarec train --out DIR`)")
    fp = payload.get("dataset_fingerprint")
    if expect_fingerprint is not None and fp != expect_fingerprint:
        raise DatasetMismatchError(
            f"{name}: trained on dataset {payload.get('dataset')!r} (fingerprint {fp}), but the data given has "
            f"fingerprint {expect_fingerprint}; load it with the dataset it was trained on",
            payload.get("dataset"),
        )
    return {"run": run, "state_dict": payload["state_dict"], "metrics": metrics, "seed": payload.get("seed"),
            "dataset": payload.get("dataset"), "dataset_fingerprint": fp, "versions": payload.get("versions", {}),
            "resume": payload.get("resume")}


def _is_empty(source) -> bool:
    """Whether a path or a seekable file object holds no bytes (from its current position on); a stream that cannot
    seek counts as not empty, and torch's reader judges it."""
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size == 0
    try:
        start = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(start)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return False
    return end == start


def _check_weights(name: str, payload: dict) -> None:
    """The digest, when the file has one, and finite weights."""
    stored = payload.get("digest")
    if stored is not None and stored != weights_digest({"state_dict": payload["state_dict"],
                                                        "resume": payload.get("resume")}):
        raise CheckpointError(f"{name}: the weights differ from the digest stored with them, so the file was damaged "
                              "after it was written (a partial download or copy, a disk error); copy it again from "
                              "where it was saved")
    for key, t in payload["state_dict"].items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{name}: weight {key!r} is a {type(t).__name__}, not a tensor; the file was not "
                                  "written by mambarec or was damaged")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{name}: weight {key!r} holds NaN or infinite values; training never saves such "
                                  "weights, so the file was damaged or written by another tool")


def _check_data(ckpt: dict, dataset) -> None:
    if ckpt["dataset_fingerprint"] != dataset.fingerprint():
        # two datasets of one name (another copy, a rebuilt folder) read "trained on 'ml100k', not on 'ml100k'": the
        # folder that was read says which one this is (audit r73)
        here = (f"the {dataset.name!r} read here" + (f" from {dataset.source}" if dataset.source else "")
                if ckpt["dataset"] == dataset.name else repr(dataset.name))
        raise DatasetMismatchError(
            f"checkpoint was trained on {ckpt['dataset']!r} (fingerprint {ckpt['dataset_fingerprint']}), "
            f"not on {here} ({dataset.fingerprint()}); load it with the dataset it was trained on",
            ckpt["dataset"],
        )


MISFITS_SHOWN = 2  # the tensors a "weights do not fit" message names; it counts the rest


def _misfits(found: list[str]) -> str:
    """The first ``MISFITS_SHOWN`` of ``found``, and how many more."""
    more = f"; and {len(found) - MISFITS_SHOWN} more" if len(found) > MISFITS_SHOWN else ""
    return "; ".join(found[:MISFITS_SHOWN]) + more


def _check_dtypes(model, state_dict: dict, what: str = "weights") -> None:
    """Every tensor of ``state_dict`` in the dtype the model holds it in: ``load_state_dict`` casts silently, so a
    file whose weights were stored as integers (rounded) or in another precision loaded as if it were the run."""
    own = model.state_dict()
    odd = [f"{key!r} is {t.dtype}, the model holds {own[key].dtype}" for key, t in state_dict.items()
           if key in own and isinstance(t, torch.Tensor) and t.dtype != own[key].dtype]
    if odd:
        raise CheckpointError(f"the checkpoint's {what} are not stored as mambarec saves them: "
                              + _misfits(odd) + ". The file was converted or written by "
                              "another tool; train the setup again (`python -m mambarec train` or the Train page)")


def _load_weights(model, state_dict: dict) -> None:
    _check_dtypes(model, state_dict)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        # torch lists every tensor that differs, one per line (some twenty for a changed embedding size)
        found = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc)]
        raise CheckpointError("the checkpoint's weights do not fit the model its config describes: "
                              + _misfits(found) + ". The file was edited or written by "
                              "another version of the model; train the setup again (`python -m mambarec train` or "
                              "the Train page)") from exc


def load_model(source, dataset, device: str | torch.device = "cpu", graphs=None):
    """The trained model of a checkpoint (a path, file object or ``load_checkpoint`` result), best weights
    in place, in eval mode; no optimizer is built."""
    from mambarec.model.zoo import build_model  # lazy: torch-backed, kept off the light path

    ckpt = source if isinstance(source, dict) else load_checkpoint(source, expect_fingerprint=dataset.fingerprint())
    _check_data(ckpt, dataset)
    model = build_model(ckpt["run"], dataset, device=device, graphs=graphs)
    _load_weights(model, ckpt["state_dict"])
    model.eval()
    return model


def restore_trainer(ckpt: dict, dataset, graphs=None, run: RunConfig | None = None):
    """A ``Trainer`` rebuilt from a loaded checkpoint: best weights in place, resumable if saved so.

    ``run`` replaces the stored config (a resume with a new epoch cap); it must describe the same model.
    """
    from mambarec.model.zoo import build_model, run_generator  # lazy: torch-backed, kept off the light path
    from mambarec.train import Trainer  # lazy: torch-backed, kept off the light path

    _check_data(ckpt, dataset)
    run = run or ckpt["run"]
    generator = run_generator(run)
    trainer = Trainer(build_model(run, dataset, generator=generator, graphs=graphs), run, dataset, generator)
    if ckpt["resume"] is not None:
        if isinstance(ckpt["resume"], dict) and isinstance(ckpt["resume"].get("model"), dict):
            _check_dtypes(trainer.model, ckpt["resume"]["model"], "resume weights")
        try:
            trainer.load_resume_state(ckpt["resume"])
            trainer.last_state = ckpt["resume"]["model"]  # fit() continues from where training stopped, not the best
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:  # a part missing or misshapen
            raise CheckpointError(f"the checkpoint's resume state does not fit this run "
                                  f"({type(exc).__name__}: {exc}); the file was damaged or edited. Its best weights "
                                  "still load (`evaluate`); to train on, start a new run") from exc
    _load_weights(trainer.model, ckpt["state_dict"])
    return trainer
