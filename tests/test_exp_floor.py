"""The exponent floor before InfoNCE's in-place exp (mambarec/model/losses.py, README "Equivalent rewrites"): it
keeps torch's CPU exp off its slow path for subnormal results and changes no bit of the loss or its gradients."""

import math

import pytest
import torch

from mambarec.model import losses
from mambarec.model.losses import exp_floor, info_nce


def _grads(value, inputs):
    return torch.autograd.grad(value, inputs)


def _unfloored(monkeypatch):
    """InfoNCE as it was before the floor: clamping at -inf changes nothing."""
    monkeypatch.setattr(losses, "exp_floor", lambda dtype: -math.inf)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_floor_is_the_smallest_whole_exponent_with_a_normal_exp(dtype):
    floor, tiny = exp_floor(dtype), torch.finfo(dtype).tiny
    assert floor == int(floor)
    assert torch.exp(torch.tensor(floor, dtype=dtype)) >= tiny  # normal in the dtype the loss computes in
    assert torch.exp(torch.tensor(floor, dtype=torch.float64)) >= tiny
    assert torch.exp(torch.tensor(floor - 1, dtype=torch.float64)) < tiny


def _spread_rows(n=300, dim=3, seed=0):
    """Rows in a few dimensions, so cosines span [-1, 1]: at tau = 0.01 the logits are up to 200 apart."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, dim, generator=g).requires_grad_()
    b = torch.randn(n, dim, generator=g).requires_grad_()
    counts = torch.randint(1, 5, (n,), generator=g)
    return a, b, counts


def test_info_nce_at_tau_001_is_bit_identical_with_and_without_the_floor(monkeypatch):
    a, b, counts = _spread_rows()
    na, nb = torch.nn.functional.normalize(a.detach(), dim=1), torch.nn.functional.normalize(b.detach(), dim=1)
    shifted = na @ nb.t() / 0.01
    shifted = shifted - shifted.amax(dim=1, keepdim=True)
    assert (shifted < exp_floor(torch.float32)).float().mean() > 0.2  # the floor is exercised
    floored = info_nce(a, b, 0.01, counts)
    floored_grads = _grads(floored, (a, b))
    _unfloored(monkeypatch)
    plain = info_nce(a, b, 0.01, counts)
    assert torch.equal(floored, plain)
    for x, y in zip(floored_grads, _grads(plain, (a, b)), strict=True):
        assert torch.equal(x, y)
