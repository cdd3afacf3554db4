"""The lessons: guided stories over the precomputed runs, as data (the Lessons page draws them).

A step opens one page with its selection in the URL and says in two sentences what to look at.
Steps name (dataset, cell, seed) and never a run folder, and say what to look at rather than which
number to expect, so they keep working when ``precomputed/`` is regenerated with more seeds,
converged runs, bridge cells and the scenario sweep (a URL's ``cells=group:bridge`` takes the cells of
every bridge group). Where a cell is not there yet, the step opens anyway and a note says what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from mambarec.findings import BRIDGES
from mambarec.grid import DREAM_BRANCHES

# page key -> (the page's file, its url_path in streamlit_app.py)
PAGES = {"compare": ("app/pages/compare.py", "compare"), "embeddings": ("app/pages/embeddings.py", "embeddings"),
         "dream": ("app/pages/dream_inspector.py", "dream"), "users": ("app/pages/users.py", "users"),
         "about": ("app/pages/about.py", "about"), "lessons": ("app/pages/lessons.py", "lessons")}
CELL_PARAMS = {"compare": ("cells", "ref"), "embeddings": ("after", "before"), "dream": ("model",),
               "users": ("a", "b")}
NOT_CELLS = {"initialized", "untrained-paper", "untrained-official"}
GROUP = "group:"
# the bridge: each of the paper's departures from MGCN added to mgcn, and taken out of paper
BRIDGE_ADDED = tuple(added.on for _, added, _ in BRIDGES)
BRIDGE_TAKEN_OUT = tuple(kept.off for _, _, kept in BRIDGES)


@dataclass(frozen=True)
class Step:
    title: str
    page: str  # a key of PAGES
    params: dict[str, str]  # the page's URL parameters, dataset included
    look: str  # two sentences: what to look at
    checkpoint: bool = False  # the view needs the cells' checkpoints, not only their stored rows and maps

    def cells(self) -> list[str]:
        """The precomputed cells the step reads (``group:`` selectors are checked apart)."""
        out = []
        for key in CELL_PARAMS.get(self.page, ()):
            out += [c for c in self.params.get(key, "").split(",") if c and c not in NOT_CELLS]
        return list(dict.fromkeys(out))

    def groups(self) -> list[str]:
        return [c[len(GROUP):] for c in self.cells() if c.startswith(GROUP)]

    @property
    def dataset(self) -> str:
        return self.params.get("dataset", "synthetic")

    @property
    def seed(self) -> int | None:
        return int(self.params["seed"]) if "seed" in self.params else None


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    findings_on: str | None = None  # a dataset whose grid findings in plain words (summary.in_short) open the lesson


def group_cells(groups: dict[str, list[str]], name: str) -> list[str]:
    """The cells of group ``name`` and of its subgroups: ``bridge`` takes the cells of ``bridge: MGCN + one
    paper part`` and ``bridge: paper - one part``."""
    return list(dict.fromkeys(c for g, cells in groups.items() if g == name or g.startswith(f"{name}:")
                              for c in cells))


def step_id(lesson: Lesson, index: int) -> str:
    return f"{lesson.id}.{index + 1}"


def step_query(lesson: Lesson, index: int) -> dict[str, str]:
    """The step's URL parameters, with its own id (the page shows the step's note and the way on)."""
    return {**lesson.steps[index].params, "step": step_id(lesson, index)}


def step_url(base: str, lesson: Lesson, index: int) -> str:
    """The step as a link for a slide: ``<base>/<page>?dataset=...&cells=...&step=...``."""
    return f"{base.rstrip('/')}/{PAGES[lesson.steps[index].page][1]}?{urlencode(step_query(lesson, index), safe=',:/')}"


ABLATIONS = "paper,no_alignment,no_mmd,no_infonce,no_dream,no_channel_attention,no_spatial_attention"
SWEEP = "paper,no_alignment,no_dream,mgcn,bpr,pop"
LESSONS: tuple[Lesson, ...] = (
    Lesson("alignment", "What alignment does to the embeddings",
           "MMD and InfoNCE pull each item's picture and text together; do the recommendations get better?", (
               Step("Before and after training", "embeddings",
                    {"dataset": "ml100k", "after": "paper", "before": "initialized", "seed": "0", "lines": "80"},
                    "Each grey line joins one movie's poster embedding (circle) to its plot-text embedding (diamond). "
                    "Before training the two modalities sit apart and the lines are long; after training with MMD "
                    "and InfoNCE, look at how much shorter they get."),
               Step("Training without the alignment losses", "embeddings",
                    {"dataset": "ml100k", "after": "paper", "before": "no_alignment", "seed": "0", "lines": "80"},
                    "Before: the same model trained with MMD and InfoNCE switched off; After: with them. Then scroll "
                    "to the table under the maps, both columns' alignment numbers with a plain sentence each: the "
                    "gap between the columns is what the two losses add beyond training alone."),
               Step("One item's nearest texts", "embeddings",
                    {"dataset": "synthetic", "after": "paper", "before": "no_alignment", "seed": "0", "item": "325"},
                    "The highlighted item's picture and its nearest texts, trained without the alignment losses "
                    "(Before) and with them (After). Each map's title says where its own text ranks: the losses are "
                    "doing their work when it sits at or near rank 1 in After and far down in Before.",
                    checkpoint=True),
               Step("Does alignment buy accuracy?", "compare",
                    {"dataset": "ml100k", "cells": "paper,no_alignment", "ref": "paper", "tab": "Plots"},
                    "Read the change in Recall@20 of no_alignment against paper with its 95% interval. If the "
                    "interval holds 0, aligned embeddings did not give measurably better recommendations here."),
           )),
    Lesson("parts", "Which parts matter, with intervals",
           "Switch one part off at a time and keep only the changes that are larger than seed noise.", (
               Step("One part off at a time", "compare",
                    {"dataset": "ml100k", "cells": ABLATIONS, "ref": "paper", "tab": "Plots"},
                    "Each row is the paper's model with one part switched off, drawn as its change against paper "
                    "with a 95% interval over seeds. A bar that crosses the red line is within noise, and a hollow "
                    "dot is a single seed, which cannot tell yet."),
               Step("The paper's claims, judged", "compare",
                    {"dataset": "ml100k", "cells": ABLATIONS, "ref": "paper", "tab": "Claims"},
                    "The paper's claims beside what we measured, with REPORT.md's verdicts over five seeds. "
                    "'Inconclusive' means the interval holds 0, so these seeds cannot tell the effect from noise: "
                    "that is not the same as 'no effect', and the interval says how large an effect could hide."),
               Step("The same parts in the dense world", "compare",
                    {"dataset": "synthetic", "cells": ABLATIONS, "ref": "paper", "tab": "Plots"},
                    "The same ablations on the built-in synthetic data, where every item has many interactions. "
                    "Count the intervals that stay clear of the red line."),
               Step("DREAM's five branches, one at a time", "compare",
                    {"dataset": "ml100k", "cells": ",".join(("paper", *(f"no_{b}" for b in DREAM_BRANCHES))),
                     "ref": "paper", "tab": "Plots"},
                    "Each row switches off one of DREAM's five branches (the point, the three dilated 3x3 and the "
                    "whole-map pool). If no interval leaves the red line, removing one branch costs less than these "
                    "seeds can measure: read each interval's ends for how large an effect it still allows."),
           ), findings_on="ml100k"),
    Lesson("dream", "What DREAM sees in one item",
           "DREAM turns one item's feature vector into a small map and looks at it at several scales.", (
               Step("Five branches over one map", "dream",
                    {"dataset": "synthetic", "model": "paper", "seed": "0", "item": "325", "modality": "visual"},
                    "DREAM reshapes the item's reduced visual feature into a C x H x W map and runs five branches "
                    "over it. White circles mark where each dilated 3x3 kernel reads for the red x; each title "
                    "counts how many of its nine taps land on the map.",
                    checkpoint=True),
               Step("What the released code feeds it", "dream",
                    {"dataset": "synthetic", "model": "official", "seed": "0", "item": "325", "modality": "visual"},
                    "The released code feeds a 64-d vector as a 64 x 1 x 1 map, so every dilated kernel reads 8 of "
                    "its 9 taps from zero padding; the table at the foot of the page (scroll down) counts the weights "
                    "that never receive a gradient. This seed stopped in its warm-up, so read the map's shape and "
                    "those dead weights, not its attention values.", checkpoint=True),
               Step("A world with wide visual features", "dream",
                    {"dataset": "synthetic/cold-items", "model": "paper", "seed": "0", "modality": "visual"},
                    "With 2,048-d visual features the map at r = 8 is 4 x 8 x 8, so the dilated branches see "
                    "different neighbourhoods. Compare the branch outputs: they differ only when the map is wider "
                    "than the dilation (this seed stopped in its warm-up: compare their shapes, not their values).",
                    checkpoint=True),
           )),
    Lesson("r", "r trades time for accuracy",
           "The reduction factor r shrinks the visual feature before DREAM: what does it cost, what does it save?", (
               Step("Accuracy and time against r", "compare",
                    {"dataset": "synthetic", "cells": "paper,r1,r2,r4,r16", "ref": "paper", "tab": "Plots"},
                    "Recall@20 against r: the grey band is one seed's noise around r = 8, and the axis never zooms "
                    "in further than that noise. Beside it (under it on a phone): seconds per epoch, where r pays."),
               Step("The paper's r claims", "compare",
                    {"dataset": "synthetic", "cells": "paper,r1,r2,r4,r16", "ref": "r1", "tab": "Claims"},
                    "The paper says r = 8 cuts parameters by 30%+ and time by 25% against r = 1 for a 0.3% loss in "
                    "Recall@20. The verdict column says which of these hold here and which cannot be told apart."),
               Step("r on real data", "compare",
                    {"dataset": "ml100k", "cells": "paper,r1,r2,r4,r16", "ref": "paper", "tab": "Plots"},
                    "The same trade on MovieLens: an epoch takes ~50 s at r = 1 (its long whisker: three of its runs "
                    "shared two cores) and ~5 s at r = 8. Recall@20 stays inside the grey band of one seed's noise at "
                    "every r, and below, each change against r = 8 has its interval."),
           )),
    Lesson("paper-vs-code", "The paper vs the released code",
           "The released code computes something other than what the paper describes; both are here.", (
               Step("Where they differ", "about", {"dataset": "ml100k", "show": "paper-vs-code"},
                    "Each row is one place where the released code computes something other than the paper's "
                    "description. The `official` cell trains exactly what the code computes, `paper` what the paper "
                    "says."),
               Step("What it does to accuracy", "compare",
                    {"dataset": "ml100k", "cells": "paper,official,mgcn", "ref": "mgcn", "tab": "Plots"},
                    "Both MambaRecs against MGCN, the backbone they build on, with 95% intervals. Then open the "
                    "learning curves: a difference in how fast a model warms up is not a difference in quality."),
               Step("Which paper part costs accuracy", "compare",
                    {"dataset": "ml100k", "cells": ",".join(("mgcn", *BRIDGE_ADDED)),
                     "ref": "mgcn", "tab": "Plots"},
                    "Each bridge cell starts from mgcn and switches on one part of the paper's description. A part "
                    "whose interval lies wholly left of the red line costs accuracy; one whose interval holds the "
                    "line has no effect these seeds can measure."),
               Step("The same parts, taken out of the paper's model", "compare",
                    {"dataset": "ml100k", "cells": ",".join(("paper", *BRIDGE_TAKEN_OUT)),
                     "ref": "paper", "tab": "Plots"},
                    "Each cell is the paper's model with one of those parts switched back to MGCN's way. A cell "
                    "wholly right of the red line means the paper's model does better without that part."),
           ), findings_on="ml100k"),
    Lesson("converged", "A converged run vs a short one",
           "A test number is only a model's number once its learning curve has flattened.", (
               Step("Curves on ml100k", "compare",
                    {"dataset": "ml100k", "cells": "paper,mgcn,bpr", "ref": "paper", "tab": "Learning curves",
                     "mark": "20"},
                    "Each line is the mean valid Recall@20 per epoch over seeds, the band their spread, a triangle "
                    "each seed's best epoch. Read them at epoch 20 (the dashed line), where the previous grid stopped "
                    "every run: "
                    "mgcn has nearly peaked there while paper is still climbing, so a number taken at a fixed cap "
                    "says how fast a model warms up, not how good it is."),
               Step("Curves that flattened, and one that stopped too soon", "compare",
                    {"dataset": "synthetic", "cells": "paper,no_alignment,bpr", "ref": "paper",
                     "tab": "Learning curves"},
                    "Every run here stopped early, 21 epochs after its best, and most best epochs (triangles) come "
                    "late, where the curves are flat: converged runs. A triangle near the left edge is a seed that "
                    "dipped after an early peak and stopped before it learned: it pulls its cell's mean down and "
                    "widens the interval (the first tab lists each seed's epochs)."),
               Step("The losses behind them", "compare",
                    {"dataset": "ml100k", "cells": "paper,mgcn", "ref": "paper", "tab": "Learning curves",
                     "curve": "loss/bpr"},
                    "The BPR loss per epoch, starting at epoch 1. A loss near ln 2 = 0.69 means the model still ranks "
                    "almost at random: mgcn starts there and falls fastest, paper starts lower and falls slowly for "
                    "a hundred epochs. mgcn's loss is still falling when its run ends, 21 epochs after its best valid "
                    "score: a lower training loss is not a better ranking, which is why runs stop on the valid "
                    "score, not on the loss."),
               Step("One model, three schedules", "compare",
                    {"dataset": "ml100k", "cells": "mgcn_paper_sched,mgcn,mgcn_large_batch_sched",
                     "ref": "mgcn_paper_sched", "tab": "Learning curves"},
                    "MGCN under the paper's schedule (lr 1e-3, batch 2,048), fast (lr 4e-3, the cell named mgcn) and "
                    "large-batch (lr 4e-3, batch 8,192, so a third of the cost per epoch): each converges at its own "
                    "epoch. The Plots tab gives each one's change against the paper's schedule with its interval, "
                    "and the first tab each seed's epochs and seconds per epoch."),
           )),
    Lesson("cold-items", "From the dense world to the cold-items one",
           "Content matters where IDs cannot carry the signal: items with almost no training interactions.", (
               Step("The dense world", "about", {"dataset": "synthetic", "show": "dataset"},
                    "The built-in world: every item has many training interactions, and both modalities carry most "
                    "of the true item factors. Note its density and its cold share."),
               Step("How far IDs get there", "compare",
                    {"dataset": "synthetic", "cells": SWEEP, "ref": "paper", "tab": "Plots"},
                    "BPR sees only IDs: read how far below paper it sits and whether its interval clears the red "
                    "line. In a dense world that gap, all that content and alignment can add, is small."),
               Step("The cold-items world", "about", {"dataset": "synthetic/cold-items", "show": "dataset"},
                    "A share of the items keeps at most 2 training interactions, so a model can rank them only from "
                    "their content. The card shows the cold share and how much of the true factors each modality "
                    "holds."),
               Step("Cold vs warm items", "compare",
                    {"dataset": "synthetic/cold-items", "cells": SWEEP, "ref": "paper", "tab": "Cold vs warm"},
                    "Recall@20 on cold and warm test items, each setup's mean over its five seeds with a 95% "
                    "interval. Only mgcn's cold bar clears the dashed line of a random ranking. BPR and pop see no "
                    "content and cannot rank a cold item; paper and no_alignment sit below the line too, most of "
                    "their seeds stopped in a dip after an early peak (below the table): within the protocol the "
                    "paper's model does not learn to rank new items from their content here."),
           )),
)
LESSON_IDS = {lesson.id: lesson for lesson in LESSONS}


def find_step(step: str) -> tuple[Lesson, int] | None:
    """The lesson and step index of an id such as ``alignment.2``; None when it names no step."""
    lesson_id, _, number = str(step).rpartition(".")
    lesson = LESSON_IDS.get(lesson_id)
    if lesson is None or not number.isdigit() or not 1 <= int(number) <= len(lesson.steps):
        return None
    return lesson, int(number) - 1
