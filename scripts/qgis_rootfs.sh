#!/usr/bin/env bash
# Runs a command inside a Debian root file system that has QGIS from Debian's packages, built once with
# debootstrap into a cached folder (no containers): `scripts/qgis_rootfs.sh SUITE COMMAND…`, SUITE being a
# Debian suite (trixie: QGIS 3.40 LTR; sid: the newest packaged QGIS). Needs root.
#
# The working tree (tracked and untracked files that git does not ignore) is copied to /src in the root file
# system, so the command sees exactly this checkout and nothing it writes there reaches the checkout.
# FUSIONPV_ROOTFS_CACHE sets where the root file systems are kept (default /var/cache/fusion-pv-mapping).
set -euo pipefail

suite=${1:?usage: scripts/qgis_rootfs.sh SUITE COMMAND...}
shift
cache=${FUSIONPV_ROOTFS_CACHE:-/var/cache/fusion-pv-mapping}
rootfs="$cache/$suite"
mirror=${FUSIONPV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages="qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-numpy python3-scipy python3-skimage
python3-opencv python3-matplotlib python3-pytest python3-pytest-xdist python3-pip python3-venv make git ca-certificates nginx-light"
pytest_qgis=$(sed -n 's/^PYTEST_QGIS := //p' "$(dirname "$0")/../Makefile")
rustac=$(sed -n 's/^RUSTAC := //p' "$(dirname "$0")/../Makefile")
stamp_text="$packages $pytest_qgis $rustac"
source_root=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" -eq 0 ] || { echo "scripts/qgis_rootfs.sh needs root (debootstrap, chroot)." >&2; exit 1; }

in_rootfs() {
    # Runs "$@" in the root file system with /proc, /dev and /dev/shm mounted in a private mount namespace,
    # so the mounts end with the command whatever happens to it.
    unshare --mount --propagation private -- /bin/sh -c '
        rootfs=$1; shift
        mount -t proc proc "$rootfs/proc"
        mount --rbind /dev "$rootfs/dev"
        mount -t tmpfs -o size=4g tmpfs "$rootfs/dev/shm"
        mount -t tmpfs tmpfs "$rootfs/tmp"
        exec chroot "$rootfs" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            QT_QPA_PLATFORM=offscreen PIP_CERT=/etc/ssl/certs/host-pip-cert.pem "$@"' sh "$rootfs" "$@"
}

build_rootfs() {
    # debootstrap into SUITE.partial and rename when QGIS is in, so an interrupted build is never taken for whole.
    command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
    local partial="$rootfs.partial"
    rm -rf "$partial"
    mkdir -p "$cache"
    echo "Building a Debian $suite root file system with QGIS in $rootfs (about 5 minutes, once)."
    debootstrap --variant=minbase "$suite" "$partial" "$mirror" > "$cache/$suite.debootstrap.log" 2>&1 \
        || { tail -20 "$cache/$suite.debootstrap.log" >&2; exit 1; }
    mv "$partial" "$rootfs"
}

install_packages() {
    # QGIS and the test tools from Debian's packages; pytest-qgis from PyPI without touching Debian's numpy.
    [ -f "$rootfs/.fusionpv-stamp" ] && [ "$(cat "$rootfs/.fusionpv-stamp")" = "$stamp_text" ] && return 0
    echo "Installing QGIS and the test tools into $rootfs."
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
        cp "$PIP_CERT" "$rootfs/etc/ssl/certs/host-pip-cert.pem" 2>/dev/null \
            || { mkdir -p "$rootfs/etc/ssl/certs" && cp "$PIP_CERT" "$rootfs/etc/ssl/certs/host-pip-cert.pem"; }
    else
        cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/host-pip-cert.pem" 2>/dev/null || true
    fi
    # A mirror may serve a snapshot whose Release file has passed its Valid-Until date (seen for sid here).
    echo 'Acquire::Check-Valid-Until "false";' > "$rootfs/etc/apt/apt.conf.d/99fusionpv-snapshot"
    in_rootfs /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $(echo $packages) && apt-get clean" > "$cache/$suite.apt.log" 2>&1 \
        || { tail -30 "$cache/$suite.apt.log" >&2; exit 1; }
    # The certificate: Debian's ca-certificates rebuilds the bundle, so it is copied again after the install.
    [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ] && cp "$PIP_CERT" "$rootfs/etc/ssl/certs/host-pip-cert.pem"
    in_rootfs /usr/bin/python3 -m pip install -q --no-deps --break-system-packages "pytest-qgis==$pytest_qgis" \
        "rustac==$rustac" >> "$cache/$suite.apt.log" 2>&1 || { tail -30 "$cache/$suite.apt.log" >&2; exit 1; }
    echo "$stamp_text" > "$rootfs/.fusionpv-stamp"
}

copy_checkout() {
    # The checkout as git sees it (tracked plus untracked, not ignored) into /src of the root file system.
    rm -rf "$rootfs/src"
    mkdir -p "$rootfs/src"
    (cd "$source_root" && git ls-files -z --cached --others --exclude-standard \
        | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$rootfs/src"
}

[ -d "$rootfs" ] || build_rootfs
install_packages
copy_checkout
in_rootfs /bin/sh -c 'cd /src && exec "$@"' sh "$@"
