"""MIG geometry: validate_layout and valid_layouts agree with an independent brute-force placement check."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest

from helpers import run_cli
from mlplatform.catalog import GpuModel, MigProfile, load_catalog
from mlplatform.errors import ToolError
from mlplatform.mig import placement, resolve_gpu, valid_layouts, validate_layout

# docs/facts.md#mig-geometry-and-mig-parted, typed in again here on purpose so the test does not trust catalog.yaml:
# (compute slices, memory slices, allowed first memory slices, max count) and each model's profile names.
SHAPES = {
    "1g": (1, 1, range(0, 7), 7),
    "1g+me": (1, 1, range(0, 7), 1),
    "1g-2mem": (1, 2, (0, 2, 4, 6), 4),
    "2g": (2, 2, (0, 2, 4), 3),
    "3g": (3, 4, (0, 4), 2),
    "4g": (4, 4, (0,), 1),
    "7g": (7, 8, (0,), 1),
}
NAMES = {
    "A100-40GB": ("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "A100-80GB": ("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100-80GB": ("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H200-141GB": ("1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
}


def brute_force_valid(counts: tuple[int, ...]) -> bool:
    """Try every start for every instance (8 memory slices, 7 compute slices); no memo, no shortcuts."""
    shapes = list(SHAPES.values())
    if any(c > shape[3] for c, shape in zip(counts, shapes, strict=True)):
        return False
    if sum(c * shape[0] for c, shape in zip(counts, shapes, strict=True)) > 7:
        return False
    instances = [shape for shape, c in zip(shapes, counts, strict=True) for _ in range(c)]

    def assign(i: int, used: set[int], last_start: dict[int, int]) -> bool:
        if i == len(instances):
            return True
        _, memory, starts, _ = instances[i]
        key = id(instances[i])
        for start in starts:
            # Identical instances are interchangeable: only try starts in increasing order among them.
            if start <= last_start.get(key, -1):
                continue
            slices = set(range(start, start + memory))
            if max(slices) >= 8 or slices & used:
                continue
            if assign(i + 1, used | slices, {**last_start, key: start}):
                return True
        return False

    return assign(0, set(), {})


def every_multiset() -> list[tuple[int, ...]]:
    # One above each profile's max count, so the max-count rule is exercised too.
    ranges = [range(0, shape[3] + 2) for shape in SHAPES.values()]
    return [c for c in itertools.product(*ranges) if sum(c) > 0]


@pytest.fixture(scope="module")
def truth() -> dict[tuple[int, ...], bool]:
    return {counts: brute_force_valid(counts) for counts in every_multiset()}


@pytest.mark.parametrize("gpu", sorted(NAMES))
def test_validate_agrees_with_brute_force(gpu: str, truth: dict[tuple[int, ...], bool]) -> None:
    names = NAMES[gpu]
    disagreements = []
    for counts, expected in truth.items():
        layout = {name: c for name, c in zip(names, counts, strict=True) if c}
        valid, reason = validate_layout(gpu, layout)
        if valid != expected:
            disagreements.append((layout, valid, reason))
    assert not disagreements, disagreements[:5]
    assert sum(truth.values()) > 50  # the check covers many valid layouts, not only rejections


@pytest.mark.parametrize("gpu", sorted(NAMES))
def test_valid_layouts_is_exactly_the_brute_force_set(gpu: str, truth: dict[tuple[int, ...], bool]) -> None:
    names = NAMES[gpu]
    expected = {
        tuple(sorted((n, c) for n, c in zip(names, counts, strict=True) if c))
        for counts, ok in truth.items()
        if ok
    }
    got = [tuple(sorted(layout.items())) for layout in valid_layouts(gpu)]
    assert len(got) == len(set(got))
    assert set(got) == expected


@pytest.mark.parametrize(
    ("layout", "valid"),
    [
        ({"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}, True),  # NVIDIA all-balanced
        ({"4g.40gb": 1, "3g.40gb": 1}, True),
        ({"3g.40gb": 2, "1g.10gb": 1}, False),  # two 3g take all 8 memory slices
        ({"2g.20gb": 3, "1g.10gb": 2}, False),
        ({"7g.80gb": 1}, True),
        ({"1g.10gb": 7}, True),
        ({"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1}, True),
        ({"4g.40gb": 1, "2g.20gb": 2}, False),  # 8 compute slices
        ({"4g.40gb": 1, "1g.20gb": 1, "2g.20gb": 1}, True),
        ({"1g.20gb": 4}, True),
        ({"1g.20gb": 3, "2g.20gb": 1}, True),
        ({"3g.40gb": 1, "4g.40gb": 1, "1g.10gb": 1}, False),  # memory is full after 4g + 3g
    ],
)
def test_reference_examples(layout: dict[str, int], valid: bool) -> None:
    assert validate_layout("A100-80GB", layout)[0] is valid


def test_reasons_say_what_breaks() -> None:
    assert "maximum of 1" in validate_layout("H100-80GB", {"1g.10gb+me": 2})[1]
    assert "not a MIG profile" in validate_layout("A100-40GB", {"1g.10gb+bogus": 1})[1]
    assert "compute slices" in validate_layout("A100-40GB", {"2g.10gb": 3, "1g.5gb": 2})[1]
    assert "empty" in validate_layout("A100-40GB", {})[1]
    assert "does not support MIG" in validate_layout("A10G", {"1g.5gb": 1})[1]
    with pytest.raises(ToolError, match="unknown GPU"):
        validate_layout("Z9000", {"1g.5gb": 1})


def test_gfd_product_names_resolve() -> None:
    catalog = load_catalog()
    assert catalog.gpu_model("NVIDIA-A100-SXM4-80GB").name == "A100-80GB"
    assert validate_layout("nvidia-h100-80gb-hbm3", {"7g.80gb": 1})[0]
    assert validate_layout("h200-141gb", {"3g.71gb": 2})[0]


# ---- the CLI contract (README.md): exit 0 valid, 1 not, 2 unusable input ----


def test_cli_validate_json_valid_and_invalid() -> None:
    ok = run_cli(
        "mig", "validate", "--gpu", "a100-80gb", "3g.40gb=1", "2g.20gb=1", "1g.10gb=2", "--format", "json"
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    bad = run_cli("mig", "validate", "--gpu", "A100-80GB", "3g.40gb=2", "1g.10gb=1", "--format", "json")
    assert bad.returncode == 1
    body = json.loads(bad.stdout)
    assert body["valid"] is False and "memory slices" in body["reason"]


def test_cli_validate_text() -> None:
    result = run_cli("mig", "validate", "--gpu", "NVIDIA-H100-80GB-HBM3", "4g.40gb=1", "3g.40gb=1")
    assert result.returncode == 0 and result.stdout.startswith("valid")


@pytest.mark.parametrize(
    "args",
    [
        ("--gpu", "Z9000", "1g.5gb=1"),
        ("--gpu", "A100-40GB", "1g.10gb+x=1"),
        ("--gpu", "A100-40GB", "1g.5gb"),
        ("--gpu", "A100-40GB", "1g.5gb=two"),
        ("--gpu", "A100-40GB"),
    ],
)
def test_cli_validate_bad_input_exits_2(args: tuple[str, ...]) -> None:
    result = run_cli("mig", "validate", *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_cli_layouts_json() -> None:
    result = run_cli("mig", "layouts", "--gpu", "H200-141GB", "--format", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["gpu"] == "H200-141GB"
    assert {"3g.71gb": 1, "2g.35gb": 1, "1g.18gb": 2} in body["layouts"]
    assert all(validate_layout("H200-141GB", layout)[0] for layout in body["layouts"])
    assert len(body["layouts"]) == len(valid_layouts("H200-141GB"))


def test_cli_profile_the_gpu_lacks_is_an_invalid_layout_not_a_usage_error():
    """The contract: `mig validate --format json` answers {"valid": false, ...} with exit 1 for a layout the
    GPU cannot hold; 3g.40gb exists only on 80 GB parts (docs/facts.md#mig-geometry-and-mig-parted)."""
    result = run_cli("mig", "validate", "--gpu", "A100-40GB", "--format", "json", "3g.40gb=1")
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert answer["valid"] is False and "3g.40gb is not a MIG profile of A100-40GB" in answer["reason"]


def test_cli_text_that_is_no_profile_is_a_usage_error():
    result = run_cli("mig", "validate", "--gpu", "A100-40GB", "--format", "json", "foo=1")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "not a MIG profile name: 'foo'" in result.stderr


# ---------------------------------------------------------------- issue 19: answers no test pinned down


def _slices_of(gpu: str, found: str) -> list[tuple[str, int]]:
    """`2g.20gb@0, 1g.10gb@2` -> [("2g.20gb", 0), ("1g.10gb", 2)]."""
    inner = found[found.index(": ", found.index("(")) + 2 : -1]
    return [(item.split("@")[0], int(item.split("@")[1])) for item in inner.split(", ")]


@pytest.mark.parametrize(
    ("gpu", "layout", "printed"),
    [
        # 3g goes first (most memory slices): at 0 the 2g lands at 4 and leaves only slice 6 for two 1g (7 is
        # no allowed start), so the search moves the 3g to 4 and fills 0-3 with 2g@0, 1g@2, 1g@3.
        ("A100-80GB", {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}, "2g.20gb@0, 1g.10gb@2, 1g.10gb@3, 3g.40gb@4"),
        ("A100-40GB", {"4g.20gb": 1, "1g.10gb": 1, "1g.5gb": 1}, "4g.20gb@0, 1g.10gb@4, 1g.5gb@6"),
        ("H100-80GB", {"7g.80gb": 1}, "7g.80gb@0"),
    ],
)
def test_valid_layout_prints_a_placement_that_obeys_the_geometry(gpu, layout, printed) -> None:
    valid, reason = validate_layout(gpu, layout)
    assert valid and reason == f"fits one {gpu} (instance@first memory slice: {printed})"
    names = dict(zip(NAMES[gpu], SHAPES.values(), strict=True))
    used: set[int] = set()
    placed = _slices_of(gpu, reason)
    for name, start in placed:
        _, memory, starts, _ = names[name]
        assert start in starts  # an allowed first slice (NVIDIA MIG User Guide placement table, typed in above)
        slices = set(range(start, start + memory))
        assert max(slices) < 8 and not slices & used
        used |= slices
    assert sorted(n for n, _ in placed) == sorted(n for n, c in layout.items() for _ in range(c))
    assert [s for _, s in placed] == sorted(s for _, s in placed)


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ({"1g.10gb": -1, "3g.40gb": 1}, "1g.10gb: count must be a whole number >= 0, got -1"),
        ({"1g.10gb": True}, "1g.10gb: count must be a whole number >= 0, got True"),
        ({"1g.10gb": 1.0}, "1g.10gb: count must be a whole number >= 0, got 1.0"),
        ({"1g.10gb": "2"}, "1g.10gb: count must be a whole number >= 0, got '2'"),
        ({}, "empty layout: no MIG instances"),
        ({"1g.10gb": 0, "3g.40gb": 0}, "empty layout: no MIG instances"),
        ({"1g.10gb+me": 2}, "1g.10gb+me x2 exceeds its maximum of 1 per GPU"),
        ({"1g.10gb": 8}, "1g.10gb x8 exceeds its maximum of 7 per GPU"),
        ({"4g.40gb": 1, "2g.20gb": 2}, "needs 8 compute slices; a GPU has 7"),
        ({"3g.40gb": 2, "1g.10gb": 1}, "needs 9 memory slices; a GPU has 8"),
        (
            {"3g.20gb": 1},
            "3g.20gb is not a MIG profile of A100-80GB "
            "(profiles: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb)",
        ),
    ],
)
def test_invalid_layouts_say_exactly_what_breaks(layout, reason) -> None:
    assert validate_layout("A100-80GB", layout) == (False, reason)
    assert placement("A100-80GB", layout) is None


