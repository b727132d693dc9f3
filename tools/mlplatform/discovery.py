"""Which Flux clusters a repository holds, found from what `flux bootstrap` writes, not from folder names.

`flux bootstrap --path=<P>` commits `<P>/<namespace>/gotk-sync.yaml`: a GitRepository and a Flux
Kustomization of the same name (`flux-system` by default), the Kustomization's `spec.path` being `./<P>`
and its sourceRef that GitRepository (fluxcd/flux2 pkg/manifestgen/sync/sync.go, Generate, v2.7).
The Kustomization applies the folder that holds its own file: that is what marks a cluster's root here,
whatever the names. The cluster is called after the last folder of `<P>` (the name
terraform/environments/<cluster> and the pool files use); two roots with the same last folder are
called by their whole path.

Repositories whose clusters were not bootstrapped by the CLI (the Kustomization is applied by Terraform
or by hand) still work: a folder of `clusters/` with no bootstrap Kustomization is a cluster root of that
name, as before.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .contain import safe_resolve
from .errors import InputError
from .yamlio import MAX_FILE_BYTES, load_documents, mapping

# A cheap test before parsing: only files naming a Flux Kustomization can hold a bootstrap sync.
_FLUX_KS = re.compile(r"kustomize\.toolkit\.fluxcd\.io/", re.MULTILINE)
MAX_FILES = 20_000  # the same bound as a contained walk (contain.MAX_WALK_ENTRIES)


@dataclass(frozen=True)
class ClusterRoot:
    """One Flux cluster: the folder its bootstrap Kustomization applies and where that is declared."""

    name: str
    path: str  # repository-relative POSIX folder ("." for the repository root)
    file: str | None = None  # the file of the bootstrap Kustomization (None: a clusters/<name> folder)
    line: int = 1
    source_kind: str = "GitRepository"
    source_namespace: str = "flux-system"
    source_name: str = "flux-system"


def _normal(path: str) -> str:
    text = (path or ".").strip().lstrip("/") or "."
    return os.path.normpath(text).replace(os.sep, "/")


def _yaml_files(repo: Path, top: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, names in os.walk(top):  # links to folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in sorted(names) if n.endswith((".yaml", ".yml"))]
        if len(found) > MAX_FILES:
            break
    return found


def _regular_text(path: Path) -> str | None:
    """The text of a regular file of bounded size; None for anything else. A FIFO, a device or /dev/zero
    behind a link would block or never end when read: they are never opened here (hygiene reports them)."""
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def bootstrap_roots(repo: Path, top: Path) -> list[ClusterRoot]:
    """The Flux Kustomizations at or below `top` that apply a folder holding their own file."""
    roots: list[ClusterRoot] = []
    repo_real = repo.resolve()
    for path in _yaml_files(repo, top):
        real = safe_resolve(path)  # None: a symlink loop (hygiene reports it)
        if real is None or not real.is_relative_to(repo_real):
            continue  # a link out of the repository: not read
        file = real.relative_to(repo_real).as_posix()
        text = _regular_text(path)
        if text is None or not _FLUX_KS.search(text):
            continue
        try:
            docs = load_documents(path)
        except (OSError, InputError):
            continue  # hygiene reports unreadable files
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict) or data.get("kind") != "Kustomization":
                continue
            if not str(data.get("apiVersion") or "").startswith("kustomize.toolkit.fluxcd.io/"):
                continue
            spec = mapping(data.get("spec"))
            meta = mapping(data.get("metadata"))
            source = mapping(spec.get("sourceRef"))
            if source.get("kind") != "GitRepository" or not isinstance(spec.get("path"), str):
                continue
            target = _normal(spec["path"])
            if target.startswith(".."):
                continue
            folder = os.path.dirname(file)
            if not (target == "." or folder == target or folder.startswith(target + "/")):
                continue
            namespace = str(meta.get("namespace") or "flux-system")
            roots.append(
                ClusterRoot(
                    name=Path(target).name if target != "." else repo_real.name,
                    path=target,
                    file=file,
                    # the sync path's line: what a person fixes when the cluster renders nothing
                    line=spec.line_of("path") if hasattr(spec, "line_of") else doc.line,
                    source_namespace=str(source.get("namespace") or namespace),
                    source_name=str(source.get("name") or ""),
                )
            )
    return roots


def discover_clusters(repo: Path, locations: list[str] | None = None) -> dict[str, ClusterRoot]:
    """{name: root} of every cluster found in `locations` (default: clusters/ when it exists, else the
    whole repository), plus the clusters/<name> folders no bootstrap Kustomization claims."""
    repo = repo.resolve()
    if locations:
        tops = [repo / _normal(loc) for loc in locations]
    else:
        tops = [repo / "clusters"] if (repo / "clusters").is_dir() else [repo]
    found: list[ClusterRoot] = []
    seen_paths: set[str] = set()
    for top in tops:
        if not top.is_dir():
            continue
        for root in bootstrap_roots(repo, top):
            if root.path not in seen_paths:
                seen_paths.add(root.path)
                found.append(root)
    legacy = repo / "clusters"
    if legacy.is_dir() and not locations:
        for folder in sorted(p for p in legacy.iterdir() if p.is_dir() and not p.name.startswith(".")):
            path = f"clusters/{folder.name}"
            if not any(path == p or path.startswith(p + "/") or p.startswith(path + "/") for p in seen_paths):
                seen_paths.add(path)
                found.append(ClusterRoot(name=folder.name, path=path))
    names: dict[str, int] = {}
    for root in found:
        names[root.name] = names.get(root.name, 0) + 1
    result: dict[str, ClusterRoot] = {}
    for root in found:
        name = root.name if names[root.name] == 1 else root.path
        result[name] = ClusterRoot(name, root.path, root.file, root.line, root.source_kind,
                                   root.source_namespace, root.source_name)
    return result


def clusters_below(repo: Path, directory: Path) -> dict[str, ClusterRoot]:
    """The clusters found at or below `directory` (`render --path`, as `flux-local build --path`): a
    bootstrap path itself, or a folder holding several clusters and the trees they point at."""
    repo = repo.resolve()
    resolved = safe_resolve(directory)
    if resolved is None:
        raise InputError(f"--path {directory} cannot be resolved (a symlink loop?)", str(directory), 1)
    directory = resolved
    try:
        relative = directory.relative_to(repo).as_posix()
    except ValueError as exc:
        raise InputError(f"--path {directory} is not inside the repository {repo}", str(directory), 1) from exc
    everything = discover_clusters(repo, [relative])
    if everything:
        return everything
    # a folder that is itself a sync path without the flux-system folder (bootstrapped elsewhere): a root
    return {directory.name: ClusterRoot(name=directory.name, path=_normal(relative))}
