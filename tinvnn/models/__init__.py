"""Backbones in plain PyTorch, usable with or without tinvnn's wrappers.

* :class:`PointNet` (Qi et al. 2017, no input T-Net, optional feature T-Net)
* :class:`DGCNN` (Wang et al. 2019, EdgeConv on a dense k-NN graph)
"""

from tinvnn.models.dgcnn import DGCNN, EdgeConv, knn
from tinvnn.models.pointnet import FeatureTNet, PointNet

__all__ = ["DGCNN", "EdgeConv", "FeatureTNet", "PointNet", "knn"]
