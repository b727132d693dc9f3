"""Fuzzing the two parsers hostile text reaches first: YAML loading and Flux variable substitution.

The contract under fuzzing: bad input ends in the module's own error type (yaml.YAMLError / InputError for
YAML, SubstitutionError for substitution, an error *value* from substitute_text), never in another
exception, which the CLI would have to report as an internal error.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlplatform import substitute, yamlio
from mlplatform.errors import InputError

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of YAML syntax, so random text reaches deep into the parser instead of failing on the first byte.
YAML_PIECES = [
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    ",",
    "- ",
    "? ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!map ",
    "!!seq ",
    "!!null ",
    "!!bool ",
    "!!timestamp ",
    "!!python/object:os.system ",
    "!local ",
    "|",
    ">",
    "|-",
    ">+",
    "'",
    '"',
    "\\",
    "%YAML 1.1\n",
    "%TAG ! x\n",
    "---\n",
    "...\n",
    "#",
    "\n",
    "  ",
    "\t",
    "a",
    "key",
    "1",
    "0x1F",
    "1e400",
    "~",
    "null",
    "yes",
    "2026-11-27",
    "\ufeff",
    "\x00",
    "\x85",
    "\u2028",
    "\U0001f600",
    "\x1b",
    "=",
]
yaml_text = st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=3), max_size=60).map("".join)

# Pieces of Flux's envsubst syntax.
SUBST_PIECES = [
    "$",
    "$$",
    "${",
    "}",
    "{",
    "var",
    "VAR_2",
    "_",
    "x",
    ":",
    "=",
    ":=",
    "-",
    ":-",
    "+",
    ":+",
    "?",
    ":?",
    "#",
    "##",
    "%",
    "%%",
    "/",
    "//",
    "/#",
    "/%",
    "^",
    "^^",
    ",",
    ",,",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "*",
    "?",
    "[",
    "]",
    "[!a]",
    "\\",
    "\n",
    " ",
    "'",
    '"',
    ": ",
    "- ",
    "\x00",
    "\U0001f600",
]
subst_text = st.lists(st.sampled_from(SUBST_PIECES) | st.text(max_size=2), max_size=50).map("".join)
variables = st.dictionaries(
    st.sampled_from(["var", "VAR_2", "x", "_"]),
    st.text(max_size=8)
    | st.sampled_from(
        ["{a: b}", "x\n  evil: true", "*a", "&a", "!!int", "!!bool x", "!!float", "!!binary x"]
    ),
    max_size=4,
)


def loader() -> type:
    try:
        from mlplatform.render import PlainLoader

        return PlainLoader
    except ImportError:  # pragma: no cover - render.py is another issue's module
        return yaml.CSafeLoader


@FUZZ
@given(yaml_text)
@example("a: &a [*a]")  # a recursive alias
@example("<<: *a")  # an undefined alias in a merge
@example("!!binary 'not base64!'")
@example("{[1, 2]: x}")  # an unhashable key
@example("[" * 300 + "]" * 300)  # deeper than the limit
def test_yaml_documents_fail_only_with_yaml_errors(text: str) -> None:
    try:
        documents = list(yamlio.iter_documents(text))
    except yaml.YAMLError as exc:
        assert yamlio.error_line(exc) >= 1
        assert yamlio.error_message(exc)
        return
    for document in documents:
        assert document.line >= 1
        yamlio.plain(document.data)  # the loaded data converts to plain JSON-like values


@FUZZ
@given(st.binary(max_size=2000) | yaml_text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_yaml_files_fail_only_with_input_errors(tmp_path_factory, data: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "doc.yaml"
    path.write_bytes(data)
    try:
        yamlio.load_documents(path)
    except InputError as exc:
        assert exc.file == str(path)
        assert exc.line is None or exc.line >= 1
        assert "\n" not in str(exc).strip() or str(exc).count("\n") <= 2


@FUZZ
@given(subst_text, variables)
@example("${var:99999999999999999999}", {"var": "abc"})
@example("${var/[/x}", {"var": "a[b"})
@example("${var:-${var:-${var}}}", {})
@example("$${var}", {})
def test_envsubst_fails_only_with_substitution_errors(text: str, values: dict[str, str]) -> None:
    try:
        result = substitute.envsubst(text, values.get)
    except substitute.SubstitutionError as exc:
        assert 0 <= exc.offset <= len(text)
        assert exc.message
        return
    assert isinstance(result, str)
    if "$" not in text:
        assert result == text


@FUZZ
@given(subst_text, variables)
@example("${v}", {"v": "!!int"})  # a value that is an explicit YAML tag with nothing to convert
@example("${v}", {"v": "!!bool x"})
def test_substitute_text_reports_errors_as_values(text: str, values: dict[str, str]) -> None:
    document = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  value: " + text.replace(
        "\n", " "
    )
    result = substitute.substitute_text(document, substitute.Variables(values=dict(values)), loader())
    if result.error is not None:
        assert result.obj is None and result.line >= 1
    elif result.obj is not None:
        assert isinstance(result.obj, dict)
