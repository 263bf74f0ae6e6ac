"""Layers: Linear, activations, Flatten, Dropout, Sequential and MLP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from descentlab.autograd import Parameter, Tensor
from descentlab.autograd.tensor import lift
from descentlab.nn import functional as F
from descentlab.nn import init
from descentlab.nn.module import Module, build


class Linear(Module):
    """y = x W^T + b, W of shape (out_features, in_features), b of shape (out_features,).

    Initialised as PyTorch does: W, b ~ U(-1/sqrt(in), 1/sqrt(in)); float32 by default.
    W's array is in Fortran order (``weight.data.T`` is contiguous), the layout in which
    the products of a training step run fastest; its gradient and the optimizers' state
    follow it. Any array of W's shape may be assigned to ``weight.data``; with a C-ordered
    one, dL/dW comes in C order, and the products may round differently in the last bits.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        for label, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"Linear {label} must be a positive integer, got {value!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed) if seed is not None else None
        # W in Fortran order (W^T contiguous, as Keras and JAX keep a dense kernel): x W^T
        # and dL/dW^T = x^T g are then products OpenBLAS splits better between two
        # threads (the MLP epoch of benchmarks/mlp.py 2-4 % faster at two threads, the
        # same at one: RESULTS.md). The shape stays PyTorch's.
        weight = np.empty((out_features, in_features), dtype=self.dtype, order="F")
        self.weight = Parameter(init.kaiming_uniform_linear_(weight, rng))
        self.bias: Parameter | None = None
        if bias:
            bound = 1 / np.sqrt(in_features)
            b = np.empty(out_features, dtype=self.dtype)
            self.bias = Parameter(init.uniform_(b, -bound, bound, rng))

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "dtype": self.dtype.name,
        }

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class _Stateless(Module):
    def config(self) -> dict[str, Any]:
        return {}


class ReLU(_Stateless):
    """max(x, 0)."""

    def forward(self, x: Any) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


class Sigmoid(_Stateless):
    """1 / (1 + e^-x)."""

    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Tanh(_Stateless):
    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class Identity(_Stateless):
    def forward(self, x: Any) -> Tensor:
        return lift(x)


class Softmax(Module):
    """exp(x_i) / sum_j exp(x_j) along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.softmax(x, self.dim)

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim}


class Flatten(Module):
    """Merge dimensions ``start_dim`` .. end into one (images -> vectors)."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Any) -> Tensor:
        x = lift(x)
        return x.reshape(x.shape[: self.start_dim] + (-1,))

    def config(self) -> dict[str, Any]:
        return {"start_dim": self.start_dim}


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014): keep each unit with probability
    1 - p and scale it by 1 / (1 - p) in training; the identity in ``eval()``.

    ``per_epoch=False`` (the usual, PyTorch's) draws a fresh mask for every
    batch and sample. ``per_epoch=True`` is the lecture's version: one mask
    over the units, shared by every sample, kept for a whole epoch and redrawn
    when ``fit`` starts the next one (``new_epoch()``). Each Dropout has its own
    seeded generator (``seed``, or one drawn from ``descentlab.manual_seed``).
    """

    def __init__(self, p: float = 0.5, per_epoch: bool = False, seed: int | None = None) -> None:
        super().__init__()
        F.check_dropout_p(p)
        self.p = float(p)
        self.per_epoch = bool(per_epoch)
        self.rng = np.random.default_rng(init.child_seed() if seed is None else seed)
        self.last_mask: np.ndarray | None = None
        self._epoch_mask: np.ndarray | None = None

    def forward(self, x: Any) -> Tensor:
        x = lift(x)
        if not self.training or self.p == 0:
            return x
        return F.dropout(x, self.p, training=True, mask=self.draw_mask(x.shape))

    def draw_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """The mask (True = keep) for an input of ``shape`` in training; also ``last_mask``."""
        if self.per_epoch:
            if self._epoch_mask is None or self._epoch_mask.shape != shape[1:]:
                self._epoch_mask = F.keep_mask(self.rng, shape[1:], self.p)
            mask = self._epoch_mask
        else:
            mask = F.keep_mask(self.rng, shape, self.p)
        object.__setattr__(self, "last_mask", mask)  # an array: no registration to do
        return mask

    def new_epoch(self) -> None:
        self._epoch_mask = None

    def config(self) -> dict[str, Any]:
        return {"p": self.p, "per_epoch": self.per_epoch}

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", per_epoch=True" if self.per_epoch else "")


class Sequential(Module):
    """Modules applied one after another: Sequential(Linear(2, 8), ReLU(), Linear(8, 3))."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules, got {type(module).__name__} at {i}")
            setattr(self, str(i), module)

    def forward(self, x: Any) -> Any:
        modules = list(self._modules.values())
        i, n = 0, len(modules)
        while i < n:
            module = modules[i]
            if i + 1 < n and type(module) is ReLU and type(modules[i + 1]) is Dropout:
                drop = modules[i + 1]
                assert isinstance(drop, Dropout)
                if drop.training and drop.p > 0:
                    # one node for both: the same values, gradients and mask as the two
                    x = lift(x)
                    x = F.relu_dropout(x, drop.p, mask=drop.draw_mask(x.shape))
                    i += 2
                    continue
            x = module(x)
            i += 1
        return x

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def config(self) -> dict[str, Any]:
        return {"modules": [m.spec() for m in self._modules.values()]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Module:
        return cls(*(build(spec) for spec in config["modules"]))


_ACTIVATION_LAYERS: dict[str, type[Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
    "linear": Identity,
}
ACTIVATION_NAMES = tuple(_ACTIVATION_LAYERS)


class MLP(Sequential):
    """A multilayer perceptron: y = W_L a(... a(W_1 x + b_1) ...) + b_L.

    ``sizes = [inputs, hidden..., outputs]``; after every hidden Linear comes
    the activation and, when ``dropout > 0``, a Dropout. The output is logits
    (no softmax: ``F.cross_entropy`` applies it).

    >>> MLP([784, 256, 128, 10], activation="relu", dropout=0.2)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        dropout: float = 0.0,
        bias: bool = True,
        dtype: Any = np.float32,
        per_epoch_dropout: bool = False,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s <= 0 for s in sizes):
            raise ValueError(f"MLP sizes must be >= 2 positive integers, got {list(sizes)}")
        if activation not in _ACTIVATION_LAYERS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of {ACTIVATION_NAMES}"
            )
        F.check_dropout_p(dropout)
        layers: list[Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(Linear(fan_in, fan_out, bias=bias, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATION_LAYERS[activation]())
                if dropout > 0:
                    layers.append(Dropout(dropout, per_epoch=per_epoch_dropout))
        super().__init__(*layers)
        self.sizes, self.activation, self.dropout_p = sizes, activation, float(dropout)
        self.bias_, self.dtype, self.per_epoch_dropout = bias, np.dtype(dtype), per_epoch_dropout

    def config(self) -> dict[str, Any]:
        return {
            "sizes": self.sizes,
            "activation": self.activation,
            "dropout": self.dropout_p,
            "bias": self.bias_,
            "dtype": self.dtype.name,
            "per_epoch_dropout": self.per_epoch_dropout,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Module:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}, dropout={self.dropout_p}"
