"""kustomize's output kept between runs (buildcache.py) is served only while nothing the build reads changed.

Each "run" here is a fresh BuildMemo attached to the repository's store, as a new `check` process makes one;
`store.hits` says whether kustomize ran. A change to any input must make the next run re-render."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import REPO_ROOT, copy_repo, crd_schema_dir, edit_copy, run_cli
from mlplatform import buildcache
from mlplatform.buildcache import CACHE_DIR, SUBDIR, BuildCache
from mlplatform.config import Config
from mlplatform.render import BuildMemo, FluxBuildOptions, KustomizeTool, build, find_kustomize, walk_kustomization

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
"""
PATCH = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
"""
COMPONENT = """apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
commonLabels: {team: ml}
"""


@pytest.fixture(autouse=True)
def _own_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the HMAC secret lives in the user's cache directory: a private one per test
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(buildcache.ENV_VAR, "1")  # off unless the user turns it on


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    base = repo / "apps" / "base" / "web"
    base.mkdir(parents=True)
    (base / "deployment.yaml").write_text(DEPLOYMENT)
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    component = repo / "apps" / "components" / "team"
    component.mkdir(parents=True)
    (component / "kustomization.yaml").write_text(COMPONENT)
    overlay = repo / "apps" / "prod"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../base/web]\n"
        "components: [../components/team]\n"
        "patches:\n  - path: replicas.yaml\n"
        "configMapGenerator:\n  - name: settings\n    files: [settings.txt]\n"
    )
    (overlay / "replicas.yaml").write_text(PATCH)
    (overlay / "settings.txt").write_text("level=info\n")
    return repo


def _run(repo: Path, kustomize_bin: str, options: FluxBuildOptions | None = None) -> tuple[str, BuildMemo]:
    """One run: a new memo with the repository's store, one build of apps/prod."""
    memo = BuildMemo()
    memo.attach_store(repo, True)
    assert memo.store is not None
    tool = find_kustomize(repo, Config(repo=repo, kustomize=kustomize_bin))
    directory = repo / "apps" / "prod"
    result = build(tool, repo, directory, walk_kustomization(repo, directory), options or FluxBuildOptions(),
                   memo=memo)
    assert not result.findings, result.findings
    return "---\n".join(doc.text for doc in result.docs), memo


def test_a_second_run_reuses_the_output(tmp_path: Path, kustomize_bin: str) -> None:
    repo = _repo(tmp_path)
    first, cold = _run(repo, kustomize_bin)
    assert cold.store.hits == 0 and cold.store.stored == 1
    second, warm = _run(repo, kustomize_bin)
    assert warm.store.hits == 1 and warm.store.stored == 0
    assert first == second
    assert "replicas: 2" in first and "team: ml" in first and "level=info" in first


@pytest.mark.parametrize(
    ("path", "old", "new", "expect"),
    [
        ("apps/base/web/deployment.yaml", "nginx:1.27", "nginx:1.28", "nginx:1.28"),  # a resource via ../
        ("apps/prod/replicas.yaml", "replicas: 2", "replicas: 5", "replicas: 5"),  # a patch
        ("apps/components/team/kustomization.yaml", "team: ml", "team: research", "team: research"),  # component
        ("apps/prod/settings.txt", "level=info", "level=debug", "level=debug"),  # a generator input
        ("apps/prod/kustomization.yaml", "name: settings", "name: config", "name: config-"),  # the overlay
        ("apps/base/web/kustomization.yaml", "resources:", "namePrefix: x-\nresources:", "name: x-web"),
    ],
)
def test_any_changed_input_renders_again(tmp_path: Path, kustomize_bin: str, path: str, old: str, new: str,
                                         expect: str) -> None:
    repo = _repo(tmp_path)
    before, _ = _run(repo, kustomize_bin)
    assert expect not in before
    edit_copy(repo, path, old, new)
    after, memo = _run(repo, kustomize_bin)
    assert memo.store.hits == 0, f"served a stale output after {path} changed"
    assert expect in after


def test_a_new_file_in_a_reached_directory_renders_again(tmp_path: Path, kustomize_bin: str) -> None:
    # kustomize reads only what is named, but a new file beside them may be named next: the key lists them
    repo = _repo(tmp_path)
    _run(repo, kustomize_bin)
    (repo / "apps" / "base" / "web" / "notes.txt").write_text("x\n")
    _, memo = _run(repo, kustomize_bin)
    assert memo.store.hits == 0


