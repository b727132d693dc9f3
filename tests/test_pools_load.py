"""Loading a pool file: one parse per text per process (check reads each cluster's file for several steps),
never a stale answer after the file changes, and every caller with its own copy (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mlplatform import pools
from mlplatform.errors import InputError

POOL_FILE = """\
cluster: memo
region: us-east-1
kubernetes_version: "1.33"
pools:
  web:
    instance_types: [m5.2xlarge]
    min_size: 1
    max_size: {max_size}
    desired_size: 1
    labels:
      mlplatform.example.com/pool: web
    zones: [us-east-1a, us-east-1b]
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pools, "_PARSED", {}, raising=False)  # this test's own memo, whatever ran before in the process
    path = pools.pool_file_path(tmp_path, "memo")
    path.parent.mkdir(parents=True)
    path.write_text(POOL_FILE.format(max_size=10))
    return tmp_path


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files parsed into pools (their display names)."""
    seen: list[str] = []
    real = pools.parse_pool_file

    def counted(data: Any, file: str) -> Any:
        seen.append(file)
        return real(data, file)

    monkeypatch.setattr(pools, "parse_pool_file", counted)
    return seen


def test_the_same_text_is_parsed_once_and_each_caller_gets_its_own_copy(repo: Path, parses: list[str]) -> None:
    path = pools.pool_file_path(repo, "memo")
    first = pools.load_pool_file(path, repo)
    first.pools["web"].max_size = 99  # what `plan --set` would do to its copy
    first.pools["web"].extra["zones"].append("us-east-1c")
    second = pools.load_pool_file(path, repo)
    assert len(parses) == 1
    assert second.pools["web"].max_size == 10
    assert second.pools["web"].extra["zones"] == ["us-east-1a", "us-east-1b"]
    assert second.pools["web"].line_of("max_size") == 8  # lines survive the copy
    assert second.file == "terraform/environments/memo/node-pools.yaml"
    # The same file named from elsewhere is another display name: parsed for it, with its own file field.
    outside = pools.load_pool_file(path)
    assert outside.file == str(path) and len(parses) == 2


def test_a_changed_file_is_parsed_again_even_with_the_same_size_and_time(repo: Path, parses: list[str]) -> None:
    path = pools.pool_file_path(repo, "memo")
    assert pools.load_pool_file(path, repo).pools["web"].max_size == 10
    stat = path.stat()
    path.write_text(POOL_FILE.format(max_size=12))  # same length, and the same modification time below
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert pools.load_pool_file(path, repo).pools["web"].max_size == 12
    assert len(parses) == 2


def test_a_broken_file_is_reported_with_its_line_every_time(repo: Path, parses: list[str]) -> None:
    path = pools.pool_file_path(repo, "memo")
    path.write_text(POOL_FILE.format(max_size="[10"))
    for _ in range(2):
        with pytest.raises(InputError) as caught:
            pools.load_pool_file(path, repo)
        assert caught.value.file == "terraform/environments/memo/node-pools.yaml"
        assert caught.value.line is not None and caught.value.line >= 8
    assert parses == []  # never got as far as the pools
    path.write_text("cluster: memo\n---\nregion: x\n")
    with pytest.raises(InputError, match="expected one YAML document, found 2"):
        pools.load_pool_file(path, repo)
