"""Alias expansion is bounded per document, per file and per run (yamlio; issue 16, resource exhaustion)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlplatform import yamlio
from mlplatform.errors import InputError


def expanding_document(levels: int) -> str:
    """A document whose aliases expand to about 10**(levels + 1) nodes while its text stays a few lines long."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_documents_each_under_the_limit_are_refused_together(tmp_path: Path) -> None:
    one = expanding_document(4)  # ~123k nodes: one document alone is accepted
    assert yamlio.load_documents(_write(tmp_path / "one.yaml", one))
    path = _write(tmp_path / "many.yaml", "---\n".join([one] * 12))  # ~1.3M nodes over the file
    with pytest.raises(InputError, match="in this file expand to more than") as caught:
        yamlio.load_documents(path)
    assert caught.value.line is not None and caught.value.line > 1  # the document that crossed the limit


def test_files_each_under_the_limit_are_refused_over_the_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(yamlio, "RUN_BUDGET", yamlio._RunBudget())
    monkeypatch.setattr(yamlio, "MAX_EXPANDED_NODES_PER_RUN", 500_000)
    text = expanding_document(4)  # ~123k nodes a file
    for i in range(4):
        yamlio.load_documents(_write(tmp_path / f"f{i}.yaml", text))
    with pytest.raises(InputError, match="in the files of this run"):
        yamlio.load_documents(_write(tmp_path / "f5.yaml", text))


def test_text_without_aliases_costs_nothing(monkeypatch) -> None:
    monkeypatch.setattr(yamlio, "RUN_BUDGET", yamlio._RunBudget())
    yamlio.check_alias_expansion("a: [1, 2, 3]\nb: '*not an alias'\n")
    assert yamlio.RUN_BUDGET.spent == 0


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


_LINE_START_ALIAS = re.compile(r"(?:^|[\s\[{,])\*[^\s,\[\]{}]", re.MULTILINE)  # the rule before it was sped up


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \n\t*[]{},a#'", max_size=12))
def test_may_alias_finds_an_alias_token_where_one_may_stand(text: str) -> None:
    # an alias at the start of the text or of a line, or after a space, `[`, `{` or `,`
    assert yamlio._may_alias(text) == (_LINE_START_ALIAS.search(text) is not None), repr(text)
