"""The run harness (tinvnn.training.fit) on a toy task and on each real task.

Every task: a run stopped after an epoch and resumed ends bit-identical to an uninterrupted
one; a finished run extended to more epochs equals a run trained that long from the start; two
torchrun processes (gloo) keep equal replicas, resume bit-identically, and train the
data-loader tasks (classification, n-body, imitation) through DistributedDataParallel and the
REINFORCE task through the hand-averaged gradients. Generic behaviour (run-directory
protection, divergence, logs, devices) on a toy regression task.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from tinvnn.tasks.classification.recipe import ClassifierTrainConfig
from tinvnn.tasks.classification.train import ClassificationTask
from tinvnn.tasks.nbody.dataset import NBodyConfig, load_nbody
from tinvnn.tasks.nbody.recipe import NBodyTrainConfig
from tinvnn.tasks.nbody.simulator import ChargedSystem
from tinvnn.tasks.nbody.train import NBodyTask
from tinvnn.tasks.tsp.attention.recipe import AttentionConfig as TSPConfig
from tinvnn.tasks.tsp.attention.reinforce import ReinforceTask
from tinvnn.tasks.tsp.local.finetune import LocalReinforceTask
from tinvnn.tasks.tsp.local.imitation import ImitationTask
from tinvnn.training import (
    BEST,
    LAST,
    METRICS,
    STEPS,
    Config,
    ConfigError,
    EpochContext,
    RunDirectoryError,
    RunOptions,
    Task,
    TrainData,
    TrainingDiverged,
    add_arguments,
    fit,
    from_args,
    load_checkpoint,
    option,
    resolve_device,
    set_threads,
)
from tinvnn.training.seed import seed_everything

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- a toy task
@dataclasses.dataclass(frozen=True)
class ToyConfig(Config):
    epochs: int = option(3, "epochs")
    lr: float = option(0.05, "learning rate")
    weight_decay: float = option(0.0, "weight decay")
    seed: int = option(0, "seed")
    eval_every: int = option(1, "epochs between evaluations")
    dropout: float = option(0.2, "dropout (uses the global RNG)")
    ema: float = option(0.0, "per-step decay of the weights' moving average (0: none)")


class ToyTask(Task):
    """Regress y = x @ w with a dropout MLP: global RNG (dropout) and generator (shuffling) both matter."""

    monitor = ("val_loss", "min")

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(64, 4, generator=g)
        self.y = self.x @ torch.randn(4, 1, generator=g)

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(4, 16), nn.Dropout(self.config.dropout), nn.ReLU(), nn.Linear(16, 1))

    def batches(self, ctx: EpochContext) -> list[Tensor]:
        order = torch.randperm(64, generator=ctx.generator)[ctx.rank :: ctx.world]
        return list(order.split(8))

    def training_step(self, model: nn.Module, batch: Tensor, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        loss = nn.functional.mse_loss(model(self.x[batch].to(ctx.device)), self.y[batch].to(ctx.device))
        return loss, {"double": 2 * float(loss.detach())}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        return {"val_loss": float(nn.functional.mse_loss(model(self.x.to(device)), self.y.to(device)))}


class ToyLoaderTask(ToyTask):
    """The toy task read through the harness's DataLoader (DistributedDataParallel under torchrun)."""

    def train_data(self, ctx: EpochContext) -> TrainData:
        return TrainData(TensorDataset(self.x, self.y), batch_size=8)

    def training_step(
        self, model: nn.Module, batch: list[Tensor], ctx: EpochContext
    ) -> tuple[Tensor, dict[str, float]]:
        x, y = batch
        loss = nn.functional.mse_loss(model(x.to(ctx.device)), y.to(ctx.device))
        return loss, {"double": 2 * float(loss.detach())}


def _weights(path: Path) -> dict[str, Tensor]:
    return load_checkpoint(path)["state"]["model"]


def _assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = load_checkpoint(a)["state"], load_checkpoint(b)["state"]
    assert ("raw_model" in sa) == ("raw_model" in sb)
    for part in ("model", "raw_model") if "raw_model" in sa else ("model",):  # raw weights too with an average
        wa, wb = sa[part], sb[part]
        assert wa.keys() == wb.keys()
        for key in wa:
            assert torch.equal(wa[key], wb[key]), (part, key)


