#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Checks C sources against the repository's .clang-format: every tracked .c and .h file (the
# generated vmlinux.h aside), or the files given. Prints each file that differs with the first
# lines clang-format would change, and exits 1 if any does. `make format` rewrites them.
set -u
cd "$(dirname "$0")/.."

CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
if ! command -v "$CLANG_FORMAT" >/dev/null; then
	echo "format-check: $CLANG_FORMAT not found (make deps installs it)" >&2
	exit 2
fi
if [ $# -gt 0 ]; then
	files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^vmlinux/')
else
	mapfile -t files < <(find bpf agent collector lib tests -name '*.[ch]' | sort)
fi

bad=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! diff=$("$CLANG_FORMAT" --style=file "$f" | diff -u "$f" -); then
		bad=$((bad + 1))
		echo "$f is not formatted (.clang-format); clang-format would change:"
		printf '%s\n' "$diff" | sed -n '3,14p' | sed 's/^/    /'
	fi
done
if [ "$bad" -gt 0 ]; then
	echo "format-check: $bad of ${#files[@]} files differ; run 'make format'"
	exit 1
fi
echo "format-check: ${#files[@]} files formatted"
