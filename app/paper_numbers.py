"""The paper's published numbers and its paper-vs-code table, as data (docs/departures.md section 2 and
docs/protocol.md section 6).

Kept here, not in ``mambarec``, because only the app shows them beside our own results.
"""

from __future__ import annotations

PAPER_DATASETS = ("baby", "sports", "clothing")
PAPER_METRICS = ("Recall@10", "Recall@20", "NDCG@10", "NDCG@20")

# docs/protocol.md section 6: dataset statistics (users, items, interactions, density).
DATASET_STATS = {
    "baby": {"users": 19445, "items": 7050, "interactions": 160792, "density": 0.00117},
    "sports": {"users": 35598, "items": 18357, "interactions": 296337, "density": 0.00045},
    "clothing": {"users": 39387, "items": 23033, "interactions": 278677, "density": 0.00031},
}

# docs/protocol.md section 6: test Recall@10, Recall@20, NDCG@10, NDCG@20 from the released results table.
PUBLISHED = {
    "BPR": {"baby": (.0382, .0595, .0214, .0263), "sports": (.0417, .0633, .0232, .0288),
            "clothing": (.0200, .0295, .0111, .0135)},
    "LightGCN": {"baby": (.0453, .0728, .0246, .0317), "sports": (.0542, .0837, .0300, .0376),
                 "clothing": (.0338, .0517, .0185, .0230)},
    "VBPR": {"baby": (.0425, .0663, .0223, .0284), "sports": (.0561, .0857, .0307, .0384),
             "clothing": (.0281, .0410, .0157, .0190)},
    "FREEDOM": {"baby": (.0627, .0992, .0330, .0424), "sports": (.0717, .1089, .0385, .0481),
                "clothing": (.0629, .0941, .0341, .0420)},
    "MGCN": {"baby": (.0620, .0964, .0339, .0427), "sports": (.0729, .1106, .0397, .0496),
             "clothing": (.0641, .0945, .0347, .0428)},
    "LGMRec": {"baby": (.0644, .1002, .0349, .0440), "sports": (.0720, .1068, .0390, .0480),
               "clothing": (.0555, .0828, .0302, .0371)},
    "MambaRec": {"baby": (.0660, .1013, .0363, .0454), "sports": (.0763, .1147, .0416, .0514),
                 "clothing": (.0673, .0996, .0367, .0449)},
}

# Our model_name for each published row (None: not reimplemented here).
MODEL_NAMES = {"BPR": "bpr", "LightGCN": "lightgcn", "VBPR": "vbpr", "FREEDOM": "freedom", "MGCN": "mgcn",
               "LGMRec": None, "MambaRec": "mambarec"}


def paper_dataset(name: str) -> str | None:
    """The paper's dataset a name refers to (``baby``, ``Sports``, ``/data/clothing`` ...), else None."""
    stem = str(name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    return stem if stem in PAPER_DATASETS else None


def published_rows(dataset: str) -> list[dict]:
    """One row per published model on ``dataset``: {"model": ..., "Recall@10": ..., ...}."""
    key = paper_dataset(dataset)
    if key is None:
        return []
    return [{"model": model, **dict(zip(PAPER_METRICS, values[key], strict=True))}
            for model, values in PUBLISHED.items()]


# docs/departures.md section 2: where the released code departs from the paper.
PAPER_VS_CODE = [
    ("DREAM input", "a C x H x W feature map",
     "each item's 64-d vector as a 64 x 1 x 1 map: every dilated 3x3 branch touches only its centre tap, "
     "i.e. all branches are 1x1 convs"),
    ("channel attention", "FC-ReLU-FC-Sigmoid", "GAP, 1x1 conv 5C -> 1 channel, ReLU: ONE scalar per item"),
    ("spatial attention", "mean over channels -> conv -> sigmoid",
     "1x1 conv 5C -> 1 channel (learned, not a mean) + sigmoid"),
    ("DREAM output", "max(F_c, F_s) -> conv",
     "attention = max(F_c, F_s); output = conv+BN+ReLU(attention * F): quadratic in F"),
    ("DREAM cost", "(not described)",
     "runs twice per batch (forward, then again for MMD): BatchNorm statistics move twice "
     "(one pass with momentum 0.19 reproduces it)"),
    ("dead weights", "(not described)", "98,304 of 141,056 DREAM parameters per modality never receive a gradient"),
    ("InfoNCE", "visual vs text of the same item", "side vs content views (users and items), temperature 0.2"),
    ("reduction r", "also the visual feature's final size D_V / r",
     "D_V -> D_V / r -> 64 with no nonlinearity between; text 384 -> 64 directly; raw features trainable"),
    ("r = 1", "no reduction", "a D_V x D_V Linear (on Baby's 4,096-d features: 16.8M parameters); this project "
     "skips the layer"),
    ("config", "(not described)", "`bedding_size: 64` typo (the default 64 applies anyway); no checkpoint is written"),
    ("reported numbers", "(not described)",
     "all 9 (lambda_mmd x sigma) grid points are trained and the best TEST Recall@20 is reported "
     "(selection on the test set)"),
]
