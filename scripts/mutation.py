"""Mutation testing of the core modules with mutmut (pinned in the dev extras), and a per-module report.

    python scripts/mutation.py                     stage, run mutmut, report (what `make mutation` does)
    python scripts/mutation.py --module mig        only that module (repeatable); the others keep their last run
    python scripts/mutation.py --again [--module]  after adding tests: re-test the last run's survivors
    python scripts/mutation.py --report            report the last run again (after editing the equivalence list)

mutmut 3 names a mutant after the dotted path of its file and only strips a `src/` prefix, while this package
lives in tools/: so the run happens in a staging copy (.mutation/<module>/, ignored by git) with the package
under src/mlplatform, the module's tests and the repository files those tests read. One staging copy per
module, so a module can be run (or re-run) alone and its verdicts survive a run of another module. mutmut
runs the module's tests once to learn which test reaches which function, then runs each mutant against only
those tests.

Two adaptations in the staged copy, neither changing behaviour:
- mutmut does not mutate decorated functions, which would leave out the memoised MIG search (`_place`,
  `_valid_layouts`) and `_amount`. A `@lru_cache(...)` on a plain function is rewritten as the same call after
  the definition (`f = lru_cache(...)(f)`), so the function is mutated and still memoised.
- mutmut forks every mutant's test run from a process that already ran the tests, so those memo caches would
  still hold the unmutated answers: a conftest at the staging root clears every lru_cache of the package before
  each test (per test, so that mutmut sees every test that reaches a memoised function).

Survivors judged equivalent (no test can tell them from the original) are listed with the reason in
scripts/mutation_equivalent.toml and docs/testing.md; each is matched by module, function and the changed
line, so renumbered mutants keep their verdict. The report exits 1 if a module kills less than 90% of its
non-equivalent mutants.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGE = REPO / ".mutation"
EQUIVALENT_FILE = REPO / "scripts" / "mutation_equivalent.toml"
THRESHOLD = 0.90

# module (dotted, as mutmut names it) -> the test files that reach it. mutmut's own statistics then narrow
# each mutant to the tests that called its function.
MODULES = {
    "mlplatform.scheduling": ["tests/test_scheduling.py"],
    "mlplatform.substitute": ["tests/test_substitute.py"],
    "mlplatform.mig": ["tests/test_mig.py"],
    "mlplatform.allocatable": ["tests/test_allocatable.py"],
    "mlplatform.capacity.packing": ["tests/test_packing.py"],
}
# The CLI tests of these files run `mlplatform` in a subprocess, which imports the installed package, not the
# staged mutants: they cannot kill a mutant and only cost time.
DESELECT = "not test_cli_"
# Repository files the selected tests read (pool files, fixtures live under tests/).
ALSO_COPY = ["terraform"]

# mutmut's status names -> the report's three columns (a timeout or crash is a detected mutant).
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious"}

ROOT_CONFTEST = '''"""Added by scripts/mutation.py: each test starts with empty memo caches of the package."""

import functools
import gc

_CACHES = []


def pytest_runtest_setup(item):
    # Per test, not per session: mutmut learns which test reaches which function from one run of all tests,
    # and a test that found its answer in another test's cache would not be counted as reaching the function.
    if not _CACHES:
        _CACHES.extend(
            o
            for o in gc.get_objects()
            if isinstance(o, functools._lru_cache_wrapper) and getattr(o, "__module__", "").startswith("mlplatform.")
        )
    for cache in _CACHES:
        cache.cache_clear()
'''


def _memo_after_definition(text: str) -> str:
    """`@lru_cache(args)\\ndef f(...): body` -> `def f(...): body\\nf = lru_cache(args)(f)` (same behaviour)."""
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.parse(text).body:
        if not isinstance(node, ast.FunctionDef) or len(node.decorator_list) != 1:
            continue
        deco = node.decorator_list[0]
        func = deco.func if isinstance(deco, ast.Call) else deco
        if ast.unparse(func) not in ("lru_cache", "functools.lru_cache"):
            continue
        edits.append((deco.lineno, node.end_lineno, node.name, ast.unparse(deco)))
    for deco_line, end_line, name, deco_text in reversed(edits):
        call = deco_text if deco_text.endswith(")") else deco_text + "()"
        lines.insert(end_line, f"\n\n{name} = {call}({name})\n")
        del lines[deco_line - 1]
    return "".join(lines)


IGNORE = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache")


def stage_dir(module: str) -> Path:
    return STAGE / module.removeprefix("mlplatform.")


def _copy_sources_and_tests(module: str) -> None:
    root = stage_dir(module)
    shutil.copytree(REPO / "tools" / "mlplatform", root / "src" / "mlplatform", ignore=IGNORE, dirs_exist_ok=True)
    path = root / "src" / (module.replace(".", "/") + ".py")
    path.write_text(_memo_after_definition((REPO / "tools" / (module.replace(".", "/") + ".py")).read_text()))
    shutil.copytree(REPO / "tests", root / "tests", ignore=IGNORE, dirs_exist_ok=True)
    (root / "conftest.py").write_text(ROOT_CONFTEST)


def restage(module: str) -> None:
    """Refresh the staged sources and tests of the module's last run, keeping mutmut's verdicts. Changed
    functions get new mutants; the test-to-function statistics are collected again (new tests reach old
    functions)."""
    _copy_sources_and_tests(module)
    (stage_dir(module) / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)


def stage(module: str) -> None:
    root = stage_dir(module)
    if root.exists():
        shutil.rmtree(root)
    _copy_sources_and_tests(module)
    for name in ALSO_COPY:
        shutil.copytree(REPO / name, root / name, ignore=IGNORE)
    pytest_opts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    source = "src/" + module.replace(".", "/") + ".py"
    (root / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        f"testpaths = {_toml_list(pytest_opts['testpaths'])}\n"
        f"addopts = {_toml_str(pytest_opts['addopts'])}\n\n"
        "[tool.mutmut]\n"
        'source_paths = ["src/mlplatform"]\n'
        f"only_mutate = {_toml_list([source])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list([*MODULES[module], '-k', DESELECT])}\n"
        f"also_copy = {_toml_list(['conftest.py', *ALSO_COPY])}\n"
        # CP-SAT tests are timed: a mutant that makes them slow is caught by the timeout, not waited for.
        "timeout_multiplier = 5.0\n"
    )


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def mutmut(module: str, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "mutmut"
    return subprocess.run(
        [str(exe), *args], cwd=stage_dir(module), text=True, check=False, capture_output=capture, env=dict(os.environ)
    )


# ---------------------------------------------------------------- the report


def module_of(mutant: str) -> str | None:
    return next((m for m in sorted(MODULES, key=len, reverse=True) if mutant.startswith(m + ".")), None)


def function_of(mutant: str) -> str:
    """`mlplatform.mig.x__place__mutmut_3` -> `_place`; methods: `xǁClassǁmethod__mutmut_3` -> Class.method."""
    name = mutant.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    if name.startswith("xǁ"):
        return ".".join(name[2:].split("ǁ"))
    return name[2:] if name.startswith("x_") else name


def changed_lines(diff: str) -> tuple[str, str]:
    """The removed and added lines of a mutant's diff, whitespace-trimmed and joined."""
    old = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    new = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return "\n".join(old), "\n".join(new)


