"""The hostile cases: each injects one piece of bad input into a copy of a small, clean repository.

Small seeds live in corpus/; anything large (100 MB files, deep nesting, binary noise) is generated here
at test time, so the repository never holds it. A case says which exit codes are acceptable (1: a finding,
2: a clean error) and which names should appear in the output, so a case cannot pass by failing elsewhere.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parent / "corpus"
CLUSTER = "synth-000"
APP = Path("apps/base/app-00000")
OTHER_APP = Path("apps/base/app-00001")
HUNDRED_MB = 100 * 1024 * 1024


@dataclass
class Case:
    name: str
    inject: Callable[[Path, Path], None]  # (repository copy, a directory outside it) -> None
    mentions: tuple[str, ...]  # at least one of these appears in the output (what a person must look at)
    exits: frozenset[int] = field(default_factory=lambda: frozenset({1, 2}))
    why: str = ""
    # The command the case targets (placeholders {out}, {cluster}: see test_hostile.command_line).
    command: tuple[str, ...] = ("check",)
    env: dict[str, str] = field(default_factory=dict)
    # For commands that write (fix, render --out, --base): checks what they left, instead of "unchanged".
    verify: Callable[[Path, Path], None] | None = None  # (repository copy, the test's directory)
    error_without_line: bool = False  # an exit-2 error about a command-line path (--out), not a repo file


def seed(name: str) -> str:
    return (CORPUS / name).read_text()


def add_resource(repo: Path, directory: Path, entry: str) -> None:
    """Append an entry to a kustomization's resources (kept as text: the file is ours and simple)."""
    path = repo / directory / "kustomization.yaml"
    document = yaml.safe_load(path.read_text())
    document.setdefault("resources", []).append(entry)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def put(repo: Path, relative: Path | str, content: str | bytes, referenced: bool = True) -> None:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    if referenced:
        add_resource(repo, Path(relative).parent, Path(relative).name)


def replace_kustomization(repo: Path, seed_name: str, extra: dict[str, str] | None = None) -> None:
    put(repo, APP / "kustomization.yaml", seed(seed_name), referenced=False)
    for name, content in (extra or {}).items():
        put(repo, APP / name, content, referenced=False)


def large_text_file(path: Path, size: int) -> None:
    """A valid YAML ConfigMap of `size` bytes, written in chunks (no 100 MB string in memory)."""
    line = "  k: " + "x" * 1000 + "\n"
    header = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: huge, namespace: agents}\ndata:\n  big: |\n"
    with path.open("w") as handle:
        handle.write(header)
        written = len(header)
        chunk = line * 1024
        while written < size:
            handle.write(chunk)
            written += len(chunk)


def deep_flow(depth: int) -> str:
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep, namespace: agents}\ndata:\n  x: " + (
        "[" * depth + "]" * depth + "\n"
    )


def deep_block(depth: int) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: deep, namespace: agents}", "nested:"]
    lines += ["  " * (level + 1) + f"k{level}:" for level in range(depth)]
    return "\n".join(lines) + " leaf\n"


def set_cluster_var(repo: Path, name: str, value: str) -> None:
    path = repo / "clusters" / CLUSTER / "cluster-vars.yaml"
    document = yaml.safe_load(path.read_text())
    document["data"][name] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def use_var_as_image(repo: Path, name: str) -> None:
    path = repo / APP / "deployment.yaml"
    text = path.read_text()
    image = yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]["image"]
    path.write_text(text.replace(f"image: {image}", "image: ${" + name + "}"))


def pwn_script(repo: Path, outside: Path, name: str = "pwn.sh") -> str:
    """An executable in the repository that leaves a marker outside it when run (it must never run)."""
    marker = outside / "pwned"
    path = repo / name
    path.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    path.chmod(0o755)
    return f"./{name}"


def set_config(repo: Path, extra: str) -> None:
    path = repo / ".mlplatform.yaml"
    path.write_text(path.read_text() + extra)


def flux_kustomization(name: str, path: str, extra_spec: str = "") -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata:\n  name: {name}\n  namespace: flux-system\n"
        "spec:\n  interval: 10m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
        f"  path: {path}\n  prune: true\n{extra_spec}"
    )


def add_flux_kustomization(repo: Path, name: str, path: str, extra_spec: str = "") -> None:
    put(repo, f"clusters/{CLUSTER}/{name}.yaml", flux_kustomization(name, path, extra_spec))


def plain_flux_path(repo: Path) -> Path:
    """A Flux path without kustomization.yaml (Flux generates one from the files under it)."""
    directory = repo / "apps/plain"
    directory.mkdir(parents=True)
    (directory / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain, namespace: agents}\ndata: {a: b}\n"
    )
    add_flux_kustomization(repo, "plain", "./apps/plain")
    return directory


# ---------------------------------------------------------------- the injections


def billion_laughs(repo: Path, outside: Path) -> None:
    put(repo, APP / "laughs.yaml", seed("billion-laughs.yaml"))


def billion_laughs_unreferenced(repo: Path, outside: Path) -> None:
    put(repo, "apps/base/stray/laughs.yaml", seed("billion-laughs.yaml"), referenced=False)


def merge_key_bomb(repo: Path, outside: Path) -> None:
    put(repo, APP / "merges.yaml", seed("merge-key-bomb.yaml"))


