"""`graphgrad.utils.data` (also `gg.data`): datasets, loaders and splits, with
torch.utils.data's names and behaviour."""

from .dataset import (
    Dataset,
    Generator,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)
from .loader import DataLoader
from .workers import get_worker_info

__all__ = ["Generator", "Dataset", "TensorDataset", "Subset", "DataLoader", "random_split",
           "default_collate", "get_worker_info"]
