"""The run harness: one training loop for every task.

:func:`fit` trains a :class:`~tinvnn.training.task.Task` under :class:`~tinvnn.runtime.RunOptions`:

* **device and processes**: ``device="auto"|"cpu"|"cuda[:i]"``; under ``torchrun`` (gloo on
  CPU, nccl on GPU) every process trains on its share of each epoch's data. A task with
  :meth:`~tinvnn.training.task.Task.train_data` (one forward and one backward per step:
  classification, n-body, imitation) is read through a ``DataLoader`` (``--workers``, pinned
  memory on CUDA) with a ``DistributedSampler``, and its model is wrapped in
  ``DistributedDataParallel`` (bucketed all-reduce overlapped with the backward pass); a task
  with :meth:`~tinvnn.training.task.Task.batches` only (REINFORCE: a step rolls the policy out
  many times, outside its ``forward``, which DDP cannot follow) has its flattened gradients
  averaged after each backward pass. Buffers (batch-norm statistics) follow rank 0 after each
  epoch; rank 0 alone evaluates, prints and writes files, and checkpoints hold the unwrapped
  model's ``state_dict`` (the keys of a single-process run).
* **reproducibility**: the model is initialised after ``seed_everything(seed)``; epoch ``e``'s
  batches draw from a generator seeded by ``(seed, e)`` (the ``DistributedSampler`` shuffles
  by ``seed + e``); the global RNG state is stored in
  every checkpoint. A run killed after any epoch and resumed ends with bit-identical weights.
* **run directory** ``out/``: ``checkpoint.pt`` (last epoch) and ``best.pt`` (best
  ``task.monitor``), written atomically; ``metrics.json`` (per-epoch history, best, final);
  ``steps.csv`` (a row every ``log_every`` steps); TensorBoard events when ``tensorboard`` is
  installed. An existing run is never overwritten unless asked (``overwrite``), a directory
  busy with another live run is refused (``.lock``), and temporary files a killed save left
  are removed.
* **resume**: ``resume=True`` continues from ``checkpoint.pt`` (the configuration must agree
  except on ``task.resumable_changes``); a larger ``epochs`` extends a finished run, with the
  learning-rate schedule of the new length.
* **safety**: a non-finite loss stops the run with :class:`TrainingDiverged` before anything is
  written, so the last checkpoint stays the last finite one.
* **weight averaging**: with ``task.ema_decay`` an exponential moving average of the weights,
  updated after every optimizer step, is what is evaluated, saved as the model and returned
  (Polyak averaging: it damps the step-to-step noise of high-variance gradients such as
  REINFORCE's); resume restores both the raw and the averaged weights.
* ``stop_after=k`` stops after ``k`` epochs of this call, as a kill would (tests, benchmarks).
"""

from __future__ import annotations

