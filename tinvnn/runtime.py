"""Where and how a run executes: :class:`RunOptions`, device choice, CPU threads, torchrun
process groups.

One source for what every command's ``--device`` and ``--threads`` mean. Light on purpose:
the command line imports it to build its flags without loading the training loop.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from tinvnn._checks import check_positive_int
from tinvnn.config import Config, option

__all__ = ["DEVICE_HELP", "RunOptions", "Runtime", "is_main_process", "resolve_device", "set_threads", "start_runtime"]

DEVICE_HELP = "auto (cuda if available, else cpu), cpu, cuda or cuda:INDEX"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class RunOptions(Config):
    """How a run executes (not what it learns: that is the task's configuration)."""

    out: str = option("runs/run", "run directory: checkpoint.pt (last), best.pt, metrics.json, steps.csv")
    device: str = option("auto", DEVICE_HELP)
    resume: bool = option(
        False, "continue from <out>/checkpoint.pt; with a longer schedule (--epochs, --steps), extend a finished run"
    )
    overwrite: bool = option(False, "start afresh in a run directory that already holds a run, replacing its files")
    log_every: int = option(50, "training steps between rows of steps.csv")
    stop_after: int | None = option(None, "stop after this many epochs of this call, as a kill would (resume later)")
    progress: bool = option(True, "progress: a bar on a terminal, a log line every 10 s otherwise")
    threads: int | None = option(None, "torch CPU threads (None: torch's choice)")
    workers: int = option(0, "DataLoader worker processes per training process (0: load in the training process)")

    def __post_init__(self) -> None:
        check_positive_int(self.log_every, "log_every")
        for name in ("stop_after", "threads"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers: expected a non-negative integer, got {self.workers!r}")
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite: choose one")


def resolve_device(name: str, *, local_rank: int = 0) -> torch.device:
    """The device a ``--device`` value names.

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:i"``.
        local_rank: under torchrun, ``"auto"`` and ``"cuda"`` pick ``cuda:local_rank``.

    Raises:
        ValueError: an unknown name, or CUDA asked for where there is none.
    """
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ValueError(f"device: expected {DEVICE_HELP}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} asked for, but CUDA is not available here (use --device cpu)")
    index = int(name.split(":")[1]) if ":" in name else local_rank
    if index >= torch.cuda.device_count():
        raise ValueError(f"device: cuda:{index} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    return torch.device("cuda", index)


def is_main_process() -> bool:
    """True except in the processes of rank > 0 under torchrun (they neither print nor write)."""
    return int(os.environ.get("RANK", "0")) == 0


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; None keeps torch's choice.

    Raises:
        ValueError: ``threads`` below 1.
    """
    if threads is not None:
        torch.set_num_threads(check_positive_int(threads, "threads"))


@dataclass(frozen=True)
class Runtime:
    """This process's place in the run.

    Attributes:
        rank, world: process index and count (0 and 1 without torchrun).
        device: the model's device.
        created_group: this call initialised the process group (and must destroy it).
    """

    rank: int
    world: int
    device: torch.device
    created_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self, *, failed: bool = False) -> None:
        """Tear the process group down if this runtime created it (a live gloo/nccl group can
        abort the process at exit); after a failure without waiting for the other processes."""
        if self.created_group and dist.is_initialized():
            if not failed:
                dist.barrier()
            dist.destroy_process_group()


def start_runtime(device: str = "auto") -> Runtime:
    """Resolve the device and, under torchrun (``WORLD_SIZE`` > 1), join the process group
    (nccl on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank=local)
    created = world > 1 and not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return Runtime(dist.get_rank() if world > 1 else 0, world, dev, created)
