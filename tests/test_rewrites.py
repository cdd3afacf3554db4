"""Equivalent rewrites (README, "Equivalent rewrites"): each fast form against the direct one,
values and gradients."""

import pytest
import torch

from mambarec.config import RunConfig, TrainConfig, make_model_config
from mambarec.graphs import build_graphs
from mambarec.model import build_model
from mambarec.model.init import init_parameters
from mambarec.model.losses import info_nce, kernel_mean, mmd_loss
from tests.tiny import tiny_dataset

DS = tiny_dataset()
GRAPHS = build_graphs(DS, (10,), use_cache=False)


def _grads(value, inputs):
    return torch.autograd.grad(value, inputs)


def _repeated_batch(n_rows=25, n_ids=60, dim=8, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n_rows, dim, generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(n_rows, dim, generator=g, dtype=dtype, requires_grad=True)
    ids = torch.randint(0, n_rows, (n_ids,), generator=g)
    ids[:4] = 3  # at least one id seen several times
    return a, b, ids


@pytest.mark.parametrize("tau", [0.2, 0.01])
def test_info_nce_on_distinct_rows_with_counts_equals_the_batch_with_repeats(tau):
    a, b, ids = _repeated_batch()
    direct = info_nce(a[ids], b[ids], tau)
    uniq, counts = torch.unique(ids, return_counts=True)
    fast = info_nce(a[uniq], b[uniq], tau, counts)
    assert torch.allclose(fast, direct, rtol=1e-12, atol=0)
    for x, y in zip(_grads(fast, (a, b)), _grads(direct, (a, b)), strict=True):
        assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)
    # float32, the training dtype: the usual rounding only
    a32, b32 = a.detach().float().requires_grad_(), b.detach().float().requires_grad_()
    d32, f32 = info_nce(a32[ids], b32[ids], tau), info_nce(a32[uniq], b32[uniq], tau, counts)
    assert torch.allclose(f32, d32, rtol=1e-6)
    for x, y in zip(_grads(f32, (a32, b32)), _grads(d32, (a32, b32)), strict=True):
        assert torch.allclose(x, y, rtol=1e-4, atol=1e-6)


def test_info_nce_with_unit_counts_is_the_plain_form():
    a, b, _ = _repeated_batch()
    ones = torch.ones(len(a), dtype=torch.long)
    assert torch.allclose(info_nce(a, b, 0.2, ones), info_nce(a, b, 0.2), rtol=1e-12)


@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_mmd_on_distinct_rows_with_counts_equals_the_batch_with_repeats(sigma):
    a, b, ids = _repeated_batch(seed=1)
    direct = mmd_loss(a[ids], b[ids], sigma)
    uniq, counts = torch.unique(ids, return_counts=True)
    fast = mmd_loss(a[uniq], b[uniq], sigma, counts=counts)
    assert torch.allclose(fast, direct, rtol=1e-10, atol=1e-14)
    for x, y in zip(_grads(fast, (a, b)), _grads(direct, (a, b)), strict=True):
        assert torch.allclose(x, y, rtol=1e-9, atol=1e-13)


def test_weighted_kernel_mean_backward_is_its_gradient():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(12, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(9, 5, generator=g, dtype=torch.float64, requires_grad=True)
    wx = torch.rand(12, generator=g, dtype=torch.float64)
    wy = torch.rand(9, generator=g, dtype=torch.float64)
    wx, wy = wx / wx.sum(), wy / wy.sum()
    assert torch.autograd.gradcheck(lambda a, b: kernel_mean(a, b, 0.8, wx, wy), (x, y))
    assert torch.autograd.gradcheck(lambda a: kernel_mean(a, a, 0.8, wx, wx), (x,))
    k = torch.exp(-torch.cdist(x, y).pow(2) / (2 * 0.8**2))
    assert torch.allclose(kernel_mean(x, y, 0.8, wx, wy), wx @ k @ wy, rtol=1e-12)


def _model(variant, seed=0, **over):
    run = RunConfig(model=make_model_config(variant, **over), train=TrainConfig(batch_size=8))
    m = build_model(run, DS, GRAPHS)
    init_parameters(m, torch.Generator().manual_seed(seed))
    return m


@pytest.mark.parametrize("variant", ["official", "mgcn"])
def test_model_alignment_losses_equal_the_direct_forms_on_repeated_rows(variant):
    """The model's InfoNCE (side vs content, users and items) and MMD over the batch's positives
    with repeats, against the n x n forms on the gathered rows."""
    users = torch.tensor([0, 1, 2, 3, 3, 5, 0, 0])
    pos = torch.tensor([4, 5, 6, 7, 7, 4, 4, 9])
    neg = torch.tensor([8, 9, 10, 11, 12, 13, 14, 15])
    m = _model(variant)
    m.set_generator(torch.Generator().manual_seed(5))
    parts = m.loss(users, pos, neg)
    m.set_generator(torch.Generator().manual_seed(5))
    out = m.propagate()
    cfg, nu = m.cfg, m.n_users
    side, content = out["side"], out["content"]
    cl = info_nce(side[nu:][pos], content[nu:][pos], cfg.tau) + info_nce(side[:nu][users], content[:nu][users], cfg.tau)
    assert torch.allclose(parts["cl"], cfg.lambda_cl * cl, rtol=1e-6)
    if variant == "official":
        mmd = mmd_loss(out["feat_visual"][pos], out["feat_text"][pos], cfg.sigma)
        assert torch.allclose(parts["mmd"], cfg.lambda_mmd * mmd, rtol=1e-5, atol=1e-9)
    params = [p for p in m.parameters() if p.requires_grad]
    fast = torch.autograd.grad(parts["cl"], params, allow_unused=True)
    direct = torch.autograd.grad(cfg.lambda_cl * cl, params, allow_unused=True)
    for x, y in zip(fast, direct, strict=True):
        assert (x is None) == (y is None)
        if x is not None:
            assert torch.allclose(x, y, rtol=1e-4, atol=1e-8)

