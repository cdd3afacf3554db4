"""Datasets: one ``Dataset`` type, MMRec-format folders, ml100k, the synthetic generator, builders."""

from mambarec.data.dataset import Dataset, DatasetError
from mambarec.data.registry import available_datasets, data_dir, load_dataset

__all__ = ["Dataset", "DatasetError", "available_datasets", "data_dir", "load_dataset"]
