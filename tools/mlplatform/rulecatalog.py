"""The rule catalog: every finding id any part of the tool can emit, declared once.

One id style: `category/kebab-name`. The policy rules keep their metadata in their own module
(rules/<name>.py: ID, TITLE, SEVERITY, RATIONALE, FIXABLE, optional REMEDIATION and PARAMETERS) and are
collected from there, so adding a policy rule touches its module and its fixtures only; the pool-file rules
come from pool_rules.RULES; everything else (render, flux, yaml, schema, capacity, promtool, gen, terraform)
is declared in the table below, next to nothing else, so an emitter imports its id from here.

What the catalog feeds: SARIF `tool.driver.rules`, `mlplatform rules`, docs/rules.md (generated and
drift-checked), and the exemption / severity-override / disable layer (suppress.py). A finding whose id is
not here is a programming error; tests/test_rulecatalog.py catches it, users never see it.

Exemption annotations: Kubernetes allows one `/` in an annotation key, so the key
`mlplatform.example.com/exempt-<name>` uses the part after the category; the catalog refuses two ids with
the same name (NAMES below), so the key names one rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .model import Severity

EXEMPT_PREFIX = "mlplatform.example.com/exempt-"
DOCS_PAGE = "docs/rules.md"
# Where SARIF's helpUri points: the generated page, one anchor per id (anchor() below).
HELP_BASE = "https://mlplatform.example.com/docs/rules.md"  # the repository publishes no other URL

# The categories in the order `mlplatform rules` lists them, with what each covers.
CATEGORIES: dict[str, str] = {
    "config": "the tool's settings in .mlplatform.yaml",
    "input": "repository files a command needs but cannot use",
    "yaml": "repository files that cannot be read as YAML (found before anything renders)",
    "render": "kustomize builds of each cluster",
    "flux": "the Flux graph: sources, paths, dependencies, substitution",
    "admission": "what the API server rejects whatever the schema says (names, sizes)",
    "helm": "HelmReleases rendered with the pinned helm as helm-controller installs them",
    "schema": "rendered objects against the Kubernetes and CRD schemas",
    "pool": "the node pool file (terraform/environments/<cluster>/node-pools.yaml)",
    "policy": "the policy rules (policies/*.yaml) on rendered objects, pools and Terraform",
    "capacity": "the capacity fit of the workloads into the pools",
    "promtool": "PrometheusRules checked and unit-tested by the real promtool",
    "gen": "files generated from the pool file",
    "terraform": "Terraform read by the cross-layer rules",
}


@dataclass(frozen=True)
class Parameter:
    """A rule parameter read from policies/*.yaml (file and key), with its type and default."""

    name: str
    type: str
    default: Any
    file: str = ""
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "file": self.file,
                "description": self.description}


@dataclass(frozen=True)
class RuleSpec:
    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    # None: the rule can be exempted; else why not (shown by `mlplatform rules` and docs/rules.md).
    not_exemptable: str | None = None
    fixable: bool = False
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        """The part after the category: what exemption annotations and fixture directories key on."""
        return self.id.split("/", 1)[1]

    @property
    def exemptable(self) -> bool:
        return self.not_exemptable is None

    @property
    def annotation(self) -> str:
        return EXEMPT_PREFIX + self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "title": self.title,
            "severity": self.severity.value,
            "description": self.rationale,
            "remediation": self.remediation,
            "fixable": self.fixable,
            "exemptable": self.exemptable,
            "not_exemptable_because": self.not_exemptable,
            "exemption": self.annotation if self.exemptable else None,
            "parameters": [p.to_json() for p in self.parameters],
            "help_uri": help_uri(self.id),
        }


def anchor(rule_id: str) -> str:
    """The Markdown heading anchor of a rule in docs/rules.md (GitHub style: lower case, `/` dropped)."""
    return rule_id.replace("/", "").lower()


def help_uri(rule_id: str) -> str:
    return f"{HELP_BASE}#{anchor(rule_id)}"


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO
# Reasons shared by several ids (kept short: shown per rule).
_UNREAD = ("the file was not read, so nothing in it was checked; an exemption would hide a blind spot, not "
           "a judgement")
_IN_SETTINGS = ("the fault is in .mlplatform.yaml, the file that holds exemptions: correct the setting instead of "
                "exempting it")
_UNRENDERED = "the cluster (or part of it) was not rendered; every later check is blind until this is fixed"

# Everything that is not a policy rule module or a pool-file rule. Kept in category order.
_DECLARED: tuple[RuleSpec, ...] = (
    # ---- config (config.py: .mlplatform.yaml is repository content, so each problem is a finding)
    RuleSpec("config/unknown-key", "Unknown setting in .mlplatform.yaml", _E,
             "A misspelt setting silently does nothing; every key the file may hold is declared in config.py.",
             "Correct the key (the message suggests the closest known one) or remove it.", _IN_SETTINGS),
    RuleSpec("config/invalid-value", "Setting with a wrong type or range", _E,
             "A setting of the wrong type or range would crash or mislead the tool; it keeps its default.",
             "Give the setting a value of the type the message names.", _IN_SETTINGS),
    RuleSpec("config/exemption-unused", "Exemption that matches no finding", _W,
             "An entry of rules.exemptions whose rule, file glob or object matches nothing is most often a "
             "misspelt path; left in place it would silently hide the next fault it happens to match.",
             "Correct the entry's file glob or object, or remove the entry.", _IN_SETTINGS),
    RuleSpec("config/names-a-binary", "Setting names a program to run", _E,
             "A pull request controls .mlplatform.yaml; a setting that names a binary would let it run code in "
             "CI (docs/security.md). Binaries come from the set-up, PATH or environment variables CI sets.",
             "Remove the setting; set the binary with the environment variable the message names.",
             "a repository that may name binaries to run is the threat docs/security.md excludes"),
    RuleSpec("config/settings-unreadable", ".mlplatform.yaml cannot be read", _E,
             "The settings file does not parse or is not a mapping; every setting keeps its default.",
             "Fix the file at the line shown.", _UNREAD),
    # ---- input (cli/check_cmd.py)
    RuleSpec("input/unusable-file", "Repository file the command cannot use", _E,
             "A file the command needs is broken in a way no more specific check reports; the command still "
             "writes every report so the finding reaches the pull request.",
             "Fix the file at the line shown.", _UNREAD),
    # ---- yaml (hygiene.py, render.yaml_rule)
    RuleSpec("yaml/syntax", "YAML syntax error", _E,
             "The file does not parse as YAML; kustomize and Flux would refuse it.",
             "Fix the YAML at the line shown (indentation, quoting, a stray tab).", _UNREAD),
    RuleSpec("yaml/duplicate-key", "Duplicate mapping key", _E,
             "YAML parsers disagree on duplicate keys (the last wins in most, kustomize errors): what is "
             "applied may not be what a reviewer read.",
             "Remove one of the duplicate keys.", _UNREAD),
    RuleSpec("yaml/limit", "YAML beyond the parser's safety limits", _E,
             "Alias expansion, nesting depth or unhashable keys past the limits that protect the tool and "
             "kustomize from a file that costs minutes and gigabytes to parse.",
             "Write the document without deep aliases or nesting.", _UNREAD),
    RuleSpec("yaml/encoding", "File is not UTF-8", _E,
             "Kubernetes manifests are UTF-8; another encoding is read differently by each tool.",
             "Save the file as UTF-8.", _UNREAD),
    RuleSpec("yaml/binary", "Binary file where YAML is expected", _E,
             "A .yaml file with binary content is not a manifest.",
             "Remove the file or replace it with YAML.", _UNREAD),
    RuleSpec("yaml/too-large", "YAML file too large", _E,
             "Files past the size limit are not read (a manifest that large is a mistake or an attack).",
             "Split the file or remove generated content.", _UNREAD),
    RuleSpec("yaml/unreadable", "File cannot be read", _E,
             "The file cannot be opened (permissions, not a regular file, symlink loop).",
             "Make the file a readable regular file.", _UNREAD),
    RuleSpec("yaml/empty-document", "Empty YAML document", _W,
             "An empty document between `---` separators is usually a leftover of an edit. A file with many "
             "lists the first 21 and counts the rest in the last finding.",
             "Remove the empty document."),
    RuleSpec("yaml/not-an-object", "Document is not a Kubernetes object", _E,
             "A document in a manifest directory that is not a mapping with apiVersion and kind is refused "
             "by kustomize.",
             "Give the document apiVersion, kind and metadata, or move it out of the manifests."),
    RuleSpec("yaml/symlink-loop", "Symlink loop", _E,
             "A symlink that resolves to itself cannot be read by git checkouts or kustomize.",
             "Remove or repoint the symlink.", _UNREAD),
    RuleSpec("yaml/symlink-outside-repository", "Symlink leaves the repository", _E,
             "A symlink out of the repository would make the render depend on the machine it runs on.",
             "Copy the target into the repository or remove the symlink."),
    # ---- render (render.py, cluster_render.py)
    RuleSpec("render/kustomize-error", "kustomize build failed", _E,
             "The real kustomize refused the build; Flux would refuse it the same way.",
             "Run `kustomize build` on the directory shown and fix what it reports.", _UNRENDERED),
    RuleSpec("render/kustomize-limit", "kustomize build exceeded its limits", _E,
             "The build ran past the time or memory limit the tool gives kustomize.",
             "Look for a generator or reference loop that makes the build explode.", _UNRENDERED),
    RuleSpec("render/invalid-output", "kustomize output cannot be read", _E,
             "An object in kustomize's output is not valid YAML for the tool.",
             "Look for a patch or generator that produces the broken object.", _UNRENDERED),
    RuleSpec("render/invalid-kustomization", "Invalid kustomization.yaml", _E,
             "A kustomization.yaml with a wrong shape (a field of the wrong type) is refused by kustomize.",
             "Fix the field shown; see the kustomize reference for its type."),
    RuleSpec("render/missing-kustomization", "Directory without kustomization.yaml", _E,
             "kustomize can only build a directory that has a kustomization.yaml.",
             "Add a kustomization.yaml or point the reference at a file."),
    RuleSpec("render/missing-reference", "Reference to a missing file", _E,
             "A resource, component or patch named by a kustomization does not exist.",
             "Fix the path or add the file."),
    RuleSpec("render/outside-repository", "Reference outside the repository", _E,
             "A kustomization referencing files outside the repository renders differently on each machine "
             "(Flux sees only the repository).",
             "Vendor the files into the repository."),
    RuleSpec("render/remote-reference", "Remote kustomize reference", _E,
             "Rendering is offline and pinned: a remote base can change under the repository.",
             "Vendor the remote base into the repository at a pinned version."),
    RuleSpec("render/unreadable-input", "kustomize input cannot be read", _E,
             "A file kustomize would read is not readable YAML, or a resource document is not a mapping (prose, a "
             "list); it is refused before kustomize runs. When the file's own yaml/* finding reports it, this one "
             "is folded into that finding, which names the kustomization entry (one finding per mistake).",
             "Fix the file named in the message."),
    RuleSpec("render/helm-in-kustomize", "Helm chart inflation in kustomize", _E,
             "helmCharts in a kustomization needs network and a helm binary at build time; Flux HelmReleases "
             "are how this repository installs charts.",
             "Use a HelmRelease instead of helmCharts."),
    RuleSpec("render/unsupported-field", "Flux field the offline render does not reproduce", _I,
             "Some Flux Kustomization fields (e.g. components from another source) are not reproduced by "
             "the offline render; what they change is not checked.",
             "Nothing to do if intended; otherwise move the content into the repository."),
    # ---- flux (flux.py, cluster_render.py, substitute.py)
    RuleSpec("flux/source-missing", "Flux source does not exist", _E,
             "A Kustomization whose sourceRef names no GitRepository/OCIRepository is never applied.",
             "Create the source or fix sourceRef."),
    RuleSpec("flux/path-missing", "Flux path does not exist", _E,
             "A Kustomization whose spec.path does not exist in its source fails to build.",
             "Fix spec.path."),
    RuleSpec("flux/cluster-empty", "Cluster renders no object", _E,
             "Flux would apply nothing: a wrong sync path of the bootstrap Kustomization or an empty tree. A "
             "check of nothing must not pass in silence.",
             "Point the cluster's Flux bootstrap Kustomization at the folder holding its kustomization.yaml.",
             _UNRENDERED),
    RuleSpec("flux/decryption-missing", "Encrypted Secret without decryption", _E,
             "kustomize-controller applies a SOPS-encrypted Secret only when the Kustomization sets "
             "spec.decryption; without it the apply fails.",
             "Add spec.decryption (provider sops and the key's secretRef) to the Kustomization."),
    RuleSpec("flux/crd-unknown", "HelmRelease whose CRDs are unknown", _I,
             "A custom resource may get its CRD from a HelmRelease whose chart is not rendered here; whether it "
             "does cannot be proven offline.",
             "Declare the CRDs the release installs in .mlplatform.yaml helm_crds, or make its chart available "
             "locally so it renders."),
    RuleSpec("flux/path-invalid", "Flux path kustomize-controller cannot use", _E,
             "A spec.path with a NUL byte, a segment over 255 bytes or leading/trailing whitespace names no "
             "directory the controller can open; it is not built.",
             "Write spec.path as the directory's path, without surrounding whitespace."),
    RuleSpec("flux/path-outside-repository", "Flux path outside the repository", _E,
             "spec.path must stay inside the source; kustomize-controller refuses paths that leave it.",
             "Fix spec.path."),
    RuleSpec("flux/depends-on-missing", "dependsOn names no Kustomization", _E,
             "kustomize-controller waits forever for a dependency that does not exist.",
             "Fix or remove the dependsOn entry."),
    RuleSpec("flux/dependency-cycle", "Flux dependency cycle", _E,
             "Kustomizations that depend on each other in a cycle are never applied.",
             "Break the cycle in dependsOn."),
    RuleSpec("flux/crd-not-installed-first", "CRD not installed before its objects", _E,
             "An object whose CRD is applied by a Kustomization it does not depend on fails on a fresh "
             "cluster (no such kind) until the other happens to finish first.",
             "Add a dependsOn on the Kustomization that installs the CRD."),
    RuleSpec("flux/duplicate-object", "Object applied by two Kustomizations", _W,
             "Two Kustomizations applying the same object fight over it (each reconcile overwrites).",
             "Keep the object in one Kustomization."),
    RuleSpec("flux/not-applied", "Directory not applied by any Kustomization", _W,
             "Manifests under clusters/ that no Flux Kustomization applies never reach the cluster.",
             "Add the directory to a Kustomization or remove it."),
    RuleSpec("flux/external-source", "Kustomization reads another repository", _I,
             "Objects from another repository are not rendered offline; they are not checked here.",
             "Nothing to do if intended; check that repository with its own CI."),
    RuleSpec("flux/discovery-too-deep", "Flux Kustomizations nested too deep", _E,
             "Discovery of Kustomizations that apply Kustomizations stops at a depth limit.",
             "Flatten the Kustomization tree."),
    RuleSpec("flux/substitution-not-enabled", "Variable without postBuild substitution", _W,
             "A ${VAR} in a Kustomization without postBuild.substitute is applied literally.",
             "Enable postBuild substitution on the Kustomization, or escape the text."),
    RuleSpec("flux/substitute-unset", "Substituted variable has no value", _E,
             "With strict substitution (which this repository enables) an unset variable fails the apply.",
             "Define the variable in postBuild.substitute(From) or give it a default."),
    RuleSpec("flux/substitute-invalid", "Invalid substitution expression", _E,
             "kustomize-controller refuses a malformed ${...} expression.",
             "Fix the expression (see Flux post-build variable substitution)."),
    RuleSpec("flux/substitute-invalid-name", "Invalid substitution variable name", _E,
             "Variable names must match ^[_a-zA-Z][_a-zA-Z0-9]*$ for kustomize-controller.",
             "Rename the variable."),
    RuleSpec("flux/substitute-from-invalid", "Invalid substituteFrom entry", _E,
             "substituteFrom entries need kind ConfigMap or Secret and a name.",
             "Fix the entry."),
    RuleSpec("flux/substitute-from-missing", "substituteFrom names a missing ConfigMap", _E,
             "A non-optional substituteFrom source that does not exist fails the apply.",
             "Create the ConfigMap, fix the name, or mark it optional."),
    RuleSpec("flux/substitute-from-secret", "substituteFrom reads a Secret", _I,
             "Secret values are not in the repository, so their variables cannot be checked offline.",
             "Nothing to do; the variables are assumed set."),
    # ---- helm (helm.py, helm_cluster.py): docs/architecture.md "Helm rendering"
    RuleSpec("helm/chart-unavailable", "HelmRelease chart not available offline", _I,
             "The chart is neither in this repository nor in the chart cache, so its objects are not validated "
             "and its DaemonSets are missing from the capacity overhead.",
             "Run `mlplatform charts pull` where the network allows it, or vendor the chart."),
    RuleSpec("helm/helm-missing", "helm not found", _I,
             "Without the pinned helm no HelmRelease renders; the set-up installs it (scripts/ensure-helm.sh).",
             "Run `make setup`, or set MLPLATFORM_HELM."),
    RuleSpec("helm/values-from-missing", "valuesFrom names nothing the cluster renders", _E,
             "helm-controller fails the release when a non-optional valuesFrom ConfigMap or Secret does not exist.",
             "Add the ConfigMap/Secret to the Kustomization, fix its name, or mark the reference optional."),
    RuleSpec("helm/values-invalid", "HelmRelease values cannot be composed", _E,
             "values, valuesFrom or a targetPath that helm-controller cannot merge fails the release.",
             "Fix the value at the line shown."),
    RuleSpec("helm/template-failed", "helm template fails", _E,
             "The chart does not render with these values (a required value, a schema in values.schema.json, a "
             "template error): helm-controller fails the install the same way.",
             "Fix the values the message names."),
    RuleSpec("helm/post-render-failed", "HelmRelease post-renderer fails", _E,
             "The kustomize post-renderer does not apply to the chart's output; the release fails.",
             "Fix the patch targets of spec.postRenderers."),
    # ---- admission (admission.py): the API server's own validation, sources in docs/security.md
    RuleSpec("admission/object-name", "Object name the API server rejects", _E,
             "Names must be DNS-1123 subdomains (253 characters), or labels (63) for kinds such as Service and "
             "Namespace; the schema does not say so and the apply fails.",
             "Use lower-case letters, digits and '-' (and '.' where a subdomain is allowed), within the length."),
    RuleSpec("admission/namespace-name", "Namespace the API server rejects", _E,
             "metadata.namespace must be a DNS-1123 label of at most 63 characters.",
             "Use a namespace name of lower-case letters, digits and '-'."),
    RuleSpec("admission/object-too-large", "ConfigMap or Secret over 1 MiB", _E,
             "The API server refuses a ConfigMap or Secret whose values exceed 1 MiB (generator inputs "
             "included).",
             "Split the data, or mount it from a volume (EFS, S3) instead of a ConfigMap."),
    # ---- schema (schema.py)
    RuleSpec("schema/invalid", "Object does not match its schema", _E,
             "The API server (or the CRD's OpenAPI schema) would reject the object.",
             "Fix the field at the line shown."),
    RuleSpec("schema/missing", "No schema for the kind", _W,
             "Objects of a kind with no known schema are not validated (an error with --strict).",
             "Add the CRD's schema to schemas/crds/ (scripts/crd-schemas) or check the apiVersion."),
    # ---- pool-file loading (check.py, gen.py); the pool rules themselves come from pool_rules.RULES
    RuleSpec("pool/file-missing", "Cluster without a pool file", _W,
             "Without terraform/environments/<cluster>/node-pools.yaml the scheduling and capacity checks are skipped.",
             "Add the pool file (docs/pools.md)."),
    RuleSpec("pool/file-invalid", "Pool file cannot be loaded", _E,
             "A pool file that does not load stops scheduling, capacity and generation for its cluster.",
             "Fix the pool file at the line shown (docs/pools.md)."),
    # ---- policy infrastructure (rules/__init__.py)
    RuleSpec("policy/defaults-used", "Policy file missing: built-in defaults used", _W,
             "Without policies/*.yaml the rules know no workload types and use built-in defaults.",
             "Add the policy file named in the message."),
    RuleSpec("policy/template-unreadable", "Pod template the policy rules cannot read", _W,
             "A pod template with the wrong shape is skipped by every policy rule (schema validation says "
             "what is wrong; this warning is folded into its schema/invalid finding when there is one).",
             "Fix the schema finding on the same object."),
    RuleSpec("policy/invalid-parameter", "Policy parameter with a wrong type or range", _E,
             "A parameter in policies/*.yaml of the wrong type or range; the rule runs with its default "
             "(rules/_params.py declares each parameter once).",
             "Give the parameter a value of the type the message names (policies/rules.md lists them)."),
    RuleSpec("policy/unknown-parameter", "Policy parameter no rule reads", _E,
             "A key in policies/*.yaml that no rule reads is most often a misspelt parameter that silently "
             "does nothing.",
             "Correct the key (the message suggests the closest one) or remove it."),
    RuleSpec("policy/file-unreadable", "Policy file cannot be read", _E,
             "A policy file that does not parse leaves its rules on built-in defaults.",
             "Fix the policy file at the line shown.", _UNREAD),
    # ---- capacity (capacity/fit.py)
    RuleSpec("capacity/unplaced", "Workload placed in no pool", _E,
             "The capacity fit finds no pool whose nodes can hold the pod (with DaemonSet overhead).",
             "Lower the requests, or add a pool that fits (node-pools.yaml)."),
    RuleSpec("capacity/max-size", "Pool too small at max_size", _E,
             "The workloads that must run in the pool do not fit even at its max_size.",
             "Lower the maximum replicas of the workloads the message lists first (in staging, the ceiling "
             "patches of apps/staging/kustomization.yaml), move workloads to another pool, or raise max_size."),
    RuleSpec("capacity/constraint", "Placement constraint cannot be met", _E,
             "Anti-affinity or topology spread asks for more nodes or zones than the pools can give.",
             "Relax the constraint or add nodes/zones."),
    RuleSpec("capacity/rollout", "Rollout surge does not fit", _E,
             "A rolling update needs room for the surge pods; without it the rollout stalls.",
             "Lower maxSurge, raise the pool's max_size, or set maxUnavailable."),
    RuleSpec("capacity/failure-headroom", "No headroom to survive a node or zone loss", _E,
             "After losing a node (or a zone) the remaining capacity cannot hold the workload.",
             "Lower the maximum replicas of the pool's workloads (a new service takes the room the others "
             "need to survive a loss; in staging, the ceiling patches of apps/staging/kustomization.yaml), "
             "raise max_size, or spread over more zones."),
    # ---- promtool (prometheus_rules.py)
    RuleSpec("promtool/check-rules", "promtool check rules failed", _E,
             "The real promtool refuses the PrometheusRule's rules; Prometheus would not load them.",
             "Fix the expression named in the message."),
    RuleSpec("promtool/test-rules", "promtool rule unit test failed", _E,
             "An alert's unit test (tests/prometheus/*.yaml) fails with the real promtool.",
             "Fix the alert or its test."),
    RuleSpec("promtool/untested-alert", "Alert without a unit test", _W,
             "Every alert gets a promtool unit test so a changed expression cannot silently stop firing.",
             "Add a test case for the alert."),
    RuleSpec("promtool/unavailable", "promtool not found", _W,
             "PrometheusRules were not checked: no promtool binary (MLPLATFORM_PROMTOOL or PATH).",
             "Run `make setup` or set MLPLATFORM_PROMTOOL.",
             "it reports the set-up, not the repository; install promtool"),
    # ---- gen (gen.py)
    RuleSpec("gen/drift", "Generated file out of date", _E,
             "Files generated from the pool file (Terraform variables, GPU-sharing configs) disagree with it.",
             "Run `mlplatform gen` and commit the result.",
             "the pool file and its generated files must agree; regenerate instead"),
    # ---- terraform (rules/_base.py)
    RuleSpec("terraform/parse-error", "Terraform file cannot be parsed", _E,
             "The cross-layer rules could not read the cluster's Terraform and ran as if there were none.",
             "Fix the HCL at the line shown (terraform validate).", _UNREAD),
)

# Why the exemption-reason rule cannot itself be exempted.
_NOT_EXEMPTABLE_POLICY = {
    "policy/exemption-reason": "it reports broken exemptions; exempting it would hide them",
}


def _rationale_and_remediation(module: Any) -> tuple[str, str]:
    """A policy rule's rationale and remediation: its REMEDIATION, else the "Fix:" sentences of its rationale,
    which then leave the rationale (`mlplatform rules` and docs/rules.md printed them twice)."""
    rationale = str(module.RATIONALE)
    own = getattr(module, "REMEDIATION", "")
    if own:
        return rationale, str(own)
    if "Fix:" in rationale:
        before, after = rationale.split("Fix:", 1)
        return before.strip(), after.strip()
    return rationale, ""


def _parameters_of(rule_id: str) -> tuple[Parameter, ...]:
    """The rule's parameters as rules/_params.py declares them (the one place with their types and defaults)."""
    from .rules import _params

    name = rule_id.split("/", 1)[1]
    found = []
    for file, params in _params.PARAMETERS.items():
        for param in params:
            if name in (r.strip() for r in param.rules.split(",")):
                found.append(Parameter(param.key, _params.expected(param), param.default, f"policies/{file}"))
    return tuple(found)


@cache
def specs() -> dict[str, RuleSpec]:
    """Every id, in category order, then declaration order. Raises on a duplicate id or exemption name."""
    from . import pool_rules
    from .rules import RULES as POLICY_RULES

    found: list[RuleSpec] = list(_DECLARED)
    for module in POLICY_RULES:
        rationale, remediation = _rationale_and_remediation(module)
        found.append(
            RuleSpec(
                id=module.ID,
                title=module.TITLE,
                severity=module.SEVERITY,
                rationale=rationale,
                remediation=remediation,
                not_exemptable=_NOT_EXEMPTABLE_POLICY.get(module.ID),
                fixable=bool(module.FIXABLE),
                parameters=_parameters_of(module.ID),
            )
        )
    for rule in pool_rules.RULES.values():
        found.append(RuleSpec(rule.id, rule.title, rule.severity, rule.rationale, rule.remediation))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    out: dict[str, RuleSpec] = {}
    names: dict[str, str] = {}
    for spec in sorted(found, key=lambda s: order.get(s.category, len(order))):
        if spec.id in out:
            raise ValueError(f"rule id declared twice: {spec.id}")
        if spec.category not in CATEGORIES or spec.id.count("/") != 1:
            raise ValueError(f"rule id {spec.id!r} is not category/kebab-name with a known category")
        if spec.name in names:
            raise ValueError(f"rule ids {names[spec.name]} and {spec.id} share the exemption name {spec.name}")
        names[spec.name] = spec.id
        out[spec.id] = spec
    return out


def spec(rule_id: str) -> RuleSpec | None:
    return specs().get(rule_id)


def by_name(name: str) -> RuleSpec | None:
    """The rule an exemption annotation `exempt-<name>` names."""
    return next((s for s in specs().values() if s.name == name), None)