def kustomization_bomb(repo: Path, outside: Path) -> None:
    put(repo, APP / "kustomization.yaml", seed("billion-laughs.yaml"), referenced=False)


def pool_file_bomb(repo: Path, outside: Path) -> None:
    put(
        repo,
        f"terraform/environments/{CLUSTER}/node-pools.yaml",
        seed("billion-laughs.yaml"),
        referenced=False,
    )


def cluster_vars_bomb(repo: Path, outside: Path) -> None:
    put(repo, f"clusters/{CLUSTER}/cluster-vars.yaml", seed("billion-laughs.yaml"), referenced=False)


def config_bomb(repo: Path, outside: Path) -> None:
    put(repo, ".mlplatform.yaml", seed("billion-laughs.yaml"), referenced=False)


def deep_flow_referenced(repo: Path, outside: Path) -> None:
    put(repo, APP / "deep.yaml", deep_flow(100_000))


def deep_flow_unreferenced(repo: Path, outside: Path) -> None:
    put(repo, "apps/base/stray/deep.yaml", deep_flow(100_000), referenced=False)


def deep_block_referenced(repo: Path, outside: Path) -> None:
    put(repo, APP / "deep.yaml", deep_block(1_000))


def huge_file_unreferenced(repo: Path, outside: Path) -> None:
    (repo / "apps/base/stray").mkdir(parents=True)
    large_text_file(repo / "apps/base/stray/huge.yaml", HUNDRED_MB)


def huge_file_referenced(repo: Path, outside: Path) -> None:
    large_text_file(repo / APP / "huge.yaml", HUNDRED_MB)
    add_resource(repo, APP, "huge.yaml")


def binary_referenced(repo: Path, outside: Path) -> None:
    noise = random.Random(8).randbytes(64 * 1024)
    put(repo, APP / "blob.yaml", b"\x00\x01ELF" + noise)


def binary_unreferenced(repo: Path, outside: Path) -> None:
    put(
        repo,
        "apps/base/stray/image.yaml",
        b"\x89PNG\r\n\x1a\n\x00\x00" + random.Random(9).randbytes(4096),
        referenced=False,
    )


def invalid_utf8(repo: Path, outside: Path) -> None:
    path = repo / APP / "configmap.yaml"
    path.write_bytes(path.read_bytes().replace(b"LOG_LEVEL: info", b"LOG_LEVEL: \xff\xfe\xc3\x28"))


def nul_after_8k(repo: Path, outside: Path) -> None:
    padding = "#" + "p" * 9000 + "\n"
    put(
        repo,
        APP / "late-nul.yaml",
        padding + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nul, namespace: agents}\n"
        'data: {a: "x\x00y"}\n',
    )


def many_documents(repo: Path, outside: Path) -> None:
    put(repo, "apps/base/stray/many.yaml", "---\n" * 200_000, referenced=False)


def top_level_scalar(repo: Path, outside: Path) -> None:
    put(repo, APP / "configmap.yaml", "just a string, not an object\n", referenced=False)


def symlink_loop_referenced(repo: Path, outside: Path) -> None:
    (repo / APP / "loop-a.yaml").symlink_to("loop-b.yaml")
    (repo / APP / "loop-b.yaml").symlink_to("loop-a.yaml")
    add_resource(repo, APP, "loop-a.yaml")


def symlink_loop_in_cluster_folder(repo: Path, outside: Path) -> None:
    # cluster discovery reads clusters/ before hygiene: Path.resolve() raises RuntimeError on a loop there
    (repo / "clusters" / CLUSTER / "loop-a.yaml").symlink_to("loop-b.yaml")
    (repo / "clusters" / CLUSTER / "loop-b.yaml").symlink_to("loop-a.yaml")


def terraform_module_symlink_loop(repo: Path, outside: Path) -> None:
    modules = repo / "terraform" / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    (modules / "loopy").symlink_to("loopy2")
    (modules / "loopy2").symlink_to("loopy")
    main = repo / "terraform" / "environments" / CLUSTER / "main.tf"
    main.parent.mkdir(parents=True, exist_ok=True)
    with main.open("a") as handle:
        handle.write('\nmodule "loop" {\n  source = "../../modules/loopy"\n}\n')


def symlink_directory_loop(repo: Path, outside: Path) -> None:
    (repo / "apps/base/stray").mkdir(parents=True)
    (repo / "apps/base/stray/again").symlink_to("..")
    (repo / "apps/base/stray/self").symlink_to(".")


def symlink_out_of_repo(repo: Path, outside: Path) -> None:
    (repo / APP / "outside.yaml").symlink_to(outside / "configmap.yaml")
    add_resource(repo, APP, "outside.yaml")


def symlink_directory_out_of_repo(repo: Path, outside: Path) -> None:
    (repo / "apps/base/escape").symlink_to(outside)
    add_resource(repo, Path(f"apps/{CLUSTER}"), "../base/escape")


def symlink_to_dev_zero(repo: Path, outside: Path) -> None:
    (repo / "apps/base/stray").mkdir(parents=True)
    (repo / "apps/base/stray/zero.yaml").symlink_to("/dev/zero")


