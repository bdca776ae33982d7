"""``tinvnn tsp solve`` and ``tinvnn.tsp.solve`` at the front door: the thread count of
sequential decoding, duplicate cities, no file written unless asked (and never where a file's
content says), tiny instances, argument checks, huge EXPLICIT weights and the reference cache."""

from __future__ import annotations

import errno
import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import tinvnn.tasks.tsp.render as render_module
import tinvnn.tasks.tsp.tsplib as tsplib_module
from tinvnn.cli import main
from tinvnn.tasks.tsp.duplicates import expand_tour, merge_duplicates
from tinvnn.tasks.tsp.local.construction import construct_tours, decoding_threads, invariant_starts
from tinvnn.tasks.tsp.local.recipe import ImitationConfig, build_scorer
from tinvnn.tasks.tsp.tsplib import TSPLIBInstance, distance_matrix, write_tsplib
from tinvnn.training import save_checkpoint
from tinvnn.tsp import solve


@pytest.fixture
def local_checkpoint(tmp_path: Path) -> Path:
    config = ImitationConfig(k=6, dim=16, layers=1, heads=2)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "local.pt", {"model": build_scorer(config).state_dict()}, config.to_dict())


@pytest.fixture
def restore_threads() -> object:
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def _write(tmp_path: Path, coords: np.ndarray, name: str = "small", file: str = "small.tsp") -> Path:
    return write_tsplib(TSPLIBInstance(name, coords, "EUC_2D"), tmp_path / file)


def _solve_cli(path: Path, checkpoint: Path, *extra: str) -> list[str]:
    return ["tsp", "solve", str(path), "--checkpoint", str(checkpoint), "--decode", "greedy", "--kicks", "0", *extra]


# -- 1. threads ------------------------------------------------------------------------------


def test_sequential_decoding_runs_on_one_thread_and_restores_the_count(
    local_checkpoint: Path, restore_threads: object
) -> None:
    from tinvnn.tasks.tsp.local.recipe import load_local_policy

    scorer, _ = load_local_policy(local_checkpoint)
    coords = np.random.default_rng(0).uniform(0, 1, (20, 2))
    torch.set_num_threads(2)
    seen: list[int] = []
    construct_tours(scorer, coords, [0, 1], k=6, on_step=lambda *_: seen.append(torch.get_num_threads()))
    assert set(seen) == {1} and torch.get_num_threads() == 2
    seen.clear()
    torch.set_num_threads(1)
    construct_tours(scorer, coords, [0], k=6, threads=2, on_step=lambda *_: seen.append(torch.get_num_threads()))
    assert set(seen) == {2} and torch.get_num_threads() == 1
    torch.set_num_threads(2)
    with decoding_threads(None, 65) as chosen:  # large batches keep torch's count
        assert chosen == 2 == torch.get_num_threads()
    with decoding_threads(None, 64) as chosen:
        assert chosen == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 2


def test_threads_argument_is_checked(local_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"^threads: expected a positive integer, got 0$"):
        solve(np.eye(4, 2), checkpoint=local_checkpoint, threads=0)
    capsys.readouterr()
    assert main(["tsp", "solve", "missing.tsp", "--threads", "0"]) == 2
    assert capsys.readouterr().err == "tinvnn: error: --threads: expected a positive integer, got 0\n"


# -- 2. duplicate cities ----------------------------------------------------------------------


def test_merge_and_expand_duplicates() -> None:
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [-0.0, 0.0], [1.0, 0.0], [2.0, 2.0]])
    keep, groups = merge_duplicates(coords)
    assert keep.tolist() == [0, 1, 4] and [g.tolist() for g in groups] == [[0, 2], [1, 3], [4]]
    assert expand_tour(np.array([2, 0, 1]), groups).tolist() == [4, 0, 2, 1, 3]