import copy
import csv
import fcntl
import gc
import inspect
import json
import logging
import math
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from tinvnn._io import atomic_write, json_safe, stale_temporaries
from tinvnn._progress import progress
from tinvnn.checkpoint import (
    BEST,
    LAST,
    CheckpointMismatchError,
    check_config,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from tinvnn.runtime import RunOptions, Runtime, set_threads, start_runtime
from tinvnn.training.seed import seed_everything
from tinvnn.training.task import EpochContext, Task, TrainData

__all__ = ["RunResult", "RunDirectoryError", "TrainingDiverged", "fit", "METRICS", "STEPS"]

log = logging.getLogger(__name__)

METRICS, STEPS, LOCK = "metrics.json", "steps.csv", ".lock"


class RunDirectoryError(ValueError):
    """The run directory cannot be used as asked (exists, busy, or not a directory)."""


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite; nothing of that step was saved."""


_REMOTE_ERRORS: dict[str, type[Exception]] = {
    "RunDirectoryError": RunDirectoryError,
    "TrainingDiverged": TrainingDiverged,
    "ValueError": ValueError,
    "CheckpointMismatchError": CheckpointMismatchError,
    "FileNotFoundError": FileNotFoundError,
}


@dataclass
class RunResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model, last epoch's weights (their moving average with
            ``task.ema_decay``), eval mode, on the run's device.
        history: one record per epoch (``epoch``, ``loss``, logged means, ``lr``, ``seconds``,
            ``step_seconds`` (median wall time of one training step: forward, backward, update)
            and the evaluation numbers at evaluated epochs).
        best: the evaluation record with the best monitored value (empty if none yet).
        out: the run directory.
        finished: all ``epochs`` are done (False after ``stop_after``).
        extra: per-process facts (``param_checksums`` under torchrun).
    """

    model: nn.Module
    history: list[dict[str, Any]]
    best: dict[str, Any]
    out: Path
    finished: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def fit(task: Task, options: RunOptions | None = None) -> RunResult:
    """Train ``task`` (see the module docstring); return the :class:`RunResult`.

    Raises:
        RunDirectoryError: ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set,
            another live process uses it, or it is not a directory.
        CheckpointMismatchError: resuming a checkpoint of another configuration.
        TrainingDiverged: a non-finite loss.
    """
    options = options or RunOptions()
    set_threads(options.threads)
    rt = start_runtime(options.device)
    out = Path(options.out)
    lock = _RunLock(out)
    failed = True
    try:
        _main_only(rt, partial(_open_directory, lock, out, options))
        result = _run(task, options, rt, out)
        failed = False
        return result
    finally:
        lock.release()
        rt.close(failed=failed)


def _main_only(rt: Runtime, work: Callable[[], Any]) -> Any:
    """Run ``work`` on rank 0 only and return its result there (None elsewhere); under torchrun
    its error is raised on every process (instead of leaving the others waiting in a collective)."""
    error: BaseException | None = None
    result = None
    if rt.is_main:
        try:
            result = work()
        except Exception as err:  # re-raised below, on every rank
            error = err
    if rt.world > 1:
        box: list[Any] = [None if error is None else (type(error).__name__, str(error))]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and error is None:
            error = _REMOTE_ERRORS.get(box[0][0], RuntimeError)(f"(rank 0) {box[0][1]}")
    if error is not None:
        raise error
    return result


def _open_directory(lock: _RunLock, out: Path, options: RunOptions) -> None:
    lock.acquire()
    _prepare_directory(out, options)


def _prepare_directory(out: Path, options: RunOptions) -> None:
    for tmp in stale_temporaries(out, names=(LAST, BEST, METRICS)):
        log.info("removing %s, left by an interrupted save", tmp)
        tmp.unlink(missing_ok=True)
    last = out / LAST
    if last.exists() and not options.resume:
        if not options.overwrite:
            raise RunDirectoryError(
                f"{out} already holds a run ({last}); pass --resume to continue it or --overwrite to start afresh"
            )
        for name in (LAST, BEST, METRICS, STEPS):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "tensorboard", ignore_errors=True)


