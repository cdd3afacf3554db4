"""DREAM: a real C x H x W map in the paper variant, 1x1 collapse in the released one, switches."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from mambarec.config import mambarec_preset
from mambarec.model.dream import ConvBranch, Dream, fuse, map_shape, pointwise
from mambarec.model.init import init_parameters
from tests.devices import DEVICES


def _dream(shape, **over):
    cfg = mambarec_preset("paper", **over)
    d = Dream(shape, cfg)
    init_parameters(d, torch.Generator().manual_seed(0))
    return d


def test_paper_map_shape_is_a_real_map():
    assert map_shape(512, 8) == (8, 8, 8)  # 4096 / 8, the paper's example
    assert map_shape(160, 8) == (10, 4, 4)  # ml100k: 1280 / 8
    assert map_shape(64, 1) == (64, 1, 1)


@pytest.mark.parametrize("rate", [1, 2, 3])
def test_dilated_branches_see_neighbours_on_the_paper_map(rate):
    branch = ConvBranch(8, 3, rate, 0.1)
    init_parameters(branch, torch.Generator().manual_seed(1))
    branch.eval()
    x = torch.randn(1, 8, 8, 8)
    y = branch.conv(x)
    x2 = x.clone()
    x2[0, :, 4 + rate, 4] += 1.0  # a neighbour at exactly the dilation distance
    assert not torch.allclose(branch.conv(x2)[0, :, 4, 4], y[0, :, 4, 4])
    x3 = x.clone()
    off = (5, 5) if rate > 1 else (6, 4)  # off the dilated grid: invisible to the centre output
    x3[0, :, off[0], off[1]] += 1.0
    assert torch.allclose(branch.conv(x3)[0, :, 4, 4], y[0, :, 4, 4])
    # and the branch is not its centre tap alone
    centre = F.conv2d(x, branch.conv.weight[:, :, 1:2, 1:2], branch.conv.bias)
    assert not torch.allclose(y, centre)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rate", [6, 12, 18])
def test_released_1x1_maps_collapse_dilated_branches_to_1x1(rate, device):
    branch = ConvBranch(16, 3, rate, 0.1)
    init_parameters(branch, torch.Generator().manual_seed(2))
    branch.to(device)
    x = torch.randn(5, 16, 1, 1).to(device)
    padded = branch.conv(x)  # the real padded, dilated convolution
    centre = F.conv2d(x, branch.conv.weight[:, :, 1:2, 1:2], branch.conv.bias)
    assert torch.allclose(padded, centre, atol=1e-6)
    assert torch.allclose(branch(x), F.relu(branch.bn(padded)), atol=1e-6)  # fast path is exact


@pytest.mark.parametrize("device", DEVICES)
def test_pointwise_rewrite_of_1x1_convs_on_1x1_maps_is_exact(device):
    conv = torch.nn.Conv2d(12, 5, 1)
    init_parameters(conv, torch.Generator().manual_seed(3))
    conv.to(device)
    x = torch.randn(7, 12, 1, 1).to(device).requires_grad_()
    fast, slow = pointwise(x, conv), conv(x)
    assert torch.allclose(fast, slow, atol=1e-6)
    g_fast = torch.autograd.grad(fast.sum(), (x, conv.weight))
    g_slow = torch.autograd.grad(slow.sum(), (x, conv.weight))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_fast, g_slow, strict=True))
    big = torch.randn(2, 12, 3, 3).to(device)
    assert torch.equal(pointwise(big, conv), conv(big))  # real maps keep the convolution


def test_only_1x1_branch_and_no_attention_is_branch_then_output_block():
    d = _dream((4, 4, 4), branch_dilated_1=False, branch_dilated_2=False, branch_dilated_3=False,
               branch_pool=False, channel_attention=False, spatial_attention=False)
    d.eval()
    x = torch.randn(3, 64)
    m = x.view(3, 4, 4, 4)
    expected = F.relu(d.out_bn(d.out_conv(d.branches["conv1x1"](m)))).reshape(3, -1)
    assert torch.allclose(d.forward_direct(x), expected)
    assert torch.allclose(d(x), expected, atol=1e-6)  # the fast form: float32 rounding (~1 ulp) only


SWITCHES = ["branch_conv1x1", "branch_dilated_1", "branch_dilated_2", "branch_dilated_3", "branch_pool",
            "channel_attention", "spatial_attention"]


@pytest.mark.parametrize("switch", SWITCHES)
def test_each_switch_changes_the_output(switch):
    x = torch.randn(6, 128)
    base = _dream((8, 4, 4))
    off = _dream((8, 4, 4), **{switch: False})
    base.eval(), off.eval()
    assert not torch.allclose(base(x), off(x))


@pytest.mark.parametrize("fusion", ["mean", "sum"])
def test_fusion_alternatives_change_the_output(fusion):
    x = torch.randn(6, 128)
    a, b = _dream((8, 4, 4)), _dream((8, 4, 4), fusion=fusion)
    a.eval(), b.eval()
    assert not torch.allclose(a(x), b(x))


@pytest.mark.parametrize("style", ["paper", "official"])
def test_switched_off_attention_is_replaced_by_ones(style):
    d = _dream((8, 4, 4), attention_style=style, channel_attention=False)
    f = torch.rand(2, 40, 4, 4)
    gated, maps = d.attend(f)
    f_s = f * maps["spatial"]
    fused = torch.maximum(f, f_s)  # F_c = F * 1
    assert torch.allclose(gated, fused * f if style == "official" else fused)


def test_official_attention_is_one_scalar_per_item_and_output_is_quadratic():
    d = _dream((64, 1, 1), attention_style="official")
    f = torch.rand(3, 320, 1, 1)
    gated, maps = d.attend(f)
    assert maps["channel"].shape == (3, 1, 1, 1)
    assert maps["spatial"].shape == (3, 1, 1, 1)
    fused = fuse(f * maps["channel"], f * maps["spatial"], d.fusion)
    assert torch.allclose(gated, fused * f)  # the released code multiplies the fused map by F once more
    assert not torch.allclose(gated, fused)


@pytest.mark.parametrize("device", DEVICES)
def test_bn_momentum_019_reproduces_the_released_double_pass(device):
    x = torch.randn(50, 64).to(device)
    once = _dream((64, 1, 1), attention_style="official", bn_momentum=0.19).to(device)
    twice = _dream((64, 1, 1), attention_style="official", bn_momentum=0.1).to(device)
    once(x)
    twice(x)
    twice(x)
    for (name, a), (_, b) in zip(once.named_buffers(), twice.named_buffers(), strict=True):
        if "running" in name:
            assert torch.allclose(a, b, atol=1e-6), name


def test_no_branch_is_an_error():
    cfg = mambarec_preset("paper")
    with pytest.raises(ValueError, match="at least one of its five branches"):  # the config refuses it (CLI, app)
        dataclasses.replace(cfg, branch_conv1x1=False, branch_dilated_1=False, branch_dilated_2=False,
                            branch_dilated_3=False, branch_pool=False)


def test_the_fusions_are_the_max_the_mean_and_the_sum_of_the_two_gated_maps():
    """fuse() serves both the direct and the fast DREAM, so their agreement cannot check it: check it by value."""
    a, b = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([3.0, 2.0, -1.0])
    assert fuse(a, b, "max").tolist() == [3.0, 2.0, 3.0]
    assert fuse(a, b, "mean").tolist() == [2.0, 0.0, 1.0]
    assert fuse(a, b, "sum").tolist() == [4.0, 0.0, 2.0]
