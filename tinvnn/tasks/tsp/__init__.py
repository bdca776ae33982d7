"""Neural TSP solvers, exactly invariant: the local-view policy (the default solver, scales to
thousands of cities) and the TSP-20 attention policy with its input variants (the paper's
experiment).

Split as data / objective / model / algorithm (rl4co's layout):

* ``instances``: seeded uniform, clustered and lattice instances and fixed test sets;
* ``tsplib``: TSPLIB95 reader (EUC_2D, CEIL_2D, ATT, GEO, EXPLICIT) and ``.tour`` writer;
* ``objective``: tour validity, length in the instance's units, gaps;
* ``heuristics``: nearest neighbour, greedy edge, insertion, 2-opt;
* ``improve``: the improvement step, 2-opt + Or-opt with neighbour lists;
* ``reference``: LKH-3 (elkai) reference lengths, cached;
* ``local``: exactly invariant local views and tour construction from them;
* ``imitation``: imitation of LKH-3 tours for the local-view policy;
* ``dagger``: LKH-3 labels on the local policy's own rollouts (DAgger);
* ``local_reinforce``: REINFORCE fine-tuning of the local policy (POMO baseline, sampled rollouts);
* ``chunks``: the cache's numbered chunk files (generated tours, DAgger labels);
* ``solver``: ``solve_local``, construction then improvement, decoding picked by size;
* ``variants``: raw / unit / pomo8 / symnco / tinv inputs;
* ``policy``: greedy, multi-start and sampling decoding of ``tinvnn.models.attention_tsp``;
* ``reinforce``: REINFORCE with POMO's shared multi-start baseline (the attention policy);
* ``transforms``: the test transformations;
* ``evaluate``: gaps on test sets and TSPLIB.
"""

from tinvnn.tasks.tsp.evaluate import Decoding, evaluate_test_set, evaluate_tsplib, heuristic_gaps, load_tsplib_dir
from tinvnn.tasks.tsp.improve import improve_tour
from tinvnn.tasks.tsp.instances import clustered_instances, fixed_test_set, lattice_instances, uniform_instances
from tinvnn.tasks.tsp.objective import check_tours, gap_percent, matrix_tour_length, tour_length
from tinvnn.tasks.tsp.policy import solve
from tinvnn.tasks.tsp.reference import reference_lengths
from tinvnn.tasks.tsp.reinforce import DEFAULT_CHECKPOINT, TrainConfig, load_policy, train
from tinvnn.tasks.tsp.solver import (
    DEFAULT_LOCAL_CHECKPOINT,
    LocalDecoding,
    Solution,
    inference_k,
    load_local_policy,
    solve_local,
)
from tinvnn.tasks.tsp.transforms import TRANSFORMS, apply_transform
from tinvnn.tasks.tsp.tsplib import (
    TSPLIBError,
    TSPLIBInstance,
    distance_matrix,
    read_solutions,
    read_tsplib,
    tour_length_tsplib,
    write_tour,
)
from tinvnn.tasks.tsp.variants import VARIANTS, Variant, get_variant

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_LOCAL_CHECKPOINT",
    "Decoding",
    "LocalDecoding",
    "Solution",
    "TRANSFORMS",
    "TSPLIBError",
    "TSPLIBInstance",
    "TrainConfig",
    "VARIANTS",
    "Variant",
    "apply_transform",
    "check_tours",
    "clustered_instances",
    "improve_tour",
    "inference_k",
    "lattice_instances",
    "load_local_policy",
    "solve_local",
    "tour_length_tsplib",
    "write_tour",
    "distance_matrix",
    "evaluate_test_set",
    "evaluate_tsplib",
    "gap_percent",
    "get_variant",
    "heuristic_gaps",
    "load_policy",
    "load_tsplib_dir",
    "matrix_tour_length",
    "read_solutions",
    "read_tsplib",
    "reference_lengths",
    "solve",
    "fixed_test_set",
    "tour_length",
    "train",
    "uniform_instances",
]
