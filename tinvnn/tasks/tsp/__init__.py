"""The travelling salesman problem: its pieces here, two exactly invariant neural solvers in
subpackages, one per model family.

The problem (split as data / objective / baselines / local search, after rl4co's
``envs/routing/tsp``):

* ``instances``: seeded uniform, clustered and lattice instances and fixed test sets;
* ``objective``: tour validity, length in the instance's units, gaps;
* ``tsplib``: TSPLIB95 reader (EUC_2D, CEIL_2D, ATT, GEO, EXPLICIT), ``.tour`` writer, a
  directory of instances with its ``solutions.txt``;
* ``reference``: LKH-3 (elkai) reference lengths, cached;
* ``heuristics``: nearest neighbour, greedy edge, insertion, 2-opt (the classical baselines);
* ``improve``: the improvement step, 2-opt + Or-opt with neighbour lists (local search);
* ``transforms``: the test transformations (rotation, reflection, scale, translation, permutation);
* ``render``: the plot of a tour and its ``.tour`` file.

The solvers:

* ``local``: the local-view policy, the default solver (scales to thousands of cities):
  ``views``, ``construction``, ``recipe`` (its config, build and load), ``solver`` (construction
  then improvement), and its training: ``imitation`` of LKH-3 tours, ``dagger``, ``finetune``
  (REINFORCE), ``chunks`` (the cached training data);
* ``attention``: the TSP-20 attention model and its input variants (the paper's experiment):
  ``variants``, ``recipe``, ``decoding``, ``evaluate`` (gaps on test sets and TSPLIB) and its
  training, ``reinforce``.

A family's inference modules never import its training modules.

Nothing is imported here: loading one piece (say, the TSPLIB reader) does not load the
others. Import from the modules; the one call that solves an instance is :func:`tinvnn.tsp.solve`.
"""
