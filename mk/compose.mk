# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The compose stack's tools (compose/compose.yaml, docs/deployment-compose.md), installed by
# `make deps`:
#   build/go/bin/docker-compose  Docker Compose v5 from the Go module proxy, for `config -q`,
#                                which refuses unknown keys and wrong types (compose-spec's
#                                schema); it needs no Docker engine for that
#   build/podman-compose/        podman-compose from PyPI, which runs the agent and collector
#                                services with podman in tests/integration/test_compose.py
#                                (its own `config` validates nothing)

# test_compose.py reads and writes compose files with PyYAML.
DEB_PACKAGES += python3-yaml

COMPOSE_VERSION		:= v5.6.0
PODMAN_COMPOSE_VERSION	:= 1.6.0
DOCKER_COMPOSE		:= $(GO_BIN)/docker-compose
PODMAN_COMPOSE_DIR	:= $(BUILD)/podman-compose

deps: deps-compose
.PHONY: deps-compose
deps-compose: $(DOCKER_COMPOSE).$(COMPOSE_VERSION).stamp \
	      $(PODMAN_COMPOSE_DIR)/$(PODMAN_COMPOSE_VERSION).stamp

# `go install github.com/docker/compose/v5/cmd@...` is refused: compose's go.mod has exclude
# directives, which only a main module may have. So the module is downloaded and built as the
# main module, in the module cache (read-only; go build writes nothing there), with the
# version compose reports linked in.
$(DOCKER_COMPOSE).$(COMPOSE_VERSION).stamp:
	$(call msg,DEPS,docker compose $(COMPOSE_VERSION) (Go module proxy) -> $(DOCKER_COMPOSE))
	$(Q)command -v $(GO) >/dev/null || \
		{ echo "make deps: go is needed to build docker-compose" >&2; exit 1; }
	$(Q)mkdir -p $(GO_BIN) && rm -f $(DOCKER_COMPOSE).*.stamp
	$(Q)dir=$$($(GO) mod download -json github.com/docker/compose/v5@$(COMPOSE_VERSION) | \
		$(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') && \
	cd "$$dir" && GOFLAGS=-trimpath $(GO) build \
		-ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)" \
		-o $(abspath $(DOCKER_COMPOSE)) ./cmd >$(abspath $(GO_BIN))/docker-compose.log 2>&1 || \
		{ tail -20 $(abspath $(GO_BIN))/docker-compose.log >&2; \
		  echo "make deps: building docker compose $(COMPOSE_VERSION) failed" >&2; exit 1; }
	$(Q)touch $@

# Into a directory of its own (with PyYAML and python-dotenv), not the system's Python.
$(PODMAN_COMPOSE_DIR)/$(PODMAN_COMPOSE_VERSION).stamp:
	$(call msg,DEPS,podman-compose $(PODMAN_COMPOSE_VERSION) (PyPI) -> $(PODMAN_COMPOSE_DIR))
	$(Q)rm -rf $(PODMAN_COMPOSE_DIR)
	$(Q)$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore \
		--target $(PODMAN_COMPOSE_DIR) podman-compose==$(PODMAN_COMPOSE_VERSION) || \
		{ echo "make deps: pip install podman-compose failed" >&2; exit 1; }
	$(Q)touch $@

