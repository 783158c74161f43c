# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The Helm chart's tools (helm/flowagent, docs/deployment-kubernetes.md):
#   make deps         also helm and kubeconform (Go module proxy, built into build/go/bin) and
#                     the Kubernetes JSON schemas of PyPI's kubernetes-validate (build/kube-schemas)
#   make test-deploy  the chart against a real kube-apiserver and etcd on loopback
#                     (tests/deploy/test_kube.py); slow to build the first time, so not part
#                     of `make test`. .ci/run runs both.

# Helm 4 (the issue tried v3.22.0, which is not an approved version on these machines).
HELM_VERSION	    := v4.3.2
KUBECONFORM_VERSION := v0.8.0
# The Kubernetes release the schemas and the test API server are of.
KUBE_VERSION	    := 1.34.4
KUBE_VALIDATE_VERSION := 1.37.0
# The Go toolchain; /usr/local/go where it is not on PATH.
GO		    ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

GO_BIN		:= $(BUILD)/go/bin
HELM		:= $(GO_BIN)/helm
KUBECONFORM	:= $(GO_BIN)/kubeconform
KUBE_SCHEMAS	:= $(BUILD)/kube-schemas/v$(basename $(KUBE_VERSION)).0
KUBE_SCHEMAS_STAMP := $(KUBE_SCHEMAS)/rewritten.stamp
DEPLOY_DIR	:= $(BUILD)/deploy
KUBE_APISERVER	:= $(DEPLOY_DIR)/kube-apiserver-$(KUBE_VERSION)
ETCD		:= $(DEPLOY_DIR)/etcd
KUBE_APISERVER_SRC := tests/deploy/kube-apiserver

deps: deps-helm
.PHONY: deps-helm
deps-helm: $(HELM).$(HELM_VERSION).stamp $(KUBECONFORM).$(KUBECONFORM_VERSION).stamp \
	   $(KUBE_SCHEMAS_STAMP)

# $(call go_install,MODULE/CMD,VERSION,NAME): a Go command at VERSION into $(GO_BIN), once per
# version (the stamp names it).
define go_install
	$(call msg,DEPS,$(3) $(2) (Go module proxy) -> $(GO_BIN)/$(3))
	$(Q)command -v $(GO) >/dev/null || { echo "make deps: go is needed to build $(3)" >&2; exit 1; }
	$(Q)mkdir -p $(GO_BIN) && rm -f $(GO_BIN)/$(3).*.stamp
	$(Q)GOBIN=$(abspath $(GO_BIN)) GOFLAGS=-trimpath $(GO) install $(1)@$(2) \
		>$(GO_BIN)/$(3).log 2>&1 || \
		{ tail -20 $(GO_BIN)/$(3).log >&2; echo "make deps: go install $(1)@$(2) failed" >&2; exit 1; }
	$(Q)touch $@
endef

$(HELM).$(HELM_VERSION).stamp:
	$(call go_install,helm.sh/helm/v4/cmd/helm,$(HELM_VERSION),helm)
$(KUBECONFORM).$(KUBECONFORM_VERSION).stamp:
	$(call go_install,github.com/yannh/kubeconform/cmd/kubeconform,$(KUBECONFORM_VERSION),kubeconform)

# kubernetes-validate ships strict JSON schemas of every Kubernetes release; ours is
# KUBE_VERSION's minor. Their $refs point at "/api/_definitions.json", which kubeconform cannot
# resolve: rewritten once to the file's absolute URL.
$(KUBE_SCHEMAS_STAMP):
	$(call msg,DEPS,kubernetes-validate $(KUBE_VALIDATE_VERSION) schemas (PyPI) -> $(KUBE_SCHEMAS))
	$(Q)rm -rf $(KUBE_SCHEMAS) $(KUBE_SCHEMAS).tmp && mkdir -p $(KUBE_SCHEMAS).tmp
	$(Q)$(PYTHON) -m pip download -q --no-deps -d $(KUBE_SCHEMAS).tmp \
		kubernetes-validate==$(KUBE_VALIDATE_VERSION) || \
		{ echo "make deps: pip download kubernetes-validate failed" >&2; exit 1; }
	$(Q)$(PYTHON) tests/deploy/kube_schemas.py $(KUBE_SCHEMAS).tmp/*.whl \
		v$(basename $(KUBE_VERSION)).0-local-strict $(KUBE_SCHEMAS)
	$(Q)rm -rf $(KUBE_SCHEMAS).tmp && touch $@

# --- make test-deploy -----------------------------------------------------------------------
# kube-apiserver through the wrapper module (its go.mod says why), linked with its version so
# that kubectl can ask it; etcd from Debian's etcd-server, unpacked without installing it (its
# postinst would start a system service).
KUBE_LDFLAGS := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=v$(KUBE_VERSION) -X $(p).gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION))) \
	-X $(p).gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))))

$(KUBE_APISERVER): $(KUBE_APISERVER_SRC)/go.mod $(KUBE_APISERVER_SRC)/go.sum \
		   $(KUBE_APISERVER_SRC)/main.go | $(DEPLOY_DIR)/.
	$(call msg,GO,$@ (k8s.io/kubernetes v$(KUBE_VERSION); several minutes the first time))
	$(Q)cd $(KUBE_APISERVER_SRC) && $(GO) build -trimpath -ldflags "-s -w $(KUBE_LDFLAGS)" \
		-o $(abspath $@).tmp . >$(abspath $(DEPLOY_DIR))/kube-apiserver.log 2>&1 || \
		{ tail -20 $(abspath $(DEPLOY_DIR))/kube-apiserver.log >&2; \
		  echo "make: building kube-apiserver failed" >&2; exit 1; }
	$(Q)mv $@.tmp $@

$(ETCD): | $(DEPLOY_DIR)/.
	$(call msg,DEPS,etcd-server (Debian) -> $@)
	$(Q)rm -rf $(DEPLOY_DIR)/etcd-deb && mkdir -p $(DEPLOY_DIR)/etcd-deb
	$(Q)cd $(DEPLOY_DIR)/etcd-deb && apt-get download etcd-server >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null && apt-get download etcd-server >/dev/null; } || \
		{ echo "make: apt-get download etcd-server failed" >&2; exit 1; }
	$(Q)dpkg-deb --fsys-tarfile $(DEPLOY_DIR)/etcd-deb/etcd-server_*.deb | \
		tar -xO ./usr/bin/etcd >$@.tmp || \
		{ echo "make: no usr/bin/etcd in etcd-server" >&2; exit 1; }
	$(Q)chmod 755 $@.tmp && mv $@.tmp $@ && rm -rf $(DEPLOY_DIR)/etcd-deb

.PHONY: test-deploy
test-deploy: deps $(KUBE_APISERVER) $(ETCD)
	$(Q)HELM=$(abspath $(HELM)) KUBE_APISERVER=$(abspath $(KUBE_APISERVER)) \
		ETCD=$(abspath $(ETCD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/deploy
