"""Finished runs of a grid that is still running, kept on disk so that none is lost when a later one fails
or the machine stops: ``<out>.partial/`` beside the precomputed folder. A rerun of ``precompute`` reuses
every journalled run whose data fingerprint and numerics probe are today's; the journal is removed once
the folder is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mambarec.atomic import write_atomically
from mambarec.data.spec import dataset_slug


class Journal:
    def __init__(self, out: Path) -> None:
        self.dir = Path(out).with_name(f"{Path(out).name}.partial")

    def _name(self, key: str) -> str:
        return dataset_slug(key.replace("/", "__"))

    def save(self, result: dict) -> None:
        """Keep one finished task's result (its checkpoint bytes beside it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        name = self._name(result["key"])
        data = {k: v for k, v in result.items() if k != "checkpoint"}
        if result.get("checkpoint") is not None:
            (self.dir / f"{name}.pt").write_bytes(result["checkpoint"])
            data["has_checkpoint"] = True
        write_atomically(self.dir / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(data)))

    def load(self) -> dict[str, dict]:
        """key -> result, for every journalled task (unreadable entries are skipped)."""
        out = {}
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else ():
            try:
                data = json.loads(path.read_text())
                if data.pop("has_checkpoint", False):
                    data["checkpoint"] = path.with_suffix(".pt").read_bytes()
                else:
                    data["checkpoint"] = None
                out[data["key"]] = data
            except (OSError, ValueError, KeyError):
                continue
        return out

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ["Journal"]
