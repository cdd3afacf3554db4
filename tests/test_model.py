"""MambaRec model: variants, equivalences, losses, parameter counts."""

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mambarec.config import ConfigError, MGCNConfig, RunConfig, TrainConfig, mambarec_preset
from mambarec.graphs import build_graphs, inverse_sqrt, normalized_bipartite
from mambarec.model.base import eval_mode
from mambarec.model.baselines.freedom import unweighted_knn
from mambarec.model.init import init_parameters
from mambarec.model.losses import gaussian_kernel, info_nce, kernel_mean, mmd_loss
from mambarec.model.modal import ModalEncoder
from mambarec.model.zoo import build_model
from tests.devices import DEVICES
from tests.tiny import tiny_dataset

DS = tiny_dataset()
GRAPHS = build_graphs(DS, (10,), use_cache=False)
BATCH = (torch.tensor([0, 1, 2, 3, 3]), torch.tensor([4, 5, 6, 7, 7]), torch.tensor([8, 9, 10, 11, 12]))


def _model(variant="paper", seed=0, **over):
    """A MambaRec variant, or (``"mgcn"``) the MGCN model with its own config."""
    if variant == "mgcn":
        run = RunConfig(model_name="mgcn", model=MGCNConfig(**over), train=TrainConfig(batch_size=8))
    else:
        run = RunConfig(model=mambarec_preset(variant, **over), train=TrainConfig(batch_size=8))
    m = build_model(run, DS, graphs=GRAPHS)
    g = torch.Generator().manual_seed(seed)
    init_parameters(m, g)
    m.set_generator(g)
    return m


def test_graph_normalization_uses_only_correctly_rounded_operations(monkeypatch):
    """numpy's ``power`` runs other code on AVX-512 machines, whose last bit differs: the graphs' d^-1/2 must come
    from sqrt and division (IEEE 754 rounds both exactly everywhere), so a machine never changes the graphs."""

    def isa_dependent(*args, **kwargs):
        raise AssertionError("the graph builders call np.power, whose rounding depends on the CPU")

    monkeypatch.setattr(np, "power", isa_dependent)
    built = build_graphs(DS, (10,), use_cache=False)
    adj = built.norm_adj.scipy.tocoo()
    deg = np.asarray((adj != 0).sum(axis=1)).ravel()  # the tiny dataset's interactions are unweighted
    expected = [np.float32(np.float32(1.0 / math.sqrt(deg[i])) * np.float32(1.0 / math.sqrt(deg[j])))
                for i, j in zip(adj.row, adj.col, strict=True)]
    assert np.array_equal(adj.data, np.array(expected, dtype=np.float32))
    assert list(inverse_sqrt(np.array([0.0, -2.0, 4.0]))) == [0.0, 0.0, 0.5]
    # a user with 1,058 items: np.power(float32(1058), -0.5) on an AVX2 CPU is a last bit off sqrt and division
    one_user, _ = normalized_bipartite(sp.csr_matrix(np.ones((1, 1058), dtype=np.float32)))
    assert one_user[0, 1] == np.float32(1.0 / math.sqrt(1058.0))
    # FREEDOM's k-NN normalization: d_i^-1/2 d_j^-1/2 with d the row counts, by the same function
    neighbours = built.item_item("visual", 10).scipy.tocoo()
    d = inverse_sqrt(np.bincount(neighbours.row, minlength=neighbours.shape[0]))
    freedom = unweighted_knn(neighbours.tocsr()).tocoo()
    assert np.array_equal(freedom.data, (d[freedom.row] * d[freedom.col]).astype(np.float32))


def test_eval_mode_restores_the_mode_the_model_had_also_on_error():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    with eval_mode(net):
        assert not net.training and not net[1].training
    assert net.training and net[1].training
    with pytest.raises(RuntimeError, match="boom"), eval_mode(net):
        raise RuntimeError("boom")
    assert net.training
    net.eval()
    with eval_mode(net):
        pass
    assert not net.training  # a model in eval mode stays there