def test_duplicate_cities_are_solved_invariantly(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    coords = rng.uniform(0, 1000, (40, 2)).round(1)
    coords[[7, 30]] = coords[3]  # three cities at one point
    coords[21] = coords[12]
    result = solve(coords, checkpoint=local_checkpoint, decode="greedy", kicks=10)
    assert sorted(result.tour.tolist()) == list(range(40)) and result.duplicates == 3
    assert result.record()["duplicates_merged"] == 3
    position = {int(c): i for i, c in enumerate(result.tour)}
    assert abs(position[12] - position[21]) in (1, 39)  # twins next to each other
    assert [position[c] for c in (3, 7, 30)] == list(range(position[3], position[3] + 3))
    distinct = np.delete(coords, [7, 30, 21], 0)
    alone = solve(distinct, checkpoint=local_checkpoint, decode="greedy", kicks=10)
    assert result.length == pytest.approx(alone.length, rel=1e-12)  # zero-length edges
    # rotated, reflected, scaled and translated: the same tour
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = solve(coords @ rot.T * [-3.0, 3.0] + 11.0, checkpoint=local_checkpoint, decode="greedy", kicks=10)
    assert moved.tour.tolist() == result.tour.tolist()
    # renumbered: the same sequence of points
    perm = rng.permutation(40)
    renumbered = solve(coords[perm], checkpoint=local_checkpoint, decode="greedy", kicks=10)
    assert np.array_equal(coords[perm][renumbered.tour], coords[result.tour])
    path = _write(tmp_path, coords)
    capsys.readouterr()
    assert main(_solve_cli(path, local_checkpoint, "--kicks", "10")) == 0
    out = capsys.readouterr().out
    assert "duplicate cities: 3 merged into the city at their point (zero-length edges)\n" in out
    assert main(_solve_cli(path, local_checkpoint, "--kicks", "10", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["duplicates_merged"] == 3


# -- 3. no writes unless asked, never where the file says -----------------------------------------


@pytest.mark.parametrize("name", ["../escape_dir/evil", "/tmp/tinvnn_absolute_name_evil", "n" * 300])
def test_solve_writes_nothing_by_default_whatever_the_name(
    local_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = _write(tmp_path, np.random.default_rng(2).uniform(0, 100, (12, 2)), name=name)
    monkeypatch.chdir(work)
    before = sorted(p for p in tmp_path.rglob("*"))
    assert main(_solve_cli(path, local_checkpoint)) == 0
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/tinvnn_absolute_name_evil_tour.png").exists()
    assert main(_solve_cli(path, local_checkpoint, "--plot", "chosen.png", "--tour", "chosen.tour")) == 0
    assert sorted(p.name for p in work.iterdir()) == ["chosen.png", "chosen.tour"]
    assert sorted(p for p in tmp_path.rglob("*") if work not in p.parents) == before


def test_existing_files_are_never_replaced_without_overwrite(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, np.random.default_rng(3).uniform(0, 100, (12, 2)))
    tour, plot = tmp_path / "mine.tour", tmp_path / "mine.png"
    tour.write_text("precious\n")
    plot.write_text("precious\n")
    capsys.readouterr()
    assert main(_solve_cli(path, local_checkpoint, "--tour", str(tour))) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --tour: {tour} exists; pass --overwrite to replace it\n"
    assert main(_solve_cli(path, local_checkpoint, "--plot", str(plot))) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --plot: {plot} exists; pass --overwrite to replace it\n"
    assert tour.read_text() == plot.read_text() == "precious\n"
    assert main(_solve_cli(path, local_checkpoint, "--tour", str(path), "--overwrite")) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --tour: {path} is also the input file\n"
    assert main(_solve_cli(path, local_checkpoint, "--tour", str(tour), "--plot", str(plot), "--overwrite")) == 0
    assert tour.read_text().startswith("NAME : small.tour\n") and plot.read_bytes()[:4] == b"\x89PNG"


def test_unwritable_outputs_are_one_line(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, np.random.default_rng(4).uniform(0, 100, (12, 2)))
    capsys.readouterr()
    assert main(_solve_cli(path, local_checkpoint, "--tour", str(tmp_path))) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --tour: {tmp_path} is a directory; expected a file name\n"
    under_file = path / "sub" / "x.tour"
    assert main(_solve_cli(path, local_checkpoint, "--plot", str(under_file))) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --plot: cannot write {under_file}: {path} is not a directory\n"
    typo = tmp_path / "no-such-folder" / "x.tour"
    assert main(_solve_cli(path, local_checkpoint, "--tour", str(typo))) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --tour: cannot write {typo}: no folder {typo.parent}\n"
    assert not typo.parent.exists()

    def refuse(code: int, text: str) -> object:
        def write(*_: object) -> Path:
            raise OSError(code, text)

        return write

    monkeypatch.setattr(tsplib_module, "atomic_write", refuse(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(render_module, "atomic_write", refuse(errno.EACCES, "Permission denied"))
    out = tmp_path / "full.tour"
    assert main(_solve_cli(path, local_checkpoint, "--tour", str(out))) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --tour: cannot write {out}: No space left on device\n"
    png = tmp_path / "read-only" / "x.png"
    png.parent.mkdir()
    assert main(_solve_cli(path, local_checkpoint, "--plot", str(png))) == 2
    assert capsys.readouterr().err == f"tinvnn: error: --plot: cannot write {png}: Permission denied\n"
    assert not out.exists() and not png.exists()


def test_long_tours_print_a_summary(local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, np.random.default_rng(5).uniform(0, 1000, (150, 2)))
    capsys.readouterr()
    assert main(_solve_cli(path, local_checkpoint)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) < 150
    assert lines[1].endswith(" ... (150 cities; the whole tour with --json or --tour FILE)")
    assert main(_solve_cli(path, local_checkpoint, "--json")) == 0
    assert sorted(json.loads(capsys.readouterr().out)["tour"]) == list(range(150))


# -- 4. tiny instances and arguments ----------------------------------------------------------


def test_tiny_instances_are_solved_exactly_without_kicks(local_checkpoint: Path) -> None:
    rng = np.random.default_rng(6)
    for n in (4, 5, 6, 7):
        for _ in range(5):
            coords = rng.uniform(0, 100, (n, 2))
            dist = np.hypot(*(coords[:, None] - coords[None]).transpose(2, 0, 1))
            best = min(
                dist[t, np.roll(t, -1)].sum() for t in (np.array((0, *p)) for p in itertools.permutations(range(1, n)))
            )
            result = solve(coords, checkpoint=local_checkpoint, decode="greedy")
            assert result.method == "local policy, greedy + 2-opt/Or-opt/3-opt"
            assert result.length == pytest.approx(float(best), rel=1e-12)


def test_samples_below_one_and_huge_k(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    coords = np.random.default_rng(7).uniform(0, 100, (30, 2))
    with pytest.raises(ValueError, match=r"^samples: expected a positive number of rollouts, got 0$"):
        solve(coords, checkpoint=local_checkpoint, decode="sample", samples=0)
    path = _write(tmp_path, coords)
    capsys.readouterr()
    assert main(_solve_cli(path, local_checkpoint, "--decode", "sample", "--samples", "0")) == 2
    assert capsys.readouterr().err == "tinvnn: error: --samples: expected a positive number of rollouts, got 0\n"
    with caplog.at_level(logging.INFO, logger="tinvnn.tsp"):
        result = solve(coords, checkpoint=local_checkpoint, decode="greedy", kicks=0, k=100_000)
    assert result.k == 29 and "k: 100000 candidate slots clamped to 29" in caplog.text
    assert (
        solve(coords, checkpoint=local_checkpoint, decode="greedy", kicks=0, k=29).tour.tolist() == result.tour.tolist()
    )


def test_improve_has_one_pair_of_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["tsp", "solve", "x.tsp", "--help"])
    text = capsys.readouterr().out
    assert "--improve, --no-improve" in text and "--two-opt" not in text


def test_huge_explicit_weights_are_scaled_before_mds(local_checkpoint: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    coords = rng.uniform(0, 1, (9, 2))
    plain = distance_matrix(coords * 1e6, "EUC_2D")
    huge = np.ldexp(plain, 960)  # about 1e295: squared distances overflow
    paths = [
        write_tsplib(TSPLIBInstance(name, None, "EXPLICIT", weights=w), tmp_path / f"{name}.tsp")
        for name, w in (("plain", plain), ("huge", huge))
    ]
    tours = [solve(p, checkpoint=local_checkpoint, decode="greedy", kicks=0) for p in paths]
    assert np.isfinite(tours[1].coords).all() and tours[1].tour.tolist() == tours[0].tour.tolist()
    assert tours[1].length == np.ldexp(tours[0].length, 960)


def test_damaged_reference_cache_is_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("elkai")
    from tinvnn.tasks.tsp.reference import reference_lengths

    monkeypatch.setenv("TINVNN_CACHE", str(tmp_path))
    coords = torch.from_numpy(np.random.default_rng(9).uniform(0, 1, (2, 8, 2)))
    first = reference_lengths(coords)
    (cached,) = (tmp_path / "tsp_reference").glob("*.pt")
    cached.write_bytes(cached.read_bytes()[:20])  # truncated
    with caplog.at_level(logging.WARNING):
        again = reference_lengths(coords)
    assert torch.equal(first, again) and "cannot be read" in caplog.text and "regenerating it" in caplog.text
    assert torch.equal(torch.load(cached, weights_only=True), first)
    assert [p.name for p in (tmp_path / "tsp_reference").iterdir()] == [cached.name]  # no temporaries left


def test_tours_do_not_depend_on_the_thread_count(local_checkpoint: Path, restore_threads: object) -> None:
    from tinvnn.tasks.tsp.local.recipe import load_local_policy

    scorer, _ = load_local_policy(local_checkpoint)
    coords = np.random.default_rng(10).uniform(0, 1, (50, 2))
    starts = invariant_starts(coords, 4)
    tours = [construct_tours(scorer, coords, starts, k=6, threads=t) for t in (1, 2)]
    assert np.array_equal(tours[0], tours[1])
