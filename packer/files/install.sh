#!/usr/bin/env bash
# The one provisioning script of the AMI (run by packer/staticedge.pkr.hcl with sudo),
# also run by tests/infra/check.sh against a scratch directory.
#
#   install.sh [--binary PATH] [--config PATH] [--os-packages] ROOT
#
# ROOT is a DESTDIR-style prefix: "/" on the build instance, any directory otherwise.
# Installs under ROOT:
#   /usr/local/bin/staticedge                       the binary (--binary)
#   /etc/systemd/system/staticedge.service           the proxy, enabled
#   /etc/systemd/system/staticedge-fetch-config.service  boot-time config fetch
#   /usr/local/libexec/staticedge/fetch-config      what that unit runs
#   /etc/staticedge/staticedge.toml                 the example config (--config),
#                                                   replaced at boot from SSM
#   /etc/staticedge/tls/                            certificates, fetched at boot
#   /usr/local/share/doc/staticedge/staticedge.example.toml
#   /etc/logrotate.d/staticedge                     for a file access log
#   /usr/lib/sysusers.d/staticedge.conf             the `staticedge` system user
#   /usr/lib/tmpfiles.d/staticedge.conf             modes/owners of /etc/staticedge
# Only when ROOT is "/": creates the user now, sets owners, and with --os-packages
# installs what the boot path needs from the distribution (AWS CLI, logrotate, curl,
# SSM agent, CloudWatch agent). Elsewhere users and owners are left to
# systemd-sysusers and systemd-tmpfiles at first boot, so no root is needed.
# Nothing is started: the image must boot into a fresh fetch of config and keys.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary="" config="" os_packages=0 root=""

usage() { echo "usage: $0 [--binary PATH] [--config PATH] [--os-packages] ROOT" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?}; shift 2 ;;
    --config) config=${2:?}; shift 2 ;;
    --os-packages) os_packages=1; shift ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) [ -z "$root" ] || usage; root=$1; shift ;;
  esac
done
[ -n "$root" ] || usage

# Defaults for a run from a checkout: the release build and the repository's example.
repo=$(cd "$here/../.." && pwd)
[ -n "$binary" ] || binary=$repo/target/release/staticedge
[ -n "$config" ] || config=$repo/config/staticedge.example.toml
for f in "$binary" "$config"; do
  [ -f "$f" ] || { echo "install.sh: $f not found (see --binary/--config)" >&2; exit 1; }
done

live=0
[ "$(cd "$root" && pwd -P)" = / ] && live=1
if [ "$os_packages" = 1 ] && [ "$live" = 0 ]; then
  echo "install.sh: --os-packages only makes sense with ROOT=/" >&2
  exit 2
fi
r=${root%/}

install_os_packages() {
  local id arch
  # shellcheck disable=SC1091  # the running system's, not ours
  id=$(. /etc/os-release && echo "$ID")
  arch=$(uname -m)
  case "$id" in
    debian)
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q --no-install-recommends awscli curl ca-certificates logrotate util-linux
      # Debian's AMIs ship neither agent and Debian does not package them; these are
      # AWS's documented download locations, fetched over HTTPS at bake time only.
      local debarch=amd64 tmp
      [ "$arch" = aarch64 ] && debarch=arm64
      tmp=$(mktemp -d)
      curl -fsSL -o "$tmp/ssm.deb" \
        "https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/latest/debian_$debarch/amazon-ssm-agent.deb"
      curl -fsSL -o "$tmp/cwagent.deb" \
        "https://amazoncloudwatch-agent.s3.amazonaws.com/debian/$debarch/latest/amazon-cloudwatch-agent.deb"
      apt-get install -y -q "$tmp/ssm.deb" "$tmp/cwagent.deb"
      rm -rf "$tmp"
      ;;
    amzn)
      # AL2023 ships the AWS CLI and the SSM agent; the rest is in its repositories.
      dnf install -y -q awscli-2 logrotate util-linux amazon-ssm-agent amazon-cloudwatch-agent
      ;;
    *)
      echo "install.sh: unsupported distribution '$id' (debian, amzn)" >&2
      exit 1
      ;;
  esac
  systemctl enable amazon-ssm-agent.service
}

if [ "$os_packages" = 1 ]; then
  install_os_packages
fi

install -D -m 0755 "$binary" "$r/usr/local/bin/staticedge"
install -D -m 0644 "$here/staticedge.service" "$r/etc/systemd/system/staticedge.service"
install -D -m 0644 "$here/staticedge-fetch-config.service" \
  "$r/etc/systemd/system/staticedge-fetch-config.service"
install -D -m 0755 "$here/fetch-config" "$r/usr/local/libexec/staticedge/fetch-config"
install -D -m 0644 "$here/staticedge.logrotate" "$r/etc/logrotate.d/staticedge"
install -D -m 0644 "$here/staticedge.sysusers" "$r/usr/lib/sysusers.d/staticedge.conf"
install -D -m 0644 "$here/staticedge.tmpfiles" "$r/usr/lib/tmpfiles.d/staticedge.conf"
install -D -m 0644 "$config" "$r/usr/local/share/doc/staticedge/staticedge.example.toml"
install -d -m 0750 "$r/etc/staticedge" "$r/etc/staticedge/tls"
install -m 0640 "$config" "$r/etc/staticedge/staticedge.toml"

if [ "$live" = 1 ]; then
  if ! getent passwd staticedge >/dev/null; then
    if command -v systemd-sysusers >/dev/null; then
      systemd-sysusers /usr/lib/sysusers.d/staticedge.conf
    else
      useradd --system --no-create-home --home-dir / --shell "$(command -v nologin || echo /sbin/nologin)" \
        --comment "staticedge TLS edge proxy" staticedge
    fi
  fi
  chown root:staticedge /etc/staticedge /etc/staticedge/tls /etc/staticedge/staticedge.toml
else
  echo "install.sh: ROOT is not /: the staticedge user and file owners are left to systemd-sysusers/systemd-tmpfiles at boot"
fi

# Enabling is a symlink; done by hand so it works the same in a scratch root without
# systemd running. The fetch unit needs none: staticedge.service Requires= it.
install -d "$r/etc/systemd/system/multi-user.target.wants"
ln -sfn /etc/systemd/system/staticedge.service \
  "$r/etc/systemd/system/multi-user.target.wants/staticedge.service"
if [ "$live" = 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "install.sh: staticedge installed under $root"
