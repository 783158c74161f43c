// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// kube-apiserver for `make test-deploy`: the upstream command, built from the Go module proxy.
// k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging modules with
// directories of its own tree), so this module requires it and maps each staging module to
// its published release (go.mod). The body is cmd/kube-apiserver/apiserver.go of v1.34.4.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
