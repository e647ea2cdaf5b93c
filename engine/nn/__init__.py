"""`gg.nn`: modules, parameters, layers and losses with PyTorch's names and semantics."""

from . import functional, init, parameter, utils  # noqa: F401
from .attention import MultiheadAttention
from .container import ModuleList, Sequential
from .layers import (
    GELU,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .regularization import BatchNorm1d, Dropout

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Identity", "Flatten",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "SiLU", "GELU", "Softmax", "LogSoftmax",
    "Dropout", "BatchNorm1d", "MSELoss", "L1Loss", "NLLLoss", "CrossEntropyLoss", "BCELoss",
    "BCEWithLogitsLoss", "functional", "init", "utils", "RNN", "GRU", "LSTM", "RNNCell", "GRUCell",
    "LSTMCell", "MultiheadAttention",
]