def fifo(repo: Path, outside: Path) -> None:
    (repo / "apps/base/stray").mkdir(parents=True)
    os.mkfifo(repo / "apps/base/stray/pipe.yaml")


def fifo_as_transformer_config(repo: Path, outside: Path) -> None:
    # kustomize reads a config named under transformers: a FIFO there would block it (and anything that
    # hashes the config for the build key) until a writer comes, which never happens
    os.mkfifo(repo / APP / "pipe.yaml")
    path = repo / APP / "kustomization.yaml"
    document = yaml.safe_load(path.read_text())
    document["transformers"] = ["pipe.yaml"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def newline_in_file_name(repo: Path, outside: Path) -> None:
    put(repo, "apps/base/stray/we\nird.yaml", "key: [unclosed\n", referenced=False)


def non_utf8_file_name(repo: Path, outside: Path) -> None:
    directory = repo / "apps/base/stray"
    directory.mkdir(parents=True)
    with open(os.path.join(os.fsencode(directory), b"bad-\xff-name.yaml"), "wb") as handle:
        handle.write(b"key: [unclosed\n")


def parent_escape(repo: Path, outside: Path) -> None:
    replace_kustomization(repo, "parent-escape.kustomization.yaml")


def kustomize_fields_escape(repo: Path, outside: Path) -> None:
    replace_kustomization(repo, "kustomize-fields-escape.kustomization.yaml")


def openapi_escape(repo: Path, outside: Path) -> None:
    replace_kustomization(repo, "openapi-escape.kustomization.yaml")


def remote_base(repo: Path, outside: Path) -> None:
    replace_kustomization(repo, "remote-base.kustomization.yaml")


def http_resource(repo: Path, outside: Path) -> None:
    replace_kustomization(repo, "http-resource.kustomization.yaml")


def helm_chart(repo: Path, outside: Path) -> None:
    replace_kustomization(repo, "helm-chart.kustomization.yaml")


def exec_plugin(repo: Path, outside: Path) -> None:
    marker = outside / "pwned"
    script = f"#!/bin/sh\ntouch {marker}\necho 'apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: pwned}}'\n"
    replace_kustomization(
        repo,
        "exec-plugin.kustomization.yaml",
        {"plugin.yaml": seed("exec-plugin.plugin.yaml"), "pwn.sh": script},
    )
    (repo / APP / "pwn.sh").chmod(0o755)


def self_cycle(repo: Path, outside: Path) -> None:
    replace_kustomization(repo, "self-cycle.kustomization.yaml")


def two_directory_cycle(repo: Path, outside: Path) -> None:
    add_resource(repo, APP, "../app-00001")
    add_resource(repo, OTHER_APP, "../app-00000")


def flux_path_escape(repo: Path, outside: Path) -> None:
    put(repo, f"clusters/{CLUSTER}/escape.yaml", seed("flux-path-escape.yaml"))


def flux_path_absolute(repo: Path, outside: Path) -> None:
    put(repo, f"clusters/{CLUSTER}/absolute.yaml", seed("flux-path-absolute.yaml"))


def flux_var_newline_yaml(repo: Path, outside: Path) -> None:
    # Flux drops newlines from values, so this becomes `image: busybox  evil: true` - not a valid scalar.
    set_cluster_var(repo, "evil_image", "busybox\n  evil: true")
    use_var_as_image(repo, "evil_image")


def flux_var_flow_mapping(repo: Path, outside: Path) -> None:
    # The value parses as a mapping after substitution: the image is no longer a string.
    set_cluster_var(repo, "evil_image", "{a: b}")
    use_var_as_image(repo, "evil_image")


def flux_var_document_separator(repo: Path, outside: Path) -> None:
    set_cluster_var(repo, "evil_image", "x\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: injected}")
    use_var_as_image(repo, "evil_image")


def flux_var_explicit_tag(repo: Path, outside: Path) -> None:
    # After substitution the scalar carries an explicit tag that PyYAML cannot convert (`!!int` of nothing).
    set_cluster_var(repo, "evil_image", "!!int")
    use_var_as_image(repo, "evil_image")


def explicit_tag_in_manifest(repo: Path, outside: Path) -> None:
    path = repo / APP / "scaledobject.yaml"
    path.write_text(path.read_text().replace("maxReplicaCount: 4", "maxReplicaCount: !!int"))


def max_int32_replicas(repo: Path, outside: Path) -> None:
    # Schema-valid (an int32) and absurd: planning must not iterate over two billion pods.
    path = repo / APP / "scaledobject.yaml"
    path.write_text(path.read_text().replace("maxReplicaCount: 4", "maxReplicaCount: 2147483647"))


def flux_var_unset(repo: Path, outside: Path) -> None:
    use_var_as_image(repo, "no_such_variable")


def huge_integer(repo: Path, outside: Path) -> None:
    path = repo / APP / "scaledobject.yaml"
    path.write_text(path.read_text().replace("maxReplicaCount: 4", "maxReplicaCount: " + "9" * 400))


# ---- code execution: the repository never chooses a program to run


def config_names_kustomize(repo: Path, outside: Path) -> None:
    set_config(repo, f"kustomize: {pwn_script(repo, outside)}\n")


def config_names_promtool(repo: Path, outside: Path) -> None:
    set_config(repo, f"promtool: {pwn_script(repo, outside)}\n")


def config_names_some_binary(repo: Path, outside: Path) -> None:
    set_config(repo, f"checkov_binary: {pwn_script(repo, outside)}\n")


def config_names_kubectl_absolute(repo: Path, outside: Path) -> None:
    set_config(repo, f"kubectl: {repo / pwn_script(repo, outside)}\n")


# ---- reads outside the repository


def flux_component_outside(repo: Path, outside: Path) -> None:
    component = outside / "component"
    component.mkdir()
    (component / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [../configmap.yaml]\n"
    )
    rel = os.path.relpath(component, repo / f"apps/{CLUSTER}")
    add_flux_kustomization(repo, "component-escape", f"./apps/{CLUSTER}",
                           f"  components:\n  - {rel}\n")


def flux_component_symlink_outside(repo: Path, outside: Path) -> None:
    component = outside / "component"
    component.mkdir()
    (component / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [../configmap.yaml]\n"
    )
    (repo / "apps/components").mkdir(parents=True)
    (repo / "apps/components/linked").symlink_to(component)
    add_flux_kustomization(repo, "component-link", f"./apps/{CLUSTER}",
                           "  components:\n  - ../components/linked\n")


def plain_path_symlink_outside(repo: Path, outside: Path) -> None:
    (plain_flux_path(repo) / "secret.yaml").symlink_to(outside / "configmap.yaml")


def plain_path_directory_symlink_outside(repo: Path, outside: Path) -> None:
    (plain_flux_path(repo) / "elsewhere").symlink_to(outside)


def plain_path_symlink_loop(repo: Path, outside: Path) -> None:
    directory = plain_flux_path(repo)
    (directory / "sub").mkdir()
    (directory / "sub/again").symlink_to("..")


# ---- resource exhaustion


def flux_component_alias_bomb(repo: Path, outside: Path) -> None:
    put(repo, "apps/components/bomb/kustomization.yaml", seed("billion-laughs.yaml"), referenced=False)
    add_flux_kustomization(repo, "component-bomb", f"./apps/{CLUSTER}",
                           "  components:\n  - ../components/bomb\n")


def plain_path_too_many_entries(repo: Path, outside: Path) -> None:
    directory = plain_flux_path(repo) / "many"
    directory.mkdir()
    for index in range(20_100):
        (directory / f"f{index}.txt").touch()


def config_jobs_too_many(repo: Path, outside: Path) -> None:
    set_config(repo, "jobs: 100000\n")


# ---- crashes: wrong types and impossible names become one line or a finding


def config_wrong_type_jobs(repo: Path, outside: Path) -> None:
    set_config(repo, "jobs: [1, 2]\n")


def config_wrong_type_strict(repo: Path, outside: Path) -> None:
    path = repo / ".mlplatform.yaml"
    path.write_text(path.read_text().replace("strict: true", "strict: {yes: please}"))


def config_nul_in_schema_location(repo: Path, outside: Path) -> None:
    set_config(repo, 'schema_locations: ["crd\\0schemas"]\n')


def policy_wrong_type_backoff(repo: Path, outside: Path) -> None:
    path = repo / "policies/workload-checks.yaml"
    path.write_text(path.read_text().replace("min_backoff_limit: 1", "min_backoff_limit: {one: 1}"))


def policy_not_a_mapping(repo: Path, outside: Path) -> None:
    (repo / "policies/gpu-sharing.yaml").write_text("- time_slicing_replicas\n- 42\n")


def policy_wrong_type_workload_types(repo: Path, outside: Path) -> None:
    path = repo / "policies/workload-pools.yaml"
    path.write_text(path.read_text().replace("    high_availability: true\n", "    high_availability: [yes]\n", 1))


def policy_symlink_outside(repo: Path, outside: Path) -> None:
    (outside / "policy.yaml").write_text("restart: {min_backoff_limit: 99}\n")
    path = repo / "policies/workload-checks.yaml"
    path.unlink()
    path.symlink_to(outside / "policy.yaml")


def config_symlink_outside(repo: Path, outside: Path) -> None:
    (outside / "settings.yaml").write_text("strict: false\n")
    path = repo / ".mlplatform.yaml"
    path.unlink()
    path.symlink_to(outside / "settings.yaml")


def flux_component_nul(repo: Path, outside: Path) -> None:
    add_flux_kustomization(repo, "component-nul", f"./apps/{CLUSTER}", '  components:\n  - "comp\\0nent"\n')


def flux_component_long_name(repo: Path, outside: Path) -> None:
    add_flux_kustomization(repo, "component-long", f"./apps/{CLUSTER}", "  components:\n  - " + "c" * 300 + "\n")



# ---------------------------------------------------------------- issue 16, round 2: the other commands

OUT_RENDER = ("render", "--cluster", "{cluster}", "--out", "{out}")
GPU_APP = Path("apps/base/app-00009")  # the production-inference app: its priority class is fixable


def git_commit_all(repo: Path) -> None:
    """The copy as a git repository with one commit (for --base)."""
    for args in (["init", "--quiet", "--initial-branch=main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def crlf_bom(text: str, final_newline: bool = True) -> bytes:
    body = text.replace("\n", "\r\n")
    return b"\xef\xbb\xbf" + (body if final_newline else body.rstrip("\r\n")).encode()


BAD_SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: 7svc\n  namespace: inference\nspec:\n  ports:\n  - port: 80\n"
)


def fixable_file_with_an_unfixable_neighbour(repo: Path, final_newline: bool) -> None:
    """app-00009's Deployment with a wrong priority class (fix changes it) and, in the same CRLF+BOM file, a
    Service whose name a cluster rejects (fix cannot change it: exit 1 with the file and line)."""
    path = repo / GPU_APP / "deployment.yaml"
    text = path.read_text().replace("priorityClassName: production-inference", "priorityClassName: batch")
    path.write_bytes(crlf_bom(text + "---\n" + BAD_SERVICE, final_newline))


def verify_fixed_bytes(final_newline: bool) -> Callable[[Path, Path], None]:
    def verify(repo: Path, sandbox: Path) -> None:
        data = (repo / GPU_APP / "deployment.yaml").read_bytes()
        assert data.startswith(b"\xef\xbb\xbf"), "the BOM was dropped"
        assert b"priorityClassName: production-inference\r\n" in data, "the fix was not applied"
        assert data.count(b"\n") == data.count(b"\r\n"), "a CRLF became LF"
        assert data.endswith(b"\r\n") == final_newline, "the final newline (or its absence) changed"
        assert b"  name: 7svc\r\n" in data  # the untouched document, byte for byte
    return verify


def fix_crlf_bom(repo: Path, outside: Path) -> None:
    fixable_file_with_an_unfixable_neighbour(repo, final_newline=True)


def fix_crlf_no_final_newline(repo: Path, outside: Path) -> None:
    fixable_file_with_an_unfixable_neighbour(repo, final_newline=False)


def render_out_name_collision_with_a_failed_build(repo: Path, outside: Path) -> None:
    """flux/system-apps and flux-system/apps both read "flux-system-apps"; the second one fails to build.
    What rendered is written (under names that cannot collide), the failure is a finding (exit 1)."""
    (repo / "apps/broken").mkdir(parents=True)
    (repo / "apps/broken/kustomization.yaml").write_text("resources: [no-such-file.yaml]\n")
    text = flux_kustomization("system-apps", "./apps/broken").replace("namespace: flux-system\n", "namespace: flux\n")
    text = text.replace("    name: flux-system\n", "    name: flux-system\n    namespace: flux-system\n")
    put(repo, f"clusters/{CLUSTER}/clash.yaml", text)


def verify_render_out_wrote_what_rendered(repo: Path, sandbox: Path) -> None:
    out = sandbox / "out"
    names = sorted(p.name for p in out.iterdir())
    assert "flux-system-apps.yaml" not in names, names  # the clashing readable name is not used by either
    apps = [n for n in names if n.startswith("flux-system-apps-")]
    assert len(apps) == 1 and "kind: Deployment" in (out / apps[0]).read_text(), names  # the good one


def render_out_foreign_file(repo: Path, outside: Path) -> None:
    """A file in the output directory that render did not write: refused, not overwritten (data loss)."""
    out = outside.parent / "out"
    out.mkdir()
    (out / "flux-system-apps.yaml").write_text("# my notes, not rendered output\n")


def verify_foreign_file_kept(repo: Path, sandbox: Path) -> None:
    out = sandbox / "out"
    assert (out / "flux-system-apps.yaml").read_text() == "# my notes, not rendered output\n"
    assert sorted(p.name for p in out.iterdir()) == ["flux-system-apps.yaml"], "something was written"


def render_out_symlink_to_outside(repo: Path, outside: Path) -> None:
    """An output file that is a symlink out of the output directory: never written through."""
    out = outside.parent / "out"
    out.mkdir()
    (out / "flux-system-apps.yaml").symlink_to(outside / "configmap.yaml")


def verify_symlink_untouched(repo: Path, sandbox: Path) -> None:
    assert (sandbox / "out" / "flux-system-apps.yaml").is_symlink()


def render_out_directory_is_a_symlink(repo: Path, outside: Path) -> None:
    (outside.parent / "out").symlink_to(outside)


def verify_nothing_in_out(repo: Path, sandbox: Path) -> None:
    assert (sandbox / "out").is_symlink()


def plan_base_broken_base(repo: Path, outside: Path) -> None:
    """A committed base whose pool file is not YAML: `plan --base` fails on it and removes its worktree."""
    pools = repo / f"terraform/environments/{CLUSTER}/node-pools.yaml"
    good = pools.read_text()
    pools.write_text("pools: [unclosed\n")
    git_commit_all(repo)
    pools.write_text(good)


def verify_no_worktree(repo: Path, sandbox: Path) -> None:
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True, check=True)
    assert len(listed.stdout.splitlines()) == 1, listed.stdout
    worktrees = repo / ".git" / "worktrees"
    assert not worktrees.exists() or not any(worktrees.iterdir())


def plan_base_option_injection(repo: Path, outside: Path) -> None:
    git_commit_all(repo)


def flux_var_value_bomb(repo: Path, outside: Path) -> None:
    """A 600 kB value used eight times: the substituted Deployment would be ~5 MB (limit 4 MiB)."""
    set_cluster_var(repo, "big_value", "x" * 600_000)
    path = repo / APP / "deployment.yaml"
    text = path.read_text()
    uses = "".join(f"        - --v{i}=${{big_value}}\n" for i in range(8))
    path.write_text(text.replace("        - --port=8080\n", uses + "        - --port=8080\n"))


def flux_var_alias_bomb(repo: Path, outside: Path) -> None:
    """A one-line flow mapping with anchors in a variable: an alias bomb only after substitution."""
    levels = ["a0: &a0 [x,x,x,x,x,x,x,x,x,x]"] + [
        f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)
    ]
    set_cluster_var(repo, "payload", "{" + ", ".join(levels) + "}")
    path = repo / APP / "configmap.yaml"
    path.write_text(path.read_text() + "---\napiVersion: v1\nkind: ConfigMap\n"
                    "metadata: {name: carrier, namespace: agents}\ndata: ${payload}\n")


