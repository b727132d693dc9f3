"""Constrained packing against an independent brute force: the answer is a valid packing, never fewer nodes
than the true optimum's lower bound, and when it says "proven optimal" it is the optimum."""

from __future__ import annotations

import itertools
import random

import pytest

from mlplatform.capacity.cpack import CAP, EVEN, Item, Problem, ZoneRule, solve

CAPACITY = (10, 10)


def valid(problem: Problem, bins: list[dict[int, int]], zones: list[str]) -> bool:
    """The scheduler's rules, written again from docs/capacity.md (not from cpack)."""
    items = problem.items
    for content in bins:
        for r, cap in enumerate(problem.capacity):
            if sum(items[i].demand[r] * n for i, n in content.items()) > cap:
                return False
        for i, n in content.items():
            if items[i].node_cap is not None and n > items[i].node_cap:
                return False
        for pair in problem.host_conflicts:
            a, b = sorted(pair)
            if content.get(a) and content.get(b):
                return False
    for i, it in enumerate(items):
        per_node = [c.get(i, 0) for c in bins]
        if it.host_skew is not None and it.count:
            low = 0 if len(bins) < it.host_min_domains else min(per_node)
            if max(per_node) - low > it.host_skew:
                return False
        rule = it.zone_rule
        if rule is not None and it.count:
            per_zone = [sum(c.get(i, 0) for c, z in zip(bins, zones, strict=True) if z == zone)
                        for zone in problem.zones]
            if rule.kind == CAP and max(per_zone) > rule.skew:
                return False
            if rule.kind == EVEN and max(per_zone) - min(per_zone) > rule.skew:
                return False
    return True


def _partitions(n: int):
    """Restricted growth strings: every way to split n pods into blocks (nodes), each once."""
    def grow(prefix: list[int], top: int):
        if len(prefix) == n:
            yield list(prefix)
            return
        for b in range(top + 2):
            prefix.append(b)
            yield from grow(prefix, max(top, b))
            prefix.pop()
    yield from grow([], -1)


def brute_force(problem: Problem) -> int | None:
    """Fewest nodes over every split of the pods into nodes and every choice of the nodes' zones."""
    pods = [i for i, it in enumerate(problem.items) for _ in range(it.count)]
    best = None
    for split in _partitions(len(pods)):
        k = max(split) + 1
        if best is not None and k >= best:
            continue
        bins: list[dict[int, int]] = [{} for _ in range(k)]
        for item, b in zip(pods, split, strict=True):
            bins[b][item] = bins[b].get(item, 0) + 1
        for zones in itertools.product(problem.zones, repeat=k):
            if valid(problem, bins, list(zones)):
                best = k
                break
    return best


def random_problem(rng: random.Random) -> Problem:
    zones = tuple(f"z{n}" for n in range(rng.choice([1, 2, 3])))
    items = []
    total = 0
    for n in range(rng.randint(1, 3)):
        count = rng.randint(1, 3)
        if total + count > 6:
            break
        total += count
        it = Item(f"w{n}", (rng.randint(1, 7), rng.randint(1, 7)), count)
        roll = rng.random()
        if roll < 0.25:
            it.node_cap, it.node_cap_reason = 1, "anti-affinity"
        elif roll < 0.45:
            it.zone_rule = ZoneRule(EVEN, 1, "zone spread")
        elif roll < 0.6:
            it.zone_rule = ZoneRule(CAP, rng.choice([1, 2]), "minDomains above the zones")
        elif roll < 0.75:
            it.host_skew = 1
            it.host_min_domains = rng.choice([1, 2, 3])
        items.append(it)
    problem = Problem(CAPACITY, zones, items)
    if len(items) > 1 and rng.random() < 0.4:
        problem.host_conflicts[frozenset({0, 1})] = "anti-affinity"
    return problem


@pytest.mark.parametrize("seed", range(60))
def test_constrained_packing_against_brute_force(seed: int) -> None:
    problem = random_problem(random.Random(seed))
    solution = solve(problem, time_limit_s=5.0)
    placed_all = not solution.shortfalls
    if not placed_all:
        # Pods no placement holds (a zone cap over too few zones): the rest is still packed validly.
        kept = Problem(problem.capacity, problem.zones,
                       [Item(**{**it.__dict__, "count": solution.placed[i]}) for i, it in enumerate(problem.items)],
                       problem.host_conflicts)
        problem = kept
    assert valid(problem, solution.result.bins, solution.zones)
    for i in range(len(problem.items)):
        assert sum(c.get(i, 0) for c in solution.result.bins) == solution.placed[i]
    optimum = brute_force(problem) if sum(it.count for it in problem.items) else 0
    assert optimum is not None
    r = solution.result
    assert r.lower_bound <= optimum <= r.nodes
    if r.proven_optimal:
        assert r.nodes == optimum


def test_zone_cap_shortfall_names_the_constraint() -> None:
    problem = Problem(CAPACITY, ("a", "b"), [Item("w", (1, 1), 5, zone_rule=ZoneRule(CAP, 2, "minDomains 3"))])
    solution = solve(problem)
    (short,) = solution.shortfalls
    assert (short.count, short.constraint, short.reason) == (1, "topologySpreadConstraints", "minDomains 3")
    assert solution.placed == [4] and solution.result.nodes == 2
