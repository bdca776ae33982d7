"""Every network of tinvnn, in plain PyTorch, usable with or without tinvnn's wrappers.

The rule: models live here, one module per family, and know nothing of datasets or training;
tasks (``tinvnn.tasks``) build them from their configurations.

* :class:`PointNet` (Qi et al. 2017, no input T-Net, optional feature T-Net)
* :class:`DGCNN` (Wang et al. 2019, EdgeConv on a dense k-NN graph)
* :class:`GNN`, :class:`EGNN`: the n-body networks (Satorras et al. 2021)
* :class:`AttentionTSP`: the attention TSP policy (Kool et al. 2019, POMO decoding)
* :class:`LocalScorer`: the candidate scorer of the local-view TSP policy (``tinvnn.tasks.tsp.local``)
"""

from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.models.dgcnn import DGCNN, EdgeConv, knn
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.models.nbody import EGNN, GNN
from tinvnn.models.pointnet import FeatureTNet, PointNet

__all__ = ["AttentionTSP", "DGCNN", "EGNN", "EdgeConv", "FeatureTNet", "GNN", "LocalScorer", "PointNet", "knn"]