def alias_bomb_spread_over_documents(repo: Path, outside: Path) -> None:
    """Twelve documents, each under the per-document alias limit, together over the per-file one."""
    levels = ["x0: &x0 [a,a,a,a,a,a,a,a,a,a]"] + [
        f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, 5)
    ]
    document = "\n".join(levels) + "\n"
    put(repo, APP / "spread.yaml", "---\n".join([document] * 12))


def nested_defaults(repo: Path, outside: Path) -> None:
    use_var_as_image(repo, "a:=" + "${a:=" * 400 + "img:1" + "}" * 400)


def depends_on_chain(repo: Path, outside: Path) -> None:
    """1,100 Flux Kustomizations, each dependsOn the next (Python's recursion limit is 1,000; kustomize
    itself takes seconds on a file of that many objects, so the chain is not longer)."""
    count = 1100
    documents = [
        flux_kustomization(f"chain-{i}", "./apps/chain-missing",
                           f"  dependsOn:\n  - name: chain-{i + 1}\n" if i + 1 < count else "")
        for i in range(count)
    ]
    put(repo, f"clusters/{CLUSTER}/chain.yaml", "---\n".join(documents))


def flux_path_nul(repo: Path, outside: Path) -> None:
    add_flux_kustomization(repo, "path-nul", '"./apps/\\0synth"')


