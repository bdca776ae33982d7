"""The local-view policy: each decision sees the current city, the start city and the k nearest
unvisited cities, canonicalized, so its tours are exactly invariant (``tinvnn tsp solve``'s
default solver; scales to thousands of cities).

Inference:

* ``views``: the exactly invariant local views and their features;
* ``construction``: tours built from the views by the scorer (greedy, multi-start, sampled);
* ``recipe``: the configuration, and how to build and load the scorer
  (:class:`~tinvnn.models.local_tsp.LocalScorer`); the shipped checkpoint;
* ``solver``: ``solve_local``, construction then the improvement step;
* ``reconstruct``: neural reconstruction, segments of a tour re-decoded by the policy.

Training (imports the run harness; inference never imports it):

* ``imitation``: behaviour cloning of LKH-3 tours (``tinvnn tsp imitate``);
* ``dagger``: LKH-3 labels on the policy's own rollouts;
* ``finetune``: REINFORCE fine-tuning (``tinvnn tsp finetune``);
* ``chunks``: the cache's numbered chunk files (generated tours, DAgger labels).

Nothing is imported here: import from the modules.
"""
