"""`mlplatform charts pull` against a chart repository served on 127.0.0.1 by the test itself (no network):
the chart packaged and indexed with the real helm, pulled into the cache, then rendered from it."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli
from mlplatform import helm

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "helm-local"
RELEASE = "apps/release.yaml"


@pytest.fixture
def chart_server(tmp_path: Path) -> Iterator[str]:
    """A classic Helm repository (index.yaml and the packaged chart) served over HTTP on 127.0.0.1."""
    binary = helm.find_helm()
    if binary is None:
        pytest.fail("no helm: run `make test`, which provides the pinned one (scripts/ensure-helm.sh)")
    served = tmp_path / "served"
    served.mkdir()
    env = helm.offline_env(tmp_path / "helm-home")
    subprocess.run([binary.path, "package", str(FIXTURE / "charts" / "node-agent"), "-d", str(served)], check=True,
                   capture_output=True, env=env)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    (served / "charts").mkdir()
    shutil.move(str(next(served.glob("*.tgz"))), served / "charts")
    subprocess.run([binary.path, "repo", "index", str(served / "charts"), "--url", url], check=True,
                   capture_output=True, env=env)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_pull_fills_the_cache_and_the_release_renders_from_it(chart_server: str, tmp_path: Path,
                                                              kustomize_bin: str) -> None:
    repo = tmp_path / "helm-local"
    shutil.copytree(FIXTURE, repo, ignore=shutil.ignore_patterns("charts"))
    edit_copy(repo, RELEASE, "      chart: ./charts/node-agent\n      sourceRef:\n        kind: GitRepository\n"
              "        name: flux-system\n        namespace: flux-system\n",
              "      chart: node-agent\n      version: 0.1.0\n      sourceRef:\n        kind: HelmRepository\n"
              "        name: agents\n")
    (repo / "apps" / "repository.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: agents\n"
        f"  namespace: agents\nspec:\n  url: {chart_server}\n")
    edit_copy(repo, "apps/kustomization.yaml", "  - release.yaml\n", "  - release.yaml\n  - repository.yaml\n")
    cache = tmp_path / "cache"
    env = {"MLPLATFORM_KUSTOMIZE": kustomize_bin, helm.CACHE_ENV: str(cache), "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1"}

    dry = run_cli("charts", "pull", "--repo", str(repo), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would pull node-agent 0.1.0 from HelmRepository agents/agents (agents/node-agent)")
    assert not cache.exists()  # a dry run pulls nothing

    pulled = run_cli("charts", "pull", "--repo", str(repo), env=env)
    assert pulled.returncode == 0, pulled.stderr
    target = helm.cache_path(cache, chart_server, "node-agent", "0.1.0")
    assert (target / "Chart.yaml").is_file() and (target / "crds" / "gizmos.yaml").is_file()
    again = run_cli("charts", "pull", "--repo", str(repo), env=env)
    assert again.stdout.startswith("cached  node-agent 0.1.0"), again.stdout

    rendered = run_cli("render", "--repo", str(repo), "--cluster", "demo", env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert "kind: DaemonSet" in rendered.stdout and "registry.example.com/node-agent:1.2.3" in rendered.stdout


def test_pull_of_a_chart_the_repository_lacks_exits_1_naming_it(chart_server: str, tmp_path: Path,
                                                                kustomize_bin: str) -> None:
    repo = tmp_path / "helm-local"
    shutil.copytree(FIXTURE, repo)
    edit_copy(repo, RELEASE, "      chart: ./charts/node-agent\n      sourceRef:\n        kind: GitRepository\n"
              "        name: flux-system\n        namespace: flux-system\n",
              "      chart: node-agent\n      version: 9.9.9\n      sourceRef:\n        kind: HelmRepository\n"
              "        name: agents\n")
    (repo / "apps" / "repository.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: agents\n"
        f"  namespace: agents\nspec:\n  url: {chart_server}\n")
    edit_copy(repo, "apps/kustomization.yaml", "  - release.yaml\n", "  - release.yaml\n  - repository.yaml\n")
    env = {"MLPLATFORM_KUSTOMIZE": kustomize_bin, helm.CACHE_ENV: str(tmp_path / "cache"), "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1"}
    proc = run_cli("charts", "pull", "--repo", str(repo), env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not pull node-agent 9.9.9 from HelmRepository agents/agents (agents/node-agent)" in proc.stderr
    assert "Traceback" not in proc.stderr
