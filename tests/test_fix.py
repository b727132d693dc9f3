"""`mlplatform fix`: fixes land in the source document only, keep every other byte, leave `check` clean."""

from __future__ import annotations

import difflib
import json
import re
import stat
from pathlib import Path

from helpers import run_cli
from mlplatform.fix import apply_fixes, fix_file, split_chunks
from mlplatform.model import Finding, ObjectRef, Severity
from mlplatform.yamlio import load_documents

MULTI_DOC = """\
# leading comment of the file
apiVersion: v1
kind: ConfigMap
metadata:
  name: first   # trailing comment
data: {a: "1"}
--- # separator with a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      # why this pod has no class yet
      priorityClassName: 'batch'
      tolerations:
        - {key: gpu, operator: Exists}
        - key: spot
          operator: Equal
          value: "true"
      containers:
        - name: web
          image: "registry.example.com/web:1.0"
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 80}]
"""


def _finding(fix: list[dict], line: int = 8, kind: str = "Deployment") -> Finding:
    return Finding(
        "policy/priority-class",
        Severity.ERROR,
        "m",
        cluster="production",
        file="apps/x.yaml",
        line=line,
        object=ObjectRef("apps/v1", kind, None, "web"),
        fix=fix,
    )


def test_split_chunks_round_trips():
    chunks = split_chunks(MULTI_DOC)
    assert "".join(c.text for c in chunks) == MULTI_DOC
    assert [c.first_line for c in chunks] == [1, 7, 25]


def test_fix_touches_only_the_target_document(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text(MULTI_DOC)
    fix = [
        {"op": "test", "path": "/spec/template/spec/priorityClassName", "value": "batch"},
        {"op": "replace", "path": "/spec/template/spec/priorityClassName", "value": "production-inference"},
        {"op": "remove", "path": "/spec/template/spec/tolerations/0"},
    ]
    new_text, applied, skipped = fix_file(path, [_finding(fix)])
    assert skipped == [] and len(applied) == 1
    expected = MULTI_DOC.replace("priorityClassName: 'batch'", "priorityClassName: 'production-inference'").replace(
        "        - {key: gpu, operator: Exists}\n", ""
    )
    assert new_text == expected  # comments, quoting, flow style and the other documents kept byte for byte


def test_a_mapping_added_to_a_list_of_flow_mappings_is_written_in_flow_style(tmp_path: Path):
    # a newcomer's one-line `- {key: gpu, ...}` toleration became a four-line block item amid one-line ones
    path = tmp_path / "x.yaml"
    path.write_text(MULTI_DOC)
    mig = {"key": "gpu", "operator": "Equal", "value": "mig", "effect": "NoSchedule"}
    add = [{"op": "add", "path": "/spec/template/spec/tolerations/-", "value": mig}]
    new_text, applied, _ = fix_file(path, [_finding(add)])
    assert len(applied) == 1 and new_text is not None
    one_line = "        - {key: gpu, operator: Equal, value: mig, effect: NoSchedule}\n"
    assert '          value: "true"\n' + one_line in new_text
    # a whole list for a list whose items are flow mappings: its items are flow mappings too
    base = "/spec/template/spec/tolerations"
    replace = [{"op": "replace", "path": base, "value": [mig]}]
    new_text, applied, _ = fix_file(path, [_finding(replace)])
    assert "      tolerations:\n        - {key: gpu, operator: Equal, value: mig, effect: NoSchedule}\n" in new_text
    # a container (a list of block mappings) stays in block style
    sidecar = [{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "log", "image": "x"}}]
    new_text, _, _ = fix_file(path, [_finding(sidecar)])
    assert "        - name: log\n          image: x\n" in new_text


_PRIORITY_FIX = [
    {"op": "test", "path": "/spec/template/spec/priorityClassName", "value": "batch"},
    {"op": "replace", "path": "/spec/template/spec/priorityClassName", "value": "production-inference"},
]
_EXPECTED_LF = MULTI_DOC.replace("priorityClassName: 'batch'", "priorityClassName: 'production-inference'")


