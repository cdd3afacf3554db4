"""Equivalent rewrites (README, "Equivalent rewrites"; docs/departures.md section 5): each fast form against the
direct one, values and gradients."""

import copy
import math

import numpy as np
import pytest
import torch

from mambarec.config import MGCNConfig, RunConfig, TrainConfig, mambarec_preset
from mambarec.graphs import build_graphs
from mambarec.model.init import init_parameters
from mambarec.model.losses import info_nce, kernel_mean, mmd_loss
from mambarec.model.zoo import build_model
from tests.fresh import modules_after
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


@pytest.mark.parametrize("tau", [0.2, 0.01])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_info_nce_node_equals_autograd_through_log_softmax(tau, dtype):
    """The one-node InfoNCE (its backward written out) against the formula left to autograd: the
    cross entropy of the batch with its repeats, a log-softmax over a b^T / tau and the diagonal."""
    a, b, ids = _repeated_batch(dtype=dtype)
    uniq, counts = torch.unique(ids, return_counts=True)
    fast = info_nce(a[uniq], b[uniq], tau, counts)
    na = torch.nn.functional.normalize(a[ids], dim=1)
    nb = torch.nn.functional.normalize(b[ids], dim=1)
    direct = -torch.log_softmax(na @ nb.t() / tau, dim=1).diagonal().mean()
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.allclose(fast, direct, rtol=rtol, atol=0)
    for x, y in zip(_grads(fast, (a, b)), _grads(direct, (a, b)), strict=True):
        assert torch.allclose(x, y, rtol=1e-10 if dtype == torch.float64 else 1e-4,
                              atol=1e-12 if dtype == torch.float64 else 1e-6)
    plain = info_nce(a, b, tau)  # no counts: every row once
    plain_direct = -torch.log_softmax(
        torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).t() / tau, dim=1
    ).diagonal().mean()
    assert torch.allclose(plain, plain_direct, rtol=rtol, atol=0)


def test_info_nce_stays_finite_when_a_row_is_far_below_its_max():
    """tau = 0.01 and opposite rows: a softmax over logits 200 apart, with counts up to a whole batch."""
    a = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    b = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0]], requires_grad=True)
    value = info_nce(a, b, 0.01, torch.tensor([2048, 1, 1]))
    value.backward()
    assert torch.isfinite(value) and value > 150  # each row's match is the worst column, 200 below the best
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


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
    if variant == "mgcn":
        run = RunConfig(model_name="mgcn", model=MGCNConfig(**over), train=TrainConfig(batch_size=8))
    else:
        run = RunConfig(model=mambarec_preset(variant, **over), train=TrainConfig(batch_size=8))
    m = build_model(run, DS, graphs=GRAPHS)
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


# ---- DREAM: the position-major fast form against the direct form on (n, C, H, W) maps ----------

def _dream_pair(shape, dtype=torch.float64, **over):
    from mambarec.model.dream import Dream

    fast = Dream(shape, mambarec_preset(over.pop("variant", "paper"), **over))
    init_parameters(fast, torch.Generator().manual_seed(3))
    # non-trivial BatchNorm affine parameters and running statistics
    with torch.no_grad():
        for m in fast.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(m.num_features))
                m.bias.uniform_(-0.2, 0.2, generator=torch.Generator().manual_seed(m.num_features + 1))
                m.running_var.fill_(1.3)
    fast = fast.to(dtype)
    direct = copy.deepcopy(fast)
    return fast, direct


def _close(a, b, rtol, atol, normwise):
    if not b.is_floating_point():
        return torch.equal(a, b)
    if normwise:  # float32: rounding is relative to the tensor's scale, not to each (tiny) entry
        return bool((a - b).norm() <= rtol * b.norm() + atol)
    return torch.allclose(a, b, rtol=rtol, atol=atol)


