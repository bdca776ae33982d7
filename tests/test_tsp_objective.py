"""Tour length, validity, gaps, transformations, heuristics and the LKH reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinvnn.paths import cache_dir
from tinvnn.tasks.tsp.heuristics import euclidean_matrix, greedy_edge, nearest_neighbour, two_opt
from tinvnn.tasks.tsp.instances import fixed_test_set, uniform_instances
from tinvnn.tasks.tsp.objective import check_tours, gap_percent, matrix_tour_length, tour_length
from tinvnn.tasks.tsp.reference import reference_lengths
from tinvnn.tasks.tsp.transforms import TRANSFORMS, apply_transform


def _random_tours(b: int, n: int) -> torch.Tensor:
    return torch.stack([torch.randperm(n) for _ in range(b)])


def test_tour_length_square_and_matrix_agree() -> None:
    square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    assert tour_length(square, torch.tensor([[0, 1, 2, 3]])).item() == 4.0
    assert tour_length(square, torch.tensor([[0, 2, 1, 3]])).item() == pytest.approx(2 + 2 * 2**0.5)
    coords = uniform_instances(3, 12, dtype=torch.float64)
    tours = _random_tours(3, 12)
    for c, t, length in zip(coords, tours, tour_length(coords, tours)):
        assert matrix_tour_length(euclidean_matrix(c), t) == pytest.approx(length.item(), rel=1e-12)


def test_check_tours_rejects_non_permutations() -> None:
    check_tours(torch.tensor([[2, 0, 1]]), 3)
    with pytest.raises(ValueError, match="not a permutation"):
        check_tours(torch.tensor([[0, 1, 2], [0, 0, 2]]), 3)
    with pytest.raises(ValueError, match="expected tours of 4 cities"):
        check_tours(torch.tensor([[0, 1, 2]]), 4)
    with pytest.raises(ValueError, match="expected integer tours"):
        check_tours(torch.tensor([[0.0, 1.0, 2.0]]), 3)


def test_gap_percent() -> None:
    assert gap_percent(101.0, 100.0).item() == pytest.approx(1.0)
    assert gap_percent(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 2.0])).tolist() == pytest.approx([0.0, 100.0])
    with pytest.raises(ValueError, match="positive"):
        gap_percent(1.0, 0.0)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_objective_under_each_transformation(name: str) -> None:
    """A tour mapped to the transformed cities has the same length times the factor."""
    coords = uniform_instances(6, 15, dtype=torch.float64)
    tours = _random_tours(6, 15)
    moved, factor, order = apply_transform(name, coords, seed=3)
    moved_tours = order.argsort(1).gather(1, tours)
    torch.testing.assert_close(tour_length(moved, moved_tours), tour_length(coords, tours) * factor, rtol=1e-9, atol=0)
    if name != "identity":
        assert not torch.equal(moved, coords)
    again, _, _ = apply_transform(name, coords, seed=3)
    assert torch.equal(again, moved)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transforms_keep_the_device_and_the_draw(name: str) -> None:
    coords = uniform_instances(6, 15, dtype=torch.float64)
    on_gpu = apply_transform(name, coords.cuda(), seed=3)
    for gpu, cpu in zip(on_gpu, apply_transform(name, coords, seed=3)):
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu)


def test_transform_ranges() -> None:
    coords = uniform_instances(200, 5, dtype=torch.float64)
    _, factor, _ = apply_transform("scale", coords)
    assert factor.min() >= 1e-3 and factor.max() <= 1e4 and factor.max() / factor.min() > 1e5
    moved, _, _ = apply_transform("translate", coords)
    assert moved.abs().max() > 5e4 and moved.abs().max() <= 1e5 + 1
    with pytest.raises(ValueError, match="unknown transformation 'shear'"):
        apply_transform("shear", coords)


def test_heuristics_are_valid_and_two_opt_is_locally_optimal() -> None:
    coords = uniform_instances(4, 25, dtype=torch.float64)
    for c in coords:
        dist = euclidean_matrix(c)
        for tour in (nearest_neighbour(dist, 3), greedy_edge(dist)):
            check_tours(torch.from_numpy(tour), 25)
            improved = two_opt(dist, tour)
            check_tours(torch.from_numpy(improved), 25)
            assert matrix_tour_length(dist, improved) <= matrix_tour_length(dist, tour) + 1e-12
            # no single 2-opt move shortens the result
            best = matrix_tour_length(dist, improved)
            for i in range(24):
                for j in range(i + 2, 25):
                    cand = improved.copy()
                    cand[i + 1 : j + 1] = cand[i + 1 : j + 1][::-1]
                    assert matrix_tour_length(dist, cand) >= best - 1e-9


def test_nearest_neighbour_and_greedy_edge_on_a_line() -> None:
    xs = np.array([0.0, 5.0, 1.0, 3.0, 2.0])
    dist = np.abs(xs[:, None] - xs[None, :])
    assert nearest_neighbour(dist, 0).tolist() == [0, 2, 4, 3, 1]
    assert matrix_tour_length(dist, greedy_edge(dist)) == 10.0  # any tour of points on a line: 2 * span
    with pytest.raises(ValueError, match="expected start in"):
        nearest_neighbour(dist, 9)


def test_reference_lengths_are_near_optimal_and_cached() -> None:
    coords = fixed_test_set(12, 8)
    lengths = reference_lengths(coords)
    for c, ref in zip(coords, lengths):
        dist = euclidean_matrix(c)
        assert ref.item() <= matrix_tour_length(dist, two_opt(dist, greedy_edge(dist))) + 1e-9
    files = list((cache_dir() / "tsp_reference").glob("*.pt"))
    assert len(files) == 1
    torch.testing.assert_close(reference_lengths(coords), lengths, rtol=0, atol=0)


def test_test_sets_are_fixed() -> None:
    a = fixed_test_set(20, 5)
    assert torch.equal(a, fixed_test_set(20, 5)) and torch.equal(a, fixed_test_set(20, 10)[:5])
    assert a.dtype == torch.float64 and a.min() >= 0 and a.max() <= 1
    with pytest.raises(ValueError, match="no default test-set size for 7"):
        fixed_test_set(7)
