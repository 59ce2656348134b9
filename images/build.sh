#!/usr/bin/env bash
# Build the systemd-booting Debian base images the test and demo fleets run on.
#
# No container registry is reachable on the machines this project targets, so
# the images are made locally: debootstrap a minimal Debian, trust the extra CA
# certificates a TLS-intercepting proxy needs, and `docker import` the tree.
# An image is rebuilt only when its recipe changes: the recipe hash (this
# script, the release, the package list and the CA bundle) is stored as a
# label and compared on the next run.
#
# Usage: images/build.sh [RELEASE ...]      (default: bookworm trixie)
# Environment:
#   FLEET_IMAGE_REPO       image name prefix          (default: airflow-fleet/debian)
#   FLEET_EXTRA_CA_DIR     directory of *.crt to trust inside the images
#                          (default: /usr/local/share/ca-certificates, the
#                          host's locally added CAs; set to "" for none)
#   FLEET_DEBIAN_MIRROR    Debian mirror for debootstrap (default: http://deb.debian.org/debian)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="${FLEET_IMAGE_REPO:-airflow-fleet/debian}"
ca_dir="${FLEET_EXTRA_CA_DIR-/usr/local/share/ca-certificates}"
mirror="${FLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages="systemd,systemd-sysv,dbus,python3,python3-venv,python3-apt,sudo,iproute2,ca-certificates,procps,curl,gnupg"
releases=("$@")
[ "${#releases[@]}" -gt 0 ] || releases=(bookworm trixie)

declare -A version_of=([bookworm]=12 [trixie]=13)

ca_files() {
  [ -n "$ca_dir" ] && [ -d "$ca_dir" ] || return 0
  find "$ca_dir" -type f -name '*.crt' | LC_ALL=C sort
}

recipe_hash() {
  local release="$1"
  {
    cat "$here/build.sh"
    echo "$release $packages $mirror"
    ca_files | while read -r f; do cat "$f"; done
  } | sha256sum | cut -c1-16
}

build() {
  local release="$1" version="${version_of[$1]:?unknown release $1}"
  local tag="$repo:$version" hash current rootfs
  hash="$(recipe_hash "$release")"
  current="$(docker image inspect -f '{{ index .Config.Labels "fleet.recipe" }}' "$tag" 2>/dev/null || true)"
  if [ "$current" = "$hash" ]; then
    echo "image $tag is up to date (recipe $hash)"
    return 0
  fi
  echo "building $tag from Debian $release (recipe $hash)"
  rootfs="$(mktemp -d /var/tmp/fleet-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' RETURN
  debootstrap --variant=minbase --include="$packages" "$release" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log"; rm -f "$rootfs.log"; return 1; }
  rm -f "$rootfs.log"

  # Trust the extra CAs (a TLS-intercepting proxy's, a corporate root).
  ca_files | while read -r f; do install -m 0644 "$f" "$rootfs/usr/local/share/ca-certificates/"; done
  chroot "$rootfs" update-ca-certificates >/dev/null

  # A container has no consoles, udev or hardware clock: keep systemd quiet and fast.
  for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
              systemd-firstboot.service systemd-hwdb-update.service systemd-modules-load.service \
              systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount \
              systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  # Docker manages hostname and resolv.conf; machine-id is made at boot.
  : >"$rootfs/etc/machine-id"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

  tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=docker' \
    --change "LABEL fleet.recipe=$hash" \
    --change "LABEL fleet.release=$release" \
    - "$tag" >/dev/null
  echo "built $tag"
}

for release in "${releases[@]}"; do
  build "$release"
done
