"""Named synthetic worlds ("scenarios") for the playground: one generative model, a few plain knobs.

A scenario is a preset of ``ScenarioConfig``; ``mambarec.data.spec`` turns strings such as
``synthetic/cold-items?cold_share=0.6`` into a config and back. ``dense`` is the original
``synthetic`` dataset, byte for byte. The other worlds are designed before any model saw them
(their docstrings say what we expect); their data are never tuned to favour a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from mambarec.data.dataset import Dataset, DatasetError
from mambarec.data.synthetic import make_synthetic

MAX_SEED = 2 ** 32 - 1


class ScenarioError(DatasetError):
    """A scenario name, knob or knob value is wrong; the message lists what is allowed."""


def _knob(default, help: str, lo, hi):
    return field(default=default, metadata={"help": help, "range": (lo, hi)})


@dataclass(frozen=True)
class ScenarioConfig:
    """The knobs of the synthetic world; the defaults are the original ``synthetic`` data.

    Generative model (``mambarec.data.synthetic``; 16 latent dimensions, 8 named categories):

    1. Items: a category each; true item factors f_i = centroid(category) + noise.
    2. Users: a taste mixture over categories; true user factors g_u = mixture of centroids + noise.
    3. Interactions: user u draws about ``interactions_per_user`` distinct items (lognormal count,
       at least 5), each with probability proportional to taste(category) * exp(1.5 <g_u, f_i> / 4)
       * Zipf popularity; then a 5-core filter and MMRec's split (docs/protocol.md section 2). The density
       is thus about 1.13 * interactions_per_user / n_items before the filter.
    4. Content: the modalities see content factors h_i = sqrt(content_share) f_i +
       sqrt(1 - content_share) d_i, where the decoy d_i is drawn like f_i but no user cares about
       it. content_share = 1: all that content describes matters to users; 0: none of it, and the
       preference signal lives only in the interactions (the IDs).
    5. Modalities (``mambarec.data.modalities``): each sees its own noisy copy of the content,
       sqrt(1 - visual_noise) h_i + sqrt(visual_noise) e_i with item-specific Gaussian noise e_i as
       spread as h_i (``text_noise`` likewise), so ``visual_noise`` is the share of the visual input
       that is noise: 0 clean, 1 pure noise. Visual is then a CNN-like nonlinear map of it into
       ``visual_dim`` coordinates, text a sentence-embedding-like map into ``text_dim``; both also add
       a small fixed per-coordinate noise (the original generator's). ``extras["visual_r2"]`` measures
       the result: a linear probe's cross-validated R^2 of f_i from the visual features.
       ``modality_gap`` scales the deliberate location-scale mismatch (visual offset 3 * gap, scale
       1 + 3 * gap; text shifted by -0.2 * gap); 0 leaves each modality in its natural shape.
    6. Cold items (``mambarec.data.coldstart``): a random share ``cold_share`` of the items keep only
       0-2 training interactions; the rest of their interactions move to valid and test.
    """

    n_users: int = _knob(600, "users drawn before the 5-core filter", 5, 5000)
    n_items: int = _knob(400, "items drawn before the 5-core filter", 10, 5000)
    interactions_per_user: float = _knob(
        20.0, "median interactions per user before the filter (the density knob; 5 is the floor)", 5.0, 1000.0)
    cold_share: float = _knob(0.0, "share of items that keep only 0-2 training interactions", 0.0, 0.9)
    content_share: float = _knob(
        1.0, "share of the content (both modalities) that describes the true item factors, the rest decoy",
        0.0, 1.0)
    visual_noise: float = _knob(0.0, "share of the visual view's input that is item-specific noise (1: useless)",
                                0.0, 1.0)
    text_noise: float = _knob(0.0, "share of the text view's input that is item-specific noise (1: useless)",
                              0.0, 1.0)
    modality_gap: float = _knob(
        1.0, "location-scale gap between visual and text (0 none added, 1 the original)", 0.0, 10.0)
    visual_dim: int = _knob(128, "visual feature width D_V (2048 gives a 4 x 8 x 8 DREAM map at r = 8)", 8, 8192)
    text_dim: int = _knob(64, "text feature width D_T (384 like Sentence-BERT)", 8, 4096)
    seed: int = _knob(0, "seed of every draw (numpy Generator, no global state)", 0, MAX_SEED)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_knob(f.name, getattr(self, f.name))


KNOBS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(ScenarioConfig)}


def check_knob(name: str, value) -> None:
    """Raise ScenarioError unless ``value`` has the knob's type and lies in its range."""
    if name not in KNOBS:
        raise ScenarioError(f"unknown knob {name!r}; the knobs are {', '.join(sorted(KNOBS))}")
    lo, hi = KNOBS[name].metadata["range"]
    kind = "an integer" if KNOBS[name].type == "int" else "a number"
    ok_type = isinstance(value, int) if KNOBS[name].type == "int" else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not lo <= value <= hi:
        raise ScenarioError(f"knob {name} must be {kind} in [{lo}, {hi}], got {value!r}")


# ---- the scenarios ---------------------------------------------------------------------------
def _playground(**changes) -> ScenarioConfig:
    """The shared world of the non-dense scenarios: more users and items, half the activity,
    features as wide as the paper's inputs (visual 2048-d: a 4 x 8 x 8 DREAM map at r = 8)."""
    base = dict(n_users=1000, n_items=800, interactions_per_user=10.0, visual_dim=2048, text_dim=384)
    return ScenarioConfig(**{**base, **changes})


def dense() -> ScenarioConfig:
    """The original ``synthetic`` data: 600 users, ~400 items, ~20 interactions per user, 5.9% dense.

    Every item has dozens of training interactions, so ID embeddings alone carry the signal: expect
    BPR, LightGCN and the multimodal models within seed noise of each other, and every MambaRec
    ablation inside seed noise. Narrow features (128-d visual) make the paper's DREAM map at r = 8
    a 1 x 4 x 4 map.
    """
    return ScenarioConfig()


def cold_items() -> ScenarioConfig:
    """30% of the items are new arrivals with 0-2 training interactions; content must carry the signal.

    Design: the playground world (1000 users, 800 items, ~10 interactions per user, 2048-d visual,
    384-d text, both modalities clean, the original gap) with cold_share 0.3. Cold items are chosen at
    random and users want them as much as before. Expect: ID-only models (BPR, LightGCN) near chance
    on the cold items' held-out interactions (``mambarec.groundtruth.cold_warm_metrics``) and below the
    multimodal models overall; the multimodal models rank cold items from their features and
    item-item graphs. Whether MMD or InfoNCE help here is the open question this world asks.
    """
    return _playground(cold_share=0.3)


def noisy_modality() -> ScenarioConfig:
    """cold-items with a visual modality that is 90% noise (visual_noise 0.9), text still clean.

    Design: one knob away from cold-items, so the pair isolates the effect of a bad modality.
    Expect: a visual probe R^2 near 0.1 against ~1 for text; models that fuse modalities with
    learned weights can lean on text and lose little against cold-items; alignment terms that pull
    the text representation towards the visual one (MMD, visual-text InfoNCE) may cost accuracy
    rather than add it.
    """
    return _playground(cold_share=0.3, visual_noise=0.9)


def large_gap() -> ScenarioConfig:
    """cold-items with a large distribution gap between the modalities (modality_gap 4.0).

    Design: one knob away from cold-items; visual values sit around 30-50 (offset 12, scale 13)
    while text stays unit-norm around -0.8, and each modality's information is unchanged. This is
    the setting global alignment (MMD) is motivated by. Expect: if MMD matters anywhere it is here
    (compare paper with --use-mmd false here and on cold-items); LayerNorm on the modal features
    may absorb most of the gap, in which case the two worlds will score alike.
    """
    return _playground(cold_share=0.3, modality_gap=4.0)


def sparse_users() -> ScenarioConfig:
    """Users with half the playground's activity (median 5 drawn: most keep 3 training items); no cold items.

    Design: the playground world with interactions_per_user 5 (the floor), 1200 users and 500 items
    drawn (about 1000 x 350 after the 5-core filter, which drops more of the catalogue's tail when
    users are this sparse). Users keep a median of 3 training items against 6 in the playground,
    items about 8. Sized so that a converged run stays short: 2000 x 800 took ~95 epochs at twice
    the cost per epoch. Expect: user ID embeddings are weak, so the graph models that build users
    from their items (LightGCN, MGCN, MambaRec) beat BPR by a wider margin than on dense; seed
    noise is large (one test item per user).
    """
    return _playground(n_users=1200, n_items=500, interactions_per_user=5.0)


def weak_content() -> ScenarioConfig:
    """Content that mostly describes things users do not care about (content_share 0.2).

    Design: the playground world (no cold items) where 80% of the content factors' variance is a
    decoy: features still cluster cleanly (by decoy category), so item-item graphs built from them
    look convincing but link items users do not co-consume. Expect: multimodal models lose their
    edge over ID-only models and may fall below them; components that trust the features more
    (feature kNN graphs, strong alignment) should hurt rather than help.
    """
    return _playground(content_share=0.2)


SCENARIOS: dict[str, Callable[[], ScenarioConfig]] = {
    "dense": dense,
    "cold-items": cold_items,
    "noisy-modality": noisy_modality,
    "large-gap": large_gap,
    "sparse-users": sparse_users,
    "weak-content": weak_content,
}
DEFAULT_SCENARIO = "dense"


def scenario_config(name: str) -> ScenarioConfig:
    if name not in SCENARIOS:
        named = ", ".join("synthetic" if s == DEFAULT_SCENARIO else f"synthetic/{s}" for s in SCENARIOS)
        raise ScenarioError(f"unknown scenario {name!r}; the datasets of the scenarios are {named} "
                            "(`python -m mambarec data scenarios` describes them)")
    return SCENARIOS[name]()


def scenario_summary(name: str) -> str:
    """The first line of the scenario's docstring."""
    return (SCENARIOS[name].__doc__ or "").strip().splitlines()[0]


def build_scenario(config: ScenarioConfig, name: str = "synthetic", scenario: str = DEFAULT_SCENARIO) -> Dataset:
    """Generate the dataset of ``config``; ``name`` is its canonical spec (``mambarec.data.spec``)."""

    knobs = dataclasses.asdict(config)
    args = {k: v for k, v in knobs.items() if k != "interactions_per_user"}
    ds = make_synthetic(mean_per_user=config.interactions_per_user, name=name, **args)
    return dataclasses.replace(ds, extras={**ds.extras, "scenario": scenario, "knobs": knobs})
