"""The chunk files behind the cached LKH-3 tours and DAgger labels: resumable, ordered, checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tinvnn.tasks.tsp.local.chunks import chunk_path, load_chunks, missing_chunks, save_chunk


def test_chunks_resume_at_the_missing_ones_and_load_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "set"
    assert missing_chunks(directory, 3) == [0, 1, 2] and directory.is_dir()
    save_chunk(directory, 2, [{"x": torch.tensor([2])}])
    save_chunk(directory, 0, [{"x": torch.tensor([0])}, {"x": torch.tensor([1])}])
    assert missing_chunks(directory, 3) == [1]
    save_chunk(directory, 1, [])
    assert missing_chunks(directory, 3) == [] and chunk_path(directory, 1).name == "chunk_0001.pt"
    assert [int(item["x"]) for item in load_chunks(directory, 3, "tour", "generate_tours")] == [0, 1, 2]
    assert [int(item["x"]) for item in load_chunks(directory, 1, "tour", "generate_tours")] == [0, 1]


def test_load_chunks_names_what_is_missing_and_the_command(tmp_path: Path) -> None:
    save_chunk(tmp_path, 0, [])
    message = f"2 of 3 DAgger chunks missing in {tmp_path} (first chunk_0001.pt); run generate_dagger"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        load_chunks(tmp_path, 3, "DAgger", "generate_dagger")
