#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# One OCI image from scratch with buildah: a program, exactly the shared libraries ldd says it
# loads (and those of libchdb for the collector), the files it reads at run time, CA
# certificates for TLS, an /etc/passwd, and the version and commit as OCI labels. Called by
# `make image` (mk/image.mk); docs/deployment-containers.md describes the result.
#
#   deploy/image/build.sh agent|collector BUILD_DIR VERSION REVISION
#
# Lays the image's files out in BUILD_DIR/image/NAME/rootfs, commits them as
# localhost/NAME:VERSION (and :latest; IMAGE_REPOSITORY replaces localhost/NAME) into the local
# container storage, and writes the image id to BUILD_DIR/image/NAME.iid.
#
# Layout (merged /usr, as Debian 12):
#   /usr/bin/flowagent, /usr/bin/flowcollector       stripped of debug information
#   /usr/share/flowagent/sql/                         the collector's schema and views
#   /usr/lib/flowagent/chdb/libchdb.so                the embedded ClickHouse, in a layer of
#                                                     its own
#   /usr/lib/x86_64-linux-gnu/, /usr/lib64/           the libraries and the loader; /lib and
#                                                     /lib64 link to them
#   /etc/ssl/certs/ca-certificates.crt                Debian's CA bundle, where OpenSSL
#                                                     (librdkafka) and libcurl look by default
#   /var/lib/flowcollector                            the collector's working directory and
#                                                     default store (embedded:flowdb), uid 65532
set -euo pipefail

usage() {
	echo "usage: $0 agent|collector BUILD_DIR VERSION REVISION" >&2
	exit 2
}
[ $# -eq 4 ] || usage
what=$1 build=$2 version=$3 revision=$4
case $what in
agent) name=flowagent ;;
collector) name=flowcollector ;;
*) usage ;;
esac
repository=${IMAGE_REPOSITORY:-localhost/$name}

die() {
	echo "image: $*" >&2
	exit 1
}

command -v buildah >/dev/null || die "buildah is not installed (make deps installs it)"
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$build/image/$name
root=$out/rootfs
binary=$build/$name
[ -x "$binary" ] || die "$binary is not built (make all)"
chdb=$build/chdb/libchdb.so
if [ "$what" = collector ]; then
	[ -f "$chdb" ] || die "$chdb is missing (make deps fetches it)"
fi
certs=/etc/ssl/certs/ca-certificates.crt
[ -f "$certs" ] || die "$certs is missing (Debian package ca-certificates; make deps installs it)"

rm -rf "$out"
mkdir -p "$root"/usr/bin "$root"/usr/lib "$root"/usr/lib64 "$root"/etc/ssl/certs \
	"$root"/usr/lib/ssl "$root"/tmp "$root"/var/lib
ln -s usr/lib "$root"/lib
ln -s usr/lib64 "$root"/lib64
chmod 1777 "$root"/tmp