def _opts(out: Path, **kw: object) -> RunOptions:
    return RunOptions(out=str(out), progress=False, device="cpu", **kw)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- every task
def _classification(epochs: int) -> Task:
    return ClassificationTask(
        ClassifierTrainConfig(
            method="tinv", points=32, per_class=2, test_per_class=1, batch_size=8, width=8, epochs=epochs
        )
    )


_NBODY_DATA: dict[str, object] = {}


def _nbody(epochs: int) -> Task:
    data = NBodyConfig(n_train=20, n_val=10, n_test=10, frame_in=1, frame_out=3, system=ChargedSystem(n_steps=500))
    if "splits" not in _NBODY_DATA:
        _NBODY_DATA["splits"] = load_nbody(data, root=os.environ["TINVNN_CACHE"])
    config = NBodyTrainConfig(
        model="tinv_gnn", epochs=epochs, batch_size=10, hidden=8, layers=1, eval_every=1, data=data
    )
    return NBodyTask(config, _NBODY_DATA["splits"])  # type: ignore[arg-type]


def _tsp(epochs: int) -> Task:
    config = TSPConfig(
        variant="tinv",
        num_cities=6,
        embed_dim=8,
        num_layers=1,
        num_heads=2,
        ff_dim=8,
        batch_size=4,
        steps=2 * epochs,
        steps_per_epoch=2,
        val_instances=4,
    )
    return ReinforceTask(config)


def _imitation(epochs: int) -> Task:
    from test_tsp_local import TINY, tiny_imitation_data

    config = TINY.replace(epochs=epochs, steps_per_epoch=2, batch_size=8, val_states=10, states_per_city=2.0)
    return ImitationTask(config, tiny_imitation_data())


TASKS: dict[str, Callable[[int], Task]] = {
    "toy": lambda e: ToyTask(ToyConfig(epochs=e)),
    "toy_ema": lambda e: ToyTask(ToyConfig(epochs=e, ema=0.9)),
    "toy_loader": lambda e: ToyLoaderTask(ToyConfig(epochs=e)),
    "classification": _classification,
    "nbody": _nbody,
    "tsp": _tsp,
    "tsp_imitation": _imitation,
}
#: the tasks whose step is one forward and one backward: a DataLoader, and DistributedDataParallel under torchrun
LOADER_TASKS = ("toy_loader", "classification", "nbody", "tsp_imitation")


@pytest.mark.parametrize("name", list(TASKS))
def test_one_pass_tasks_use_a_data_loader_and_rollout_tasks_their_batches(name: str) -> None:
    task = TASKS[name](1)
    ctx = EpochContext(0, torch.Generator().manual_seed(0), 0, 1, torch.device("cpu"))
    data = task.train_data(ctx)
    assert isinstance(data, TrainData) if name in LOADER_TASKS else data is None
    # the local policy's REINFORCE fine-tuning rolls out too (its task needs a trained policy to build)
    assert LocalReinforceTask.train_data is Task.train_data and ReinforceTask.train_data is Task.train_data


def test_task_without_data_or_batches_is_refused(tmp_path: Path) -> None:
    class NoData(ToyTask):
        batches = Task.batches  # type: ignore[assignment]

    with pytest.raises(NotImplementedError, match=r"^NoData: define train_data \(a DataLoader's dataset\) or batches$"):
        fit(NoData(ToyConfig(epochs=1)), _opts(tmp_path))


def test_loader_workers_train_the_same_weights(tmp_path: Path) -> None:
    fit(ToyLoaderTask(ToyConfig(epochs=2)), _opts(tmp_path / "main"))
    fit(ToyLoaderTask(ToyConfig(epochs=2)), _opts(tmp_path / "workers", workers=2))
    _assert_same_weights(tmp_path / "main" / LAST, tmp_path / "workers" / LAST)
    with pytest.raises(ValueError, match=r"^workers: expected a non-negative integer, got -1$"):
        _opts(tmp_path, workers=-1)