def _check_dream_pair(fast, direct, n=7, dtype=torch.float64, rtol=1e-9, atol=1e-11, steps=2, skip=(),
                      normwise=False):
    c, h, w = fast.shape
    g = torch.Generator().manual_seed(4)
    for _ in range(steps):  # two training steps: running statistics and their second update too
        x = torch.randn(n, c * h * w, generator=g, dtype=dtype)
        xf, xd = x.clone().requires_grad_(), x.clone().requires_grad_()
        yf, yd = fast(xf), direct.forward_direct(xd)
        assert _close(yf, yd, rtol, atol, normwise)
        weight = torch.randn(yf.shape, generator=g, dtype=dtype)
        pf = [xf] + list(fast.parameters())
        pd = [xd] + list(direct.parameters())
        gf = torch.autograd.grad((yf * weight).sum(), pf, allow_unused=True)
        gd = torch.autograd.grad((yd * weight).sum(), pd, allow_unused=True)
        names = ["input"] + [name for name, _ in fast.named_parameters()]
        for name, a, b in zip(names, gf, gd, strict=True):
            if any(name.endswith(end) for end in skip):
                continue
            if a is None or b is None:
                assert (a is None or not a.abs().any()) and (b is None or not b.abs().any()), name
                continue
            assert _close(a, b, rtol, atol, normwise), name
    for (name, a), (_, b) in zip(fast.named_buffers(), direct.named_buffers(), strict=True):
        assert _close(a.to(b.dtype), b, rtol, atol, normwise), name
    fast.eval(), direct.eval()
    x = torch.randn(n, c * h * w, generator=g, dtype=dtype)
    assert _close(fast(x), direct.forward_direct(x), rtol, atol, normwise)


@pytest.mark.parametrize("shape", [(10, 4, 4), (3, 2, 2), (4, 3, 5), (2, 8, 8)])
def test_fast_dream_equals_the_direct_form_on_paper_maps(shape):
    fast, direct = _dream_pair(shape)
    assert fast.conv_matrix is not None
    _check_dream_pair(fast, direct)


@pytest.mark.parametrize("over", [
    {"branch_conv1x1": False}, {"branch_dilated_1": False}, {"branch_pool": False},
    {"branch_conv1x1": False, "branch_dilated_1": False, "branch_dilated_2": False, "branch_dilated_3": False},
    {"channel_attention": False}, {"spatial_attention": False},
    {"channel_attention": False, "spatial_attention": False},
    {"fusion": "mean"}, {"fusion": "sum"}, {"attention_style": "official"},
    {"attention_style": "official", "fusion": "mean"}, {"dilation_rates": (1, 4, 9)},
])
def test_fast_dream_equals_the_direct_form_under_every_switch(over):
    _check_dream_pair(*_dream_pair((6, 4, 4), **over))


def test_fast_dream_equals_the_direct_form_on_the_released_vector_map():
    fast, direct = _dream_pair((16, 1, 1), variant="official")
    _check_dream_pair(fast, direct, n=9)


def test_fast_dream_without_the_conv_matrix_equals_the_direct_form(monkeypatch):
    """Maps above CONV_MATRIX_MAX_MACS keep the convolutions; the rest of the fast form is the same."""
    import mambarec.model.dream as dream

    monkeypatch.setattr(dream, "CONV_MATRIX_MAX_MACS", 0)
    fast, direct = _dream_pair((6, 4, 4))
    assert fast.conv_matrix is None
    _check_dream_pair(fast, direct)


def test_fast_dream_with_the_block_products_equals_the_direct_form(monkeypatch):
    """Maps above DENSE_CONV_MATRIX_MAX_MACS multiply the matrix's blocks only; the same mathematics."""
    import mambarec.model.dream as dream

    monkeypatch.setattr(dream, "DENSE_CONV_MATRIX_MAX_MACS", 0)
    fast, direct = _dream_pair((6, 4, 4))
    assert fast.conv_matrix is not None and fast.conv_matrix.dense_index is None
    _check_dream_pair(fast, direct)
    monkeypatch.setattr(dream, "DENSE_CONV_MATRIX_MAX_MACS", 1 << 17)
    assert _dream_pair((6, 4, 4))[0].conv_matrix.dense_index is not None  # the default: whole on this map


def test_fast_dream_in_float32_moves_only_by_rounding():
    fast, direct = _dream_pair((10, 4, 4), dtype=torch.float32)
    # a conv bias followed by a training-mode BatchNorm has gradient 0 (float32: rounding noise either
    # way); the float64 tests above check it
    _check_dream_pair(fast, direct, n=64, dtype=torch.float32, rtol=1e-4, atol=1e-5, skip=("conv.bias",),
                      normwise=True)


