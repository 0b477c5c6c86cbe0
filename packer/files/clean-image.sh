#!/usr/bin/env bash
# Last step of the bake (packer/staticedge.pkr.hcl, with sudo): leaves nothing of the
# build instance in the image, so every instance boots as a first boot.
#   - machine-id emptied: systemd generates a new one at first boot (journal, DHCP
#     client ids and the like are then per instance);
#   - cloud-init state, logs and seed removed: user data runs again at first boot;
#   - SSH host keys removed (regenerated at boot if sshd is ever enabled);
#   - sshd disabled unless --keep-sshd: Session Manager is the way in;
#   - the build user's authorized_keys emptied (Packer's temporary key; Packer's
#     ssh_clear_authorized_keys does the same once more after this script).
#
#   clean-image.sh [--keep-sshd] BUILD_USER
set -euo pipefail

keep_sshd=0
if [ "${1:-}" = --keep-sshd ]; then keep_sshd=1; shift; fi
build_user=${1:?usage: clean-image.sh [--keep-sshd] BUILD_USER}

if [ "$keep_sshd" = 0 ]; then
  for unit in ssh.service sshd.service ssh.socket; do
    if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
      systemctl disable "$unit" >/dev/null 2>&1 || true
    fi
  done
  echo "clean-image: sshd disabled (Session Manager is the access path)"
fi

if command -v cloud-init >/dev/null; then
  cloud-init clean --logs --seed
fi
rm -f /etc/ssh/ssh_host_*
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
home=$(getent passwd "$build_user" | cut -d: -f6)
if [ -n "$home" ] && [ -f "$home/.ssh/authorized_keys" ]; then
  : > "$home/.ssh/authorized_keys"
fi
: > /root/.ssh/authorized_keys 2>/dev/null || true
echo "clean-image: machine-id, cloud-init state, host keys and authorized_keys reset"
