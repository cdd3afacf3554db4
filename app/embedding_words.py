"""The Embeddings page's words: one plain sentence per alignment number, how to read a UMAP map, and each stage
of the encoders a map can show."""

from __future__ import annotations

import dataclasses

from app.models import has_dream
from mambarec.grid import GRID

EXPLAIN = (  # (key, name, better, one plain sentence)
    ("mmd", "MMD", "↓", "How different the two clouds are as whole distributions; 0: indistinguishable. The MMD "
     "loss lowers it."),
    ("mean_cosine", "matched cosine", "↑", "How much an item's picture and its own text point the same way, on "
     "average; 1: the same direction."),
    ("recall@1", "retrieval R@1", "↑", "Share of items whose own text is the single nearest text to their picture."),
    ("recall@10", "retrieval R@10", "↑", "Share of items whose own text is among the 10 nearest texts to their "
     "picture."),
    ("alignment", "alignment", "↓", "Mean squared distance between an item's two unit-length embeddings; 0: they "
     "coincide."),
    ("uniformity", "uniformity", "↓", "How evenly all points spread over the sphere; lower: more spread out, "
     "nothing collapsed."),
)
UMAP_WAIT = ("Projecting with UMAP: a server's first UMAP takes 20-30 s (it compiles its code), later ones a few "
             "seconds, and each map is kept.")
# A UMAP map read as a PCA one says "not aligned" of a well aligned model (a rehearsal: matched cosine 0.87, and two
# islands joined by long lines), so the page says how to read it whenever a map was drawn by UMAP.
UMAP_READING = ("Reading UMAP: it keeps each point's nearest neighbours, not distances, so a model whose pictures "
                "and texts are well aligned can still draw them as two islands joined by long lines. Read the "
                "alignment from the table below (matched cosine, R@K), or pick an item: its own text's rank is in "
                "each map's title.")
ONE_POINT = (":material/warning: Every item's {} vector is the same one here: UMAP spreads identical points at "
             "random, so this cloud has no structure to read (PCA draws them as the one point they are).")
STAGES = {"modal": "the d-dim modal features (after DREAM)", "dream": "DREAM's output",
          "input": "DREAM's input (projected features)"}
# the same, short enough for the picker in its narrow popover, where "the d-dim modal features (after DREAN" was cut
STAGE_CHOICES = {"modal": "modal features", "dream": "DREAM's output", "input": "DREAM's input"}
STAGE_HELP = ("Which encoder output to project: the d-dim modal features (after DREAM, where the model has it), "
              "DREAM's output, or its input (the projected features). Stored precomputed maps are of the modal stage.")


def stage_words(stage: str, src: dict | None, entry: str = "") -> str:
    """A panel's stage in words: "(after DREAM)" only for a model with DREAM (``src``: its run's source; else the
    grid's cell ``entry`` names, or the untrained paper model); a run trained with DREAM off, or MGCN, read "after
    DREAM" too (rehearsal r71)."""
    cell = next((c for c in GRID if c.name == entry), None)
    config = (src or {}).get("config") or ({"model_name": cell.model_name,
                                            "model": dataclasses.asdict(cell.model_config())} if cell else {})
    dream = has_dream(config)
    return STAGES[stage] if stage != "modal" or dream else STAGES[stage].removesuffix(" (after DREAM)")
