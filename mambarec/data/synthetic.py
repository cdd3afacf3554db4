"""A small seeded catalogue with ground truth, loaded as ``load_dataset("synthetic")``.

Items belong to named categories and carry latent factors (a category centroid plus item noise);
users hold taste mixtures over the categories; item popularity is Zipf-skewed. Interactions are
drawn without replacement with probability proportional to exp(log taste(category) + sharpness *
<user, item> + zipf_exponent * log popularity) (Gumbel top-k), then 5-core filtered, re-indexed
and split with MMRec's rule (PAPER.md section 5). The two modalities are different noisy views of
the same item factors with a deliberate distribution gap, the setting DREAM's MMD alignment
targets: ``visual`` is a non-negative (ReLU-like) nonlinear map into 128 dims with a large offset
and scale, ``text`` a tanh map into 64 dims, L2-normalised and shifted by a different offset.
Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``; no global state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mambarec.data.dataset import Dataset, DatasetError
from mambarec.data.mmrec import SPLIT_LABELS, kcore_filter, split_interactions

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


def _visual_view(rng: np.random.Generator, factors: np.ndarray, dim: int, noise: float) -> np.ndarray:
    """CNN-like view: softplus of a random 2-layer map, large scale and positive offset, own noise."""
    d = factors.shape[1]
    hidden = np.tanh(factors @ rng.standard_normal((d, 2 * dim)) / np.sqrt(d))
    out = hidden @ rng.standard_normal((2 * dim, dim)) / np.sqrt(2 * dim)
    out = out + noise * rng.standard_normal(out.shape)
    return (4.0 * np.logaddexp(0.0, 2.0 * out) + 3.0).astype(np.float32)


def _text_view(rng: np.random.Generator, factors: np.ndarray, dim: int, noise: float) -> np.ndarray:
    """Sentence-embedding-like view: tanh of another random map, L2-normalised, shifted offset."""
    d = factors.shape[1]
    out = np.tanh(factors @ rng.standard_normal((d, dim)) / np.sqrt(d) + 0.5)
    out = out + noise * rng.standard_normal(out.shape)
    out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-8
    return (out - 0.2).astype(np.float32)


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


def _check_args(n_users: int, n_items: int, n_categories: int, mean_per_user: float) -> None:
    if not 1 <= n_categories <= len(CATEGORY_NAMES):
        raise DatasetError(f"synthetic: n_categories must be 1..{len(CATEGORY_NAMES)}, got {n_categories}")
    if n_users < 5 or n_items < 10:
        raise DatasetError(f"synthetic: need n_users >= 5 and n_items >= 10, got {n_users}, {n_items}")
    if mean_per_user <= 0:
        raise DatasetError(f"synthetic: mean_per_user must be > 0, got {mean_per_user}")


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
    visual_noise: float = 0.3,  # modality-specific noise, so neither view is the factors exactly
    text_noise: float = 0.15,
    k_core: int = 5,
) -> Dataset:
    """Generate the synthetic dataset; the same ``seed`` always gives identical arrays."""
    _check_args(n_users, n_items, n_categories, mean_per_user)
    rng = np.random.default_rng(seed)
    category, centroids, item_factors = _make_items(rng, n_items, n_categories, latent_dim, item_noise)
    tastes, user_factors = _make_users(rng, n_users, centroids, taste_concentration, user_noise)
    pop_weight = _zipf_popularity(rng, n_items, zipf_exponent)
    affinity = user_factors @ item_factors.T / np.sqrt(latent_dim)
    logits = np.log(tastes[:, category] + 1e-3) + sharpness * affinity + np.log(pop_weight)
    pairs = _sample_interactions(rng, logits, mean_per_user)
    visual = _visual_view(rng, item_factors, visual_dim, visual_noise)
    text = _text_view(rng, item_factors, text_dim, text_noise)
    titles = _titles(rng, category)
    years = rng.integers(1970, 2025, size=n_items)
    ratings = np.clip(3.5 + 0.6 * rng.standard_normal(n_items), 1.0, 5.0).round(1)

    pairs, kept_users, kept_items = _reindex(kcore_filter(pairs, k_core))
    if len(pairs) == 0:
        raise DatasetError(f"synthetic: no interactions survive the {k_core}-core filter; add users or items")
    inter = split_interactions(pairs, seed)
    labels = inter["x_label"].to_numpy()
    split_pairs = inter[["userID", "itemID"]].to_numpy(np.int64)
    train, valid, test = (split_pairs[labels == SPLIT_LABELS[s]] for s in ("train", "valid", "test"))
    n_items_kept = len(kept_items)
    items = pd.DataFrame({
        "itemID": np.arange(n_items_kept),
        "title": [titles[i] for i in kept_items],
        "category": [CATEGORY_NAMES[c] for c in category[kept_items]],
        "popularity": np.bincount(train[:, 1], minlength=n_items_kept),  # training interactions
        "year": years[kept_items],
        "rating": ratings[kept_items],
    })
    extras = {
        "item_factors": item_factors[kept_items],
        "user_factors": user_factors[kept_users],
        "user_tastes": tastes[kept_users],
        "item_category": category[kept_items],
        "category_names": list(CATEGORY_NAMES[:n_categories]),
        "category_centroids": centroids,
        "item_popularity_weight": pop_weight[kept_items],
        "original_user_ids": kept_users,
        "original_item_ids": kept_items,
        "seed": seed,
    }
    return Dataset(
        name="synthetic", n_users=len(kept_users), n_items=n_items_kept, train=train, valid=valid,
        test=test, visual=visual[kept_items], text=text[kept_items], items=items, source="synthetic",
        extras=extras,
    )