def test_limits_are_inclusive() -> None:
    assert validate_layout("A100-80GB", {"1g.10gb": 7})[0]  # max count 7, 7 compute slices
    assert validate_layout("A100-80GB", {"3g.40gb": 2})[0]  # 8 memory slices of 8, 6 compute
    assert validate_layout("A100-80GB", {"1g.10gb": 0, "7g.80gb": 1})[0]  # a zero count is no instance
    assert validate_layout("A10G", {"1g.5gb": 1}) == (False, "A10G does not support MIG")
    assert valid_layouts("A10G") == [] and placement("A10G", {"1g.5gb": 1}) is None


def _synthetic_catalog():
    """A GPU whose profiles pass every count check yet cannot share one GPU: `big` covers slices 1-4 or 2-5,
    and `small` may start only at 2 or 3, inside `big` wherever it goes."""
    catalog = load_catalog()
    model = GpuModel(
        name="Z1",
        memory_mib=1024,
        product_names=("NVIDIA-Z1",),
        mig_profiles={
            "big": MigProfile("big", "4g", compute_slices=2, memory_slices=4, starts=(1, 2), max_count=1),
            "small": MigProfile("small", "1g", compute_slices=1, memory_slices=1, starts=(2, 3), max_count=2),
        },
    )
    return replace(catalog, gpu_models={**catalog.gpu_models, "Z1": model}), model


