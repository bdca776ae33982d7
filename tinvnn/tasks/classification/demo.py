"""``tinvnn demo``: why the library exists, in a few minutes on a laptop CPU.

Trains a plain PointNet (``none``), the same PointNet behind :class:`tinvnn.nn.TinvWrapper`
(``tinv``, one canonical frame) and behind :class:`tinvnn.nn.WeightedFrames` (``weighted``:
the canonical frame plus the alternatives of its undecided sign and axis-order choices,
weighted; trained on one drawn frame per cloud, so at the cost of ``tinv``) for a short, fixed
budget, then prints their accuracy under the I, z, SO3 and
SO3+scale test protocols with each model's measured invariance error, and writes the
accuracy-versus-rotation-angle plot.

Data: ModelNet40 when ``<data>/modelnet40/{train,test}.npz`` exist (a class-balanced subset
with few points, to fit the time; the output says so), else the embedded synthetic shapes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinvnn.paths import data_dir
from tinvnn.runtime import RunOptions, resolve_device
from tinvnn.tasks.classification.datasets import load_dataset
from tinvnn.tasks.classification.evaluate import audit, evaluate
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig, load_classifier
from tinvnn.tasks.classification.sweep import angle_sweep, chance_level, save_sweep
from tinvnn.tasks.classification.train import train

__all__ = ["DemoPlan", "plan_demo", "run_demo", "format_table"]

log = logging.getLogger(__name__)

TEST_PROTOCOLS = ("I", "z", "SO3", "SO3+scale")
ANGLES = [0.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 150.0, 180.0]


@dataclass(frozen=True)
class DemoPlan:
    """What the demo trains on: dataset, its size, and a sentence saying so."""

    dataset: str
    points: int
    per_class: int
    test_per_class: int
    epochs: int
    width: int
    description: str

    @property
    def title(self) -> str:
        """The plot title: dataset, training budget and test set, readable without the terminal."""
        name = "ModelNet40 (subset)" if self.dataset == "modelnet40" else "synthetic shapes (12 classes)"
        return (
            f"{name}: PointNet trained {self.epochs} epochs on {self.per_class} clouds/class "
            f"({self.points} points, rotated about z)\ntested on {self.test_per_class} clouds/class, "
            "each turned about its own random axis"
        )


def plan_demo(root: str | Path | None = None, *, epochs: int | None = None) -> DemoPlan:
    """ModelNet40 (subset) when the data directory has it, else the synthetic shapes."""
    modelnet = data_dir(root) / "modelnet40"
    if (modelnet / "train.npz").is_file() and (modelnet / "test.npz").is_file():
        e = epochs or 10
        return DemoPlan(
            "modelnet40",
            128,
            80,
            10,
            e,
            128,
            f"ModelNet40 from {modelnet}: a subset to fit the demo's few minutes on 2 CPU cores "
            f"(up to 80 training and 10 test clouds per class, 128 points per cloud, {e} epochs); "
            "the full benchmark is benchmarks/bench_modelnet.py",
        )
    e = epochs or 8
    return DemoPlan(
        "synthetic",
        256,
        40,
        20,
        e,
        128,
        f"embedded synthetic shapes (12 classes, 40 training and 20 test clouds per class, "
        f"256 points, {e} epochs); no ModelNet40 found in {modelnet}",
    )


#: The demo's models: table name -> classification method.
DEMO_METHODS = {"none": "none", "tinv": "tinv", "weighted": "weighted_draw"}


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    """The demo's result table: accuracy (%) per test protocol and the worst invariance error."""
    head = f"{'model':<9}" + "".join(f"{p:>11}" for p in TEST_PROTOCOLS) + f"{'invariance error':>18}"
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        cells = "".join(f"{100 * row['accuracy'][p]:>10.1f}%" for p in TEST_PROTOCOLS)
        lines.append(f"{name:<9}{cells}{row['invariance']['max_rel']:>18.1e}")
    return "\n".join(lines)


def run_demo(
    out: str | Path = "runs/demo",
    *,
    root: str | Path | None = None,
    epochs: int | None = None,
    progress: bool = True,
    device: str = "auto",
) -> dict[str, Any]:
    """Train ``none``, ``tinv`` and ``weighted`` PointNets, print the comparison, write ``<out>/angle_sweep.png``.

    ``device``: where the models train and are tested (a ``--device`` value, see
    :data:`tinvnn.runtime.DEVICE_HELP`).

    Returns:
        ``{"plan", "models": {name: {"accuracy", "invariance"}}, "sweep"}`` (also ``<out>/demo.json``).
    """
    out = Path(out)
    plan = plan_demo(root, epochs=epochs)
    print(f"tinvnn demo: {plan.description}", flush=True)
    test_set = load_dataset(plan.dataset, "test", points=plan.points, root=root, per_class=plan.test_per_class)
    rows: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[float]] = {}
    for name, method in DEMO_METHODS.items():
        print(f"training PointNet '{name}' (train protocol z) ...", flush=True)
        config = ClassifierTrainConfig(
            method=method,
            dataset=plan.dataset,
            data_dir=None if root is None else str(root),
            points=plan.points,
            per_class=plan.per_class,
            test_per_class=plan.test_per_class,
            train_protocol="z",
            test_protocol="SO3",
            epochs=plan.epochs,
            batch_size=32,
            lr=2e-3,
            width=plan.width,
            eval_every=plan.epochs,
        )
        options = RunOptions(out=str(out / name), device=device, progress=progress, overwrite=True)  # reruns afresh
        train(config, options)
        model, _, _ = load_classifier(out / name / "checkpoint.pt", resolve_device(device))
        rows[name] = {
            "accuracy": {p: evaluate(model, test_set, parse_protocol(p), seed=1).accuracy for p in TEST_PROTOCOLS},
            "invariance": audit(model, test_set.points[:8], group="O"),
        }
        curves[name] = angle_sweep(model, test_set, ANGLES, seed=2)
    png, _ = save_sweep(curves, ANGLES, out / "angle_sweep.png", title=plan.title, chance=chance_level(test_set.labels))
    print()
    print(format_table(rows))
    print()
    print(
        "invariance error: max relative change of the logits under random rotations/reflections, "
        "scaling, translation and point permutation (tinvnn.check_invariance, float64)"
    )
    print(f"angle sweep (accuracy vs rotation about a random axis): {png}")
    result = {"plan": plan.__dict__, "models": rows, "sweep": {"angles_deg": ANGLES, "accuracy": curves}}
    (out / "demo.json").write_text(json.dumps(result, indent=2))
    return result
