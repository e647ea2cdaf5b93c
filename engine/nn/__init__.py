"""`gg.nn`: modules, parameters, layers and losses with PyTorch's names and semantics."""

from . import functional, init, parameter, utils  # noqa: F401
from .activation import (
    CELU,
    ELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    PReLU,
    ReLU6,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanhshrink,
    Threshold,
)
from .adaptive_max_pool import AdaptiveMaxPool1d, AdaptiveMaxPool2d
from .attention import MultiheadAttention
from .bilinear import Bilinear
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv1d, Conv2d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d
from .distance import CosineSimilarity, PairwiseDistance
from .fold import Fold, Unfold
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
    Softmax2d,
    Tanh,
    Unflatten,
)
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from .module import Module
from .normalization import (
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
)
from .padding import (
    CircularPad1d,
    CircularPad2d,
    ConstantPad1d,
    ConstantPad2d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReplicationPad1d,
    ReplicationPad2d,
    ZeroPad1d,
    ZeroPad2d,
)
from .parameter import Parameter
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    LPPool1d,
    LPPool2d,
    MaxPool1d,
    MaxPool2d,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .regularization import (
    AlphaDropout,
    BatchNorm1d,
    Dropout,
    Dropout1d,
    Dropout2d,
    FeatureAlphaDropout,
)
from .sparse import Embedding
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from .upsampling import (
    ChannelShuffle,
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Identity", "Flatten",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "SiLU", "GELU", "Softmax", "LogSoftmax",
    "Dropout", "BatchNorm1d", "MSELoss", "L1Loss", "NLLLoss", "CrossEntropyLoss", "BCELoss",
    "BCEWithLogitsLoss", "functional", "init",
    "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Embedding",
    "utils", "RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "MultiheadAttention",
    "ELU", "CELU", "SELU", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "LogSigmoid",
    "Softsign", "Mish", "PReLU", "Softmin", "Tanhshrink", "Threshold", "GLU", "Softshrink",
    "Hardshrink", "Softplus", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "MarginRankingLoss",
    "CosineEmbeddingLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "TripletMarginLoss",
    "PoissonNLLLoss", "GaussianNLLLoss", "ModuleDict", "ParameterList", "ParameterDict",
    "Unflatten", "ZeroPad1d", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad1d",
    "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "CircularPad1d", "CircularPad2d",
    "PixelShuffle", "PixelUnshuffle", "Upsample", "Dropout1d", "Dropout2d", "CosineSimilarity",
    "PairwiseDistance", "Bilinear", "RMSNorm", "InstanceNorm1d", "InstanceNorm2d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "ConvTranspose1d", "ConvTranspose2d",
    "Transformer", "TransformerEncoder", "TransformerEncoderLayer", "TransformerDecoder",
    "TransformerDecoderLayer", "Unfold", "Fold",
    "Softmax2d", "ChannelShuffle", "LocalResponseNorm", "UpsamplingNearest2d",
    "UpsamplingBilinear2d", "LPPool1d", "LPPool2d",
    "AlphaDropout", "FeatureAlphaDropout",
]
