"""The Terraform parse in a child process (terraform_prefetch.py): the parent takes exactly what it would have
parsed itself, never a file that changed after the child read it, and reports bad files as before."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlplatform import terraform, terraform_prefetch
from mlplatform.errors import InputError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def fresh_table(monkeypatch: pytest.MonkeyPatch) -> dict:
    """An empty per-process parse table, so each test sees what its own prefetch or parse put there."""
    table: dict = {}
    monkeypatch.setattr(terraform, "_PARSED", table)
    monkeypatch.setattr(terraform, "_PREFETCHES", [])
    return table


def _copy_terraform(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "terraform", tmp_path / "terraform")
    return tmp_path


def _child_output(repo: Path, *clusters: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", terraform_prefetch._CHILD, str(repo), *clusters],
        capture_output=True, text=True, check=True, timeout=120,
    )
    return done.stdout


def test_the_child_parses_what_the_parent_would(tmp_path: Path):
    repo = _copy_terraform(tmp_path)
    entries = json.loads(_child_output(repo, "production", "staging"))
    paths = {entry[3] for entry in entries}
    assert "terraform/environments/production/main.tf" in paths
    assert "terraform/environments/staging/main.tf" in paths
    assert "terraform/modules/node-pools/main.tf" in paths
    for path, _mtime, _size, rel, _digest, data in entries:
        text = Path(path).read_text(encoding="utf-8")
        assert data == terraform._parse_text(rel, text).data, rel


def test_a_prefetch_fills_the_table_and_load_terraform_agrees(tmp_path: Path, fresh_table: dict):
    repo = _copy_terraform(tmp_path)
    prefetch = terraform_prefetch.start(repo, ["production"])
    assert prefetch is not None
    prefetch.wait()
    assert prefetch.taken == len(fresh_table) and prefetch.taken >= 10
    assert terraform._PREFETCHES == []  # a finished prefetch withdraws itself
    loaded = terraform.load_terraform(repo, "production")
    assert loaded is not None
    for rel, tf in loaded.files.items():
        assert tf.data == terraform._parse_text(rel, tf.text).data, rel


def test_a_file_changed_after_the_child_read_it_is_not_taken(tmp_path: Path, fresh_table: dict):
    repo = _copy_terraform(tmp_path)
    out = _child_output(repo, "production")
    main = repo / "terraform/environments/production/main.tf"
    main.write_text(main.read_text() + '\nlocals {\n  changed_after_the_child = "yes"\n}\n')
    taken = terraform_prefetch._take(out)
    assert taken == len(json.loads(out)) - 1
    assert str(main.resolve()) not in {key[0] for key in fresh_table}
    loaded = terraform.load_terraform(repo, "production")
    assert loaded is not None
    assert "changed_after_the_child" in json.dumps(loaded.files["terraform/environments/production/main.tf"].data)


def test_output_that_is_not_the_childs_is_ignored(fresh_table: dict):
    assert terraform_prefetch._take("not json") == 0
    assert terraform_prefetch._take('{"a": 1}') == 0
    assert terraform_prefetch._take('[["/nonexistent/x.tf", 1, 2, "x.tf", "0", {}], [1, 2]]') == 0
    assert fresh_table == {}


def test_a_file_that_does_not_parse_is_still_reported_by_the_parent(tmp_path: Path, fresh_table: dict):
    env = tmp_path / "terraform" / "environments" / "c1"
    env.mkdir(parents=True)
    (env / "good.tf").write_text('locals {\n  a = 1\n}\n')
    (env / "bad.tf").write_text('locals {\n  a = = 1\n}\n')
    prefetch = terraform_prefetch.start(tmp_path, ["c1"])
    assert prefetch is not None
    prefetch.wait()
    with pytest.raises(InputError) as raised:
        terraform.load_terraform(tmp_path, "c1")
    assert raised.value.file == "terraform/environments/c1/bad.tf" and raised.value.line == 2


def test_a_child_that_cannot_start_costs_nothing_but_time(tmp_path: Path, fresh_table: dict,
                                                         monkeypatch: pytest.MonkeyPatch):
    repo = _copy_terraform(tmp_path)
    monkeypatch.setattr(terraform_prefetch.sys, "executable", str(tmp_path / "no-such-python"))
    prefetch = terraform_prefetch.start(repo, ["production"])
    assert prefetch is not None
    prefetch.wait()
    assert prefetch.taken == 0 and fresh_table == {}
    loaded = terraform.load_terraform(repo, "production")
    assert loaded is not None and "terraform/environments/production/main.tf" in loaded.files


def test_no_child_without_a_terraform_environment(tmp_path: Path, fresh_table: dict):
    assert terraform_prefetch.start(tmp_path, ["production"]) is None
    assert terraform._PREFETCHES == []
