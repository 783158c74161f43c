# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tests/integration/test_kube_play.py runs the chart's agent pod with `podman kube play`: a pod
# needs an infra container, which podman builds locally from catatonit (no registry).
DEB_PACKAGES += catatonit