def test_each_variant_gives_finite_loss_and_gradients():
    for variant in ("paper", "official", "mgcn"):
        m = _model(variant, **({} if variant == "mgcn" else {"reduction_factor": 2}))
        parts = m.loss(*BATCH)
        assert torch.isfinite(parts["total"])
        parts["total"].backward()
        grads = [p.grad for p in m.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
        u, i = m.embeddings()
        assert u.shape == (DS.n_users, 64) and i.shape == (DS.n_items, 64)


def test_official_with_extras_off_is_exactly_mgcn():
    official = _model("official", use_dream=False, use_mmd=False, reduction_factor=1, modal_norm_dropout=False,
                      n_ui_layers=2)
    mgcn = _model("mgcn")
    assert official.state_dict().keys() == mgcn.state_dict().keys()
    mgcn.load_state_dict(official.state_dict())
    a, b = official.loss(*BATCH), mgcn.loss(*BATCH)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    official.eval(), mgcn.eval()
    for x, y in zip(official.embeddings(), mgcn.embeddings(), strict=True):
        assert torch.equal(x, y)


def test_the_backbone_variant_and_the_mgcn_model_are_one_computation():
    """``--model mgcn`` (MGCNConfig) and ``--model mambarec --variant backbone`` build the same model from the
    same draws: the same weights, losses and embeddings, bit for bit."""
    a, b = _model("backbone"), _model("mgcn")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka
    la, lb = a.loss(*BATCH), b.loss(*BATCH)
    assert all(torch.equal(la[k], lb[k]) for k in la) and la.keys() == lb.keys()


@pytest.mark.parametrize("switch,value", [
    ("use_mmd", False), ("use_cl", False), ("use_dream", False), ("channel_attention", False),
    ("spatial_attention", False), ("branch_pool", False), ("modal_norm_dropout", False), ("sigma", 2.0),
    ("cl_views", "both"), ("mmd_items", "batch"), ("fusion", "mean"),
])
def test_each_switch_changes_the_loss(switch, value):
    base = _model("paper", reduction_factor=2)
    other = _model("paper", reduction_factor=2, **{switch: value})
    assert not torch.allclose(base.loss(*BATCH)["total"], other.loss(*BATCH)["total"])


def test_loss_parts_follow_the_switches():
    assert "mmd" not in _model(use_mmd=False).loss(*BATCH)
    assert "cl" not in _model(use_cl=False).loss(*BATCH)
    assert set(_model().loss(*BATCH)) == {"bpr", "l2", "cl", "mmd", "total"}


def test_reduction_factor_sets_widths_and_parameter_counts():
    counts = {}
    for r in (1, 2, 4, 8, 16, 32):
        m = _model("paper", reduction_factor=r)
        enc = m.encoders["visual"]
        if r == 1:
            assert enc.reduce is None
        else:
            assert enc.reduce.out_features == DS.visual.shape[1] // r
        counts[r] = m.n_parameters()
    assert counts[2] > counts[4] > counts[8] > counts[16]


@pytest.mark.parametrize("device", DEVICES)
def test_fused_linear_chain_equals_two_linears_with_same_gradients(device):
    cfg = mambarec_preset("official")
    enc = ModalEncoder(32, 8, dataclasses.replace(cfg, use_dream=False))
    init_parameters(enc, torch.Generator().manual_seed(0))
    enc.to(device)
    x = torch.randn(5, 32).to(device).requires_grad_()
    y = enc(x)
    ref = enc.project(enc.reduce(x))
    assert torch.allclose(y, ref, atol=1e-6)
    g1 = torch.autograd.grad(y.sum(), [x, enc.reduce.weight, enc.project.weight])
    g2 = torch.autograd.grad(ref.sum(), [x, enc.reduce.weight, enc.project.weight])
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def _mmd_broadcast(x, y, sigma):
    x, y = torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(y, dim=1)

    def k(a, b):
        return torch.exp(-((a[:, None] - b[None]) ** 2).sum(2) / (2 * sigma**2))

    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()


@pytest.mark.parametrize("device", DEVICES)
def test_mmd_rewrite_equals_the_broadcast_formula(device):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 16, generator=g).to(device), (torch.randn(30, 16, generator=g) + 1).to(device)
    for sigma in (1.0, 1.5, 2.0):
        assert torch.allclose(mmd_loss(x, y, sigma), _mmd_broadcast(x, y, sigma), atol=1e-6)
    assert mmd_loss(x, x, 1.0).abs() < 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_kernel_mean_backward_is_the_gradient_of_the_autograd_formula(device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(30, 6, generator=g, dtype=torch.float64).to(device).requires_grad_()
    y = torch.randn(25, 6, generator=g, dtype=torch.float64).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: kernel_mean(a, b, 0.8), (x, y))
    assert torch.autograd.gradcheck(lambda a: kernel_mean(a, a, 0.8), (x,))  # the same rows on both sides
    for a, b in ((x, y), (x, x)):
        ref = torch.autograd.grad(gaussian_kernel(a, b, 0.8).mean(), x)[0]
        ours = torch.autograd.grad(kernel_mean(a, b, 0.8), x)[0]
        assert torch.allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_info_nce_equals_the_released_formula_and_is_stable_at_small_tau(device):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 8, generator=g).to(device), torch.randn(20, 8, generator=g).to(device)
    na, nb = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
    released = -torch.log(torch.exp((na * nb).sum(1) / 0.2) / torch.exp(na @ nb.t() / 0.2).sum(1)).mean()
    assert torch.allclose(info_nce(a, b, 0.2), released, atol=1e-5)
    assert torch.isfinite(info_nce(a, a, 0.01))  # exp(1/0.01) overflows float32 in the released form


