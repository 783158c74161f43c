# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make image`: OCI images of the agent and of the collector (with libchdb for the embedded
# store), built from scratch with buildah into the local container storage (podman's), and
# saved as OCI archives to build/image/*.tar for `podman load` / `skopeo copy` elsewhere.
# deploy/image/build.sh says what goes in; docs/deployment-containers.md how to run them.
# `make seccomp` regenerates the agent's seccomp profile from Debian's default.

# The container tools (Debian 12): buildah builds, podman runs and saves, runc is the runtime
# the tests use (crun fails on some cgroup setups); ca-certificates is the images' CA bundle.
DEB_PACKAGES += buildah podman runc ca-certificates

IMAGE_VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_DIR      := $(BUILD)/image
IMAGE_SCRIPT   := deploy/image/build.sh
SECCOMP_PROFILE := helm/flowagent/files/seccomp-flowagent.json

# The image id files stand for the images in the local storage; a new binary, libchdb, schema
# file or version rebuilds them.
$(IMAGE_DIR)/flowagent.iid: $(BUILD)/flowagent $(IMAGE_SCRIPT) $(IMAGE_DIR)/version | $(IMAGE_DIR)/.
	$(Q)$(IMAGE_SCRIPT) agent $(BUILD) $(IMAGE_VERSION) $(IMAGE_REVISION)

$(IMAGE_DIR)/flowcollector.iid: $(BUILD)/flowcollector $(CHDB_LIB) $(IMAGE_SCRIPT) \
				$(IMAGE_DIR)/version $(shell find sql -type f) | $(IMAGE_DIR)/.
	$(Q)$(IMAGE_SCRIPT) collector $(BUILD) $(IMAGE_VERSION) $(IMAGE_REVISION)

# Rewritten only when the version or commit changes, so a new commit relabels the images.
$(IMAGE_DIR)/version: FORCE | $(IMAGE_DIR)/.
	$(Q)echo '$(IMAGE_VERSION) $(IMAGE_REVISION)' | cmp -s - $@ || \
		echo '$(IMAGE_VERSION) $(IMAGE_REVISION)' > $@

$(IMAGE_DIR)/%.tar: $(IMAGE_DIR)/%.iid
	$(call msg,SAVE,$@)
	$(Q)rm -f $@ && podman save --quiet --format oci-archive -o $@ \
		localhost/$*:$(IMAGE_VERSION)

.PHONY: image images-stored seccomp FORCE
FORCE:
image: deps images-stored $(IMAGE_DIR)/flowagent.tar $(IMAGE_DIR)/flowcollector.tar
	$(Q)for n in flowagent flowcollector; do \
		podman images --format '  {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' \
			localhost/$$n:$(IMAGE_VERSION); done
	$(Q)ls -l $(IMAGE_DIR)/*.tar
images-stored: $(IMAGE_DIR)/flowagent.iid $(IMAGE_DIR)/flowcollector.iid

seccomp:
	$(call msg,GEN,$(SECCOMP_PROFILE))
	$(Q)$(PYTHON) deploy/seccomp/generate.py > $(SECCOMP_PROFILE).tmp && \
		mv $(SECCOMP_PROFILE).tmp $(SECCOMP_PROFILE)

# tests/integration/test_image.py runs the images from the local storage.
test: images-stored