def test_fix_keeps_crlf_in_the_edited_and_the_untouched_documents(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_bytes(MULTI_DOC.replace("\n", "\r\n").encode())
    new_text, applied, _ = fix_file(path, [_finding(_PRIORITY_FIX)])
    assert len(applied) == 1
    assert new_text == _EXPECTED_LF.replace("\n", "\r\n")  # every line, edited document included
    assert "\n" not in new_text.replace("\r\n", "")


def test_fix_keeps_the_bom_and_the_absent_final_newline(tmp_path: Path):
    path = tmp_path / "x.yaml"
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\n" \
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # a BOM, and no newline after the last line

    def rename(line: int, name: str) -> Finding:
        fix = [{"op": "replace", "path": "/metadata/name", "value": name + "-2"}]
        ref = ObjectRef("v1", "Service", None, name)
        return Finding("r", Severity.ERROR, "m", file="x.yaml", line=line, object=ref, fix=fix)

    # The first document (the BOM sits before it) and the last one (no final newline) are both edited.
    new_text, applied, _ = fix_file(path, [rename(1, "web"), rename(6, "api")])
    assert len(applied) == 2
    assert new_text == "\ufeff" + text.replace("name: web", "name: web-2").replace("name: api", "name: api-2")


def test_apply_fixes_writes_the_same_bytes_it_read_except_the_edit(tmp_path: Path):
    (tmp_path / "apps").mkdir()
    path = tmp_path / "apps" / "x.yaml"
    original = b"\xef\xbb\xbf" + MULTI_DOC.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    result = apply_fixes(tmp_path, [_finding(_PRIORITY_FIX)])
    assert list(result.changed_files) == ["apps/x.yaml"]
    assert path.read_bytes() == b"\xef\xbb\xbf" + _EXPECTED_LF.replace("\n", "\r\n").encode()


def test_fix_refuses_a_file_it_cannot_parse(tmp_path: Path):
    path = tmp_path / "x.yaml"
    broken = MULTI_DOC.replace("metadata:\n  name: web", "metadata:\n  name: [web")
    path.write_text(broken)
    fix = [{"op": "replace", "path": "/spec/template/spec/priorityClassName", "value": "x"}]
    new_text, applied, skipped = fix_file(path, [_finding(fix)])
    assert new_text is None and applied == []
    assert "refused" in skipped[0][1]


def test_a_fix_whose_test_fails_changes_nothing(tmp_path: Path):
    repo = tmp_path
    (repo / "apps").mkdir()
    path = repo / "apps" / "x.yaml"
    path.write_text(MULTI_DOC)
    path.chmod(0o640)
    stale = [
        {"op": "test", "path": "/spec/template/spec/priorityClassName", "value": "research"},
        {"op": "replace", "path": "/spec/template/spec/priorityClassName", "value": "x"},
    ]
    result = apply_fixes(repo, [_finding(stale)])
    assert result.applied == [] and "differs from the object Flux applies" in result.skipped[0][1]
    assert "<class" not in result.skipped[0][1] and "\n" not in result.skipped[0][1]  # no Python internals
    assert path.read_text() == MULTI_DOC
    good = [{"op": "replace", "path": "/spec/template/spec/priorityClassName", "value": "production-inference"}]
    result = apply_fixes(repo, [_finding(good)])
    assert list(result.changed_files) == ["apps/x.yaml"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # atomic replace keeps the file mode
    assert [p.name for p in (repo / "apps").iterdir()] == ["x.yaml"]  # no temporary file left behind


def test_fix_skips_a_document_of_another_kind(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text(MULTI_DOC)
    fix = [{"op": "add", "path": "/spec/replicas", "value": 2}]
    new_text, applied, skipped = fix_file(path, [_finding(fix, line=2)])
    assert new_text is None and "is not the Deployment" in skipped[0][1]


# ---------------------------------------------------------------- the repository: inject, fix, check


def _find_doc(repo: Path, predicate) -> Path:
    """The file under apps/ or infrastructure/ holding a matching document (found, not hard-coded)."""
    for path in sorted([*repo.glob("apps/**/*.yaml"), *repo.glob("infrastructure/**/*.yaml")]):
        for doc in load_documents(path):
            if isinstance(doc.data, dict) and predicate(doc.data):
                return path
    raise AssertionError("no document matches")


def _workload_type(obj: dict) -> str | None:
    text = json.dumps(obj)
    match = re.search(r'"mlplatform.example.com/workload-type": "([^"]+)"', text)
    return match.group(1) if match else None


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, (path, old)
    path.write_text(text.replace(old, new, count))


def _check(repo: Path, crd_schemas: Path) -> dict:
    proc = run_cli("check", "--repo", str(repo), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def test_fix_on_a_repo_copy_restores_the_files_and_check_is_clean(repo_copy: Path, repo_root: Path, crd_schemas):
    injected: dict[Path, str] = {}  # file -> the rule its injection violates

    # 1. A production inference Deployment loses its PriorityClass.
    path = _find_doc(
        repo_copy,
        lambda o: (
            o.get("kind") == "Deployment"
            and _workload_type(o) == "production-inference"
            and "priorityClassName" in json.dumps(o)
        ),
    )
    _edit(path, "priorityClassName: production-inference", "priorityClassName: batch")
    injected[path] = "policy/priority-class"
    # 2. A CPU-only mlops Deployment tolerates every GPU taint.
    path = _find_doc(
        repo_copy,
        lambda o: (
            o.get("kind") == "Deployment"
            and _workload_type(o) == "mlops"
            and "tolerations" not in json.dumps(o)
            and "nvidia.com" not in json.dumps(o)
        ),
    )
    text = path.read_text()
    indent = re.search(r"^( +)containers:$", text, re.M).group(1)
    _edit(
        path,
        f"\n{indent}containers:\n",
        f"\n{indent}tolerations:\n{indent}  - {{key: gpu, operator: Exists}}\n{indent}containers:\n",
    )
    injected[path] = "policy/cpu-tolerates-gpu-taint"
    # 3. A batch-inference server asks for two time-sliced GPUs and caps its memory too high: fix lowers the
    #    cap but never the GPU count (the program may need both GPUs); that finding stays, with its reason.
    path = _find_doc(
        repo_copy,
        lambda o: (
            o.get("kind") == "Deployment"
            and _workload_type(o) == "batch-inference"
            and "--cuda-memory-fraction=0.25" in json.dumps(o)
        ),
    )
    _edit(path, "nvidia.com/gpu: 1", "nvidia.com/gpu: 2", count=2)
    two_gpus = path.read_text()
    _edit(path, "--cuda-memory-fraction=0.25", "--cuda-memory-fraction=0.90")
    timesliced = path
    # 4. The spot training job would no longer be restarted after an interruption.
    path = _find_doc(repo_copy, lambda o: o.get("kind") == "PyTorchJob" and _workload_type(o) == "training-spot")
    _edit(path, "restartPolicy: OnFailure", "restartPolicy: Never")
    injected[path] = "policy/spot-restart"

    # 5. The GPU operator's DaemonSets lose their toleration for the `gpu` taint (the fix appends one).
    operator_path = _find_doc(
        repo_copy,
        lambda o: (
            o.get("kind") == "HelmRelease"
            and ((o.get("spec") or {}).get("chart") or {}).get("spec", {}).get("chart") == "gpu-operator"
        ),
    )
    text = operator_path.read_text()
    block = re.search(r"(?m)^(\s+)daemonsets:\n(?:\1 .*\n)*?\1  tolerations:\n((?:\1    .*\n)+)", text)
    assert block, "gpu-operator values have no daemonsets.tolerations list"
    items = block.group(2)
    gpu_item = re.search(r"(?m)^( +)- key: gpu\n\1  operator: Exists\n(?:\1  effect: .*\n)?", items)
    assert gpu_item, items
    operator_injected = text.replace(items, items.replace(gpu_item.group(0), ""), 1)
    operator_path.write_text(operator_injected)

    before_fix = {p: p.read_text() for p in injected}
    proc = run_cli("fix", "--repo", str(repo_copy))
    assert proc.returncode == 1, proc.stderr  # the two GPUs are left to a person
    [left] = [line for line in proc.stderr.splitlines() if ": not fixed: " in line]
    assert "policy/timeslice-multiple-gpus" in left and "never changed automatically" in left
    assert timesliced.read_text() == two_gpus  # memory cap fixed, both GPU counts still 2
    for path in injected:
        rel = path.relative_to(repo_copy)
        assert path.read_text() == (repo_root / rel).read_text(), f"{rel} differs from the original after fix"
        assert before_fix[path] != path.read_text()
    # The appended toleration is the only change to the operator's file.
    changes = [
        line
        for line in difflib.unified_diff(
            operator_injected.splitlines(), operator_path.read_text().splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changes and all(line.startswith("+") for line in changes), changes
    assert "key: gpu" in "".join(changes) and "operator: Exists" in "".join(changes)
    # Nothing else changed anywhere in the copy.
    for path in repo_copy.rglob("*"):
        if ".mlplatform-cache" in path.relative_to(repo_copy).parts:
            continue  # the build cache check keeps between runs (buildcache.py), not repository content
        if path.is_file() and path not in injected and path not in (operator_path, timesliced):
            assert path.read_bytes() == (repo_root / path.relative_to(repo_copy)).read_bytes(), path

    after = _check(repo_copy, crd_schemas)
    fixed_rules = set(injected.values()) | {"policy/gpu-memory-uncapped", "policy/gpu-daemonset-coverage"}
    assert [f for f in after["findings"] if f["rule"] in fixed_rules] == []
    assert {f["rule"] for f in after["findings"] if f["severity"] == "error"} == {"policy/timeslice-multiple-gpus"}


# ---------------------------------------------------------------- fixes that keep the workload working

VLLM = "apps/base/inference/vllm/deployment.yaml"
MIG_TOLERATION = "        - {key: gpu, operator: Equal, value: mig, effect: NoSchedule}\n"


def test_fix_adds_the_missing_toleration_of_the_type_pool_and_keeps_comments(repo_copy: Path, repo_root: Path):
    path = repo_copy / VLLM
    original = path.read_text()
    # the toleration is gone; a comment a person wrote stays where it is
    injected = original.replace("      tolerations:\n" + MIG_TOLERATION,
                                "      # production inference runs on the MIG pool only\n      tolerations: []\n")
    assert injected != original
    path.write_text(injected)
    proc = run_cli("fix", "--repo", str(repo_copy))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "fixed 1 of 1 policy-rule finding(s) in 1 file(s); 0 not fixed; `mlplatform check` reports the other checks"
    )
    fixed = path.read_text()
    assert "      # production inference runs on the MIG pool only\n" in fixed
    added = [line[1:] for line in difflib.unified_diff(injected.splitlines(), fixed.splitlines(), lineterm="", n=0)
             if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in difflib.unified_diff(injected.splitlines(), fixed.splitlines(), lineterm="", n=0)
               if line.startswith("-") and not line.startswith("---")]
    assert removed == ["-      tolerations: []"]  # the empty flow list becomes the block list holding the toleration
    assert "".join(added).replace(" ", "") == "tolerations:-key:gpuoperator:Equalvalue:migeffect:NoSchedule"
    assert run_cli("check", "--repo", str(repo_copy), "--format", "json").returncode == 0


def test_fix_never_changes_a_gpu_count_and_says_why_in_one_line(repo_copy: Path):
    path = repo_copy / "apps/base/inference/vllm-batch/cronjob.yaml"
    text = path.read_text()
    text = text.replace("nvidia.com/gpu: 1", "nvidia.com/gpu: 2", 2).replace(
        "                  --gpu-memory-utilization 0.25\n",
        "                  --gpu-memory-utilization 0.25\n                  --tensor-parallel-size=2\n", 1)
    path.write_text(text)
    proc = run_cli("fix", "--repo", str(repo_copy))
    assert proc.returncode == 1  # an error is left
    assert path.read_text() == text  # both counts still 2, nothing else touched
    lines = proc.stderr.splitlines()
    not_fixed = [line for line in lines if ": not fixed: " in line]
    assert len(not_fixed) == 1
    assert not_fixed[0].startswith("apps/base/inference/vllm-batch/cronjob.yaml:")
    assert "timeslice-multiple-gpus [production, staging]" in not_fixed[0]
    assert "never changed automatically" in not_fixed[0] and "tensor" in not_fixed[0]
    assert lines[-1] == (  # 0 + 1 = 1
        "fixed 0 of 1 policy-rule finding(s) in 0 file(s); 1 not fixed (why: above); "
        "`mlplatform check` reports the other checks"
    )


def test_every_finding_fix_leaves_has_a_one_line_reason_without_python_internals(tmp_path: Path):
    repo = tmp_path
    (repo / "apps").mkdir()
    path = repo / "apps" / "x.yaml"
    path.write_text(MULTI_DOC)
    stale = [{"op": "test", "path": "/spec/template/spec/priorityClassName", "value": "research"},
             {"op": "replace", "path": "/spec/template/spec/priorityClassName", "value": "x"}]
    wrong_doc = [{"op": "add", "path": "/spec/replicas", "value": 2}]
    unfixable = Finding("policy/ha-pdb", Severity.ERROR, "m", "production", "apps/x.yaml", 8,
                        ObjectRef("apps/v1", "Deployment", None, "web"))
    noted = Finding("policy/fits-no-pool", Severity.ERROR, "m", "production", "apps/x.yaml", 8,
                    ObjectRef("apps/v1", "Deployment", None, "web"), fix_note="set the workload type first")
    outside = Finding("policy/priority-class", Severity.ERROR, "m", "production", "../elsewhere.yaml", 1,
                      ObjectRef("apps/v1", "Deployment", None, "web"), fix=wrong_doc)
    findings = [_finding(stale), _finding(wrong_doc, line=2), unfixable, noted, outside]
    result = apply_fixes(repo, findings)
    assert len(result.applied) + len(result.skipped) == len(findings)
    reasons = dict((id(f), why) for f, why in result.skipped)
    assert reasons[id(noted)] == "set the workload type first"
    assert "ha-pdb has no automatic fix" in reasons[id(unfixable)]
    for why in reasons.values():
        assert why and "\n" not in why and "<class" not in why and "Error" not in why and "Traceback" not in why