def test_flux_options_and_the_binary_are_in_the_key(tmp_path: Path, kustomize_bin: str) -> None:
    repo = _repo(tmp_path)
    _run(repo, kustomize_bin)
    namespaced, memo = _run(repo, kustomize_bin, FluxBuildOptions(target_namespace="team-x"))
    assert memo.store.hits == 0 and "namespace: team-x" in namespaced
    # the same version at another path (another binary as far as we can tell) is another key
    tool = find_kustomize(repo, Config(repo=repo, kustomize=kustomize_bin))
    copy = tmp_path / "bin" / Path(tool.path).name
    copy.parent.mkdir()
    shutil.copy2(tool.path, copy)
    other = KustomizeTool(path=str(copy), flavour=tool.flavour, version=tool.version)
    directory = repo / "apps" / "prod"
    tree = walk_kustomization(repo, directory)
    keys = {BuildMemo().key(directory, tree, FluxBuildOptions(), t, repo) for t in (tool, other)}
    assert len(keys) == 2
    # a build option on the command line (a load restrictor, say) is another key
    class Restricted(KustomizeTool):
        def command(self, directory: Path) -> list[str]:
            return [*super().command(directory), "--load-restrictor", "LoadRestrictionsNone"]

    restricted = Restricted(path=tool.path, flavour=tool.flavour, version=tool.version)
    assert BuildMemo().key(directory, tree, FluxBuildOptions(), restricted, repo) not in keys


def test_files_named_through_dotdot_by_any_field_are_in_the_key(tmp_path: Path) -> None:
    """Generator inputs and configs reached through `../` (legal with LoadRestrictionsNone), a transformer
    config's own file and a field the walk does not follow (openapi) all key the build."""
    repo = _repo(tmp_path)
    common = repo / "apps" / "common"
    common.mkdir()
    (common / "env.txt").write_text("A=1\n")
    (common / "schema.json").write_text("{}\n")
    (common / "patch.yaml").write_text(PATCH)
    (repo / "apps" / "prod" / "labels.yaml").write_text(
        "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: ../common/patch.yaml\n"
    )
    kfile = repo / "apps" / "prod" / "kustomization.yaml"
    kfile.write_text(kfile.read_text() + "  - name: env\n    envs: [../common/env.txt]\n"
                     "openapi:\n  path: ../common/schema.json\ntransformers: [labels.yaml]\n")
    directory = repo / "apps" / "prod"
    tree = walk_kustomization(repo, directory)
    tool = KustomizeTool(path="/bin/true", flavour="kustomize", version="test")

    def key() -> str | None:
        return BuildMemo().key(directory, tree, FluxBuildOptions(), tool, repo)

    original = key()
    assert original is not None
    for name, text in (("env.txt", "A=2\n"), ("schema.json", "{\"a\": 1}\n"), ("patch.yaml", DEPLOYMENT)):
        saved = (common / name).read_text()
        (common / name).write_text(text)
        assert key() != original, f"a change to ../common/{name} would serve a stale output"
        (common / name).write_text(saved)
        assert key() == original