def test_conv_matrix_is_the_convolutions():
    from mambarec.model.dream_kernels import ConvMatrix

    g = torch.Generator().manual_seed(5)
    c, h, w = 3, 4, 5
    convs = [(1, 1), (3, 1), (3, 2), (3, 4)]
    weights = [torch.randn(c, c, k, k, generator=g, dtype=torch.float64, requires_grad=True) for k, _ in convs]
    biases = [torch.randn(c, generator=g, dtype=torch.float64, requires_grad=True) for _ in convs]
    x = torch.randn(6, c * h * w, generator=g, dtype=torch.float64, requires_grad=True)
    fast = ConvMatrix(c, h, w, convs)(x, weights, biases)  # (n, H*W, 4C)
    m = x.view(6, c, h, w)
    direct = torch.cat([torch.nn.functional.conv2d(m, wt, bs, padding=d * (k // 2), dilation=d)
                        for wt, bs, (k, d) in zip(weights, biases, convs, strict=True)], 1)
    assert torch.allclose(fast, direct.flatten(2).transpose(1, 2), rtol=1e-12, atol=1e-12)
    plan = ConvMatrix(c, h, w, convs)
    dense = (x @ plan.dense(weights)).view(6, h * w, -1) + torch.cat(biases).repeat(h * w).view(h * w, -1)
    assert torch.allclose(dense, fast, rtol=1e-12, atol=1e-12)  # the blocks are the whole matrix's
    assert plan.entries() == ConvMatrix.macs_per_item(c, h, w, convs) < ConvMatrix.dense_macs_per_item(c, h, w, convs)
    whole = ConvMatrix(c, h, w, convs, dense=True)  # the whole matrix in one product: the same values
    assert whole.dense_index is not None and plan.dense_index is None
    assert torch.allclose(whole(x, weights, biases), fast, rtol=1e-12, atol=1e-12)
    for dense in (False, True):
        assert torch.autograd.gradcheck(
            lambda a, *ws, dense=dense: ConvMatrix(c, h, w, convs, dense=dense)(a, list(ws[:4]), list(ws[4:])),
            (x, *weights, *biases))


def test_max_gate_is_the_max_of_the_two_products_with_torch_gradient_rule():
    from mambarec.model.dream_kernels import max_gate

    g = torch.Generator().manual_seed(6)
    f = torch.rand(5, 4, 6, generator=g, dtype=torch.float64)
    f[0, 0] = 0.0  # ReLU zeros
    a = torch.rand(5, 1, 6, generator=g, dtype=torch.float64)
    b = torch.rand(5, 4, 1, generator=g, dtype=torch.float64)
    b[1, 2, 0] = a[1, 0, 3]  # an exact tie: torch.maximum splits the gradient in halves
    inputs = [t.clone().requires_grad_() for t in (f, a, b)]
    fast = max_gate(*inputs)
    ref_in = [t.clone().requires_grad_() for t in (f, a, b)]
    direct = torch.maximum(ref_in[0] * ref_in[1], ref_in[0] * ref_in[2])
    assert torch.equal(fast, direct)
    weight = torch.randn(fast.shape, generator=g, dtype=torch.float64)
    gf = torch.autograd.grad((fast * weight).sum(), inputs)
    gd = torch.autograd.grad((direct * weight).sum(), ref_in)
    for a_, b_ in zip(gf[1:], gd[1:], strict=True):  # the attention maps: the same gradients
        assert torch.allclose(a_, b_, rtol=1e-12, atol=1e-15)
    # f: the same where f > 0; at f = 0 the direct form splits ties, but a ReLU's zero passes no gradient on
    pos = f > 0
    assert torch.allclose(gf[0][pos], gd[0][pos], rtol=1e-12, atol=1e-15)
    assert torch.autograd.gradcheck(max_gate, [t.clone().requires_grad_() for t in (f + 0.1, a, b + 0.05)])


@pytest.mark.parametrize("over", [{}, {"reduction_factor": 4}, {"attention_style": "official"}])
def test_paper_encoders_with_fast_dream_give_the_direct_losses_and_gradients(over):
    """Both modal encoders of a paper-variant model (reduce -> DREAM map -> project), then the MMD
    and visual-text InfoNCE of the features, in float64: fast DREAM against forward_direct."""
    from mambarec.model.dream import Dream

    model = _model("paper", **over).double()
    items = torch.tensor([0, 3, 4, 7, 9, 12, 20])

    def losses(direct):
        encoders = copy.deepcopy(model.encoders)
        if direct:
            for m in encoders.modules():
                if isinstance(m, Dream):
                    m.forward = m.forward_direct
        feats = {m: encoders[m](model.features[m].weight) for m in ("visual", "text")}
        total = mmd_loss(feats["visual"][items], feats["text"][items], 1.0) + info_nce(
            feats["visual"][items], feats["text"][items], 0.01)
        return total, torch.autograd.grad(total, list(encoders.parameters()))

    fast, g_fast = losses(False)
    direct, g_direct = losses(True)
    assert torch.allclose(fast, direct, rtol=1e-12)
    for a, b in zip(g_fast, g_direct, strict=True):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-12)


def test_position_and_channel_means_are_the_two_means_with_their_gradient():
    from mambarec.model.dream_kernels import position_and_channel_means

    f = torch.randn(4, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(7), requires_grad=True)
    pooled, channel = position_and_channel_means(f)
    assert torch.allclose(pooled, f.mean(dim=1)) and torch.allclose(channel, f.mean(dim=2, keepdim=True))
    assert torch.autograd.gradcheck(lambda t: position_and_channel_means(t), (f,))


def test_lightgcn_layer_sum_equals_the_mean_of_the_stacked_layers():
    from mambarec.model.mambarec import lightgcn

    g = torch.Generator().manual_seed(8)
    a = torch.randn(30, 30, generator=g, dtype=torch.float64) / 6
    e = torch.randn(30, 5, generator=g, dtype=torch.float64, requires_grad=True)
    fast = lightgcn(lambda x: a @ x, e, 4)
    layers = [e]
    for _ in range(4):
        layers.append(a @ layers[-1])
    direct = torch.stack(layers).mean(0)
    assert torch.allclose(fast, direct, rtol=1e-13)
    w = torch.randn(fast.shape, generator=g, dtype=torch.float64)
    assert torch.allclose(torch.autograd.grad((fast * w).sum(), e)[0], torch.autograd.grad((direct * w).sum(), e)[0],
                          rtol=1e-12)


def _adam_trajectory(kind: str, start: list[torch.Tensor], grads: list[list[torch.Tensor | None]],
                     resume_after: int | None = None) -> list[torch.Tensor]:
    """Parameters after ``grads``' steps under a decaying rate: ``kind`` "ours" (mambarec.optim), "fused" or "loop"
    (torch.optim.Adam's two forms); with ``resume_after``, the optimizer and schedule are saved after that many steps
    and loaded into the other implementation (ours <-> torch's fused), as a resume file written by one would be."""
    from mambarec.optim import Adam, RateSchedule

    def build(kind, params):
        if kind == "ours":
            opt = Adam(params, lr=4e-3)
            return opt, RateSchedule(opt, lambda e: 0.96 ** (e / 2))
        opt = torch.optim.Adam(params, lr=4e-3, fused=kind == "fused", foreach=None if kind == "fused" else False)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.96 ** (e / 2))

    params = [torch.nn.Parameter(t.clone()) for t in start]
    opt, sched = build(kind, params)
    for i, step in enumerate(grads):
        if i == resume_after:
            saved = copy.deepcopy((opt.state_dict(), sched.state_dict()))
            opt, sched = build("fused" if kind == "ours" else "ours", params)
            opt.load_state_dict(saved[0])
            sched.load_state_dict(saved[1])
        for p, gr in zip(params, step, strict=True):
            p.grad = None if gr is None else gr.clone()
        opt.step()
        sched.step()
    return [p.detach() for p in params]


