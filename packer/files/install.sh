#!/usr/bin/env bash
# The one provisioning script of the AMI (run by packer/staticedge.pkr.hcl with sudo),
# also run by tests/infra/check.sh against a scratch directory.
#
#   install.sh [--binary PATH] [--sha256 HEX] [--config PATH] [--os-packages] ROOT
#
# ROOT is a DESTDIR-style prefix: "/" on the build instance, any directory otherwise.
# Installs under ROOT:
#   /usr/local/bin/staticedge                       the binary (--binary)
#   /etc/systemd/system/staticedge.service           the proxy, enabled
#   /etc/systemd/system/staticedge-fetch-config.service  boot-time config fetch
#   /usr/local/libexec/staticedge/fetch-config      what that unit runs
#   /etc/systemd/system/staticedge-lifecycle.service  launch gate, drain on scale-in,
#                                                   liveness report; enabled
#   /usr/local/libexec/staticedge/lifecycle-watch   what that unit runs
#   /usr/local/libexec/staticedge/smoke-test        --version + check of a sample
#   /etc/systemd/system/staticedge-cloudwatch-metrics.service  metrics to CloudWatch
#                                                   when the user data asks; enabled
#   /usr/local/libexec/staticedge/cloudwatch-metrics  what that unit runs
#   /etc/staticedge/staticedge.toml                 the example config (--config),
#                                                   replaced at boot from SSM
#   /etc/staticedge/tls/                            certificates, fetched at boot
#   /usr/local/share/doc/staticedge/staticedge.example.toml
#   /etc/logrotate.d/staticedge                     for a file access log
#   /usr/lib/sysusers.d/staticedge.conf             the `staticedge` system user
#   /usr/lib/tmpfiles.d/staticedge.conf             modes/owners of /etc/staticedge
#                                                   and /var/log/staticedge
#   /var/log/staticedge/                            the access log's directory
# Only when ROOT is "/": creates the user now, sets owners, and with --os-packages
# installs what the boot path needs from the distribution (AWS CLI, logrotate, curl,
# SSM agent, CloudWatch agent) and smoke-tests the binary on this host. Elsewhere users
# and owners are left to systemd-sysusers and systemd-tmpfiles at first boot, so no
# root is needed.
# --sha256 refuses a binary whose SHA-256 differs (the build pins what it bakes).
# On Debian the two AWS agents are not packaged: their versions and SHA-256 come from
# SSM_AGENT_VERSION/SSM_AGENT_SHA256 and CLOUDWATCH_AGENT_VERSION/CLOUDWATCH_AGENT_SHA256
# (set by the Packer template) and a download that does not match is refused.
# Nothing is started: the image must boot into a fresh fetch of config and keys.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary="" sha256="" config="" os_packages=0 root=""

usage() { echo "usage: $0 [--binary PATH] [--sha256 HEX] [--config PATH] [--os-packages] ROOT" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?}; shift 2 ;;
    --sha256) sha256=${2:?}; shift 2 ;;
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

