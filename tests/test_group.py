"""Groups as objects: aliases, membership, random elements, and each group's own sign rule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import tinvnn
from tests._clouds import skewed_cloud
from tinvnn.group import GROUP_NAMES, GROUPS, Group, Orthogonal, Rotations, as_group, signed_permutations
from tinvnn.nn import FrameAveraging, LearnedPose, PCAAlign, TinvWrapper, WeightedFrames

ALL = [Orthogonal(), Rotations()]


def test_aliases_name_the_groups_and_bad_names_list_them() -> None:
    assert GROUP_NAMES == ("O", "SO", "SO2z", "O2z")
    assert as_group("O") == Orthogonal() and as_group("SO") == Rotations()
    assert all(as_group(name).name == name for name in GROUP_NAMES)
    group = Rotations()
    assert as_group(group) is group and GROUPS["SO"] is as_group("SO")
    assert repr(Orthogonal()) == "Orthogonal()" and repr(Rotations()) == "Rotations()"
    for bad in ("SE", 3, None, Rotations):
        with pytest.raises(ValueError, match=r"group must be one of \['O', 'O2z', 'SO', 'SO2z'\], got"):
            as_group(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("group", ALL, ids=repr)
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_random_elements_are_orthogonal_members(group: Group, d: int, generator: torch.Generator) -> None:
    q = group.random_orthogonal(d, (64,), generator=generator)
    assert q.shape == (64, d, d) and q.dtype == torch.float64
    torch.testing.assert_close(q @ q.mT, torch.eye(d, dtype=q.dtype).expand(64, d, d), rtol=0, atol=1e-12)
    assert bool(group.contains(q).all())
    g = tinvnn.random_similarity(d, (8,), group=group, generator=generator)
    assert bool(group.contains(g.Q).all())


def test_membership_of_signed_permutations() -> None:
    maps = signed_permutations(3)
    assert bool(Orthogonal().contains(maps).all())
    proper = Rotations().contains(maps)
    assert int(proper.sum()) == 24 and torch.equal(proper, torch.linalg.det(maps) > 0)


def test_orient_makes_the_frame_a_member_by_the_least_certain_axis(generator: torch.Generator) -> None:
    axes = Orthogonal().random_orthogonal(3, (200,), generator=generator)
    signs = torch.ones(200, 3, dtype=torch.float64)
    margins = torch.rand(200, 3, generator=generator, dtype=torch.float64)
    null = torch.zeros(200, 3, dtype=torch.bool)
    same, same_margins = Orthogonal().orient(axes, signs, margins, null)
    assert torch.equal(same, signs) and torch.equal(same_margins, margins)
    new, new_margins = Rotations().orient(axes, signs, margins, null)
    assert bool((torch.linalg.det(axes * new[:, None, :]) > 0).all())
    flipped = (new != signs).any(-1)
    assert torch.equal(flipped, torch.linalg.det(axes) < 0)
    least = margins.argmin(-1)
    assert torch.equal((new != signs).nonzero()[:, 1], least[flipped])
    assert bool(new_margins.gather(1, least[:, None]).isinf().all())
    null[:, 0] = True  # a null axis takes the handedness whatever the margins
    assert torch.equal(Rotations().handed_axis(margins, null).nonzero()[:, 1], torch.zeros(200, dtype=torch.long))


@pytest.mark.parametrize("group", ALL, ids=repr)
def test_sign_flips_random_signs_and_proper_axes_stay_in_the_group(group: Group, generator: torch.Generator) -> None:
    axes = Orthogonal().random_orthogonal(3, (16,), generator=generator)
    axes = group.proper_axes(axes)
    assert bool(group.contains(axes).all())
    flips = group.sign_flips(axes)
    assert flips.shape == (16, 8 if group == Orthogonal() else 4, 3)
    assert bool(group.contains(axes[:, None] * flips[:, :, None, :]).all())
    signs = group.random_signs(1000, 3, axes)
    assert bool(group.contains(torch.diag_embed(signs)).all())


@pytest.mark.parametrize("group", ALL, ids=repr)
def test_engine_and_wrappers_take_group_objects_like_their_aliases(group: Group) -> None:
    x = torch.stack([skewed_cloud(60, 3, generator=torch.Generator().manual_seed(i)) for i in range(4)])
    assert torch.equal(tinvnn.canonicalize(x, group=group), tinvnn.canonicalize(x, group=group.name))
    a, b = tinvnn.weighted_frames(x, group=group), tinvnn.weighted_frames(x, group=group.name)
    assert torch.equal(a.points, b.points) and torch.equal(a.weight, b.weight)
    for wrapper in (TinvWrapper, FrameAveraging, PCAAlign, WeightedFrames, LearnedPose):
        torch.manual_seed(0)
        first = wrapper(nn.Linear(3, 4).double(), group=group).eval()
        torch.manual_seed(0)
        second = wrapper(nn.Linear(3, 4).double(), group=group.name).eval()
        assert first.group == group and torch.equal(first(x), second(x))
    report = tinvnn.check_invariance(lambda p: tinvnn.canonicalize(p, group=group), x, group=group, per_point=True)
    assert report.ok(1e-9)
