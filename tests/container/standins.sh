#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's two base images, for machines that reach no container
# registry (Debian's packages and crates.io only). Made from Debian bookworm with debootstrap:
#
#   builder  minbase + gcc, libc6-dev, ca-certificates + this machine's Rust toolchain in
#            /usr/local/rust (the active toolchain's bin/ and lib/), CARGO_HOME=/usr/local/cargo
#            and PATH as in the official rust image, and the host's CA bundle (the crate
#            downloads here go through a proxy whose CA only the host's bundle holds)
#   runtime  distroless-like: only the files of base-files, netbase, tzdata, libc6, libgcc-s1
#            and libstdc++6 (what gcr.io/distroless/cc holds), /etc/passwd with root and
#            nonroot (65532), /tmp, /home/nonroot, a CA bundle; no shell, no package manager.
#
#   bash tests/container/standins.sh [PODMAN_COMMAND...]
#
# prints two lines, RUST_IMAGE=<name> and RUNTIME_IMAGE=<name>. An image that already exists
# under its name is reused; the builder's tag is the host's rustc version, so a toolchain
# change makes a new one. The podman command defaults to `podman`; tests/container/run.sh
# passes its own (its storage, runc). Needs root, debootstrap and Debian's mirror.
set -euo pipefail

if [ "$#" -gt 0 ]; then podman=("$@"); else podman=(podman); fi
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm

log() { echo "standins: $*" >&2; }
die() {
  echo "standins: FAIL: $*" >&2
  exit 1
}

sysroot="$(rustc --print sysroot 2>/dev/null)" || die "rustc is not on PATH (the builder copies the host's toolchain)"
if [ ! -x "$sysroot/bin/cargo" ] || [ ! -x "$sysroot/bin/rustc" ]; then die "no cargo or rustc in $sysroot/bin"; fi
rust_version="$("$sysroot/bin/rustc" -V | awk '{print $2}')"
rust_image="localhost/watchword-standin/rust:${rust_version}-${suite}"
runtime_image="localhost/watchword-standin/runtime:${suite}"

have() { "${podman[@]}" image exists "$1"; }

if have "$rust_image" && have "$runtime_image"; then
  log "reusing $rust_image and $runtime_image"
else
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  work="$(mktemp -d "${TMPDIR:-/var/tmp}/watchword-standin.XXXXXX")"
  root="$work/root"
  # --one-file-system: never descend into a proc or sys left mounted by an interrupted run.
  trap 'umount -l "$root/proc" 2>/dev/null || true; rm -rf --one-file-system "$work"' EXIT

  log "debootstrap --variant=minbase $suite (from $mirror)"
  start=$SECONDS
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  log "debootstrap done in $((SECONDS - start)) s"

  if ! have "$runtime_image"; then
    # The files of the distroless packages (dpkg's own lists), their parent directories and
    # merged /usr's top-level links; everything else of minbase (shells, coreutils, apt) stays out.
    # shellcheck disable=SC2016 # dpkg-query formats, not shell
    mapfile -t pkgs < <(chroot "$root" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' \
      base-files netbase tzdata libc6 libgcc-s1 libstdc++6 2>/dev/null | awk '$1 == "ii" {print $2}')
    chroot "$root" dpkg-query -L "${pkgs[@]}" >"$work/files"
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
    mkdir -p "$root/home/nonroot" "$root/etc/ssl/certs"
    chown 65532:65532 "$root/home/nonroot"
    chmod 1777 "$root/tmp"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    printf '%s\n' /etc/passwd /etc/group /etc/ld.so.cache /etc/ssl/certs/ca-certificates.crt \
      /home/nonroot /tmp /root >>"$work/files"
    python3 - "$root" "$work/files" >"$work/runtime.list" <<'EOF'
import os, sys
root, listing = sys.argv[1], sys.argv[2]
keep = set()
for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
    if os.path.islink(os.path.join(root, top)):
        keep.add(top)
for line in open(listing):
    if not line.startswith("/"):  # dpkg's "diverted by …" notes
        continue
    path = line.strip().lstrip("/")
    if not path or not os.path.lexists(os.path.join(root, path)):
        continue
    # Resolve the directories (merged /usr: lib/x86_64-linux-gnu is usr/lib/...), keep the
    # last component as it is (a library's soname link stays a link).
    parent = os.path.relpath(os.path.realpath(os.path.join(root, os.path.dirname(path))), root)
    full = os.path.normpath(os.path.join(parent, os.path.basename(path)))
    if os.path.isdir(os.path.join(root, full)) and not os.path.islink(os.path.join(root, full)) \
            and full not in ("tmp", "root", "home/nonroot"):
        continue
    keep.add(full)
    d = os.path.dirname(full)
    while d:
        keep.add(d)
        d = os.path.dirname(d)
for p in sorted(keep):
    print(p)
EOF
    log "importing $runtime_image ($(wc -l <"$work/runtime.list") paths)"
    tar -C "$root" --no-recursion -cf - -T "$work/runtime.list" |
      "${podman[@]}" import --quiet \
        --change 'USER 65532' \
        --change 'WORKDIR /home/nonroot' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        - "$runtime_image" >/dev/null
  fi

  if ! have "$rust_image"; then
    log "apt-get install gcc libc6-dev ca-certificates in the builder root"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
    mount -t proc proc "$root/proc"
    {
      chroot "$root" apt-get update &&
        DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y --no-install-recommends \
          gcc libc6-dev ca-certificates &&
        chroot "$root" apt-get clean
    } >"$work/apt.log" 2>&1 || { umount "$root/proc"; tail -20 "$work/apt.log" >&2; die "apt-get in the builder root failed"; }
    umount "$root/proc"
    rm -rf "$root/var/lib/apt/lists/"*
    : >"$root/etc/resolv.conf"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    log "copying the Rust toolchain $rust_version from $sysroot"
    mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo"
    cp -a "$sysroot/bin" "$sysroot/lib" "$root/usr/local/rust/"
    log "importing $rust_image"
    tar -C "$root" -cf - . |
      "${podman[@]}" import --quiet \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "ENV RUST_VERSION=$rust_version" \
        --change 'WORKDIR /' \
        - "$rust_image" >/dev/null
  fi
fi

echo "RUST_IMAGE=$rust_image"
echo "RUNTIME_IMAGE=$runtime_image"