class _RunLock:
    """An exclusive ``flock`` on ``out/.lock``, held for the whole run: one live run per directory.

    The kernel releases the lock when its process ends, however it ends, so a killed run never
    leaves the directory locked; the file's ``host:pid`` only names the owner in messages.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise RunDirectoryError(f"run directory {self.path.parent} exists and is not a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as err:
            raise RunDirectoryError(f"cannot create run directory {self.path.parent}: {err}") from err
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 256).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirectoryError(f"{self.path.parent} is in use by another run (process {owner})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def _run(task: Task, options: RunOptions, rt: Runtime, out: Path) -> RunResult:
    seed_everything(task.seed)
    model = task.build_model().to(rt.device)
    optimizer = task.build_optimizer(model)
    average = _WeightAverage(model, task.ema_decay) if task.ema_decay else None
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    start: int = 0
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
    last = out / LAST
    if options.resume and last.is_file():
        start, history, best = _restore(task, last, model, optimizer, rt, average)
        if rt.is_main:
            log.info("resumed from %s after epoch %d of %d", last, start, task.epochs)
    elif options.resume and rt.is_main:
        log.warning("no checkpoint at %s; starting from scratch", last)
    if rt.world > 1:
        _broadcast_module(model)
    replicated = _Replicated(model, rt)
    writer = _StepLog(out, start) if rt.is_main else None
    stop = task.epochs if options.stop_after is None else min(task.epochs, start + options.stop_after)
    run_began = time.perf_counter()
    try:
        for epoch in range(start, stop):
            for group, lr in zip(optimizer.param_groups, base_lrs):
                group["lr"] = lr * task.lr_factor(epoch, task.epochs)
            record = _train_epoch(task, replicated, optimizer, epoch, rt, options, writer, average)
            if rt.world > 1:
                _broadcast_module(model, buffers_only=True)
            _check_finite_weights(model, epoch)
            ended = _main_only(
                rt, partial(_end_epoch, task, model, optimizer, out, epoch, record, history, best, average)
            )
            if rt.is_main:
                best = ended
                eta = (time.perf_counter() - run_began) / (epoch + 1 - start) * (stop - epoch - 1)
                log.info("epoch %d/%d %s (eta %.0fs)", epoch + 1, task.epochs, _format(record), eta)
            if rt.world > 1:
                box: list[Any] = [history, best]
                dist.broadcast_object_list(box, src=0)
                history, best = box[0], box[1]
    finally:
        replicated.release()
        if writer is not None:
            writer.close()
    extra: dict[str, Any] = {}
    if rt.world > 1:  # a check that the replicas stayed equal, kept in metrics.json
        sums: list[Any] = [None] * rt.world
        dist.all_gather_object(sums, float(sum(p.detach().double().sum() for p in model.parameters())))
        extra["param_checksums"] = sums
        if rt.is_main and history:
            _write_metrics(out, task, history, best, finished=len(history) >= task.epochs, extra=extra)
    if rt.is_main and start >= task.epochs:
        log.info("run in %s had already finished %d epochs", out, start)
        _write_metrics(out, task, history, best, finished=True)  # in case a kill came before it was written
    result = model if average is None else average.model.requires_grad_(True)
    result.eval()
    return RunResult(result, history, best, out, finished=len(history) >= task.epochs, extra=extra)


def _end_epoch(
    task: Task,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    out: Path,
    epoch: int,
    record: dict[str, Any],
    history: list[dict[str, Any]],
    best: dict[str, Any],
    average: _WeightAverage | None,
) -> dict[str, Any]:
    """Rank 0 after an epoch: evaluate when due (the averaged weights, if any), keep the best,
    append ``record`` to ``history``, write the checkpoints and metrics; return the (new) best record."""
    monitor, mode = task.monitor
    device = next(model.parameters()).device
    if (epoch + 1) % task.eval_every == 0 or epoch + 1 == task.epochs:
        record.update(_evaluate(task, model if average is None else average.model, device))
        if _improves(record.get(monitor), best.get(monitor), mode):
            best = dict(record)
            _save(out / BEST, task, model, optimizer, epoch + 1, history + [record], best, average)
    history.append(record)
    _save(out / LAST, task, model, optimizer, epoch + 1, history, best, average)
    _write_metrics(out, task, history, best, finished=epoch + 1 == task.epochs)
    return best


def _evaluate(task: Task, model: nn.Module, device: torch.device) -> dict[str, float]:
    """``task.evaluate`` in eval mode, without gradients, on a forked RNG (an evaluation that draws
    random numbers does not shift training's stream: resume stays bit-identical)."""
    model.eval()
    devices = [device] if device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        return {k: float(v) for k, v in task.evaluate(model, device).items()}


def _check_finite_weights(model: nn.Module, epoch: int) -> None:
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise TrainingDiverged(
            f"training diverged in epoch {epoch + 1}: parameters {bad[:3]} hold NaN or Inf; the last checkpoint "
            "is the last finite one (lower the learning rate, or clip gradients)"
        )


def _restore(
    task: Task,
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rt: Runtime,
    average: _WeightAverage | None,
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    payload = load_checkpoint(path, map_location=rt.device)
    stored = read_config(payload, type(task.config), path, what=f"{type(task).__name__} run")
    check_config(path, stored, task.config, ignore=task.resumable_changes)
    state = payload["state"]
    model.load_state_dict(state.get("raw_model", state["model"]))  # the weights training continues from
    if average is not None:
        average.model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"].cpu())
    if rt.device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), rt.device)
    meta = payload["meta"]
    return int(state["epoch"]), list(meta.get("history", [])), dict(meta.get("best", {}))


class _Replicated:
    """The module a data-loader task's steps call: ``DistributedDataParallel(model)`` under
    torchrun, made on first use (its construction broadcasts rank 0's weights; a task on the
    ``batches`` path never makes it), the model itself in a single process."""

    def __init__(self, model: nn.Module, rt: Runtime) -> None:
        self.model, self.rt = model, rt
        self.wrapped: nn.Module | None = None

    def __call__(self) -> nn.Module:
        if self.rt.world == 1:
            return self.model
        if self.wrapped is None:
            ids = [self.rt.device] if self.rt.device.type == "cuda" else None
            # buffers (batch-norm statistics) only matter in evaluation, on rank 0, after the harness
            # copies rank 0's to every process at the end of the epoch: no broadcast before each forward.
            # static_graph: every step uses the same parameters, which DDP learns in the first step;
            # parameters a model never uses (EGNN's last node update) are then no error, at no
            # per-step cost (find_unused_parameters would traverse the graph at every step)
            self.wrapped = DistributedDataParallel(self.model, device_ids=ids, static_graph=True, **_NO_BUFFER_SYNC)
        return self.wrapped

    def release(self) -> None:
        """Drop the wrapper (its reducer holds communication state) while the process group is
        alive: one left for interpreter exit can abort the process after training finished."""
        self.wrapped = None
        gc.collect()


