"""Training utilities shared by every task: checkpoints, seeding.

Task-specific loops live with their task (``tinvnn.tasks.*``); this package only holds what
they all need.
"""

from tinvnn.training.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from tinvnn.training.seed import seed_everything

__all__ = ["CheckpointMismatchError", "load_checkpoint", "save_checkpoint", "seed_everything"]
