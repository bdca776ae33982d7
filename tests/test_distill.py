"""Knowledge distillation of a classifier (``ClassifierTrainConfig.teacher``): the loss against its
formula, the teacher's logits against a plain forward pass, and the run end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.functional import cross_entropy

from tinvnn.tasks.classification.datasets import load_dataset
from tinvnn.tasks.classification.distill import distillation_loss, teacher_logits
from tinvnn.tasks.classification.evaluate import predict
from tinvnn.tasks.classification.protocols import Protocol
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig, load_classifier
from tinvnn.tasks.classification.train import train
from tinvnn.training import RunOptions, load_checkpoint

TINY = dict(points=32, per_class=4, test_per_class=2, epochs=1, batch_size=8, width=16)


def _run(out: Path) -> RunOptions:
    return RunOptions(out=str(out), progress=False)


def test_distillation_loss_matches_its_formula() -> None:
    gen = torch.Generator().manual_seed(0)
    logits, teacher = (
        torch.randn(6, 5, generator=gen, dtype=torch.float64),
        torch.randn(6, 5, generator=gen, dtype=torch.float64),
    )
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    t = 3.0
    p_teacher, log_student = torch.softmax(teacher / t, -1), torch.log_softmax(logits / t, -1)
    kl = (p_teacher * (p_teacher.log() - log_student)).sum(-1).mean()
    expected = 0.3 * cross_entropy(logits, labels) + 0.7 * t**2 * kl
    torch.testing.assert_close(distillation_loss(logits, labels, teacher, weight=0.7, temperature=t), expected)
    assert torch.equal(
        distillation_loss(logits, labels, teacher, weight=0.0, temperature=t), cross_entropy(logits, labels)
    )
    assert float(distillation_loss(logits, labels, logits, weight=1.0, temperature=t)) == pytest.approx(0.0, abs=1e-12)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("teacher")
    train(ClassifierTrainConfig(method="fa", **TINY), _run(out))
    return out / "checkpoint.pt"


def test_teacher_logits_are_the_teachers_forward_pass(teacher: Path, tmp_path: Path) -> None:
    data = load_dataset("synthetic", "train", points=32, per_class=4)
    z = Protocol("z")
    torch.testing.assert_close(
        teacher_logits(teacher, data, z), predict(load_classifier(teacher)[0], data.points), rtol=0, atol=0
    )
    payload = load_checkpoint(teacher)
    payload["meta"]["classes"] = payload["meta"]["classes"][::-1]
    torch.save(payload, tmp_path / "reordered.pt")
    with pytest.raises(
        ValueError, match=r"^teacher: .*reordered\.pt was trained on other classes than the training data"
    ):
        teacher_logits(tmp_path / "reordered.pt", data, z)
    train(ClassifierTrainConfig(method="none", **TINY), _run(tmp_path / "plain"))
    with pytest.raises(
        ValueError, match=r"^teacher: .*checkpoint\.pt is a 'none' model, not exactly invariant; expected one of"
    ):
        teacher_logits(tmp_path / "plain" / "checkpoint.pt", data, z)
    train(ClassifierTrainConfig(method="tinv", group="SO", **TINY), _run(tmp_path / "so"))
    with pytest.raises(
        ValueError, match=r"invariant to group SO only, but the training protocol O3 draws rotations outside it$"
    ):
        teacher_logits(tmp_path / "so" / "checkpoint.pt", data, Protocol("O3"))


def test_student_trains_and_weight_zero_is_plain_training(teacher: Path, tmp_path: Path) -> None:
    student = ClassifierTrainConfig(method="weighted_draw", teacher=str(teacher), distill_weight=0.5, **TINY)
    history = train(student, _run(tmp_path / "student"))["history"]
    assert history[0]["loss"] > 0 and load_classifier(tmp_path / "student")[1]["teacher"] == str(teacher)
    train(student.replace(distill_weight=0.0), _run(tmp_path / "zero"))
    train(student.replace(teacher=None), _run(tmp_path / "plain"))
    student_w, zero, plain = (
        load_checkpoint(tmp_path / name / "checkpoint.pt")["state"]["model"] for name in ("student", "zero", "plain")
    )
    assert all(torch.equal(zero[key], plain[key]) for key in plain)
    assert not all(torch.equal(student_w[key], plain[key]) for key in plain)  # the teacher changed the training


def test_distillation_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^distill_weight: expected a number in \[0, 1\], got 1.5$"):
        ClassifierTrainConfig(distill_weight=1.5)
    with pytest.raises(ValueError, match="temperature"):
        ClassifierTrainConfig(temperature=0.0, teacher="t.pt")
    with pytest.raises(ValueError, match=r"^distill_weight, temperature: options of --teacher only$"):
        ClassifierTrainConfig(distill_weight=0.9)