# One process shows every survivor's diff (one `mutmut show` per mutant costs seconds of start-up each).
_SHOW_ALL = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
names = json.load(sys.stdin)
path = find_mutant(names[0]).path if names else None
json.dump({n: get_diff_for_mutant(n, path=path) for n in names}, sys.stdout)
"""


def diffs(module: str, names: list[str]) -> dict[str, str]:
    """mutant name -> its diff against the original, for mutants of one module (one source file)."""
    if not names:
        return {}
    shown = subprocess.run(
        [sys.executable, "-c", _SHOW_ALL], cwd=stage_dir(module), input=json.dumps(names), text=True,
        capture_output=True, check=False,
    )
    if shown.returncode != 0:
        raise SystemExit(f"showing the mutants of {module} failed:\n{shown.stderr}")
    return json.loads(shown.stdout)


def load_equivalents() -> list[dict[str, str]]:
    return tomllib.loads(EQUIVALENT_FILE.read_text())["equivalent"] if EQUIVALENT_FILE.exists() else []


def results(module: str) -> dict[str, str]:
    """mutant name -> mutmut's status for the module's last run (empty if it never ran)."""
    if not (stage_dir(module) / "mutants").is_dir():
        return {}
    listed = mutmut(module, "results", "--all", "true", capture=True)
    if listed.returncode != 0:
        raise SystemExit(f"mutmut results failed:\n{listed.stdout}{listed.stderr}")
    status: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        name, sep, state = line.strip().rpartition(": ")
        if sep and module_of(name) == module:
            status[name] = state
    return status


def report(modules: list[str]) -> int:
    status = {name: state for module in modules for name, state in results(module).items()}
    equivalents = load_equivalents()
    used = [False] * len(equivalents)
    counts = {m: Counter() for m in modules}
    open_survivors: list[tuple[str, str]] = []
    shown: dict[str, str] = {}
    for module in modules:
        shown.update(diffs(module, [n for n, st in status.items() if st in SURVIVED and module_of(n) == module]))
    for name, state in sorted(status.items()):
        module = module_of(name)
        assert module is not None
        if state in KILLED:
            counts[module]["killed"] += 1
            continue
        if state not in SURVIVED:
            counts[module]["not run"] += 1
            open_survivors.append((name, f"status: {state}"))
            continue
        diff = shown[name]
        old, new = changed_lines(diff)
        short = module.rsplit(".", 1)[1]
        match = next(
            (
                i
                for i, e in enumerate(equivalents)
                if e["module"] == short and e["function"] == function_of(name) and e["original"] == old
                and e["mutant"] == new
            ),
            None,
        )
        if match is not None:
            used[match] = True
            counts[module]["equivalent"] += 1
        else:
            counts[module]["survived"] += 1
            open_survivors.append((name, diff))
    for name, diff in open_survivors:
        print(f"\n--- survived: {name}\n{diff.rstrip()}")
    for entry, hit in zip(equivalents, used, strict=True):
        if not hit and entry["module"] in {m.rsplit(".", 1)[1] for m in modules}:
            print(f"\nnote: equivalence entry matched no survivor: {entry['module']}.{entry['function']}: "
                  f"{entry['original']!r} -> {entry['mutant']!r}")
    print(f"\n{'module':<28}{'mutants':>8}{'killed':>8}{'survived':>9}{'equivalent':>11}{'score':>8}")
    failed = False
    for module, c in counts.items():
        total = sum(c.values())
        meaningful = total - c["equivalent"]
        score = c["killed"] / meaningful if meaningful else 1.0
        failed |= score < THRESHOLD or c["not run"] > 0 or total == 0
        print(f"{module:<28}{total:>8}{c['killed']:>8}{c['survived'] + c['not run']:>9}{c['equivalent']:>11}"
              f"{score:>8.1%}")
    print(f"\nscore = killed / (mutants - equivalent); every module must reach {THRESHOLD:.0%}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only report the last run")
    parser.add_argument(
        "--again",
        action="store_true",
        help="after adding tests: test the last run's surviving and untested mutants again (verdicts of killed "
        "mutants are kept, since tests were only added), then report",
    )
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument(
        "--module",
        action="append",
        choices=[m.removeprefix("mlplatform.") for m in MODULES],
        help="only this module (repeatable): run it, re-test it (--again) or report it (--report)",
    )
    args = parser.parse_args()
    selected = [f"mlplatform.{m}" for m in args.module] if args.module else list(MODULES)
    for module in selected:
        if args.again:
            names = [name for name, state in results(module).items() if state not in KILLED]
            restage(module)
            if names and mutmut(module, "run", "--max-children", str(args.max_children), *names).returncode != 0:
                return 2
        elif not args.report:
            stage(module)
            if mutmut(module, "run", "--max-children", str(args.max_children)).returncode != 0:
                return 2
    return report(selected)


if __name__ == "__main__":
    sys.exit(main())
