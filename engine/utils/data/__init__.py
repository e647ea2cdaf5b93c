"""`graphgrad.utils.data` (also `gg.data`): datasets, loaders and splits, with
torch.utils.data's names and behaviour."""

from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    Generator,
    IterableDataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)
from .loader import DataLoader
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .workers import get_worker_info

__all__ = ["Generator", "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "DataLoader", "random_split", "default_collate", "get_worker_info",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]