def kustomization_entry_nul(repo: Path, outside: Path) -> None:
    add_resource(repo, APP, "deploy\0ment.yaml")


def flux_path_long_name(repo: Path, outside: Path) -> None:
    add_flux_kustomization(repo, "path-long", "./apps/" + "p" * 300)


def c_locale_non_utf8_name(repo: Path, outside: Path) -> None:
    non_utf8_file_name(repo, outside)


def service_name_dns1035(repo: Path, outside: Path) -> None:
    path = repo / APP / "service.yaml"
    path.write_text(path.read_text().replace("name: app-00000\n", "name: 0app\n", 1))


def object_name_too_long(repo: Path, outside: Path) -> None:
    put(repo, APP / "long-name.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + "n" * 300 + "\n  namespace: agents\ndata: {a: b}\n")


def configmap_generator_over_1mib(repo: Path, outside: Path) -> None:
    (repo / APP / "blob.txt").write_text("y" * (1024 * 1024 + 100))
    path = repo / APP / "kustomization.yaml"
    document = yaml.safe_load(path.read_text())
    document["configMapGenerator"] = [{"name": "blob", "files": ["blob.txt"]}]
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def flux_path_trailing_whitespace(repo: Path, outside: Path) -> None:
    add_flux_kustomization(repo, "path-space", '"./apps/synth-000 "')


CASES = [
    Case("billion-laughs", billion_laughs, ("laughs.yaml",)),
    Case("fifo-as-transformer-config", fifo_as_transformer_config, ("pipe.yaml",)),
    Case("billion-laughs-unreferenced", billion_laughs_unreferenced, ("laughs.yaml",)),
    Case("merge-key-bomb", merge_key_bomb, ("merges.yaml",)),
    Case("kustomization-bomb", kustomization_bomb, ("app-00000/kustomization.yaml",)),
    Case("pool-file-bomb", pool_file_bomb, ("node-pools.yaml",)),
    Case("cluster-vars-bomb", cluster_vars_bomb, ("cluster-vars.yaml",)),
    Case("config-bomb", config_bomb, (".mlplatform.yaml",)),
    Case("deep-flow-referenced", deep_flow_referenced, ("deep.yaml",)),
    Case("deep-flow-unreferenced", deep_flow_unreferenced, ("deep.yaml",)),
    Case("deep-block-referenced", deep_block_referenced, ("deep.yaml",)),
    Case("huge-file-unreferenced", huge_file_unreferenced, ("huge.yaml",)),
    Case("huge-file-referenced", huge_file_referenced, ("huge.yaml",)),
    Case("binary-referenced", binary_referenced, ("blob.yaml",)),
    Case("binary-unreferenced", binary_unreferenced, ("image.yaml",)),
    Case("invalid-utf8", invalid_utf8, ("configmap.yaml",)),
    Case("nul-after-8k", nul_after_8k, ("late-nul.yaml",)),
    Case(
        "many-empty-documents",
        many_documents,
        ("many.yaml",),
        frozenset({0, 1}),
        why="200,000 empty documents are odd but legal: fast, and at most a warning or a finding",
    ),
    Case("top-level-scalar", top_level_scalar, ("configmap.yaml",)),
    Case("symlink-loop-referenced", symlink_loop_referenced, ("loop-a.yaml",)),
    Case("symlink-loop-in-cluster-folder", symlink_loop_in_cluster_folder, ("loop-a.yaml",), frozenset({1})),
    Case("terraform-module-symlink-loop", terraform_module_symlink_loop, ("loopy",), frozenset({1})),
    Case(
        "symlink-directory-loop",
        symlink_directory_loop,
        ("stray",),
        frozenset({0, 1}),
        why="a directory symlink loop must not make the repository walk hang; reporting it is optional",
    ),
    Case("symlink-out-of-repo", symlink_out_of_repo, ("outside.yaml",)),
    Case("symlink-directory-out-of-repo", symlink_directory_out_of_repo, ("escape",)),
    Case("symlink-to-dev-zero", symlink_to_dev_zero, ("zero.yaml",)),
    Case("fifo", fifo, ("pipe.yaml",)),
    Case("newline-in-file-name", newline_in_file_name, ("ird.yaml",)),
    Case("non-utf8-file-name", non_utf8_file_name, ("-name.yaml",)),
    Case("parent-escape", parent_escape, ("passwd", "hostname", "app-00000")),
    Case("kustomize-fields-escape", kustomize_fields_escape, ("/etc/", "app-00000")),
    Case("openapi-escape", openapi_escape, ("/etc/passwd", "app-00000")),
    Case("remote-base", remote_base, ("github.com", "app-00000")),
    Case("http-resource", http_resource, ("169.254.169.254", "app-00000")),
    Case("helm-chart", helm_chart, ("helm", "app-00000")),
    Case("exec-plugin", exec_plugin, ("plugin", "app-00000")),
    Case("self-cycle", self_cycle, ("app-00000",)),
    Case("two-directory-cycle", two_directory_cycle, ("app-00000", "app-00001")),
    Case("flux-path-escape", flux_path_escape, ("escape.yaml", "../../etc")),
    Case("flux-path-absolute", flux_path_absolute, ("absolute.yaml",)),
    Case("flux-var-newline-yaml", flux_var_newline_yaml, ("deployment.yaml", "app-00000")),
    Case("flux-var-flow-mapping", flux_var_flow_mapping, ("deployment.yaml", "app-00000")),
    Case("flux-var-document-separator", flux_var_document_separator, ("deployment.yaml", "app-00000")),
    Case("flux-var-explicit-tag", flux_var_explicit_tag, ("deployment.yaml", "app-00000")),
    Case("explicit-tag-in-manifest", explicit_tag_in_manifest, ("scaledobject.yaml",)),
    Case("flux-var-unset", flux_var_unset, ("no_such_variable",)),
    Case("max-int32-replicas", max_int32_replicas, ("scaledobject.yaml", "app-00000")),
    Case("huge-integer", huge_integer, ("scaledobject.yaml", "app-00000")),
    # issue 16, code execution
    Case("config-names-kustomize", config_names_kustomize, (".mlplatform.yaml",), frozenset({1})),
    Case("config-names-promtool", config_names_promtool, (".mlplatform.yaml",), frozenset({1})),
    Case("config-names-some-binary", config_names_some_binary, (".mlplatform.yaml",), frozenset({1})),
    Case("config-names-kubectl-absolute", config_names_kubectl_absolute, (".mlplatform.yaml",), frozenset({1})),
    # issue 16, reads outside the repository
    Case("flux-component-outside", flux_component_outside, ("component-escape.yaml",), frozenset({1})),
    Case("flux-component-symlink-outside", flux_component_symlink_outside, ("component-link.yaml",),
         frozenset({1})),
    Case("plain-path-symlink-outside", plain_path_symlink_outside, ("secret.yaml",), frozenset({1})),
    Case("plain-path-directory-symlink-outside", plain_path_directory_symlink_outside, ("elsewhere",),
         frozenset({1})),
    Case("plain-path-symlink-loop", plain_path_symlink_loop, ("again",), frozenset({1})),
    # issue 16, resource exhaustion
    Case("flux-component-alias-bomb", flux_component_alias_bomb, ("bomb/kustomization.yaml",), frozenset({1})),
    Case("plain-path-too-many-entries", plain_path_too_many_entries, ("plain.yaml", "20000"), frozenset({1})),
    Case("config-jobs-too-many", config_jobs_too_many, (".mlplatform.yaml",), frozenset({1})),
    # issue 16, crashes
    Case("config-wrong-type-jobs", config_wrong_type_jobs, (".mlplatform.yaml",), frozenset({1})),
    Case("config-wrong-type-strict", config_wrong_type_strict, (".mlplatform.yaml",), frozenset({1})),
    Case("config-nul-in-schema-location", config_nul_in_schema_location, (".mlplatform.yaml",), frozenset({1})),
    Case("flux-component-nul", flux_component_nul, ("component-nul.yaml",), frozenset({1})),
    Case("policy-wrong-type-backoff", policy_wrong_type_backoff, ("workload-checks.yaml",), frozenset({1})),
    Case("policy-not-a-mapping", policy_not_a_mapping, ("gpu-sharing.yaml",), frozenset({1})),
    Case("policy-wrong-type-workload-types", policy_wrong_type_workload_types, ("workload-pools.yaml",),
         frozenset({1})),
    Case("policy-symlink-outside", policy_symlink_outside, ("workload-checks.yaml",), frozenset({1})),
    Case("config-symlink-outside", config_symlink_outside, (".mlplatform.yaml",), frozenset({1})),
    Case("flux-component-long-name", flux_component_long_name, ("component-long.yaml",), frozenset({1})),
    # issue 16, round 2: every class through the command it targets
    # code execution: the exec plugin of the first round, through the other commands that render
    Case("exec-plugin-render-out", exec_plugin, ("plugin", "app-00000"), frozenset({1}), command=OUT_RENDER),
    Case("exec-plugin-validate", exec_plugin, ("plugin", "app-00000"), frozenset({1}), command=("validate",)),
    Case("exec-plugin-fix", exec_plugin, ("plugin", "app-00000"), frozenset({1}), command=("fix",)),
    # reads outside the repository, through render --out, validate and fix
    Case("flux-path-escape-render-out", flux_path_escape, ("escape.yaml",), frozenset({1}), command=OUT_RENDER),
    Case("symlink-out-of-repo-validate", symlink_out_of_repo, ("outside.yaml",), frozenset({1}),
         command=("validate",)),
    Case("flux-component-outside-fix", flux_component_outside, ("component-escape.yaml",), frozenset({1}),
         command=("fix",)),
    # writes outside the repository and leftovers
    Case("render-out-symlink-to-outside", render_out_symlink_to_outside, ("refusing",), frozenset({2}),
         command=OUT_RENDER, verify=verify_symlink_untouched, error_without_line=True),
    Case("render-out-directory-is-a-symlink", render_out_directory_is_a_symlink, ("symlink",), frozenset({2}),
         command=OUT_RENDER, verify=verify_nothing_in_out, error_without_line=True),
    Case("plan-base-broken-base-leaves-no-worktree", plan_base_broken_base, ("node-pools.yaml",), frozenset({2}),
         command=("plan", "--base", "HEAD", "--time-limit", "0.2"), verify=verify_no_worktree),
    Case("plan-base-option-injection", plan_base_option_injection, ("not a git ref",), frozenset({2}),
         command=("plan", "--base", "--output=/tmp/x"), verify=verify_no_worktree, error_without_line=True),
    # resource exhaustion
    Case("flux-var-value-bomb", flux_var_value_bomb, ("deployment.yaml",), frozenset({1})),
    Case("flux-var-alias-bomb", flux_var_alias_bomb, ("configmap.yaml",), frozenset({1})),
    Case("alias-bomb-spread-over-documents", alias_bomb_spread_over_documents, ("spread.yaml",), frozenset({1})),
    Case("flux-var-value-bomb-render-out", flux_var_value_bomb, ("deployment.yaml",), frozenset({1}),
         command=OUT_RENDER, verify=lambda repo, sandbox: None),
    # crashes
    Case("nested-defaults", nested_defaults, ("deployment.yaml",), frozenset({1})),
    Case("depends-on-chain", depends_on_chain, ("chain.yaml",), frozenset({1})),
    Case("flux-path-nul", flux_path_nul, ("path-nul.yaml",), frozenset({1})),
    Case("flux-path-long-name", flux_path_long_name, ("path-long.yaml",), frozenset({1})),
    Case("kustomization-entry-nul", kustomization_entry_nul, ("app-00000/kustomization.yaml",), frozenset({1})),
    Case("c-locale-non-utf8-name", c_locale_non_utf8_name, ("-name.yaml",), frozenset({1}),
         env={"LC_ALL": "C", "LANG": "C"}),
    # data loss
    Case("fix-keeps-crlf-and-bom", fix_crlf_bom, ("deployment.yaml",), frozenset({1}), command=("fix",),
         verify=verify_fixed_bytes(final_newline=True)),
    Case("fix-keeps-missing-final-newline", fix_crlf_no_final_newline, ("deployment.yaml",), frozenset({1}),
         command=("fix",), verify=verify_fixed_bytes(final_newline=False)),
    Case("render-out-name-collision", render_out_name_collision_with_a_failed_build, ("broken/kustomization",),
         frozenset({1}), command=OUT_RENDER, verify=verify_render_out_wrote_what_rendered),
    Case("render-out-foreign-file", render_out_foreign_file, ("refusing to overwrite",), frozenset({2}),
         command=OUT_RENDER, verify=verify_foreign_file_kept, error_without_line=True),
    # silent acceptance of what a cluster rejects
    Case("service-name-dns1035", service_name_dns1035, ("service.yaml",), frozenset({1})),
    Case("object-name-too-long", object_name_too_long, ("long-name.yaml",), frozenset({1})),
    Case("configmap-generator-over-1mib", configmap_generator_over_1mib, ("app-00000/kustomization.yaml",),
         frozenset({1})),
    Case("flux-path-trailing-whitespace", flux_path_trailing_whitespace, ("path-space.yaml",), frozenset({1})),
    Case("object-name-validate", service_name_dns1035, ("service.yaml",), frozenset({1}), command=("validate",)),
]