@pytest.mark.parametrize("name", list(TASKS))
def test_stopped_run_resumes_bit_identical(name: str, tmp_path: Path) -> None:
    make = TASKS[name]
    full = fit(make(3), _opts(tmp_path / "full"))
    stopped = fit(make(3), _opts(tmp_path / "cut", stop_after=1))
    assert not stopped.finished and [h["epoch"] for h in stopped.history] == [1]
    assert load_checkpoint(tmp_path / "cut" / LAST)["state"]["epoch"] == 1
    resumed = fit(make(3), _opts(tmp_path / "cut", resume=True))
    assert resumed.finished and [h["epoch"] for h in resumed.history] == [1, 2, 3]
    _assert_same_weights(tmp_path / "full" / LAST, tmp_path / "cut" / LAST)
    assert resumed.history[-1]["loss"] == full.history[-1]["loss"]
    rows = list(csv.DictReader((tmp_path / "cut" / STEPS).open()))
    assert [int(r["epoch"]) for r in rows] == sorted(int(r["epoch"]) for r in rows) and rows[-1]["epoch"] == "3"


@pytest.mark.parametrize("name", list(TASKS))
def test_finished_run_extends_to_more_epochs(name: str, tmp_path: Path) -> None:
    make = TASKS[name]
    fit(make(2), _opts(tmp_path / "long"))
    fit(make(1), _opts(tmp_path / "short"))
    again = fit(make(1), _opts(tmp_path / "short", resume=True))  # finished: nothing more to do
    assert [h["epoch"] for h in again.history] == [1]
    extended = fit(make(2), _opts(tmp_path / "short", resume=True))
    assert [h["epoch"] for h in extended.history] == [1, 2]
    # the learning-rate factor is a function of (epoch, epochs) and 1 at epoch 0 for any length,
    # so extending 1 -> 2 equals training 2 from the start
    _assert_same_weights(tmp_path / "long" / LAST, tmp_path / "short" / LAST)
    # extending 2 -> 3 continues with the schedule of the new length
    task = make(3)
    longer = fit(task, _opts(tmp_path / "short", resume=True))
    assert [h["epoch"] for h in longer.history] == [1, 2, 3]
    assert longer.history[2]["lr"] == pytest.approx(longer.history[0]["lr"] * task.lr_factor(2, 3))


class OneBatchToy(ToyTask):
    """One batch (all 64 rows) per epoch: one optimizer step, so the average is easy to write down."""

    def batches(self, ctx: EpochContext) -> list[Tensor]:
        return [torch.arange(64)]


def test_weight_average_is_evaluated_saved_and_returned_without_changing_training(tmp_path: Path) -> None:
    decay = 0.75
    task = OneBatchToy(ToyConfig(epochs=2, ema=decay))
    seed_everything(task.seed)
    initial = task.build_model().state_dict()
    result = fit(task, _opts(tmp_path / "ema"))
    plain = fit(OneBatchToy(ToyConfig(epochs=2)), _opts(tmp_path / "plain"))
    state = load_checkpoint(tmp_path / "ema" / LAST)["state"]
    # the raw weights follow the same trajectory as without averaging
    assert all(torch.equal(state["raw_model"][k], v) for k, v in _weights(tmp_path / "plain" / LAST).items())
    # two steps: avg = d^2 w0 + d (1 - d) w1 + (1 - d) w2; w1 is the plain run's first epoch (stop_after=1)
    fit(OneBatchToy(ToyConfig(epochs=2)), _opts(tmp_path / "one", stop_after=1))
    w1, w2 = _weights(tmp_path / "one" / LAST), state["raw_model"]
    for key, w0 in initial.items():
        expected = decay**2 * w0 + decay * (1 - decay) * w1[key] + (1 - decay) * w2[key]
        torch.testing.assert_close(state["model"][key], expected, rtol=1e-6, atol=1e-7)
        assert torch.equal(result.model.state_dict()[key], state["model"][key])
    # the monitored number is the average's, and differs from the raw model's
    with torch.no_grad():
        assert result.history[-1]["val_loss"] == pytest.approx(
            task.evaluate(result.model.eval(), torch.device("cpu"))["val_loss"]
        )
    assert result.history[-1]["val_loss"] != plain.history[-1]["val_loss"]


