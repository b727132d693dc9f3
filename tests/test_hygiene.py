"""YAML hygiene of every YAML file: each kind of broken file gives one finding with its file and line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mlplatform import hygiene
from mlplatform.model import Severity
from mlplatform.yamlio import MAX_FILE_BYTES

OBJECT = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"


def alias_bomb() -> str:
    """Nine levels of nine aliases: under 100 aliases, but 9**9 nodes once expanded."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: bomb", "data:"]
    lines.append("  a0: &a0 [" + ",".join(['"lol"'] * 9) + "]")
    for i in range(1, 9):
        lines.append(f"  a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CASES: dict[str, tuple[bytes, str, int]] = {
    # file content, expected rule, expected line
    "syntax": (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n", "yaml/syntax", 5),
    "duplicate": (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
        "yaml/duplicate-key",
        5,
    ),
    "bomb": (alias_bomb().encode(), "yaml/limit", 0),
    # a misspelt alias is a syntax error, not one of the parser's safety limits
    "undefined-alias": (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: *nodata\n", "yaml/syntax", 5),
    # a merge key's mapping may be overridden (below), but a key written twice in the mapping itself may not
    "duplicate-after-merge": (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\nx: &x {a: '1'}\n"
        b"data:\n  <<: *x\n  b: '2'\n  b: '3'\n",
        "yaml/duplicate-key",
        9,
    ),
    "latin1": (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n", "yaml/encoding", 4),
    "empty-doc": ((OBJECT + "---\n---\n" + OBJECT).encode(), "yaml/empty-document", 0),
    "list": (b"- apiVersion: v1\n  kind: ConfigMap\n", "yaml/not-an-object", 1),
    "scalar": ((OBJECT + "---\njust a string\n").encode(), "yaml/not-an-object", 6),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_file_gives_one_finding(tmp_path: Path, case: str) -> None:
    content, rule, line = CASES[case]
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / f"{case}.yaml").write_bytes(content)
    (tmp_path / "apps" / "good.yaml").write_text(OBJECT)
    started = time.perf_counter()
    findings = hygiene.check_repository(tmp_path)
    assert time.perf_counter() - started < 5
    assert [(f.rule, f.file, f.severity) for f in findings] == [(rule, f"apps/{case}.yaml", Severity.ERROR)]
    if line:
        assert findings[0].line == line


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "apps" / "huge.yaml"
    path.parent.mkdir()
    with path.open("wb") as handle:  # 50 MB, made at test time (never committed)
        handle.write(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  blob: ")
        handle.truncate(50 * 1024 * 1024)
    assert path.stat().st_size > MAX_FILE_BYTES
    started = time.perf_counter()
    [finding] = hygiene.check_repository(tmp_path)
    assert time.perf_counter() - started < 2
    assert (finding.rule, finding.file, finding.line) == ("yaml/too-large", "apps/huge.yaml", 1)


def test_symlinks_out_of_the_repository(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(OBJECT)
    repo = tmp_path / "repo"
    (repo / "apps").mkdir(parents=True)
    os.symlink(outside / "secret.yaml", repo / "apps" / "link.yaml")
    os.symlink(outside, repo / "apps" / "linkdir")
    (repo / "apps" / "inside.yaml").write_text(OBJECT)
    os.symlink(repo / "apps" / "inside.yaml", repo / "apps" / "inside-link.yaml")  # fine: stays inside
    findings = hygiene.check_repository(repo)
    assert sorted((f.rule, f.file) for f in findings) == [
        ("yaml/symlink-outside-repository", "apps/link.yaml"),
        ("yaml/symlink-outside-repository", "apps/linkdir"),
    ]


def test_environments_and_fixtures_are_skipped(tmp_path: Path) -> None:
    for skipped in (".venv/lib", ".venv-checkov", ".git", ".tools/bin", "tests/fixtures/x", "tests/hostile"):
        (tmp_path / skipped).mkdir(parents=True)
        (tmp_path / skipped / "bad.yaml").write_text("a: [\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "list.yaml").write_text("- a\n- b\n")  # outside object directories a list is fine
    assert hygiene.check_repository(tmp_path) == []


def test_trailing_separator_alone_is_not_an_empty_document(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "lead.yaml").write_text("---\n" + OBJECT)
    assert hygiene.check_repository(tmp_path) == []


def test_symlink_loop_and_fifo(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    os.symlink(tmp_path / "apps" / "b.yaml", tmp_path / "apps" / "a.yaml")
    os.symlink(tmp_path / "apps" / "a.yaml", tmp_path / "apps" / "b.yaml")
    os.mkfifo(tmp_path / "apps" / "pipe.yaml")  # reading it would block forever
    started = time.perf_counter()
    findings = hygiene.check_repository(tmp_path)
    assert time.perf_counter() - started < 5
    assert sorted((f.rule, f.file) for f in findings) == [
        ("yaml/symlink-loop", "apps/a.yaml"),
        ("yaml/symlink-loop", "apps/b.yaml"),
        ("yaml/unreadable", "apps/pipe.yaml"),
    ]


def test_undecodable_file_name_is_shown_escaped(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    with open(os.path.join(os.fsencode(tmp_path / "apps"), b"bad-\xff.yaml"), "wb") as handle:
        handle.write(b"key: [unclosed\n")
    [finding] = hygiene.check_repository(tmp_path)
    assert finding.file == "apps/bad-\\xff.yaml"
    finding.file.encode("utf-8")  # printable: no lone surrogates reach the output


def test_explicit_tag_pyyaml_cannot_apply(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "tag.yaml").write_text(OBJECT + "spec:\n  replicas: !!int\n")
    [finding] = hygiene.check_repository(tmp_path)
    assert finding.rule == "yaml/syntax" and "invalid YAML value" in finding.message


def test_many_empty_documents_are_listed_up_to_a_bound_and_counted(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "many.yaml").write_text(OBJECT + "---\n" * 1000)
    findings = hygiene.check_repository(tmp_path)
    assert {f.rule for f in findings} == {"yaml/empty-document"}
    assert len(findings) == hygiene.MAX_EMPTY_LISTED + 1
    lines = [f.line for f in findings]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)
    last = findings[-1]
    # the object is document 1; the 1000 '---' make 1000 empty documents after it, 21 listed
    assert f"and {1000 - hygiene.MAX_EMPTY_LISTED - 1} more empty documents after it" in last.message
    assert "document 2 of 1001 is empty" in findings[0].message


MERGES = [
    # an own key overrides a merged one (the `requests` / `limits` pattern a newcomer wrote)
    "requests: &res\n  cpu: '2'\n  memory: 8Gi\nlimits:\n  <<: *res\n  cpu: '4'\n",
    # of several merged mappings the first listed wins; own keys win over all of them
    "a: &a {k: 1, x: a}\nb: &b {k: 2, y: b}\nc:\n  <<: [*a, *b]\n  y: own\n",
    # the merge key after the own keys: own keys still win
    "d: &d {k: 1}\ne:\n  k: 2\n  <<: *d\n",
    # a merged mapping that itself merges
    "a: &a {k: 1}\nb: &b\n  <<: *a\n  j: 2\nc:\n  <<: *b\n  k: 3\n",
]


@pytest.mark.parametrize("text", MERGES)
def test_merge_keys_read_as_pyyaml_and_kustomize_read_them(text: str, tmp_path: Path) -> None:
    import yaml

    from mlplatform.yamlio import load_documents, plain

    path = tmp_path / "m.yaml"
    path.write_text(text)
    [doc] = load_documents(path)
    assert plain(doc.data) == yaml.safe_load(text)
    assert hygiene.check_files(tmp_path, [path]) == []