def test_our_adam_is_torchs_fused_adam_to_the_bit_and_the_loop_form_to_rounding():
    """mambarec.optim (torch's fused kernel without torch.optim) against torch.optim.Adam: the same bits as its fused
    form, the per-tensor form to rounding, over steps with a decaying rate and a parameter without a gradient in
    some steps (left alone, as torch leaves it); and a state saved by either continues the same in the other."""
    g = torch.Generator().manual_seed(9)
    shapes = [(40, 24), (24,), (7, 3)]
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) if (i, j) != (2, 1) and (i, j) != (3, 1) else None
              for j, s in enumerate(shapes)] for i in range(6)]
    ours, fused, loop = (_adam_trajectory(kind, start, grads) for kind in ("ours", "fused", "loop"))
    for o, f, lo, first in zip(ours, fused, loop, start, strict=True):
        assert not torch.equal(o, first)
        assert torch.equal(o, f)
        assert torch.allclose(o, lo, rtol=0, atol=1e-6)
    for kind in ("ours", "fused"):  # saved by one after 3 steps, loaded into the other: the same bits at the end
        assert all(torch.equal(a, b) for a, b in zip(_adam_trajectory(kind, start, grads, resume_after=3), fused,
                                                     strict=True))


def test_a_trainer_never_imports_torchs_compiler():
    """The lever of mambarec/optim.py: building a trainer and training an epoch leave torch._dynamo unimported (it
    cost each training process 1.5-1.8 s); a fresh interpreter, since this one may have imported it already."""
    assert "torch._dynamo" not in modules_after("""
        from mambarec.config import RunConfig, TrainConfig, mambarec_preset
        from mambarec.train import Trainer
        from tests.tiny import tiny_dataset
        run = RunConfig(model=mambarec_preset("paper", reduction_factor=2), train=TrainConfig(epochs=1, batch_size=32))
        assert Trainer.for_run(run, tiny_dataset()).fit().epochs_run == 1
        """)