def test_no_placement_names_each_instance_and_its_allowed_starts() -> None:
    catalog, model = _synthetic_catalog()
    layout = {"big": 1, "small": 1}
    assert validate_layout(model, layout, catalog) == (
        False,
        "no placement: the instances' memory slices overlap at every allowed start "
        "(big x1 takes 4 of 8 memory slices, starting at 1,2; small x1 takes 1 of 8 memory slices, starting at 2,3)",
    )
    assert placement(model, layout, catalog) is None
    # a profile with count 0 is left out of the explanation
    assert validate_layout("Z1", {"big": 1, "small": 0}, catalog) == (
        True,
        "fits one Z1 (instance@first memory slice: big@1)",
    )
    assert validate_layout("nvidia-z1", {"small": 2}, catalog) == (
        True,
        "fits one Z1 (instance@first memory slice: small@2, small@3)",
    )


def test_valid_layouts_of_a_synthetic_gpu_use_the_given_catalog() -> None:
    catalog, _ = _synthetic_catalog()
    # big alone, small alone or twice; big with any small overlaps (compute 2+1 would fit). Two compute
    # slices each for the first two: the count of the first profile in catalog order (big) breaks the tie.
    assert valid_layouts("Z1", catalog) == [{"big": 1}, {"small": 2}, {"small": 1}]


