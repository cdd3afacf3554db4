"""Adam and its per-epoch rate schedule without ``torch.optim`` (docs/speed.md section 2).

``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time it adds a parameter group or steps (its methods are
wrapped to keep ``torch.compile`` out): 1.5-1.8 s of every training process on the project's 2-core machine, paid by
each CLI run and by each live run's worker in the app, for a compiler the default path never uses. ``Adam`` here calls
the kernel ``torch.optim.Adam(fused=True)`` calls, with the same arguments, so its steps are the same to the bit, and
``RateSchedule`` sets the rates ``torch.optim.lr_scheduler.LambdaLR`` sets (tests/test_rewrites.py holds both against
torch's). Both read and write torch's ``state_dict`` layout, so a resume file written with either loads in the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

FUSED_DEVICES = ("cpu", "cuda")  # where torch has the fused Adam kernel
BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, which the released code and MMRec use
EPS = 1e-8
STEP_DTYPE = torch.float32  # a fused Adam's step counter: a float32 scalar on the parameter's device, as torch keeps it


class Adam:
    """Adam (no weight decay, no amsgrad) over one group of parameters, stepped by torch's fused kernel.

    The L2 term is in the loss (docs/model.md section 6), so the optimizer has none of its own.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float) -> None:
        self.params = list(params)
        other = sorted({p.device.type for p in self.params} - set(FUSED_DEVICES))
        if other:
            raise ValueError(f"Adam here runs torch's fused kernel, which exists on {FUSED_DEVICES}, not on {other}; "
                             "train on the CPU or CUDA (--device cpu|cuda)")
        self.param_groups = [{"lr": lr, "betas": BETAS, "eps": EPS, "weight_decay": 0.0, "amsgrad": False,
                              "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                              "fused": True, "decoupled_weight_decay": False, "params": self.params}]
        self.state: dict[torch.nn.Parameter, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (one without is left alone, as torch does)."""
        group = self.param_groups[0]
        by_device: dict[torch.device, list[torch.nn.Parameter]] = {}
        for p in self.params:
            if p.grad is not None:
                by_device.setdefault(p.device, []).append(p)
        for params in by_device.values():
            states = [self._state_of(p) for p in params]
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                               [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"],
                               beta1=group["betas"][0], beta2=group["betas"][1], weight_decay=0.0, eps=group["eps"],
                               maximize=False, grad_scale=None, found_inf=None)

    def _state_of(self, p: torch.nn.Parameter) -> dict[str, torch.Tensor]:
        if p not in self.state:
            self.state[p] = {"step": torch.zeros((), dtype=STEP_DTYPE, device=p.device),
                             "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                             "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        return self.state[p]

    def state_dict(self) -> dict:
        """torch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``; the tensors are
        the live ones (copy the dict to keep a moment, as ``torch.optim`` asks too)."""
        index = {p: i for i, p in enumerate(self.params)}
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {"state": {index[p]: dict(s) for p, s in self.state.items()},
                "param_groups": [{**group, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"the saved optimizer state has {[len(g['params']) for g in groups]} parameters in its "
                             f"groups; this model trains {len(self.params)} in one: the checkpoint is of another "
                             "setup (its config.json says which)")
        saved = dict(groups[0])
        saved.pop("params")
        self.param_groups[0].update(saved)
        self.state = {}
        for i, p in enumerate(self.params):
            s = state_dict["state"].get(i, state_dict["state"].get(str(i)))
            if s is None:
                continue
            if s["exp_avg"].shape != p.shape:
                raise ValueError(f"the saved optimizer state of parameter {i} has shape {tuple(s['exp_avg'].shape)}, "
                                 f"the model's is {tuple(p.shape)}: the checkpoint is of another setup")
            self.state[p] = {"step": s["step"].to(dtype=STEP_DTYPE, device=p.device).clone(),
                             "exp_avg": s["exp_avg"].to(dtype=p.dtype, device=p.device).clone(),
                             "exp_avg_sq": s["exp_avg_sq"].to(dtype=p.dtype, device=p.device).clone()}


class RateSchedule:
    """The rate at epoch e = the starting rate x ``factor(e)``: set to e = 0 when built, and one epoch on at each
    ``step()`` (what ``LambdaLR`` does, with its state_dict's keys)."""

    def __init__(self, optimizer: Adam, factor: Callable[[int], float]) -> None:
        self.optimizer, self.factor = optimizer, factor
        group = optimizer.param_groups[0]
        group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"]]
        self.last_epoch, self._step_count = -1, 0
        self.step()

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        self._last_lr = [base * self.factor(self.last_epoch) for base in self.base_lrs]
        self.optimizer.param_groups[0]["lr"] = self._last_lr[0]

    def state_dict(self) -> dict:
        return {"base_lrs": list(self.base_lrs), "last_epoch": self.last_epoch, "_step_count": self._step_count,
                "_last_lr": list(self._last_lr), "lr_lambdas": [None]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Takes back the epoch and the starting rate; the rate in force comes with the optimizer's state, as in
        torch (so load the optimizer's too)."""
        self.base_lrs = list(state_dict["base_lrs"])
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", self.last_epoch + 1))
        self._last_lr = list(state_dict.get("_last_lr", [self.optimizer.param_groups[0]["lr"]]))
