"""The synthetic data's two modalities: noisy, differently shaped views of the items' content factors.

``visual`` imitates CNN features (a non-negative softplus of a random 2-layer map, large scale,
positive offset); ``text`` imitates sentence embeddings (tanh of another random map, L2-normalised,
shifted). Noise enters twice. Latent noise (``latent_mix``): a view may see its own noisy copy of
the content factors, sqrt(1 - s) * content + sqrt(s) * noise with the content's per-dimension std,
so a share s of its input is item-specific noise; this does not average out over wide features, so
it is what makes one modality informative and the other not. Coordinate noise: each view adds
Gaussian noise of a fixed std to every output coordinate before the output shaping (the original
generator's 0.3 visual, 0.15 text). ``gap`` scales the deliberate location-scale mismatch between
the views, the distribution gap DREAM's MMD alignment targets (docs/model.md section 4):

    visual = (1 + VISUAL_GAP_SCALE * gap) * softplus(2 * (signal_v + noise_v)) + VISUAL_GAP_OFFSET * gap
    text   = normalize(signal_t + noise_t) - TEXT_GAP_OFFSET * gap

gap = 1 is the original ``synthetic`` data; gap = 0 leaves each modality in its natural shape (still
different: non-negative and wide vs unit-norm), larger gaps push the value ranges further apart.
"""

from __future__ import annotations

import numpy as np

VISUAL_GAP_SCALE = 3.0  # visual scale is 1 + 3 * gap (4 at gap 1)
VISUAL_GAP_OFFSET = 3.0  # visual offset is 3 * gap
TEXT_GAP_OFFSET = 0.2  # text shift is -0.2 * gap
TEXT_TANH_SHIFT = 0.5  # text's pre-tanh shift, so its coordinates are not centred at 0
NORM_EPS = 1e-8


def latent_mix(seed_seq: np.random.SeedSequence, content: np.ndarray, share: float,
               noise: np.ndarray | None = None) -> np.ndarray:
    """sqrt(1 - share) * content + sqrt(share) * noise; Gaussian noise with the content's per-dimension
    std (from ``seed_seq``) unless ``noise`` is given. share 0 returns ``content`` itself."""
    if share == 0.0:
        return content
    if noise is None:
        noise = np.random.default_rng(seed_seq).standard_normal(content.shape) * content.std(axis=0)
    return np.sqrt(1.0 - share) * content + np.sqrt(share) * noise


def visual_view(rng: np.random.Generator, factors: np.ndarray, dim: int, noise: float,
                gap: float) -> np.ndarray:
    """CNN-like view of ``factors`` (n_items, d) -> float32 (n_items, dim)."""
    d = factors.shape[1]
    hidden = np.tanh(factors @ rng.standard_normal((d, 2 * dim)) / np.sqrt(d))
    signal = hidden @ rng.standard_normal((2 * dim, dim)) / np.sqrt(2 * dim)
    out = signal + noise * rng.standard_normal(signal.shape)
    scale, offset = 1.0 + VISUAL_GAP_SCALE * gap, VISUAL_GAP_OFFSET * gap
    return (scale * np.logaddexp(0.0, 2.0 * out) + offset).astype(np.float32)


def text_view(rng: np.random.Generator, factors: np.ndarray, dim: int, noise: float,
              gap: float) -> np.ndarray:
    """Sentence-embedding-like view of ``factors`` -> float32 (n_items, dim)."""
    d = factors.shape[1]
    signal = np.tanh(factors @ rng.standard_normal((d, dim)) / np.sqrt(d) + TEXT_TANH_SHIFT)
    out = signal + noise * rng.standard_normal(signal.shape)
    out /= np.linalg.norm(out, axis=1, keepdims=True) + NORM_EPS
    return (out - TEXT_GAP_OFFSET * gap).astype(np.float32)
