#!/usr/bin/env bash
# build-rootfs.sh ROOT SUITE MIRROR SECURITY_MIRROR: a minimal Debian rootfs for the stand-in images,
# with the host's Debian mirror as its apt sources and the host's CA certificates trusted (the package
# index is reached through the host's TLS setup). Called by tests/compose/images.sh, then `podman import`.
set -euo pipefail
root="$1" suite="$2" main="$3" security="$4"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$main"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$main" "$suite" "$suite"
  if [ -n "$security" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$suite"
  fi
} >"$root/etc/apt/sources.list.d/debian.sources"
: >"$root/etc/apt/sources.list"
find /usr/local/share/ca-certificates -type f -name '*.crt' -exec install -m 0644 {} "$root/usr/local/share/ca-certificates/" \;
chroot "$root" update-ca-certificates
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90airflow-ops-test"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
