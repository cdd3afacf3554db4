"""A small seeded catalogue with ground truth, loaded as ``load_dataset("synthetic")``.

Items belong to named categories and carry latent factors (a category centroid plus item noise);
users hold taste mixtures over the categories; item popularity is Zipf-skewed. Interactions are
drawn without replacement with probability proportional to exp(log taste(category) + sharpness *
<user, item> + zipf_exponent * log popularity) (Gumbel top-k), then 5-core filtered, re-indexed
and split with MMRec's rule (docs/protocol.md section 2). The two modalities are different noisy views of
the items' content factors with a deliberate distribution gap, the setting DREAM's MMD alignment
targets (``mambarec.data.modalities``). The content factors are the item factors themselves
(``content_share`` 1) or a mix with decoy factors users do not care about; each modality can see
a noisy copy of the content; a share of items can be made cold (``mambarec.data.coldstart``).
``mambarec.data.scenarios`` documents these knobs.

Randomness: the original draws come from ``numpy.random.default_rng(seed)`` in a fixed order, so
the defaults reproduce the original data exactly; the decoy factors and the cold items come from
children of ``SeedSequence(seed)``, so switching them on changes nothing else; the same holds for
each modality's latent noise. No global state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mambarec.data.coldstart import choose_cold_items, hold_out_cold_items, measured_cold_items
from mambarec.data.dataset import Dataset, DatasetError
from mambarec.data.mmrec import SPLIT_LABELS, kcore_filter, split_interactions
from mambarec.data.modalities import (
    TEXT_GAP_OFFSET,
    VISUAL_GAP_OFFSET,
    VISUAL_GAP_SCALE,
    latent_mix,
    text_view,
    visual_view,
)

# Category name -> (title adjectives, title nouns). Titles read "<Adjective> <Noun>" and get a
# " Vol. N" suffix when the pair is already taken.
CATEGORY_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Sci-fi": (("Cosmic", "Stellar", "Quantum", "Orbital", "Nebula", "Android", "Galactic", "Ion"),
               ("Garden", "Frontier", "Signal", "Voyage", "Colony", "Drift", "Horizon", "Engine")),
    "Cooking": (("Rustic", "Smoky", "Golden", "Spicy", "Simple", "Slow", "Crispy", "Fresh"),
                ("Kitchen", "Table", "Feast", "Bakery", "Skillet", "Harvest", "Pantry", "Broth")),
    "Mystery": (("Silent", "Hidden", "Crimson", "Midnight", "Broken", "Secret", "Cold", "Last"),
                ("Witness", "Alibi", "Clue", "Cellar", "Verdict", "Motive", "Key", "Letter")),
    "Romance": (("Sweet", "Summer", "Tender", "Endless", "Wild", "Second", "Paper", "Lucky"),
                ("Hearts", "Promise", "Kiss", "Vows", "Letters", "Dance", "Season", "Chance")),
    "History": (("Ancient", "Imperial", "Lost", "Iron", "Medieval", "Forgotten", "Great", "Royal"),
                ("Empire", "Dynasty", "Crusade", "Republic", "Chronicle", "Siege", "Treaty", "Age")),
    "Travel": (("Coastal", "Northern", "Island", "Desert", "Alpine", "Hidden", "Grand", "Urban"),
               ("Roads", "Journeys", "Trails", "Harbors", "Passages", "Rails", "Maps", "Routes")),
    "Fantasy": (("Dragon", "Shadow", "Elven", "Enchanted", "Obsidian", "Wandering", "Hollow", "Rune"),
                ("Crown", "Sword", "Tower", "Oath", "Realm", "Throne", "Forest", "Prophecy")),
    "Science": (("Tiny", "Living", "Hidden", "Elegant", "Curious", "Deep", "Electric", "Shaping"),
                ("Cells", "Atoms", "Universe", "Genome", "Brain", "Oceans", "Numbers", "Climate")),
}
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORY_WORDS)


def _make_items(rng: np.random.Generator, n_items: int, n_categories: int, latent_dim: int,
                item_noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Category ids (mildly unbalanced), category centroids and item factors around them."""
    share = rng.dirichlet(np.full(n_categories, 5.0))
    category = rng.choice(n_categories, size=n_items, p=share)
    centroids = rng.standard_normal((n_categories, latent_dim))
    factors = centroids[category] + item_noise * rng.standard_normal((n_items, latent_dim))
    return category, centroids, factors