def test_weight_average_decay_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^ema: expected a decay in \(0, 1\), got 1.5$"):
        fit(ToyTask(ToyConfig(epochs=1, ema=1.5)), _opts(tmp_path / "bad"))


# torchrun's own rendezvous on a free port can lose a race with another process on a busy
# machine; such start-up failures (not the run's) are retried once.
_RENDEZVOUS_ERRORS = ("DistNetworkError", "EADDRINUSE", "Address already in use", "Connection reset by peer")


def _torchrun(args: list[str], env: dict[str, str], *, timeout: int) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node 2 *args`` (retried once if the rendezvous fails)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 and any(e in done.stderr for e in _RENDEZVOUS_ERRORS):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return done


_TORCHRUN_ARGS = {
    "classification": (
        "train --method tinv --epochs 1 --points 16 --per-class 2 --test-per-class 1 --width 8 --batch-size 4"
    ).split(),
    "nbody": (
        "nbody train --model tinv_gnn --epochs 1 --data-n-train 20 --data-n-val 4 "
        "--data-n-test 4 --data-system-n-steps 4200 --hidden 8 --layers 1 "
        "--batch-size 10"
    ).split(),
    # EGNN's last layer computes node features its output never reads: parameters without gradients
    "nbody_egnn": (
        "nbody train --model egnn --epochs 1 --data-n-train 20 --data-n-val 4 "
        "--data-n-test 4 --data-system-n-steps 4200 --hidden 8 --layers 2 "
        "--batch-size 5"
    ).split(),
    "tsp": (
        "tsp train --variant tinv --num-cities 6 --embed-dim 8 --num-layers 1 "
        "--num-heads 2 --ff-dim 8 --batch-size 4 --steps 2 --steps-per-epoch 2 "
        "--val-instances 4"
    ).split(),
}


@pytest.mark.parametrize("name", list(_TORCHRUN_ARGS))
def test_torchrun_two_processes_keep_equal_replicas(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        "-m",
        "tinvnn",
        *_TORCHRUN_ARGS[name],
        "--no-progress",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
    ]
    done = _torchrun(cmd, env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / METRICS).read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1] and metrics["finished"]
    sums = metrics["param_checksums"]  # each process's sum of its parameters: the replicas are equal
    assert len(sums) == 2 and sums[0] == sums[1]
    # only rank 0 wrote files: one checkpoint, one best
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.suffix == ".pt") == [BEST, LAST]


def test_torchrun_refusal_on_rank_0_ends_every_process(tmp_path: Path) -> None:
    fit(ToyTask(ToyConfig(epochs=1)), _opts(tmp_path / "run"))  # an existing run
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        "-m",
        "tinvnn",
        *_TORCHRUN_ARGS["classification"],
        "--no-progress",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
    ]
    done = _torchrun(cmd, env, timeout=120)  # a hang would time out
    assert done.returncode != 0 and "already holds a run" in done.stderr