def test_layouts_are_ordered_by_compute_then_by_counts_in_catalog_order() -> None:
    layouts = valid_layouts("A100-80GB")
    assert layouts[:3] == [{"1g.10gb": 7}, {"1g.10gb": 6, "1g.10gb+me": 1}, {"1g.10gb": 6, "1g.20gb": 1}]
    assert layouts[-3:] == [{"1g.10gb": 1}, {"1g.10gb+me": 1}, {"1g.20gb": 1}]
    compute = {"1g.10gb": 1, "1g.10gb+me": 1, "1g.20gb": 1, "2g.20gb": 2, "3g.40gb": 3, "4g.40gb": 4, "7g.80gb": 7}
    used = [sum(compute[n] * c for n, c in layout.items()) for layout in layouts]
    assert used == sorted(used, reverse=True) and used[0] == 7 and used[-1] == 1


def test_unknown_gpu_lists_the_known_models() -> None:
    with pytest.raises(ToolError) as info:
        resolve_gpu("Z9000")
    known = ", ".join(sorted(load_catalog().gpu_models))
    assert info.value.message == (
        f"unknown GPU 'Z9000' (known: {known}, or a GPU Feature Discovery product name)"
    )
    assert resolve_gpu("NVIDIA-A100-SXM4-40GB-SHARED").name == "A100-40GB"