# No buffer broadcast before each forward: torch 2.13 renamed the option (the old name warns).
_NO_BUFFER_SYNC: dict[str, Any] = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


def _loader(data: TrainData, seed: int, epoch: int, rt: Runtime, options: RunOptions) -> DataLoader[Any]:
    """The epoch's ``DataLoader``: this process's share (``DistributedSampler``, equal on every
    process), shuffled by ``(seed, epoch)``; ``options.workers`` loader processes."""
    sampler: DistributedSampler[Any] = DistributedSampler(
        data.dataset, num_replicas=rt.world, rank=rt.rank, shuffle=data.shuffle, seed=seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    batched = data.batch_size is not None
    return DataLoader(
        data.dataset,
        batch_size=data.batch_size,
        sampler=sampler,
        drop_last=data.drop_last and batched,
        num_workers=options.workers,
        pin_memory=rt.device.type == "cuda",
        # seeds the workers (and spares the global RNG, which an unseeded loader would draw from)
        generator=torch.Generator().manual_seed(seed * 100_003 + epoch + 1),
    )


def _train_epoch(
    task: Task,
    replicated: _Replicated,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    rt: Runtime,
    options: RunOptions,
    writer: _StepLog | None,
    average: _WeightAverage | None,
) -> dict[str, Any]:
    began = time.perf_counter()
    model = replicated.model
    ctx = EpochContext(epoch, _epoch_generator(task.seed, epoch), rt.rank, rt.world, rt.device)
    data = task.train_data(ctx)
    batches: Any = task.batches(ctx) if data is None else _loader(data, task.seed, epoch, rt, options)
    engine = model if data is None else replicated()  # what the steps call
    counts = [len(batches), len(batches)]
    if rt.world > 1:  # every process must take the same number of steps, or the collectives pair wrongly
        low, high = torch.tensor([len(batches)]), torch.tensor([len(batches)])
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        counts = [int(low), int(high)]
    if counts[0] != counts[1]:
        raise ValueError(
            f"epoch {epoch + 1}: processes got between {counts[0]} and {counts[1]} batches; "
            "a task must give each the same number"
        )
    if counts[0] == 0:
        raise ValueError(
            f"epoch {epoch + 1}: the task produced no training batches (too little data for the batch size?)"
        )
    model.train()
    sums: dict[str, float] = {}
    window: dict[str, float] = {}
    shown = options.progress and rt.is_main
    bar = progress(batches, desc=f"epoch {epoch + 1}/{task.epochs}", unit="step", leave=False, enabled=shown)
    step_times: list[float] = []
    for step, batch in enumerate(bar, 1):
        tick = time.perf_counter()
        loss, logs = task.training_step(engine, batch, ctx)
        # the mean loss over processes (every process sees a divergence at the same step): under
        # DDP its all-reduce starts now and overlaps the backward pass
        mean_loss = _start_mean(loss, rt) if data is not None and rt.world > 1 else None
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)  # under DDP, the gradients arrive averaged over processes
        if mean_loss is not None:
            value = mean_loss()
        else:
            value = _reduce_gradients(model, loss.detach(), rt) if rt.world > 1 else float(loss.detach())
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training diverged at epoch {epoch + 1}, step {step}: loss {value}; the last checkpoint is "
                "the last finite one (lower the learning rate, or clip gradients)"
            )
        if task.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), task.grad_clip)
        optimizer.step()
        if average is not None:
            average.update(model)
        step_times.append(time.perf_counter() - tick)
        values = {"loss": value, **{k: float(v) for k, v in logs.items()}}
        for key, v in values.items():
            sums[key] = sums.get(key, 0.0) + v
            window[key] = window.get(key, 0.0) + v
        if step % options.log_every == 0 or step == len(batches):
            span = options.log_every if step % options.log_every == 0 else step % options.log_every
            if writer is not None:
                values_mean = {k: v / span for k, v in window.items()}
                writer.write(epoch + 1, step, epoch * len(batches) + step, values_mean, optimizer.param_groups[0]["lr"])
            window = {}
            bar.set_postfix(loss=f"{sums['loss'] / step:.4g}")
    record: dict[str, Any] = {"epoch": epoch + 1}
    record.update({k: v / len(batches) for k, v in sums.items()})
    step_times.sort()
    record.update(
        lr=optimizer.param_groups[0]["lr"],
        seconds=time.perf_counter() - began,
        step_seconds=step_times[len(step_times) // 2],
    )
    return record


def _start_mean(value: torch.Tensor, rt: Runtime) -> Callable[[], float]:
    """Start averaging a scalar over processes; the returned function waits and returns the mean."""
    total = value.detach().reshape(1).clone()
    work = dist.all_reduce(total, async_op=True)

    def wait() -> float:
        work.wait()
        return float(total) / rt.world

    return wait


def _reduce_gradients(model: nn.Module, loss: torch.Tensor, rt: Runtime) -> float:
    """Average gradients (and the loss) over processes; return the mean loss.

    The ``batches`` path (REINFORCE): a step rolls the policy out many times through methods
    other than ``forward`` (``rollout``, a scorer called once per decision), which
    ``DistributedDataParallel`` does not follow (it synchronises the gradients of one
    ``forward`` per backward); one flat all-reduce after the backward pass works for any call
    pattern."""
    params = [p for p in model.parameters() if p.requires_grad]
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        + [loss.reshape(1).to(params[0].dtype)]
    )
    dist.all_reduce(flat)
    flat /= rt.world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n
    return float(flat[-1])


