"""Weight norm for training, and the names it gives weights in the official files and in torch.

Inference folds weight norm into plain weights (`core.models.modules.fold_weight_norm`); training needs it
back, because the optimiser updates the direction `v` and the gain `g` separately (the reference trains
with `torch.nn.utils.weight_norm`). `attach` registers torch's weight-norm parametrisation on the layers the
official files store as `weight_g` / `weight_v`, and the two renames below move between those names and
torch's (`parametrizations.weight.original0` = g, `.original1` = v).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

OFFICIAL_G, OFFICIAL_V = ".weight_g", ".weight_v"
TORCH_G, TORCH_V = ".parametrizations.weight.original0", ".parametrizations.weight.original1"


def attach(model: nn.Module, layers: re.Pattern[str]) -> list[str]:
    """Register weight norm on every sub-module whose name matches `layers` fully; returns their names.

    The weight is unchanged (g = ||w|| per output channel, v = w); load the real g and v afterwards."""
    names = [name for name, module in model.named_modules() if name and layers.fullmatch(name)]
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, child, weight_norm(getattr(owner, child)))
    return names


def official_to_torch(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """`X.weight_g` / `X.weight_v` -> torch's parametrisation names; other keys unchanged."""
    out = {}
    for name, tensor in state.items():
        if name.endswith(OFFICIAL_G):
            name = name[: -len(OFFICIAL_G)] + TORCH_G
        elif name.endswith(OFFICIAL_V):
            name = name[: -len(OFFICIAL_V)] + TORCH_V
        out[name] = tensor
    return out


def torch_to_official(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of `official_to_torch`."""
    out = {}
    for name, tensor in state.items():
        if name.endswith(TORCH_G):
            name = name[: -len(TORCH_G)] + OFFICIAL_G
        elif name.endswith(TORCH_V):
            name = name[: -len(TORCH_V)] + OFFICIAL_V
        out[name] = tensor
    return out
