"""About: the paper in one screen, where the released code departs from it, and the active dataset."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import paper_numbers, state

st.title("About MambaRec")
st.markdown(
    "**Modality Alignment with Multi-scale Bilateral Attention for Multimodal Recommendation** "
    "(Ren, Ju, Lee; CIKM 2025, arXiv 2509.09114). Released code: `rkl71/MambaRec`, built on MMRec; "
    "its graph backbone is MGCN (ACM MM 2023). This app runs a faithful, switchable reimplementation."
)
left, mid, right = st.columns(3)
with left:
    st.markdown("#### 1 · Dimension optimization")
    st.markdown("A linear map W_V takes the visual feature from D_V to **D_V / r** (r = 8: 4096 → 512). "
                "Claim: r = 8 cuts parameters by 30%+ and time by 25% for −0.3% Recall@20 (Baby); "
                "r = 16 loses 2% Recall@20 on Sports.")
with mid:
    st.markdown("#### 2 · DREAM")
    st.markdown("Dilated REfinement Attention Module (ASPP + CBAM): five branches (1×1 conv; 3×3 conv with "
                "three dilation rates; global pool → 1×1 conv → upsample), concatenated. Channel attention "
                "**M_c** and spatial attention **M_s** gate them; **max(F_c, F_s)** then a 1×1 conv. "
                "Claim: dual attention beats single by 1.8% Recall@20 (Baby).")
with right:
    st.markdown("#### 3 · Global alignment")
    st.markdown("Per batch, visual set V vs text set T: **MMD** with a Gaussian kernel of bandwidth **σ** and "
                "**InfoNCE** over matched pairs with temperature **τ**. L_global = λ_mmd L_mmd + λ_cl L_cl "
                "(best λ_mmd = 0.15, λ_cl = 0.01, σ ∈ {1, 1.5, 2}).")
st.markdown(
    "**Backbone and training** (MGCN as released): user-item LightGCN (4 layers, mean), per-modality item-item "
    "k-NN graphs (k = 10), purifier gates, attention fuser (common + specific), score = dot product; BPR + L2 + "
    "the alignment losses; Adam 1e-3 with a smooth decay; early stopping on valid Recall@20. **Evaluation**: full "
    "ranking over all items, training items masked, Recall / NDCG / Precision @10 and @20."
)

st.subheader("Where the released code departs from the paper")
st.table(pd.DataFrame(paper_numbers.PAPER_VS_CODE, columns=["point", "paper", "released code"]).set_index("point"))
st.caption("The Train page's variant picks one column: `paper` builds what the paper describes, `official` what "
           "the released code computes, `mgcn` MMRec's MGCN. Every switch can be mixed.")

dataset = state.active_dataset_name()
st.subheader(f"Dataset card: {dataset}")
try:
    card = state.dataset_card(dataset)
except Exception as exc:  # noqa: BLE001  (shown, not raised)
    st.error(f"Cannot load {dataset!r}: {exc}")
else:
    cols = st.columns(4)
    cols[0].metric("Users", f"{card['users']:,}")
    cols[1].metric("Items", f"{card['items']:,}")
    cols[2].metric("Interactions", f"{card['interactions']:,}")
    cols[3].metric("Density", f"{card['density']:.3%}")
    st.markdown(f"Split (MMRec's rule): train **{card['train']:,}** · valid **{card['valid']:,}** · test "
                f"**{card['test']:,}** interactions  \n"
                f"Visual features: **{card['visual_dim']}-d** · text features: **{card['text_dim']}-d** · "
                f"item metadata: {'yes' if card['has_metadata'] else 'no'} · "
                f"item images: {'yes' if card['has_images'] else 'no'}  \n"
                f"Source: `{card['source'] or card['name']}` · fingerprint `{card['fingerprint']}`")
    paper = paper_numbers.paper_dataset(dataset)
    if paper:
        stats = paper_numbers.DATASET_STATS[paper]
        st.caption(f"The paper's {paper.capitalize()}: {stats['users']:,} users, {stats['items']:,} items, "
                   f"{stats['interactions']:,} interactions, density {stats['density']:.3%}.")
