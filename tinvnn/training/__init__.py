"""The run harness, and (re-exported) what training shares with inference: configs, checkpoints, devices.

* :func:`fit` with :class:`RunOptions`: the one training loop (device, torchrun with
  ``DistributedDataParallel``, resume, checkpoints, progress, metrics); a task is a
  :class:`Task` subclass, its data a :class:`TrainData` (or hand-made batches).
* :class:`Config`, :func:`option`, :func:`add_arguments`, :func:`from_args`: configuration
  dataclasses and their command-line flags.
* :func:`save_checkpoint`, :func:`load_checkpoint` (safe: ``weights_only``), :func:`read_config`,
  :func:`export_weights` (the shipped form: weights without optimizer state).
"""

from tinvnn.checkpoint import (
    BEST,
    LAST,
    CheckpointMismatchError,
    check_config,
    export_weights,
    load_checkpoint,
    load_weights,
    read_config,
    run_checkpoint_file,
    save_checkpoint,
)
from tinvnn.config import Config, ConfigError, add_arguments, from_args, option
from tinvnn.runtime import DEVICE_HELP, RunOptions, Runtime, is_main_process, resolve_device, set_threads, start_runtime
from tinvnn.training.harness import METRICS, STEPS, RunDirectoryError, RunResult, TrainingDiverged, fit
from tinvnn.training.seed import seed_everything
from tinvnn.training.task import EpochContext, Task, TrainData

__all__ = [
    "BEST",
    "DEVICE_HELP",
    "LAST",
    "METRICS",
    "STEPS",
    "CheckpointMismatchError",
    "Config",
    "ConfigError",
    "EpochContext",
    "RunDirectoryError",
    "RunOptions",
    "RunResult",
    "Runtime",
    "Task",
    "TrainData",
    "TrainingDiverged",
    "add_arguments",
    "check_config",
    "export_weights",
    "fit",
    "is_main_process",
    "from_args",
    "load_checkpoint",
    "load_weights",
    "option",
    "read_config",
    "run_checkpoint_file",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "set_threads",
    "start_runtime",
]
