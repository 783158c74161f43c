#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Unpacks one release's strict JSON schemas from a kubernetes-validate wheel for kubeconform.

Usage: kube_schemas.py WHEEL DIR_IN_WHEEL OUT_DIR

The wheel's schemas refer to their shared definitions as "/api/_definitions.json#...", a path
kubeconform cannot resolve; each such $ref is rewritten to the absolute file URL of
OUT_DIR/_definitions.json. Exits 3 when the wheel lacks DIR_IN_WHEEL.
"""
import pathlib
import sys
import zipfile

PREFIX = "kubernetes_validate/kubernetes-json-schema/"


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    wheel, release, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]).resolve()
    inside = f"{PREFIX}{release}/"
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.startswith(inside) and n.endswith(".json")]
        if not names:
            print(f"{wheel}: no {inside} in the wheel", file=sys.stderr)
            return 3
        tmp = out.with_name(out.name + ".part")
        tmp.mkdir(parents=True, exist_ok=True)
        target = f'"file://{out}/_definitions.json#'.encode()
        for n in names:
            data = z.read(n).replace(b'"/api/_definitions.json#', target)
            (tmp / n[len(inside):]).write_bytes(data)
    tmp.rename(out)
    print(f"  {len(names)} schemas of {release} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
