"""Neural-network building blocks shaped like ``torch.nn``."""

from descentlab.autograd import Parameter
from descentlab.nn import functional, init
from descentlab.nn.init import manual_seed
from descentlab.nn.layers import (
    ACTIVATION_NAMES,
    MLP,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from descentlab.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from descentlab.nn.module import FlatParameters, ModelFileError, Module, load
from descentlab.nn.regularizers import L1, L2, ElasticNet, Regularizer, penalty

__all__ = [
    "ACTIVATION_NAMES",
    "L1",
    "L2",
    "MLP",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Dropout",
    "ElasticNet",
    "FlatParameters",
    "Flatten",
    "HuberLoss",
    "Identity",
    "L1Loss",
    "LeakyReLU",
    "Linear",
    "MSELoss",
    "ModelFileError",
    "Module",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Regularizer",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "load",
    "manual_seed",
    "penalty",
]
