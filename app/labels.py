"""Plain-language labels and one-line help for every config field the Train form shows.

The config's own help (``mambarec.config.help_text``: meaning, paper symbol, valid range) stays the
reference; these lines say what a switch does for a student who has not read the paper, with the
paper's symbol in brackets. ``kind`` tells ``app.widgets`` which widget to draw; ``choices`` names a
select field's values in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Label:
    label: str  # short, plain; the paper's symbol in brackets
    plain: str  # one sentence: what it does
    kind: str  # bool | select | int | float | rates
    widget: dict = field(default_factory=dict)  # number_input's step and format (its bounds: the config's)
    choices: dict = field(default_factory=dict)  # select value -> words


def _b(label: str, plain: str) -> Label:
    return Label(label, plain, "bool")


def _s(label: str, plain: str, choices: dict | None = None) -> Label:
    return Label(label, plain, "select", choices=choices or {})


def _i(label: str, plain: str, **widget) -> Label:
    return Label(label, plain, "int", widget)


def _f(label: str, plain: str, **widget) -> Label:
    return Label(label, plain, "float", widget)


LABELS: dict[str, Label] = {
    # which model, which preset
    "variant": _s("Starting preset", "Which version of MambaRec the switches start from; changing it resets them.",
                  {"paper": "the paper's", "official": "released code", "backbone": "MGCN only"}),
    # features and graphs
    "embedding_dim": _i("Embedding size (d)", "How many numbers describe each user and item; bigger is slower.",
                        step=8),
    "n_ui_layers": _i("User-item graph hops (L)",
                      "How often embeddings are averaged over neighbours in the who-clicked-what graph."),
    "n_mm_layers": _i("Item-item graph hops", "How often an item's features are averaged with similar items'."),
    "knn_k": _i("Similar items per item (k)", "Each item is linked to this many look-alike items (by image/text)."),
    "reduction_factor": _s("Feature shrink factor (r)",
                           "Image features are shrunk r times before DREAM: larger r is faster, smaller keeps detail."),
    "text_path": _s("Text path", "Whether text features are shrunk like the image ones or go straight to size d.",
                    {"reduced": "shrunk like images (paper)", "direct": "straight to d (released code)"}),
    "freeze_features": _b("Keep raw features fixed",
                          "On: the image and text feature tables stay as given (paper); off: they are trained too."),
    # DREAM
    "use_dream": _b("DREAM", "Refines each modality's features with five parallel filters and two attention masks."),
    "dream_map": _s("DREAM input shape", "What DREAM looks at: features folded into a small grid, or one vector.",
                    {"map": "a small grid (paper)", "vector": "a 1 x 1 vector (released code)"}),
    "dream_side": _i("DREAM grid side", "Largest side of the square grid the shrunk features are folded into."),
    "dilation_rates": Label("Filter spacings a, b, c",
                            "How far apart the taps of branches 2-4 are: wider spacing sees more context.", "rates"),
    "branch_conv1x1": _b("Branch 1: point filter", "A 1x1 filter: looks at each grid position on its own."),
    "branch_dilated_1": _b("Branch 2: spacing a", "A 3x3 filter with spacing a: a position and its near neighbours."),
    "branch_dilated_2": _b("Branch 3: spacing b", "A 3x3 filter with spacing b: a wider neighbourhood."),
    "branch_dilated_3": _b("Branch 4: spacing c", "A 3x3 filter with spacing c: the widest neighbourhood."),
    "branch_pool": _b("Branch 5: whole-grid summary", "Averages the whole grid and spreads it back: global context."),
    "channel_attention": _b("Channel attention (M_c)", "Learns which feature channels matter and scales them."),
    "spatial_attention": _b("Spatial attention (M_s)", "Learns which grid positions matter and scales them."),
    "attention_style": _s("Attention as in", "The paper's attention blocks, or the released code's simpler ones.",
                          {"paper": "the paper", "official": "the released code"}),
    "attention_reduction": _i("Channel-attention squeeze",
                              "How much channel attention compresses before deciding; bigger means fewer weights."),
    "fusion": _s("Combine the two attentions by", "How the channel- and spatial-attention outputs are merged.",
                 {"max": "maximum", "mean": "average", "sum": "sum"}),
    "bn_momentum": _f("BatchNorm update speed", "How fast DREAM's running statistics follow each new batch.",
                      step=0.01),
    "modal_norm_dropout": _b("Normalize + dropout",
                             "Rescales both modalities' features and randomly hides some while training."),
    "dropout": _f("Dropout share (p)", "Share of feature values hidden at random while training.", step=0.05),
    "reg_weight": _f("Weight penalty (λ_reg)", "Discourages large embeddings, which helps against overfitting.",
                     step=1e-5, format="%.1e"),
    # alignment losses
    "use_mmd": _b("Match distributions (MMD)",
                  "Pulls the cloud of image features and the cloud of text features towards one shape."),
    "lambda_mmd": _f("MMD strength (λ_mmd)", "How much distribution matching counts beside the ranking loss.",
                     step=0.05, format="%.3f"),
    "sigma": _f("MMD similarity width (σ)", "How close two features must be to count as alike; larger is coarser.",
                step=0.5, format="%.2f"),
    "mmd_items": _s("Items MMD compares", "Which items of a batch the distribution matching looks at.",
                    {"unique": "each item once (paper)", "batch": "every batch entry, repeats too (released code)"}),
    "use_cl": _b("Pair each item's views (InfoNCE)",
                 "Pulls an item's image and text features together, pushes other items' apart."),
    "lambda_cl": _f("InfoNCE strength (λ_cl)", "How much the pairing loss counts beside the ranking loss.",
                    step=0.01, format="%.3f"),
    "tau": _f("InfoNCE sharpness (τ)", "Low: only the most confusable wrong pairs matter; high: all count evenly.",
              step=0.01, format="%.3f"),
    "cl_views": _s("What InfoNCE pairs", "Which two views of an item the pairing loss pulls together.",
                   {"visual-text": "image vs text (paper)", "side-content": "graph vs content (released code)",
                    "both": "both pairings"}),
    # baselines
    "n_layers": _i("User-item graph hops (K)", "How often embeddings are averaged over neighbours in the graph."),
    "mm_image_weight": _f("Image share of item graph (α)", "How much image similarity (vs text) links items.",
                          step=0.05),
    "edge_dropout": _f("Edges dropped per epoch (ρ)", "Share of user-item links hidden each epoch.", step=0.05),
    "lambda_mirror": _f("Mirror loss strength (λ)", "Weight of the extra image-only and text-only ranking losses.",
                        step=1e-5, format="%.1e"),
    # training
    "schedule": _s("Training schedule", "A preset of learning rate, batch size and warm-up.",
                   {"paper": "paper (lr 1e-3)", "fast": "fast (lr 4e-3)",
                    "large-batch": "large batch (8,192)"}),
    "epochs": _i("Epoch cap", "Runs stop by early stopping; this is only the upper limit."),
    "seed": _i("Seed", "Fixes every random draw: the same seed gives the same run."),
    "batch_size": _i("Batch size", "Interactions per training step.", step=256),
    "learning_rate": _f("Learning rate", "Step size of the optimizer (Adam).", step=1e-4,
                        format="%.1e"),
    "lr_decay": _f("Learning-rate decay", "Over each decay period the learning rate shrinks by this factor, a "
                   "little every epoch (not in one step).", step=0.01),
    "lr_decay_epochs": _i("Decay period (epochs)", "Epochs over which the learning rate shrinks by the decay factor."),
    "warmup_epochs": _i("Warm-up epochs", "The learning rate ramps up linearly over these first epochs."),
    "patience": _i("Patience (epochs)", "Stop after patience + 1 epochs without a better validation Recall@20."),
    "eval_every": _i("Evaluate every N epochs", "How often validation metrics are computed."),
    "device": _s("Device", "Where to train: a GPU when there is one (auto), or the CPU.",
                 {"auto": "auto", "cpu": "CPU", "cuda": "GPU (CUDA)"}),
    "eval_batch_users": _i("Users per evaluation block", "Only changes memory use, never the results.", step=512),
    "compile": _s("Compile DREAM", "A ~25 s compile first, then big DREAM maps train faster (Baby; ml100k r <= 2).",
                  {"none": "no", "dream": "yes (torch.compile)"}),
}


def label_of(name: str) -> str:
    return LABELS[name].label if name in LABELS else name