def _broadcast_module(model: nn.Module, *, buffers_only: bool = False) -> None:
    tensors = list(model.buffers()) if buffers_only else [*model.parameters(), *model.buffers()]
    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)


def _improves(value: Any, best: Any, mode: str) -> bool:
    if value is None or not math.isfinite(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def _save(
    path: Path,
    task: Task,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    average: _WeightAverage | None,
) -> None:
    shown = model if average is None else average.model
    state = {
        "model": shown.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "epoch": epoch,
    }
    if average is not None:
        state["raw_model"] = model.state_dict()
    if next(model.parameters()).is_cuda:
        state["cuda_rng"] = torch.cuda.get_rng_state()
    save_checkpoint(path, state, task.config.to_dict(), meta={**task.meta(), "history": history, "best": best})


class _WeightAverage:
    """An exponential moving average of a model's parameters (buffers follow the model's).

    ``update`` after each optimizer step: ``avg <- decay * avg + (1 - decay) * param``.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema: expected a decay in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for mine, theirs in zip(self.model.parameters(), model.parameters()):
            mine.lerp_(theirs.detach(), 1.0 - self.decay)
        for buffer, source in zip(self.model.buffers(), model.buffers()):
            buffer.copy_(source)


def _write_metrics(
    out: Path,
    task: Task,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    *,
    finished: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    payload = {
        "config": task.config.to_dict(),
        **task.meta(),
        "history": history,
        "best": best,
        "final": history[-1] if history else {},
        "finished": finished,
        **(extra or {}),
    }
    text = json.dumps(json_safe(payload), indent=2, allow_nan=False).encode()
    atomic_write(out / METRICS, lambda handle: handle.write(text))


def _format(record: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch")


class _StepLog:
    """``steps.csv`` (and TensorBoard when installed): one row per ``log_every`` steps.

    On resume the rows of epochs after the checkpoint (written before a kill) are dropped.
    """

    def __init__(self, out: Path, resumed_epoch: int) -> None:
        self.path = out / STEPS
        self.columns: list[str] | None = None
        if self.path.exists():
            with self.path.open(newline="") as handle:
                rows = list(csv.DictReader(handle))
            kept = [r for r in rows if int(r["epoch"]) <= resumed_epoch]
            self.columns = list(rows[0].keys()) if rows else None
            if len(kept) != len(rows) and self.columns is not None:
                with self.path.open("w", newline="") as handle:
                    w = csv.DictWriter(handle, self.columns)
                    w.writeheader()
                    w.writerows(kept)
        self.handle = self.path.open("a", newline="")
        self.tb = _tensorboard(out)

    def write(self, epoch: int, step: int, global_step: int, values: dict[str, float], lr: float) -> None:
        row = {
            "epoch": epoch,
            "step": step,
            **{k: f"{v:.6g}" for k, v in values.items()},
            "lr": f"{lr:.6g}",
            "time": f"{time.time():.1f}",
        }
        if self.columns is None:
            self.columns = list(row)
            csv.DictWriter(self.handle, self.columns).writeheader()
        csv.DictWriter(self.handle, self.columns, extrasaction="ignore").writerow(row)
        self.handle.flush()
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"train/{k}", v, global_step)

    def close(self) -> None:
        self.handle.close()
        if self.tb is not None:
            self.tb.close()


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))