def test_unknown_config_keys_fail_loudly():
    with pytest.raises(ConfigError, match="unknown key"):
        mambarec_preset("paper", lamda_mmd=0.1)
    with pytest.raises(ConfigError, match="reduction_factor"):
        mambarec_preset("paper", reduction_factor=3)
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.from_dict({"model": {}, "trian": {}})


def test_config_round_trips_through_json():
    run = RunConfig(dataset="ml100k", model=mambarec_preset("official", sigma=1.5), train=TrainConfig(seed=3))
    again = RunConfig.from_dict(__import__("json").loads(run.to_json()))
    assert again == run


def test_variant_presets_follow_the_paper_table():
    paper, official, mgcn = (mambarec_preset(v) for v in ("paper", "official", "backbone"))
    assert (paper.dream_map, paper.dilation_rates, paper.tau, paper.cl_views) == ("map", (1, 2, 3), 0.01, "visual-text")
    assert (official.dream_map, official.dilation_rates, official.tau, official.cl_views) == (
        "vector", (6, 12, 18), 0.2, "side-content")
    assert (mgcn.use_dream, mgcn.use_mmd, mgcn.n_ui_layers, mgcn.modal_norm_dropout) == (False, False, 2, False)
    assert np.isclose(official.bn_momentum, 1 - 0.9**2)


def test_training_never_writes_into_the_dataset_features():
    before = DS.visual.copy(), DS.text.copy()
    m = _model("official")
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    m.loss(*BATCH)["total"].backward()
    opt.step()
    assert np.array_equal(DS.visual, before[0]) and np.array_equal(DS.text, before[1])


def test_loss_parts_are_the_documented_formulas_on_a_batch_with_repeats():
    """BPR is a mean over the batch, the L2 term 0.5 x (||u||^2 + ||pos||^2 + ||neg||^2) / batch_size (the negatives
    too), and the paper's visual-text InfoNCE runs over the batch's distinct positives, unweighted
    (docs/departures.md: "the visual-text InfoNCE always takes distinct items"); BATCH repeats item 7."""
    users, pos, neg = BATCH
    m = _model("paper")
    m.set_generator(torch.Generator().manual_seed(5))
    parts = m.loss(users, pos, neg)
    m.set_generator(torch.Generator().manual_seed(5))
    out = m.propagate()
    cfg, nu = m.cfg, m.n_users
    u, p, n = out["final"][:nu][users], out["final"][nu:][pos], out["final"][nu:][neg]
    bpr = torch.nn.functional.softplus((u * n).sum(1) - (u * p).sum(1)).mean()
    l2 = cfg.reg_weight * 0.5 * (u.pow(2).sum() + p.pow(2).sum() + n.pow(2).sum()) / 8  # TrainConfig(batch_size=8)
    items = torch.unique(pos)
    cl = cfg.lambda_cl * info_nce(out["feat_visual"][items], out["feat_text"][items], cfg.tau)
    assert cfg.cl_views == "visual-text" and len(items) < len(pos)
    assert torch.allclose(parts["bpr"], bpr, rtol=1e-6)
    assert torch.allclose(parts["l2"], l2, rtol=1e-6)
    assert torch.allclose(parts["cl"], cl, rtol=1e-6)
