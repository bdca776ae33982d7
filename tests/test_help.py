"""The command line's help and messages: metavars that say what a value is, each default said once,
every argument explained, and a configuration's check naming the flag (issue 22)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator

import pytest

from tinvnn._checks import check_positive_int
from tinvnn.cli import build_parser, main
from tinvnn.config import Config, add_arguments, from_args, option
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig


def _actions(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        elif action.dest != "help":
            yield path, action


def _usage(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    return {a.option_strings[-1] if a.option_strings else a.dest: a.metavar for a in parser._actions}


def test_no_type_names_as_metavars_and_every_argument_has_help() -> None:
    actions = list(_actions(build_parser(), "tinvnn"))
    assert len(actions) > 200
    typed = [(p, a.dest) for p, a in actions if a.metavar in ("STR", "INT", "FLOAT")]
    assert typed == []
    positional = [(p, a.dest) for p, a in actions if not a.option_strings and not a.help]
    assert positional == []
    twice = [(p, a.dest) for p, a in actions if "(None: " in (a.help or "") and "(default: " in (a.help or "")]
    assert twice == []


def test_config_flags_name_what_the_value_is() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, ClassifierTrainConfig)
    metavars = _usage(parser)
    assert {flag: metavars[flag] for flag in ("--points", "--lr", "--data-dir", "--teacher", "--train-protocol")} == {
        "--points": "N",
        "--lr": "X",
        "--data-dir": "DIR",
        "--teacher": "FILE",
        "--train-protocol": "PROTOCOL",
    }
    helps = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}
    assert helps["--per-class"] == (
        "synthetic: training clouds per class (default: 100); modelnet40: cap per class (default: all)"
    )
    assert helps["--epochs"] == "passes over the training set (default: %(default)s)"


def test_eval_checkpoint_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    assert "  CHECKPOINT            a classifier checkpoint (.pt) written by tinvnn train\n" in out
    assert "[--test-per-class N] [--seed N]" in out


@dataclasses.dataclass(frozen=True)
class _Inner(Config):
    n_train: int = option(10, "training systems")

    def __post_init__(self) -> None:
        check_positive_int(self.n_train, "n_train")


@dataclasses.dataclass(frozen=True)
class _Outer(Config):
    batch_size: int = option(4, "items per step")
    data: _Inner = option(_Inner(), "data")
    note: str = option("x", "free text")

    def __post_init__(self) -> None:
        check_positive_int(self.batch_size, "batch_size")
        if self.note == "bad":
            raise ValueError("note, batch_size: cannot both be set this way")
        if self.note == "prose":
            raise ValueError("expected another note")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch-size", "0"], "--batch-size: expected a positive integer, got 0"),
        (["--data-n-train", "0"], "--data-n-train: expected a positive integer, got 0"),
        (["--note", "bad"], "--note, --batch-size: cannot both be set this way"),
        (["--note", "prose"], "expected another note"),  # no field named first: unchanged
    ],
)
def test_from_args_names_the_flag_and_the_library_the_field(argv: list[str], message: str) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, _Outer)
    with pytest.raises(ValueError) as info:
        from_args(_Outer, parser.parse_args(argv))
    assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        _Outer(batch_size=0)
    assert str(info.value) == "batch_size: expected a positive integer, got 0"


def test_epochs_zero_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--epochs", "0"]) == 2
    assert capsys.readouterr().err == "tinvnn: error: --epochs: expected a positive integer, got 0\n"
    with pytest.raises(ValueError, match=r"^epochs: expected a positive integer, got 0$"):
        ClassifierTrainConfig(epochs=0)