# Each library at the path the loader found it, under /usr as in merged-usr Debian; the
# loader's default directories then find them without an ld.so.cache.
copy_libraries() {
	local object=$1 path dest
	ldd "$object" >"$out/ldd.txt" 2>&1 || die "ldd $object failed: $(cat "$out/ldd.txt")"
	if grep -q 'not found' "$out/ldd.txt"; then
		die "$object: libraries not found: $(grep 'not found' "$out/ldd.txt" | tr -s ' \t' ' ')"
	fi
	# "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' "$out/ldd.txt" |
		while read -r path; do
			case $path in
			/usr/*) dest=$root$path ;;
			*) dest=$root/usr$path ;;
			esac
			mkdir -p "$(dirname "$dest")"
			cp -L "$path" "$dest"
			echo "$path" >>"$out/libraries.txt"
		done
}

: >"$out/libraries.txt"
strip --strip-debug -o "$root/usr/bin/$name" "$binary"
copy_libraries "$binary"

cp "$certs" "$root$certs"
# OpenSSL's compiled-in defaults on Debian (OPENSSLDIR /usr/lib/ssl)
ln -s /etc/ssl/certs/ca-certificates.crt "$root"/usr/lib/ssl/cert.pem
ln -s /etc/ssl/certs "$root"/usr/lib/ssl/certs
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root"/etc/nsswitch.conf

if [ "$what" = agent ]; then
	printf '%s\n' 'root:x:0:0:root:/:/usr/sbin/nologin' \
		'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$root"/etc/passwd
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root"/etc/group
	# --spool-dir for Kafka outages: a volume here (the root file system is read-only)
	mkdir -m 0700 -p "$root"/var/lib/flowagent
else
	printf '%s\n' 'root:x:0:0:root:/:/usr/sbin/nologin' \
		'flowcollector:x:65532:65532:flowcollector:/var/lib/flowcollector:/usr/sbin/nologin' \
		'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$root"/etc/passwd
	printf '%s\n' 'root:x:0:' 'flowcollector:x:65532:' 'nogroup:x:65534:' >"$root"/etc/group
	mkdir -p "$root"/usr/share/flowagent "$root"/usr/lib/flowagent/chdb
	(cd "$src" && find sql -name '*.sql' -o -name '*.xml') | while read -r f; do
		mkdir -p "$root/usr/share/flowagent/$(dirname "$f")"
		cp "$src/$f" "$root/usr/share/flowagent/$f"
	done
	# libchdb in a layer of its own, below the rest: it changes only with CHDB_VERSION, so
	# the layer is the same from build to build and a registry stores and sends it once
	mkdir -p "$out"/base/usr/lib/flowagent/chdb
	cp "$chdb" "$out"/base/usr/lib/flowagent/chdb/libchdb.so
	copy_libraries "$chdb"
	mkdir -m 0750 -p "$root"/var/lib/flowcollector
	chown 65532:65532 "$root"/var/lib/flowcollector
fi
sort -u -o "$out/libraries.txt" "$out/libraries.txt"

# Every file, and the image's creation time, dated by the commit (SOURCE_DATE_EPOCH if set):
# the same inputs give the same layers and the same image id.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)}
base= ctr=
cleanup() {
	[ -z "$base" ] || buildah rm "$base" >/dev/null 2>&1 || true
	[ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
from=scratch
if [ -d "$out"/base ]; then
	base=$(buildah from --quiet scratch)
	mnt=$(buildah mount "$base")
	cp -a "$out"/base/. "$mnt"/
	buildah umount "$base" >/dev/null
	# dated 0, not by the commit, so that the layer stays the same across commits
	from=$(buildah commit --quiet --format oci --rm --timestamp 0 "$base")
	base=
fi
ctr=$(buildah from --quiet "$from")
mnt=$(buildah mount "$ctr")
cp -a "$root"/. "$mnt"/
buildah umount "$ctr" >/dev/null

common=(--os linux --arch amd64
	--label "org.opencontainers.image.version=$version"
	--label "org.opencontainers.image.revision=$revision"
	--label "org.opencontainers.image.licenses=LGPL-2.1-only OR BSD-2-Clause")
if [ "$what" = agent ]; then
	# root, but a container runtime gives it only the capabilities it is granted
	# (--cap-drop=ALL --cap-add=BPF,NET_ADMIN,PERFMON): see docs/deployment-containers.md
	buildah config "${common[@]}" --user 0:0 --workingdir / --entrypoint '["/usr/bin/flowagent"]' \
		--label org.opencontainers.image.title=flowagent \
		--label "org.opencontainers.image.description=eBPF/XDP flow capture agent" "$ctr"
else
	# The options name the image's own files, so the collector needs no path option.
	buildah config "${common[@]}" --user 65532:65532 --workingdir /var/lib/flowcollector \
		--env FLOWCOLLECTOR_LIBCHDB=/usr/lib/flowagent/chdb/libchdb.so \
		--entrypoint '["/usr/bin/flowcollector", "--sql-dir", "/usr/share/flowagent/sql"]' \
		--label org.opencontainers.image.title=flowcollector \
		--label "org.opencontainers.image.description=flowagent's collector: Kafka to ClickHouse, with the embedded ClickHouse (libchdb)" \
		"$ctr"
fi
buildah commit --quiet --format oci --rm --timestamp "$epoch" --iidfile "$out.iid.tmp" "$ctr" \
	"$repository:$version" >/dev/null
ctr=
buildah tag "$repository:$version" "$repository:latest"
# The image this script built before, unless something else still uses it (a container, a tag
# of its own): the storage keeps one image per program, not one per build.
old=$(cat "$build/image/$name.iid" 2>/dev/null || true)
mv "$out.iid.tmp" "$build/image/$name.iid"
if [ -n "$old" ] && [ "$old" != "$(cat "$build/image/$name.iid")" ]; then
	podman rmi "$old" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$repository:$version" 2>/dev/null || echo '?')
echo "  IMAGE    $repository:$version ($(cut -c1-19 "$build/image/$name.iid"), $size bytes)"