def test_placement_resolves_a_name_in_the_given_catalog() -> None:
    catalog, _ = _synthetic_catalog()
    # Z1 exists only in the synthetic catalog: resolving it in the packaged one would be "unknown GPU"
    assert placement("Z1", {"small": 2}, catalog) == [("small", 2), ("small", 3)]
    assert placement("NVIDIA-Z1", {"big": 1}, catalog) == [("big", 1)]


def test_no_instance_is_placed_past_the_last_memory_slice() -> None:
    # A GPU of 4 memory slices whose profile lists start 3 first: two slices from 3 would need slice 4, which
    # the GPU does not have, so the only placement is at 0. The packaged catalog (8 slices) would accept 3.
    catalog = replace(load_catalog(), compute_slices_per_gpu=4, memory_slices_per_gpu=4)
    model = GpuModel(
        name="Z4",
        memory_mib=512,
        product_names=(),
        mig_profiles={"edge": MigProfile("edge", "2g", compute_slices=2, memory_slices=2, starts=(3, 0), max_count=2)},
    )
    assert placement(model, {"edge": 1}, catalog) == [("edge", 0)]
    assert validate_layout(model, {"edge": 1}, catalog) == (True, "fits one Z4 (instance@first memory slice: edge@0)")
    # two of them need slices 0-3: the second cannot start at 3 either
    assert validate_layout(model, {"edge": 2}, catalog)[0] is False


EVERY_START = tuple(range(8))


def test_the_instance_with_most_memory_slices_is_placed_first() -> None:
    # NVIDIA's advice: create the largest GPU instances first so that small ones do not fragment the memory.
    # The printed placement follows it: `wide` (4 slices) takes slice 0 even though `narrow` is listed last.
    catalog = load_catalog()
    model = GpuModel(
        name="Z2",
        memory_mib=1024,
        product_names=(),
        mig_profiles={
            "wide": MigProfile("wide", "3g", compute_slices=3, memory_slices=4, starts=(0, 4), max_count=2),
            "narrow": MigProfile("narrow", "1g", compute_slices=1, memory_slices=1, starts=EVERY_START, max_count=7),
        },
    )
    assert placement(model, {"narrow": 1, "wide": 1}, catalog) == [("wide", 0), ("narrow", 4)]
    # Equal memory (2 slices each): the profile with fewer allowed starts (2g.20gb: 0, 2, 4) goes first, and
    # the more flexible 1g.20gb (0, 2, 4, 6) takes the next free pair.
    assert validate_layout("A100-80GB", {"1g.20gb": 1, "2g.20gb": 1}) == (
        True,
        "fits one A100-80GB (instance@first memory slice: 2g.20gb@0, 1g.20gb@2)",
    )


def test_valid_layouts_respect_the_compute_slices_where_memory_would_allow_more() -> None:
    # Each `dense` instance takes 2 of the 7 compute slices but only 1 of the 8 memory slices: compute, not
    # memory, stops the count at 3 (6 slices); 4 would need 8.
    catalog = load_catalog()
    model = GpuModel(
        name="Z3",
        memory_mib=1024,
        product_names=(),
        mig_profiles={
            "dense": MigProfile("dense", "2g", compute_slices=2, memory_slices=1, starts=EVERY_START, max_count=7)
        },
    )
    assert valid_layouts(model, catalog) == [{"dense": 3}, {"dense": 2}, {"dense": 1}]
    assert validate_layout(model, {"dense": 4}, catalog) == (False, "needs 8 compute slices; a GPU has 7")
