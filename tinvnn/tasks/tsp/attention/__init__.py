"""The TSP-20 attention model (Kool et al.'s encoder-decoder, POMO's multi-start) and its input
variants: the paper's experiment on what the network sees (raw, unit, pomo8, symnco, tinv, tinv8).

Inference:

* ``variants``: the input variants (what coordinates the network sees);
* ``recipe``: the configuration, and how to build and load the model
  (:class:`~tinvnn.models.attention_tsp.AttentionTSP`); the shipped checkpoint;
* ``decoding``: greedy, multi-start and sampled decoding of a batch of instances;
* ``evaluate``: gaps on test sets and TSPLIB (``tinvnn tsp eval``).

Training (imports the run harness; inference never imports it):

* ``reinforce``: REINFORCE with POMO's shared baseline (``tinvnn tsp train``).

Nothing is imported here: import from the modules.
"""