def test_torchrun_imitation_task_keeps_equal_replicas(tmp_path: Path) -> None:
    script = tmp_path / "imitation_ddp.py"
    script.write_text(
        "import sys\n"
        f"sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]\n"
        "from test_harness import TASKS\n"
        "from tinvnn.training import RunOptions, fit\n"
        "fit(TASKS['tsp_imitation'](1), RunOptions(out=sys.argv[1], progress=False, device='cpu'))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        str(script),
        str(tmp_path / "run"),
    ]
    done = _torchrun(cmd, env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    sums = json.loads((tmp_path / "run" / METRICS).read_text())["param_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]


_DDP_SCRIPT = """
import json, sys
sys.path[:0] = [{repo!r}, {tests!r}]
import torch.distributed as dist
from test_harness import TASKS, ToyLoaderTask, ToyConfig
from tinvnn.training import RunOptions, fit

dist.init_process_group("gloo")  # one group for every fit below (fit leaves a group it did not create alone)
out, names, rank = sys.argv[1], sys.argv[2].split(","), dist.get_rank()
report = {{"steps": {{}}, "errors": []}}
for name in names:
    kinds = set()

    def make(epochs):
        task = TASKS[name](epochs)
        step = task.training_step

        def recorded(model, batch, ctx):
            kinds.add(type(model).__name__)
            return step(model, batch, ctx)

        task.training_step = recorded
        return task

    fit(make(3), RunOptions(out=f"{{out}}/{{name}}/full", progress=False, device="cpu"))
    fit(make(3), RunOptions(out=f"{{out}}/{{name}}/cut", progress=False, device="cpu", stop_after=1))
    fit(make(3), RunOptions(out=f"{{out}}/{{name}}/cut", progress=False, device="cpu", resume=True))
    report["steps"][name] = sorted(kinds)


class FailingEvaluation(ToyLoaderTask):
    def evaluate(self, model, device):
        raise ValueError("evaluation failed on purpose")


failing = ((FailingEvaluation(ToyConfig(epochs=2)), "failing"), (ToyLoaderTask(ToyConfig(lr=1e30)), "diverging"))
for task, run in failing:
    try:
        fit(task, RunOptions(out=f"{{out}}/{{run}}", progress=False, device="cpu"))
    except ValueError as err:  # TrainingDiverged too
        report["errors"].append(f"{{type(err).__name__}}: {{err}}")
json.dump(report, open(f"{{out}}/rank{{rank}}.json", "w"))
dist.destroy_process_group()
"""


def test_torchrun_two_processes_resume_bit_identical_on_both_paths(tmp_path: Path) -> None:
    names = ["toy_loader", "tsp", "classification", "nbody", "tsp_imitation"]
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT.format(repo=str(REPO), tests=str(REPO / "tests")))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        str(script),
        str(tmp_path / "runs"),
        ",".join(names),
    ]
    done = _torchrun(cmd, env, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads((tmp_path / "runs" / f"rank{r}.json").read_text()) for r in (0, 1)]
    for name in names:
        # a one-forward step is handed the DDP wrapper; a rollout step the bare model (gradients averaged by hand)
        wanted = ["DistributedDataParallel"] if name in LOADER_TASKS else [type(TASKS[name](1).build_model()).__name__]
        assert reports[0]["steps"][name] == reports[1]["steps"][name] == wanted, name
        runs = tmp_path / "runs" / name
        _assert_same_weights(runs / "full" / LAST, runs / "cut" / LAST)  # bit-identical resume on 2 processes
        for run in ("full", "cut"):
            metrics = json.loads((runs / run / METRICS).read_text())
            assert metrics["finished"] and [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
            sums = metrics["param_checksums"]
            assert len(sums) == 2 and sums[0] == sums[1], (name, run)
        # checkpoints keep a single process's state_dict keys (no "module." of the wrapper): old runs still load
        fit(TASKS[name](1), _opts(tmp_path / "single" / name))
        assert _weights(runs / "full" / LAST).keys() == _weights(tmp_path / "single" / name / LAST).keys(), name
    # an error on rank 0 (its evaluation) ends both processes with it; a divergence stops both at the same step
    assert reports[0]["errors"][0] == "ValueError: evaluation failed on purpose"
    assert reports[1]["errors"][0] == "ValueError: (rank 0) evaluation failed on purpose"
    assert reports[0]["errors"][1] == reports[1]["errors"][1]
    diverged = r"TrainingDiverged: training diverged at epoch 1, step \d+: loss (nan|inf).*"
    assert re.fullmatch(diverged, reports[0]["errors"][1])
    assert not (tmp_path / "runs" / "diverging" / LAST).exists()


# ----------------------------------------------------------------------------- generic behaviour
def test_outputs_best_and_logs(tmp_path: Path) -> None:
    run = fit(ToyTask(ToyConfig(epochs=3)), _opts(tmp_path, log_every=3))
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "tensorboard")  # present where installed
    assert names == sorted([BEST, LAST, METRICS, STEPS])  # no lock, no temporaries left
    metrics = json.loads((tmp_path / METRICS).read_text())
    vals = [h["val_loss"] for h in metrics["history"]]
    assert metrics["best"]["val_loss"] == min(vals) and metrics["best"]["epoch"] == 1 + vals.index(min(vals))
    assert load_checkpoint(tmp_path / BEST)["state"]["epoch"] == metrics["best"]["epoch"]
    assert run.history[-1]["double"] == pytest.approx(2 * run.history[-1]["loss"], rel=1e-6)
    rows = list(csv.DictReader((tmp_path / STEPS).open()))
    assert [(r["epoch"], r["step"]) for r in rows] == [(str(e), str(s)) for e in (1, 2, 3) for s in (3, 6, 8)]
    mode = stat.S_IMODE((tmp_path / LAST).stat().st_mode)
    assert mode & stat.S_IRGRP, f"checkpoint readable by its owner only: {oct(mode)}"


