# Two entry points on a fresh machine with python3, make and git:
#   make check   the main job: the full check of this repository (what CI runs)
#   make test    the test suite
# Both create the virtual environments and provide a pinned kustomize when the machine has none.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: check test setup lint checkov bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

$(CHECKOV_VENV)/.installed: constraints-checkov.txt
	# checkov pins many libraries of its own: it gets its own environment so it cannot move ours.
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints-checkov.txt checkov
	touch $@

.tools/kustomize-path: scripts/ensure-kustomize.sh
	mkdir -p .tools
	PYTHON=$(PYTHON) bash scripts/ensure-kustomize.sh > $@.tmp && mv $@.tmp $@

setup: $(BIN)/.installed $(CHECKOV_VENV)/.installed .tools/kustomize-path

check: setup
	MLPLATFORM_KUSTOMIZE=$$(cat .tools/kustomize-path) $(BIN)/mlplatform check
	$(BIN)/python scripts/crd_schemas.py check
	$(BIN)/ruff check tools tests benchmarks scripts
	$(BIN)/yamllint --strict -c .yamllint.yaml .
	$(MAKE) --no-print-directory checkov

checkov: setup
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download -d terraform --framework terraform
	$(BIN)/python scripts/checkov_rendered.py --checkov $(CHECKOV_VENV)/bin/checkov

test: setup
	MLPLATFORM_KUSTOMIZE=$$(cat .tools/kustomize-path) \
	  CHECKOV=$(abspath $(CHECKOV_VENV))/bin/checkov $(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .tools
