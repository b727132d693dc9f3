"""`mlplatform report` and `graph` as a user runs them on a small repository: where the page goes, exit codes,
a cluster without a pool file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def test_report_into_a_file_with_a_cluster_that_has_no_pool_file(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "page.html"
    done = run_cli("report", "--repo", str(repo), "--out", str(target))
    # no pool file: the check warns (pool/file-missing), the page says there is no plan, and that is not a fit
    assert done.returncode == 1, done.stderr
    assert f"report: {target}" in done.stderr and "Traceback" not in done.stderr
    html = target.read_text()
    assert "No plan:" in html and "node-pools.yaml" in html
    graph = html.split('id="mermaid-demo">', 1)[1].split("</pre>", 1)[0]
    assert graph.startswith("---") and "demo_Kustomization_flux_system_apps[" in graph
    assert html.rstrip().endswith("</html>")


def test_report_into_a_directory(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    done = run_cli("report", "--repo", str(repo), "--out", str(out))
    assert (out / "report.html").is_file(), done.stderr


def test_unwritable_out_is_exit_2_with_one_line(repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run_cli("report", "--repo", str(repo), "--out", str(blocker / "report.html"))
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: cannot write ")
    assert "Traceback" not in done.stderr


def test_out_naming_an_existing_file_without_html_is_exit_2_saying_so(repo: Path, tmp_path: Path) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text("keep me")
    done = run_cli("report", "--repo", str(repo), "--out", str(existing))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: --out {existing}: an existing file, not a folder; name the page *.html (or *.htm), "
        "or give a folder to write report.html into"]
    assert existing.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == [
        "existing.txt", "flux-basic"]


def test_graph_formats_of_a_small_repository(repo: Path) -> None:
    mermaid = run_cli("graph", "--repo", str(repo))
    assert mermaid.returncode == 0, mermaid.stderr
    assert "flowchart LR" in mermaid.stdout and "demo_Kustomization_flux_system_apps" in mermaid.stdout
    dot = run_cli("graph", "--repo", str(repo), "--format", "dot")
    assert dot.stdout.startswith("digraph flux {") and dot.stdout.rstrip().endswith("}")


def test_unknown_cluster_is_exit_2(repo: Path) -> None:
    for command in ("graph", "report"):
        done = run_cli(command, "--repo", str(repo), "--cluster", "nope")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