def test_existing_run_is_never_overwritten_silently(tmp_path: Path) -> None:
    fit(ToyTask(ToyConfig(epochs=2)), _opts(tmp_path))
    before = _weights(tmp_path / LAST)
    with pytest.raises(RunDirectoryError, match=r"already holds a run .*--resume to continue it or --overwrite"):
        fit(ToyTask(ToyConfig(epochs=1)), _opts(tmp_path))
    for key, value in _weights(tmp_path / LAST).items():
        assert torch.equal(value, before[key])
    fit(ToyTask(ToyConfig(epochs=1, seed=5)), _opts(tmp_path, overwrite=True))
    assert load_checkpoint(tmp_path / LAST)["config"]["seed"] == 5
    with pytest.raises(ValueError, match="resume and overwrite: choose one"):
        _opts(tmp_path, resume=True, overwrite=True)


def test_busy_directory_is_refused_and_a_dead_owners_lock_is_free(tmp_path: Path) -> None:
    import fcntl

    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / ".lock", "w") as held:  # another live run holds the lock
        held.write("otherhost:4242")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(RunDirectoryError, match=r"in use by another run \(process otherhost:4242\)"):
            fit(ToyTask(ToyConfig(epochs=1)), _opts(tmp_path))
    # the file of a run that was killed is left behind, but its lock died with it
    assert (tmp_path / ".lock").exists()
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # left by a killed save
    (tmp_path / ".notes.txt.tmp").write_text("not ours")
    fit(ToyTask(ToyConfig(epochs=1)), _opts(tmp_path))
    assert not (tmp_path / ".lock").exists() and not (tmp_path / ".checkpoint.pt.abc123.tmp").exists()
    assert (tmp_path / ".notes.txt.tmp").exists()  # only the harness's own temporaries are removed


def test_out_that_is_a_file_is_refused_before_training(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirectoryError, match="is not a directory"):
        fit(ToyTask(ToyConfig()), _opts(tmp_path / "file"))
    with pytest.raises(RunDirectoryError, match="cannot create run directory"):
        fit(ToyTask(ToyConfig()), _opts(tmp_path / "file" / "below"))


def test_divergence_stops_before_writing(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch 1, step \d+: loss (nan|inf)"):
        fit(ToyTask(ToyConfig(epochs=3, lr=1e30)), _opts(tmp_path / "x"))
    with pytest.raises(TrainingDiverged):
        fit(ToyTask(ToyConfig(epochs=3, lr=float("inf"))), _opts(tmp_path / "y"))
    assert not (tmp_path / "x" / LAST).exists() and not (tmp_path / "y" / LAST).exists()  # nothing non-finite saved
    assert not (tmp_path / "x" / ".lock").exists()  # the lock is released on failure too


def test_resume_refuses_another_configuration(tmp_path: Path) -> None:
    fit(ToyTask(ToyConfig(epochs=1)), _opts(tmp_path))
    from tinvnn.training import CheckpointMismatchError

    with pytest.raises(CheckpointMismatchError, match=r"lr: checkpoint=0.05 expected=0.1"):
        fit(ToyTask(ToyConfig(epochs=2, lr=0.1)), _opts(tmp_path, resume=True))


def test_run_options_and_devices_are_validated() -> None:
    with pytest.raises(ValueError, match="log_every: expected a positive integer, got 0"):
        RunOptions(log_every=0)
    with pytest.raises(ValueError, match="threads: expected a positive integer, got -1"):
        RunOptions(threads=-1)
    with pytest.raises(ValueError, match="threads: expected a positive integer, got 0"):
        set_threads(0)
    with pytest.raises(ValueError, match=r"device: expected auto .* got 'gpu'"):
        resolve_device("gpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available here"):
            resolve_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(TASKS))