def test_csr_products_with_32_bit_indices_are_the_64_bit_products_to_the_bit():
    """The graphs store int32 indices (MKL's own; torch converts int64 ones on every product): same bits."""
    import scipy.sparse as sp

    from mambarec.graphs import csr_index_dtype, to_torch_csr

    rng = torch.Generator().manual_seed(11)
    for dtype in (torch.float32, torch.float64):
        dense = torch.rand(300, 200, generator=rng) * (torch.rand(300, 200, generator=rng) < 0.05)
        m = sp.csr_matrix(dense.numpy())
        a32 = to_torch_csr(m).to(dtype)
        assert a32.crow_indices().dtype == a32.col_indices().dtype == torch.int32
        a64 = torch.sparse_csr_tensor(a32.crow_indices().long(), a32.col_indices().long(), a32.values(), size=m.shape,
                                      check_invariants=True)
        x = torch.randn(200, 64, generator=rng, dtype=dtype)
        before = torch.get_num_threads()
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                assert torch.equal(a32 @ x, a64 @ x)
        finally:
            torch.set_num_threads(before)
    assert csr_index_dtype(sp.csr_matrix((1, 2**31))) == np.int64  # a dimension past int32: the wide indices


def test_constant_sparse_backward_with_its_stored_transpose_is_the_dense_gradient():
    """``ConstantSparse``'s backward multiplies by the transpose built once; the gradient of A x is A^T g."""
    import scipy.sparse as sp

    from mambarec.graphs import ConstantSparse

    rng = torch.Generator().manual_seed(10)
    dense = torch.rand(12, 9, generator=rng) * (torch.rand(12, 9, generator=rng) < 0.3)
    for m in (sp.csr_matrix(dense.numpy()), sp.csr_matrix((dense[:9] + dense[:9].T).numpy())):  # one symmetric
        a = torch.tensor(m.toarray())
        x = torch.randn(m.shape[1], 4, generator=rng, requires_grad=True)
        w = torch.randn(m.shape[0], 4, generator=rng)
        out = ConstantSparse(m)(x)
        assert torch.allclose(out, a @ x, atol=1e-6)
        (grad,) = torch.autograd.grad((out * w).sum(), x)
        assert torch.allclose(grad, a.t() @ w, atol=1e-6)


def test_info_nce_shifts_each_row_by_its_own_max_at_small_tau():
    """Row 0's logits are -100 and +100 (tau = 0.01); column 0's max is 0. Shifting row 0 by anything but its own
    max overflows float32's exp: the value is (200 + ln 2) / 2 by hand (row 0 matches its worst column, 200 below
    the best; row 1 ties two columns), and the gradient is autograd's through log_softmax."""
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    b = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], requires_grad=True)
    value = info_nce(a, b, 0.01)
    assert value.item() == pytest.approx((200 + math.log(2)) / 2, rel=1e-6)
    a64, b64 = a.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    direct = -torch.log_softmax(torch.nn.functional.normalize(a64, dim=1)
                                @ torch.nn.functional.normalize(b64, dim=1).t() / 0.01, dim=1).diagonal().mean()
    for x, y in zip(_grads(value, (a, b)), _grads(direct, (a64, b64)), strict=True):
        assert torch.allclose(x.double(), y, rtol=1e-4, atol=1e-4)


def test_kernel_mean_of_a_matrix_with_itself_under_two_weightings_has_its_gradient():
    """kernel_mean(x, x, sigma, wx, wy) with wx != wy is not the symmetric case: its two sides' gradients differ,
    so the one-product shortcut (for wx is wy) must not be taken."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 4, generator=g, dtype=torch.float64, requires_grad=True)
    wx = torch.rand(7, generator=g, dtype=torch.float64)
    wy = torch.rand(7, generator=g, dtype=torch.float64)
    wx, wy = wx / wx.sum(), wy / wy.sum()
    k = torch.exp(-((x[:, None] - x[None]) ** 2).sum(2) / (2 * 0.8**2))
    assert torch.allclose(kernel_mean(x, x, 0.8, wx, wy), wx @ k @ wy, rtol=1e-12)
    want = torch.autograd.grad(wx @ k @ wy, x)[0]
    assert torch.allclose(torch.autograd.grad(kernel_mean(x, x, 0.8, wx, wy), x)[0], want, rtol=1e-10, atol=1e-14)