if [ -n "$sha256" ]; then
  got=$(sha256sum "$binary" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    echo "install.sh: $binary has SHA-256 $got, expected $sha256: refusing to install it" >&2
    exit 1
  fi
  echo "install.sh: $binary SHA-256 verified"
fi

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
      apt-get install -y -q --no-install-recommends awscli curl ca-certificates logrotate util-linux openssl
      # Debian's AMIs ship neither agent and Debian does not package them. AWS's
      # download locations by version (never `latest`), each checked against a pinned
      # SHA-256 before dpkg sees it.
      local debarch=amd64 tmp
      [ "$arch" = aarch64 ] && debarch=arm64
      : "${SSM_AGENT_VERSION:?set SSM_AGENT_VERSION and SSM_AGENT_SHA256 (pinned agent)}"
      : "${SSM_AGENT_SHA256:?set SSM_AGENT_SHA256}"
      : "${CLOUDWATCH_AGENT_VERSION:?set CLOUDWATCH_AGENT_VERSION and CLOUDWATCH_AGENT_SHA256 (pinned agent)}"
      : "${CLOUDWATCH_AGENT_SHA256:?set CLOUDWATCH_AGENT_SHA256}"
      tmp=$(mktemp -d)
      curl -fsSL -o "$tmp/ssm.deb" \
        "https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/$SSM_AGENT_VERSION/debian_$debarch/amazon-ssm-agent.deb"
      curl -fsSL -o "$tmp/cwagent.deb" \
        "https://amazoncloudwatch-agent.s3.amazonaws.com/debian/$debarch/$CLOUDWATCH_AGENT_VERSION/amazon-cloudwatch-agent.deb"
      printf '%s  %s\n' "$SSM_AGENT_SHA256" "$tmp/ssm.deb" "$CLOUDWATCH_AGENT_SHA256" "$tmp/cwagent.deb" \
        | sha256sum -c - || { echo "install.sh: agent package checksum mismatch" >&2; exit 1; }
      apt-get install -y -q "$tmp/ssm.deb" "$tmp/cwagent.deb"
      rm -rf "$tmp"
      ;;
    amzn)
      # AL2023 ships the AWS CLI and the SSM agent; the rest is in its repositories,
      # whose packages dnf verifies against Amazon's signing key (gpgcheck=1).
      dnf install -y -q awscli-2 logrotate util-linux openssl amazon-ssm-agent amazon-cloudwatch-agent
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
install -D -m 0644 "$here/staticedge-lifecycle.service" \
  "$r/etc/systemd/system/staticedge-lifecycle.service"
install -D -m 0755 "$here/lifecycle-watch" "$r/usr/local/libexec/staticedge/lifecycle-watch"
install -D -m 0755 "$here/smoke-test" "$r/usr/local/libexec/staticedge/smoke-test"
install -D -m 0644 "$here/staticedge-cloudwatch-metrics.service" \
  "$r/etc/systemd/system/staticedge-cloudwatch-metrics.service"
install -D -m 0755 "$here/cloudwatch-metrics" "$r/usr/local/libexec/staticedge/cloudwatch-metrics"
install -D -m 0644 "$here/staticedge.logrotate" "$r/etc/logrotate.d/staticedge"
install -D -m 0644 "$here/staticedge.sysusers" "$r/usr/lib/sysusers.d/staticedge.conf"
install -D -m 0644 "$here/staticedge.tmpfiles" "$r/usr/lib/tmpfiles.d/staticedge.conf"
install -D -m 0644 "$config" "$r/usr/local/share/doc/staticedge/staticedge.example.toml"
install -d -m 0750 "$r/etc/staticedge" "$r/etc/staticedge/tls"
install -m 0640 "$config" "$r/etc/staticedge/staticedge.toml"
install -d -m 0750 "$r/var/log/staticedge"

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
  # Writable by the proxy before its first start, so `staticedge check` can say so.
  chown staticedge:staticedge /var/log/staticedge
  # The binary must run here, on the image's own OS and CPU, before it is baked.
  /usr/local/libexec/staticedge/smoke-test /usr/local/bin/staticedge "$config"
else
  echo "install.sh: ROOT is not /: the staticedge user and file owners are left to systemd-sysusers/systemd-tmpfiles at boot"
fi

# Enabling is a symlink; done by hand so it works the same in a scratch root without
# systemd running. The fetch unit needs none: staticedge.service Requires= it.
install -d "$r/etc/systemd/system/multi-user.target.wants"
for unit in staticedge.service staticedge-lifecycle.service staticedge-cloudwatch-metrics.service; do
  ln -sfn "/etc/systemd/system/$unit" "$r/etc/systemd/system/multi-user.target.wants/$unit"
done
if [ "$live" = 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "install.sh: staticedge installed under $root"
