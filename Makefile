# Two entry points on a fresh machine with python3, make and git:
#   make check   the main job: the full check of this repository (what CI runs)
#   make test    the test suite
# Both create the virtual environments and provide a pinned kustomize and promtool when the machine has none.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: check test setup typecheck typecheck-run lint checkov checkov-run bench mutation clean pictures-setup images FORCE

FORCE:

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

$(CHECKOV_VENV)/.installed: constraints-checkov.txt
	# checkov pins many libraries of its own: it gets its own environment so it cannot move ours.
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints-checkov.txt checkov
	touch $@

# kustomize renders every cluster: the pinned kubectl's, whatever kubectl or kustomize PATH has (the script says
# why). Run on every make, like helm below, so each run's log names the version it rendered with.
.tools/kustomize-path: scripts/ensure-kustomize.sh FORCE
	mkdir -p .tools
	PYTHON=$(PYTHON) bash scripts/ensure-kustomize.sh > $@.tmp && mv $@.tmp $@

.tools/promtool-path: scripts/ensure-promtool.sh
	mkdir -p .tools
	bash scripts/ensure-promtool.sh > $@.tmp && mv $@.tmp $@

# helm renders the HelmReleases (docs/architecture.md#helm-rendering). Run on every make (a sha256 of the
# binary, no download once extracted) so each run's log names the helm version it rendered with.
.tools/helm-path: scripts/ensure-helm.sh FORCE
	mkdir -p .tools
	PYTHON=$(PYTHON) bash scripts/ensure-helm.sh > $@.tmp && mv $@.tmp $@

setup: $(BIN)/.installed $(CHECKOV_VENV)/.installed .tools/kustomize-path .tools/promtool-path .tools/helm-path

# Only the picture tests and `make images` need Node, the Mermaid CLI and Chromium (scripts/ensure-pictures.sh
# says what it installs); `make check` and the CLI do not.
.tools/pictures.env: scripts/ensure-pictures.sh tools/js/package.json tools/js/package-lock.json
	PYTHON=$(PYTHON) bash scripts/ensure-pictures.sh

pictures-setup: .tools/pictures.env

# The README's pictures of this repository (docs/images/); a test fails when they no longer match it.
images: setup .tools/pictures.env
	env $$(cat .tools/pictures.env) MLPLATFORM_KUSTOMIZE=$$(cat .tools/kustomize-path) MLPLATFORM_PROMTOOL=$$(cat .tools/promtool-path) MLPLATFORM_HELM=$$(cat .tools/helm-path) \
	  $(BIN)/python scripts/make_images.py

# mlplatform check also runs promtool (check rules, test rules) on every PrometheusRule and its unit tests.
check: setup
	MLPLATFORM_KUSTOMIZE=$$(cat .tools/kustomize-path) MLPLATFORM_PROMTOOL=$$(cat .tools/promtool-path) MLPLATFORM_HELM=$$(cat .tools/helm-path) \
	  $(BIN)/mlplatform check
	$(BIN)/python scripts/crd_schemas.py check
	# docs/rules.md is generated from the rule catalog: fail when it drifts (regenerate with the same command)
	$(BIN)/mlplatform rules --format markdown | diff -u docs/rules.md -
	# docs/workloads.md is generated from the rendered apps: fail when it drifts (regenerate with --write)
	MLPLATFORM_KUSTOMIZE=$$(cat .tools/kustomize-path) $(BIN)/python scripts/workload_table.py --check
	$(BIN)/ruff check tools tests benchmarks scripts
	$(BIN)/yamllint --strict -c .yamllint.yaml .
	$(MAKE) --no-print-directory checkov-run typecheck-run

# The *-run targets do the work without `setup`: `check` has set up already, and a second `setup` would run
# ensure-helm.sh (a FORCE target) again and print its lines once more per sub-make.
# mypy --strict on tools/mlplatform; the settings are [tool.mypy] in pyproject.toml.
typecheck: setup
	$(MAKE) --no-print-directory typecheck-run

typecheck-run:
	$(BIN)/mypy

checkov: setup
	$(MAKE) --no-print-directory checkov-run

checkov-run:
	# checkov offline: the pinned terraform-aws-modules (git sources) are not downloaded, so it warns "Failed to download module"; it scans our own resources and the module calls (CKV_TF_1: sources pinned to a commit), not the resources inside those modules
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download -d terraform --framework terraform
	$(BIN)/python scripts/checkov_rendered.py --checkov $(CHECKOV_VENV)/bin/checkov

test: setup .tools/pictures.env
	env $$(cat .tools/pictures.env) MLPLATFORM_KUSTOMIZE=$$(cat .tools/kustomize-path) MLPLATFORM_PROMTOOL=$$(cat .tools/promtool-path) MLPLATFORM_HELM=$$(cat .tools/helm-path) \
	  CHECKOV=$(abspath $(CHECKOV_VENV))/bin/checkov $(BIN)/pytest $(PYTEST_ARGS)

# Mutation testing of the core modules (docs/testing.md); slow (most of an hour on 2 shared cores), not in `test`.
mutation: setup
	MLPLATFORM_KUSTOMIZE=$$(cat .tools/kustomize-path) $(BIN)/python scripts/mutation.py

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .tools .mutation