def test_cuda_run_resumes_and_loads_on_cpu(name: str, tmp_path: Path) -> None:
    make = TASKS[name]
    fit(make(2), RunOptions(out=str(tmp_path), progress=False, device="cuda", stop_after=1))
    run = fit(make(2), RunOptions(out=str(tmp_path), progress=False, device="cuda", resume=True))
    assert next(run.model.parameters()).is_cuda and run.finished
    assert all(not t.is_cuda for t in _weights(tmp_path / LAST).values())  # loads on a CPU-only machine


# ----------------------------------------------------------------------------- config bridge
@dataclasses.dataclass(frozen=True)
class Inner(Config):
    size: int = option(3, "inner size")


@dataclasses.dataclass(frozen=True)
class Outer(Config):
    retired_keys = frozenset({"old"})
    name: str = option("a", "a name", choices=("a", "b"))
    rate: float | None = option(None, "a rate (None: automatic)")
    flag: bool = option(False, "a switch")
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_config_flags_round_trip_and_show_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Outer)
    assert from_args(Outer, parser.parse_args([])) == Outer()
    args = parser.parse_args(["--name", "b", "--rate", "0.5", "--flag", "--inner-size", "7"])
    assert from_args(Outer, args) == Outer("b", 0.5, True, Inner(7))
    assert from_args(Outer, parser.parse_args(["--rate", "none"])).rate is None
    text = parser.format_help()
    assert "a rate (default: automatic)" in text and "inner size (default: 3)" in text
    with pytest.raises(SystemExit):
        parser.parse_args(["--name", "c"])


@dataclasses.dataclass(frozen=True)
class Choosy(Config):
    mode: str | None = option(None, "a mode, or None for 100% automatic", choices=("fast", "slow"))
    inner: Outer = dataclasses.field(default_factory=Outer)


def test_config_flags_edge_cases() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Choosy)
    assert "100% automatic" in parser.format_help()  # a % in help is text, not a format
    assert from_args(Choosy, parser.parse_args(["--mode", "none"])).mode is None
    assert from_args(Choosy, parser.parse_args(["--mode", "slow"])).mode == "slow"
    with pytest.raises(TypeError, match=r"from_args: Choosy has no fields \['colour'\]"):
        from_args(Choosy, parser.parse_args([]), colour="red")


def test_stored_configs_missing_keys_take_defaults_unknown_keys_refused() -> None:
    assert Outer.from_dict({"name": "b", "inner": {}}) == Outer(name="b")
    assert Outer.from_dict({"old": 1, "inner": {"size": 4}}) == Outer(inner=Inner(4))  # retired key dropped
    with pytest.raises(ConfigError, match=r"Outer: unknown keys \['colour'\]"):
        Outer.from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match=r"Outer.inner: unknown keys \['depth'\]"):
        Outer.from_dict({"inner": {"depth": 1}})
    assert Choosy.from_dict({"inner": {"old": 3}}) == Choosy()  # retired keys of a nested config dropped too
    with pytest.raises(ConfigError, match=r"Outer.flag: expected bool, got 'no'"):
        Outer.from_dict({"flag": "no"})
    with pytest.raises(ConfigError, match=r"Outer.inner.size: expected int, got '7'"):
        Outer.from_dict({"inner": {"size": "7"}})
    with pytest.raises(ConfigError, match=r"Outer.rate: expected float or None, got True"):
        Outer.from_dict({"rate": True})