def _make_users(rng: np.random.Generator, n_users: int, centroids: np.ndarray, concentration: float,
                user_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Taste mixtures over categories (Dirichlet) and user factors = mixture of centroids + noise."""
    tastes = rng.dirichlet(np.full(len(centroids), concentration), size=n_users)
    factors = tastes @ centroids + user_noise * rng.standard_normal((n_users, centroids.shape[1]))
    return tastes, factors


def _zipf_popularity(rng: np.random.Generator, n_items: int, exponent: float) -> np.ndarray:
    """Popularity weight 1 / rank^exponent with ranks assigned at random; max weight 1."""
    ranks = rng.permutation(n_items) + 1
    return 1.0 / ranks.astype(np.float64) ** exponent


def _sample_interactions(rng: np.random.Generator, logits: np.ndarray, mean_per_user: float) -> np.ndarray:
    """Per user, draw a lognormal count and that many distinct items by Gumbel top-k on ``logits``."""
    n_users, n_items = logits.shape
    counts = np.rint(rng.lognormal(np.log(mean_per_user), 0.5, size=n_users)).astype(np.int64)
    counts = np.clip(counts, 5, n_items // 2)
    perturbed = logits + rng.gumbel(size=logits.shape)
    order = np.argsort(-perturbed, axis=1, kind="stable")
    rows = np.repeat(np.arange(n_users), counts)
    cols = order[rows, np.concatenate([np.arange(c) for c in counts])]
    return np.stack([rows, cols], axis=1).astype(np.int64)


def _titles(rng: np.random.Generator, category: np.ndarray) -> list[str]:
    """Readable unique titles from each category's word lists ("Cosmic Garden Vol. 3")."""
    seen: dict[str, int] = {}
    titles = []
    for c in category:  # one string per item, at generation time only
        adjectives, nouns = CATEGORY_WORDS[CATEGORY_NAMES[c]]
        base = f"{adjectives[rng.integers(len(adjectives))]} {nouns[rng.integers(len(nouns))]}"
        seen[base] = seen.get(base, 0) + 1
        titles.append(base if seen[base] == 1 else f"{base} Vol. {seen[base]}")
    return titles


def _reindex(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map surviving user and item ids to 0..n-1; return new pairs and the kept original ids."""
    users, u_new = np.unique(pairs[:, 0], return_inverse=True)
    items, i_new = np.unique(pairs[:, 1], return_inverse=True)
    return np.stack([u_new.ravel(), i_new.ravel()], axis=1).astype(np.int64), users, items


def _content_factors(seed_seq: np.random.SeedSequence, factors: np.ndarray, n_categories: int,
                     item_noise: float, content_share: float) -> np.ndarray:
    """What the modalities see: sqrt(c) * item factors + sqrt(1 - c) * decoy factors.

    Decoys are drawn like the item factors (own centroids, categories and noise), so the content
    stays clustered and equally spread, but a share 1 - c of its variance says nothing about taste.
    """
    if content_share == 1.0:
        return factors
    n_items, latent_dim = factors.shape
    _, _, decoy = _make_items(np.random.default_rng(seed_seq), n_items, n_categories, latent_dim, item_noise)
    return latent_mix(seed_seq, factors, 1.0 - content_share, noise=decoy)


def _check_args(n_users: int, n_items: int, n_categories: int, mean_per_user: float, cold_share: float,
                content_share: float, **noise_shares: float) -> None:
    if not 1 <= n_categories <= len(CATEGORY_NAMES):
        raise DatasetError(f"synthetic: n_categories must be 1..{len(CATEGORY_NAMES)}, got {n_categories}")
    if n_users < 5 or n_items < 10:
        raise DatasetError(f"synthetic: need n_users >= 5 and n_items >= 10, got {n_users}, {n_items}")
    if mean_per_user <= 0:
        raise DatasetError(f"synthetic: mean_per_user must be > 0, got {mean_per_user}")
    shares = {"cold_share": cold_share, "content_share": content_share, **noise_shares}
    for name, value in shares.items():
        if not 0.0 <= value <= 1.0 or (name == "cold_share" and value == 1.0):
            raise DatasetError(f"synthetic: {name} must be in [0, 1{')' if name == 'cold_share' else ']'}, got {value}")


def _split(pairs: np.ndarray, seed: int, cold_seq: np.random.SeedSequence, cold_share: float,
           n_items: int) -> tuple[list[np.ndarray], np.ndarray]:
    """MMRec's split, then the cold items' hold-out; returns [train, valid, test] and the cold mask."""
    inter = split_interactions(pairs, seed)
    labels = inter["x_label"].to_numpy()
    split_pairs = inter[["userID", "itemID"]].to_numpy(np.int64)
    cold = np.zeros(n_items, dtype=bool)
    if cold_share > 0:
        rng = np.random.default_rng(cold_seq)
        cold = choose_cold_items(rng, n_items, cold_share)
        labels = hold_out_cold_items(rng, split_pairs, labels, cold)
    return [split_pairs[labels == SPLIT_LABELS[s]] for s in ("train", "valid", "test")], cold


K_CORE = 5  # MMRec's filter: users and items with fewer interactions are dropped, repeatedly


def make_synthetic(
    seed: int = 0,
    n_users: int = 600,  # users drawn before the 5-core filter (a few may drop out)
    n_items: int = 400,  # items drawn before the 5-core filter (unpopular ones may drop out)
    n_categories: int = 8,  # named categories, at most len(CATEGORY_NAMES)
    latent_dim: int = 16,  # size of the ground-truth user/item factors
    mean_per_user: float = 20.0,  # median interactions per user (lognormal, at least 5)
    taste_concentration: float = 0.3,  # Dirichlet alpha of user tastes: small = few categories each
    sharpness: float = 1.5,  # weight of <user, item> in the interaction logit
    zipf_exponent: float = 0.8,  # popularity weight 1 / rank^exponent, its log weighted by 1
    item_noise: float = 0.6,  # spread of items around their category centroid
    user_noise: float = 0.5,  # user factor noise on top of the taste mixture of centroids
    visual_dim: int = 128,
    text_dim: int = 64,
    visual_coord_noise: float = 0.3,  # per-coordinate noise, so neither view is the factors exactly
    text_coord_noise: float = 0.15,
    k_core: int = K_CORE,
    cold_share: float = 0.0,  # share of (kept) items made cold, see mambarec.data.coldstart
    content_share: float = 1.0,  # share of the content factors' variance that is the item factors
    visual_noise: float = 0.0,  # share of the visual view's latent input that is noise
    text_noise: float = 0.0,  # share of the text view's latent input that is noise
    modality_gap: float = 1.0,  # the location-scale gap between modalities, see mambarec.data.modalities
    name: str = "synthetic",
) -> Dataset:
    """Generate the synthetic dataset; the same arguments always give identical arrays."""
    _check_args(n_users, n_items, n_categories, mean_per_user, cold_share, content_share,
                visual_noise=visual_noise, text_noise=text_noise)
    rng = np.random.default_rng(seed)
    decoy_seq, cold_seq, visual_seq, text_seq = np.random.SeedSequence(seed).spawn(4)
    category, centroids, item_factors = _make_items(rng, n_items, n_categories, latent_dim, item_noise)
    tastes, user_factors = _make_users(rng, n_users, centroids, taste_concentration, user_noise)
    pop_weight = _zipf_popularity(rng, n_items, zipf_exponent)
    affinity = user_factors @ item_factors.T / np.sqrt(latent_dim)
    logits = np.log(tastes[:, category] + 1e-3) + sharpness * affinity + np.log(pop_weight)
    pairs = _sample_interactions(rng, logits, mean_per_user)
    content = _content_factors(decoy_seq, item_factors, n_categories, item_noise, content_share)
    visual = visual_view(rng, latent_mix(visual_seq, content, visual_noise), visual_dim, visual_coord_noise,
                         modality_gap)
    text = text_view(rng, latent_mix(text_seq, content, text_noise), text_dim, text_coord_noise, modality_gap)
    titles = _titles(rng, category)
    years = rng.integers(1970, 2025, size=n_items)
    ratings = np.clip(3.5 + 0.6 * rng.standard_normal(n_items), 1.0, 5.0).round(1)

    pairs, kept_users, kept_items = _reindex(kcore_filter(pairs, k_core))
    if len(pairs) == 0:
        raise DatasetError(f"synthetic: no interactions survive the {k_core}-core filter; add users or items")
    n_items_kept = len(kept_items)
    (train, valid, test), cold = _split(pairs, seed, cold_seq, cold_share, n_items_kept)
    items = pd.DataFrame({
        "itemID": np.arange(n_items_kept),
        "title": [titles[i] for i in kept_items],
        "category": [CATEGORY_NAMES[c] for c in category[kept_items]],
        "popularity": np.bincount(train[:, 1], minlength=n_items_kept),  # training interactions
        "year": years[kept_items],
        "rating": ratings[kept_items],
    })
    visual, text, item_factors = visual[kept_items], text[kept_items], item_factors[kept_items]
    extras = {
        "item_factors": item_factors,
        "user_factors": user_factors[kept_users],
        "user_tastes": tastes[kept_users],
        "item_category": category[kept_items],
        "category_names": list(CATEGORY_NAMES[:n_categories]),
        "category_centroids": centroids,
        "item_popularity_weight": pop_weight[kept_items],
        "original_user_ids": kept_users,
        "original_item_ids": kept_items,
        "seed": seed,
        # ground truth of the scenario knobs (mambarec.data.scenarios)
        "content_factors": content[kept_items],
        "cold_items": cold,
        "cold_items_measured": measured_cold_items(train, n_items_kept),
        # share of each view's latent input that is the true item factors (the generator's signal)
        "visual_signal_share": content_share * (1.0 - visual_noise),
        "text_signal_share": content_share * (1.0 - text_noise),
        # measured counterparts: mambarec.groundtruth.modality_informativeness and modality_gap_stats
        "modality_gap": modality_gap,
        "visual_offset_scale": (VISUAL_GAP_OFFSET * modality_gap, 1.0 + VISUAL_GAP_SCALE * modality_gap),
        "text_offset": -TEXT_GAP_OFFSET * modality_gap,
    }
    return Dataset(
        name=name, n_users=len(kept_users), n_items=n_items_kept, train=train, valid=valid,
        test=test, visual=visual, text=text, items=items, source="synthetic", extras=extras,
    )