def test_a_corrupt_or_forged_entry_is_never_served(tmp_path: Path, kustomize_bin: str) -> None:
    repo = _repo(tmp_path)
    expected, _ = _run(repo, kustomize_bin)
    [entry] = (repo / CACHE_DIR / SUBDIR).glob("*.out")
    good = entry.read_bytes()
    # truncated
    entry.write_bytes(good[: len(good) // 2])
    text, memo = _run(repo, kustomize_bin)
    assert text == expected and memo.store.hits == 0 and memo.store.discarded == 1
    # a well-formed entry made with another secret (as a pull request could commit): refused too
    forged = BuildCache(entry.parent, b"x" * 32)
    forged.put(entry.name.removesuffix(".out"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: forged}\n")
    text, memo = _run(repo, kustomize_bin)
    assert text == expected and "forged" not in text and memo.store.discarded == 1
    # and the run stored the real output again, which the next run serves
    _, memo = _run(repo, kustomize_bin)
    assert memo.store.hits == 1


def test_a_symlinked_cache_folder_turns_the_cache_off(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / CACHE_DIR).symlink_to(elsewhere)
    assert BuildCache.open(repo) is None
    assert not any(elsewhere.iterdir())


def test_the_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buildcache, "MAX_ENTRIES", 10)
    repo = _repo(tmp_path)
    store = BuildCache.open(repo)
    assert store is not None
    for i in range(25):
        store.put(f"{i:064x}", f"entry {i}\n")
    kept = sorted(p.name for p in store.directory.glob("*.out"))
    assert 0 < len(kept) <= 10
    assert f"{24:064x}.out" in kept and f"{0:064x}.out" not in kept  # the oldest went first
    assert store.get(f"{24:064x}") == "entry 24\n"


def test_no_secret_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert BuildCache.open(_repo(tmp_path)) is None


@pytest.mark.xdist_group("mutated-copies")
def test_check_after_an_edit_is_never_served_from_the_cache(tmp_path: Path) -> None:
    """The CLI end to end: a warm cache, then a fault put into a shared base; the next check must see it.
    With --no-cache nothing is kept."""
    copy = copy_repo(tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "MLPLATFORM_CACHE": "1"}
    args = ("check", "--repo", str(copy), "--format", "json", "--schema-location", str(crd_schema_dir()))
    cold = run_cli(*args, env=env)
    assert cold.returncode == 0, cold.stdout[-2000:] + cold.stderr
    entries = list((copy / CACHE_DIR / SUBDIR).glob("*.out"))
    assert entries, "check kept no kustomize output"
    warm = run_cli(*args, env=env)
    assert warm.returncode == 0 and json.loads(warm.stdout)["findings"] == json.loads(cold.stdout)["findings"]
    # a Deployment in a shared base loses its container image: both clusters render it again
    target = _shared_deployment(copy)
    line = edit_copy(copy, target, "image:", "imagex:")
    after = run_cli(*args, env=env)
    assert after.returncode == 1, after.stderr
    found = [f for f in json.loads(after.stdout)["findings"] if f.get("file") == target]
    assert found and any(f["line"] >= line for f in found), found
    bypass_copy = copy_repo(tmp_path / "other")
    bypass = run_cli(*args[:2], str(bypass_copy), *args[3:], "--no-cache", env=env)
    assert bypass.returncode == 0 and not (bypass_copy / CACHE_DIR).exists()


def _shared_deployment(repo: Path) -> str:
    """A Deployment file under apps/base that has exactly one `image:` line (both clusters render it)."""
    for path in sorted((repo / "apps" / "base").rglob("*.yaml")):
        text = path.read_text()
        if "kind: Deployment" in text and text.count("image:") == 1:
            return path.relative_to(repo).as_posix()
    raise AssertionError("no Deployment under apps/base")


def test_the_cache_folder_is_gitignored() -> None:
    assert (REPO_ROOT / ".gitignore").read_text().count(f"{CACHE_DIR}/") == 1


def test_terraform_parses_are_kept_and_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    from mlplatform import terraform

    repo = tmp_path / "repo"
    repo.mkdir()
    text = 'resource "aws_eks_addon" "cni" {\n  addon_name = "vpc-cni"\n}\n'
    direct = terraform._parse_text("main.tf", text)
    first = terraform._parse_text("main.tf", text, repo)
    store = buildcache.shared(repo, "terraform")
    assert store is not None and store.stored == 1 and store.hits == 0
    again = terraform._parse_text("main.tf", text, repo)
    assert store.hits == 1 and again.data == first.data == direct.data
    changed = terraform._parse_text("main.tf", text.replace("vpc-cni", "coredns"), repo)
    assert store.hits == 1 and "coredns" in json.dumps(changed.data)


def test_promtool_verdicts_are_kept_by_every_byte_they_read(tmp_path: Path, promtool_bin: str) -> None:
    from mlplatform.promtool import _probe

    repo = tmp_path / "repo"
    repo.mkdir()
    tool = _probe(str(Path(promtool_bin).resolve()))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    rules = scratch / "a.rules.yaml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum(up)\n")
    store = buildcache.shared(repo, "promtool")
    assert store is not None
    ok = tool._run_kept(["check", "rules", rules.name], scratch, "tree-1", repo)
    assert ok.returncode == 0 and store.stored == 1
    kept = tool._run_kept(["check", "rules", rules.name], scratch, "tree-1", repo)
    assert store.hits == 1 and (kept.returncode, kept.stdout) == (ok.returncode, ok.stdout)
    # another scratch directory (its digest is part of the key): promtool runs and judges it
    rules.write_text("groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum(up\n")
    broken = tool.run(["check", "rules", rules.name], scratch, repo)
    assert broken.returncode == 1 and store.hits == 1


def test_a_hostile_config_named_by_a_kustomization_is_read_within_the_limits(tmp_path: Path) -> None:
    """The key reads the configs a kustomization names (transformers, ...) for the files they name; an alias
    bomb there is refused by yamlio's limits (the file's bytes still key the build), never expanded."""
    repo = _repo(tmp_path)
    bomb = (REPO_ROOT / "tests" / "hostile" / "corpus" / "billion-laughs.yaml").read_text()
    (repo / "apps" / "prod" / "bomb.yaml").write_text(bomb)
    kfile = repo / "apps" / "prod" / "kustomization.yaml"
    kfile.write_text(kfile.read_text() + "transformers: [bomb.yaml]\n")
    directory = repo / "apps" / "prod"
    tool = KustomizeTool(path="/bin/true", flavour="kustomize", version="test")
    first = BuildMemo().key(directory, walk_kustomization(repo, directory), FluxBuildOptions(), tool, repo)
    assert first is not None
    (repo / "apps" / "prod" / "bomb.yaml").write_text(bomb + "# changed\n")
    second = BuildMemo().key(directory, walk_kustomization(repo, directory), FluxBuildOptions(), tool, repo)
    assert second not in (None, first)


def test_the_cache_is_off_unless_the_user_turns_it_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a CI run on a pull request sets nothing: no folder in the checkout, no secret in the user's cache
    monkeypatch.delenv(buildcache.ENV_VAR)
    repo = _repo(tmp_path)
    assert buildcache.BuildCache.open(repo, "kustomize") is None
    assert not (repo / CACHE_DIR).exists() and not (tmp_path / "xdg").exists()
    monkeypatch.setenv(buildcache.ENV_VAR, "1")
    assert buildcache.BuildCache.open(repo, "kustomize") is not None
