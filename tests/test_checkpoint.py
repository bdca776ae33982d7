"""Checkpoints: atomic round trip, config mismatches named, foreign files refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tinvnn.training import CheckpointMismatchError, load_checkpoint, save_checkpoint


def test_round_trip_and_mismatch(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "run" / "ck.pt", {"w": torch.arange(3)}, {"lr": 0.1, "width": 8})
    assert sorted(p.name for p in path.parent.iterdir()) == ["ck.pt"]  # no temporary left behind
    payload = load_checkpoint(path, {"lr": 0.1, "width": 8})
    assert torch.equal(payload["state"]["w"], torch.arange(3))
    with pytest.raises(CheckpointMismatchError, match=r"width: checkpoint=8 expected=16"):
        load_checkpoint(path, {"lr": 0.1, "width": 16})
    load_checkpoint(path, {"lr": 0.5, "width": 8}, keys=["width"])  # only the named keys matter


@pytest.mark.parametrize("content", [b"not a checkpoint at all\n", b""])
def test_foreign_files_are_refused_with_a_message(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "README.md"
    path.write_bytes(content)
    with pytest.raises(CheckpointMismatchError, match="is not a tinvnn checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


class _RunsCode:
    def __reduce__(self):  # unpickling this calls os.system
        import os

        return (os.system, ("echo pwned > pwned.txt",))


class _RunsBuiltin:
    def __reduce__(self):  # unpickling this calls builtins.exec
        return (exec, ("open('pwned.txt', 'w').write('x')",))


class _RunsTorchHub:
    def __reduce__(self):  # a torch function that is not a tensor rebuild helper
        return (torch.hub.load, ("nowhere/nothing", "model"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("payload", [_RunsCode, _RunsBuiltin, _RunsTorchHub])
@pytest.mark.parametrize("protocol", [2, 5])
def test_a_pickle_that_would_run_code_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payload: type, protocol: int
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"config": {}, "state": {"model": payload()}, "meta": {}}, path, pickle_protocol=protocol)
    with pytest.raises(CheckpointMismatchError, match="refused: it holds objects other than tensors.*could run code"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned.txt").exists()


def test_truncated_checkpoint_is_refused_with_a_message(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ck.pt", {"w": torch.randn(1000)}, {"lr": 0.1})
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointMismatchError, match="is not a tinvnn checkpoint"):
        load_checkpoint(path)
