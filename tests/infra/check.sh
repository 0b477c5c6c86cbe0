#!/usr/bin/env bash
# Offline checks of the deployment code: packer/ (AMI template, provisioning script,
# systemd units, logrotate, boot-time config fetch) and terraform/ (fleet module and
# the Elastic Beanstalk example). `make test` runs it (target `infra`).
#
# Nothing here talks to AWS or to any registry: the Debian and Python packages it
# needs are installed first (idempotently), Terraform uses a local provider mirror,
# Packer 1.6.6 validates without credentials. Where Terraform or the mirror is
# missing it says so loudly and falls back to parsing every .tf file plus checkov.
# Prints one line per check and ends with exactly `infra: N passed, M failed`;
# exits 1 when anything failed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
venv=$repo/.venv

# --- Tools ----------------------------------------------------------------------------
# packer 1.6.6 (Debian), shellcheck, systemd-analyze/-sysusers/-tmpfiles, logrotate,
# openssl for throwaway certificates, python3-venv for .venv.
bash tests/tools/apt-install.sh packer shellcheck systemd logrotate openssl python3-venv

# checkov into the repo's venv (the Makefile creates it from tests/requirements.txt;
# create it here too so this script also runs alone). Reinstalled only when
# tests/infra/requirements.txt changed, like tests/tools/venv.sh does.
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
req=tests/infra/requirements.txt
stamp=$venv/.infra-requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "infra: installing $req into .venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/staticedge-infra.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/logs"

# --- Reporting --------------------------------------------------------------------------
passed=0 failed=0 n=0
# check NAME FUNCTION [ARGS...]: runs the function with its output in a log; prints
# the log only when it fails.
check() {
  local name=$1; shift
  n=$((n + 1))
  local log="$work/logs/$n.log"
  local rc
  # Not `if ( ... )`: errexit is ignored inside a condition, even when set again
  # inside, and every check relies on it to stop at the first failing step.
  set +e
  ( set -euo pipefail; "$@" ) >"$log" 2>&1
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    printf 'ok    %s%s\n' "$name" "$(summary "$log")"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      | /' "$log" | tail -n 60
  fi
}
# A check may print "SUMMARY: text" to show a figure (e.g. the security score).
summary() { local s; s=$(sed -n 's/^SUMMARY: //p' "$1" | tail -n 1); [ -z "$s" ] || printf ' (%s)' "$s"; }
warn() { printf '\n!!!!! infra WARNING: %s\n\n' "$*"; }

# --- Shared fixtures --------------------------------------------------------------------
# A stub proxy binary: only `check` is called offline; a config containing BROKEN fails
# it, like a real config error would.
mkdir -p "$work/bin"
cat > "$work/bin/staticedge" <<'EOF'
#!/bin/sh
echo "staticedge-stub $*" >> "${STUB_LOG:-/dev/null}"
if [ "$1" = check ] && grep -q BROKEN "$3"; then echo "$3:1:1: stub rejects BROKEN" >&2; exit 1; fi
exit 0
EOF
chmod +x "$work/bin/staticedge"

example_config=config/staticedge.example.toml
if [ ! -f "$example_config" ]; then
  warn "$example_config does not exist yet: install.sh and packer validate run with a stub config; the AMI build needs the real file"
  printf '[server]\naccess_log = "stdout"\n' > "$work/stub.example.toml"
  example_config=$work/stub.example.toml
fi

# --- Packer -------------------------------------------------------------------------------
packer_fmt() {
  packer fmt -check -diff packer/
  # The modern-only file is not loaded by 1.6.6 under its .modern name; check its
  # formatting under the name it is meant to be copied to.
  mkdir -p "$work/pfmt"
  cp packer/plugins.pkr.hcl.modern "$work/pfmt/plugins.pkr.hcl"
  packer fmt -check -diff "$work/pfmt"
}

# Validated from a copy laid out like the repository (so the default example config
# path resolves) and without a packer/plugins.pkr.hcl an operator may have copied in.
packer_validate() {
  local dir=$work/pvalidate
  mkdir -p "$dir/packer" "$dir/config"
  cp packer/staticedge.pkr.hcl packer/agents.pkrvars.hcl "$dir/packer/"
  cp -r packer/files "$dir/packer/files"
  cp "$example_config" "$dir/config/staticedge.example.toml"
  local base arch sha
  sha=$(sha256sum "$work/bin/staticedge" | cut -d' ' -f1)
  local -a pinned=(-var "staticedge_binary=$work/bin/staticedge" -var "staticedge_sha256=$sha"
    -var version=1.2.3 -var-file "$dir/packer/agents.pkrvars.hcl")
  for base in debian-12 al2023; do
    for arch in x86_64 arm64; do
      echo "== base_os=$base arch=$arch"
      packer validate "${pinned[@]}" -var "base_os=$base" -var "arch=$arch" \
        -var "source_ami_name=$base-$arch-20250814-2204" "$dir/packer"
    done
  done
  # And it must refuse what it cannot build, or would not build reproducibly.
  local bad
  for bad in base_os=ubuntu 'source_ami_name=debian-12-amd64-*' version=dev staticedge_sha256=abc123; do
    if packer validate "${pinned[@]}" -var source_ami_name=debian-12-amd64-20250814-2204 \
      -var "$bad" "$dir/packer" >/dev/null 2>&1; then
      echo "validate accepted $bad"; return 1
    fi
  done
  if packer validate -var "staticedge_binary=$work/bin/staticedge" -var "staticedge_sha256=$sha" \
    -var version=1.2.3 "$dir/packer" >/dev/null 2>&1; then
    echo "validate accepted a build without a pinned base AMI name"; return 1
  fi
  # The image is cleaned last, the temporary key cleared, the manifest records the inputs.
  grep -q 'ssh_clear_authorized_keys = true' packer/staticedge.pkr.hcl
  grep -q 'clean-image.sh' packer/staticedge.pkr.hcl
  grep -q 'post-processor "manifest"' packer/staticedge.pkr.hcl
  if grep -q 'latest/' packer/files/install.sh; then echo "install.sh downloads a 'latest' agent"; return 1; fi
}

check "packer fmt -check" packer_fmt
check "packer validate (Debian 12 / AL2023, x86_64 / arm64)" packer_validate

# --- install.sh into a scratch root ----------------------------------------------------
root=$work/root
expect_mode() { # PATH MODE
  local got
  got=$(stat -c '%a' "$root$1") || { echo "missing: $1"; return 1; }
  [ "$got" = "$2" ] || { echo "$1: mode $got, want $2"; return 1; }
}

install_scratch() {
  bash packer/files/install.sh --binary "$work/bin/staticedge" --config "$example_config" "$root"
  expect_mode /usr/local/bin/staticedge 755
  cmp "$work/bin/staticedge" "$root/usr/local/bin/staticedge"
  expect_mode /etc/systemd/system/staticedge.service 644
  expect_mode /etc/systemd/system/staticedge-fetch-config.service 644
  expect_mode /usr/local/libexec/staticedge/fetch-config 755
  expect_mode /etc/systemd/system/staticedge-lifecycle.service 644
  expect_mode /usr/local/libexec/staticedge/lifecycle-watch 755
  expect_mode /usr/local/libexec/staticedge/smoke-test 755
  expect_mode /etc/systemd/system/staticedge-cloudwatch-metrics.service 644
  expect_mode /usr/local/libexec/staticedge/cloudwatch-metrics 755
  expect_mode /etc/logrotate.d/staticedge 644
  expect_mode /usr/lib/sysusers.d/staticedge.conf 644
  expect_mode /usr/lib/tmpfiles.d/staticedge.conf 644
  expect_mode /etc/staticedge 750
  expect_mode /etc/staticedge/tls 750
  expect_mode /etc/staticedge/staticedge.toml 640
  expect_mode /var/log/staticedge 750
  cmp "$example_config" "$root/etc/staticedge/staticedge.toml"
  cmp "$example_config" "$root/usr/local/share/doc/staticedge/staticedge.example.toml"
  [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/staticedge.service")" = /etc/systemd/system/staticedge.service ]
  [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/staticedge-lifecycle.service")" = /etc/systemd/system/staticedge-lifecycle.service ]
  [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/staticedge-cloudwatch-metrics.service")" = /etc/systemd/system/staticedge-cloudwatch-metrics.service ]
  # A binary that is not the one pinned is refused, and nothing is installed.
  if bash packer/files/install.sh --binary "$work/bin/staticedge" --sha256 "$(printf '0%.0s' {1..64})" \
    --config "$example_config" "$work/root-refused" 2>/dev/null; then
    echo "--sha256 accepted a binary with another digest"; return 1
  fi
  [ ! -e "$work/root-refused/usr/local/bin/staticedge" ]
  bash packer/files/install.sh --binary "$work/bin/staticedge" \
    --sha256 "$(sha256sum "$work/bin/staticedge" | cut -d' ' -f1)" --config "$example_config" "$work/root-pinned" >/dev/null
  # --os-packages would change the machine running it: refused for a scratch root.
  if bash packer/files/install.sh --binary "$work/bin/staticedge" --config "$example_config" --os-packages "$root" 2>/dev/null; then
    echo "--os-packages accepted a scratch root"; return 1
  fi
  echo "SUMMARY: $(find "$root" -type f | wc -l) files"
}

# What systemd does at first boot of the image: create the user, then fix owners.
sysusers_tmpfiles() {
  systemd-sysusers --root="$root"
  grep -E '^staticedge:x:[0-9]+:[0-9]+:[^:]*:/:/usr/sbin/nologin$' "$root/etc/passwd"
  local gid
  gid=$(awk -F: '$1 == "staticedge" { print $3 }' "$root/etc/group")
  systemd-tmpfiles --root="$root" --create
  [ "$(stat -c '%u:%g %a' "$root/etc/staticedge")" = "0:$gid 750" ]
  [ "$(stat -c '%u:%g %a' "$root/etc/staticedge/staticedge.toml")" = "0:$gid 640" ]
  # The access log's directory belongs to the proxy before its first start.
  local uid
  uid=$(awk -F: '$1 == "staticedge" { print $3 }' "$root/etc/passwd")
  [ "$(stat -c '%u:%g %a' "$root/var/log/staticedge")" = "$uid:$gid 750" ]
}

check "install.sh into a scratch root" install_scratch
if [ "$(id -u)" = 0 ]; then
  check "systemd-sysusers + systemd-tmpfiles on the scratch root" sysusers_tmpfiles
else
  warn "not root: systemd-sysusers/systemd-tmpfiles on the scratch root NOT run (they chown)"
fi

# --- systemd units ------------------------------------------------------------------------
# verify needs the stock units (sysinit.target, network-online.target, ...) and every
# Exec*= binary to exist and be executable under --root (install.sh put them there).
verify_root() {
  mkdir -p "$root/usr/lib/systemd/system"
  cp -a /lib/systemd/system/. "$root/usr/lib/systemd/system/"
}

units_verify() {
  verify_root
  local out
  # verify exits 0 on warnings such as "Unknown key name ... ignoring": gate on silence.
  out=$(systemd-analyze verify --root="$root" staticedge.service staticedge-fetch-config.service \
    staticedge-lifecycle.service staticedge-cloudwatch-metrics.service 2>&1)
  if [ -n "$out" ]; then printf '%s\n' "$out"; return 1; fi
}

units_security() {
  local out score
  out=$(systemd-analyze security --offline=true --root="$root" --threshold=100 staticedge.service 2>&1)
  score=$(sed -n 's/.*Overall exposure level for staticedge\.service: \([0-9.]*\).*/\1/p' <<<"$out")
  [ -n "$score" ] || { printf '%s\n' "$out"; return 1; }
  printf '%s\n' "$out" | grep -v '^✓' || true
  echo "SUMMARY: exposure $score, limit 2.5"
  awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'
}

# tf_default FILE VARIABLE: the literal number a variable block defaults to.
tf_default() {
  awk -v want="variable \"$2\" {" '$0 == want { inside = 1 }
    inside && $1 == "default" { print $3; exit }
    inside && $0 == "}" { inside = 0 }' "$1"
}

unit_contract() {
  local u=packer/files/staticedge.service
  grep -qx 'ExecStart=/usr/local/bin/staticedge run --config /etc/staticedge/staticedge.toml' "$u"
  # A refused reload must fail `systemctl reload`: the verdict, not a bare kill -HUP.
  # shellcheck disable=SC2016  # $MAINPID is systemd's, literally in the unit
  grep -qxF 'ExecReload=/usr/local/bin/staticedge reload --config /etc/staticedge/staticedge.toml --pid $MAINPID' "$u"
  grep -qx 'Environment=STATICEDGE_LOG_FORMAT=json' "$u"
  grep -qx 'KillSignal=SIGTERM' "$u"
  grep -qx 'User=staticedge' "$u"
  grep -qx 'Restart=on-failure' "$u"
  grep -qx 'AmbientCapabilities=CAP_NET_BIND_SERVICE' "$u"
  grep -qx 'Requires=staticedge-fetch-config.service' "$u"
  # Stop must outlast grace_period + drain_timeout + 10 s (the module's defaults), and
  # be what the module assumes the AMI has (ami_stop_timeout_seconds).
  local stop grace drain assumed vars=terraform/modules/fleet/variables.tf
  stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$u")
  grace=$(tf_default "$vars" grace_period_seconds)
  drain=$(tf_default "$vars" drain_timeout_seconds)
  assumed=$(tf_default "$vars" ami_stop_timeout_seconds)
  [ -n "$stop" ] && [ -n "$grace" ] && [ -n "$drain" ] && [ -n "$assumed" ]
  [ "$grace" -ge 30 ] || { echo "the module's grace_period_seconds default $grace is under the NLB's 30 s"; return 1; }
  [ "$stop" -ge $((grace + drain + 10)) ] || { echo "TimeoutStopSec=$stop < $grace + $drain + 10"; return 1; }
  [ "$stop" = "$assumed" ] || { echo "TimeoutStopSec=$stop but ami_stop_timeout_seconds defaults to $assumed"; return 1; }
  echo "SUMMARY: TimeoutStopSec=${stop}s >= ${grace}s + ${drain}s + 10s, = ami_stop_timeout_seconds"
}

# The real binary (when one is built) through the bake's smoke test.
smoke_test_run() {
  local b bin=""
  for b in "${STATICEDGE_BIN:-}" target/release/staticedge target/debug/staticedge; do
    if [ -n "$b" ] && [ -x "$b" ]; then bin=$b; break; fi
  done
  if [ -z "$bin" ]; then echo "SUMMARY: no staticedge binary built, not run"; return 0; fi
  bash packer/files/smoke-test "$bin" config/staticedge.example.toml
  # And it must fail for a binary that does not run.
  if bash packer/files/smoke-test /bin/false config/staticedge.example.toml >/dev/null 2>&1; then
    echo "smoke-test passed /bin/false"; return 1
  fi
  echo "SUMMARY: $bin"
}

check "systemd-analyze verify (no output)" units_verify
check "systemd-analyze security --offline=true staticedge.service" units_security
# The watcher's unit: runs the installed script, restarts after a crash but not after
# the exit 0 that ends a drain, is never tied to the proxy's unit (it must outlive a
# failed proxy to abandon the launch), and keeps its launch-gate state across restarts.
lifecycle_unit_contract() {
  local u=packer/files/staticedge-lifecycle.service
  grep -qx 'ExecStart=/usr/local/libexec/staticedge/lifecycle-watch' "$u"
  grep -qx 'Restart=on-failure' "$u"
  grep -qx 'RuntimeDirectory=staticedge-lifecycle' "$u"
  grep -qx 'RuntimeDirectoryPreserve=yes' "$u"
  grep -qx 'WantedBy=multi-user.target' "$u"
  if grep -Eq '^(Requires|BindsTo|PartOf)=.*staticedge\.service' "$u"; then
    echo "the watcher must not depend on staticedge.service"; return 1
  fi
  # shellcheck disable=SC2016  # the script's own text, literally
  grep -qF 'state_dir=${STATICEDGE_STATE_DIR:-/run/staticedge-lifecycle}' packer/files/lifecycle-watch
}

check "staticedge.service lifecycle contract" unit_contract
check "staticedge-lifecycle.service contract" lifecycle_unit_contract
check "smoke-test of the real binary (--version, check of the example)" smoke_test_run

# --- logrotate ------------------------------------------------------------------------------
# The real config with the user and directory swapped for this machine's: a forced
# rotation must rotate and send SIGUSR1 to the proxy's main process through
# `systemctl kill` (stubbed), never a reload.
logrotate_run() {
  local d=$work/logrotate me grp
  me=$(id -un); grp=$(id -gn)
  mkdir -p "$d/log" "$d/bin"
  sed -e "s#/var/log/staticedge#$d/log#" -e "s#staticedge staticedge#$me $grp#g" \
    packer/files/staticedge.logrotate > "$d/conf"
  printf '#!/bin/sh\necho "$*" >> %s/systemctl.calls\n' "$d" > "$d/bin/systemctl"
  chmod +x "$d/bin/systemctl"
  echo '{"msg":"one request"}' > "$d/log/access.log"
  PATH="$d/bin:$PATH" logrotate -v -f -s "$d/state" "$d/conf"
  [ -s "$d/log/access.log.1" ]
  [ "$(stat -c %a "$d/log/access.log")" = 640 ]
  grep -qx 'kill --kill-whom=main --signal=USR1 staticedge.service' "$d/systemctl.calls"
  if grep -q reload "$d/systemctl.calls"; then echo "logrotate reloads the proxy"; return 1; fi
}
check "logrotate config rotates and sends SIGUSR1 (reopen, no reload)" logrotate_run

# The unit's ExecReload line and logrotate's postrotate, run as written against the
# real binary (when one is built) serving on loopback: a reload it applies exits 0, a
# restart-only change exits 1 with the reason, and a forced rotation makes the proxy
# write to the new file and keep running.
built_binary() {
  local b
  for b in "${STATICEDGE_BIN:-}" target/debug/staticedge target/release/staticedge; do
    if [ -n "$b" ] && [ -x "$b" ]; then printf '%s\n' "$b"; return 0; fi
  done
}
wait_for() { # SECONDS COMMAND...: polls every 0.1 s
  local tries=$(($1 * 10)); shift
  until "$@"; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.1
  done
}
# True once PID has ended (gone, or a zombie waiting for `wait`).
exited() { local st; st=$(ps -o stat= -p "$1") || return 0; [[ $st == Z* ]]; }
live_reload_and_rotation() {
  local bin d=$work/live pid="" admin port
  bin=$(built_binary)
  if [ -z "$bin" ]; then echo "SUMMARY: no staticedge binary built, not run"; return 0; fi
  bin=$(realpath "$bin")
  mkdir -p "$d/log" "$d/bin"
  read -r admin port < <(python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
  # The upstream is a closed port: every request is a logged 502, no app needed.
  live_config() { # LISTEN_PORT
    cat <<EOF
[server]
access_log = "$d/log/access.log"
grace_period = "0s"

[admin]
listen = "127.0.0.1:$admin"

[[listener]]
listen = "127.0.0.1:$1"
tls = false

[[route]]
hosts = ["app.test"]
upstream = "app"
host_header = "upstream"

[upstream.app]
address = "127.0.0.1:9"
EOF
  }
  live_config "$port" > "$d/staticedge.toml"
  "$bin" run --config "$d/staticedge.toml" 2>"$d/proxy.log" &
  pid=$!
  # shellcheck disable=SC2064  # the pid is known now
  trap "kill -KILL $pid 2>/dev/null || true" EXIT
  wait_for 20 curl -fs -o /dev/null "http://127.0.0.1:$admin/healthz"

  echo "== ExecReload as the unit writes it"
  local line
  local -a reload
  line=$(sed -n 's/^ExecReload=//p' packer/files/staticedge.service)
  read -ra reload <<<"$line"
  reload=("${reload[@]//\/usr\/local\/bin\/staticedge/$bin}")
  reload=("${reload[@]//\/etc\/staticedge\/staticedge.toml/$d/staticedge.toml}")
  reload=("${reload[@]//\$MAINPID/$pid}")
  echo "${reload[*]}"
  "${reload[@]}"
  live_config "$((port == 65535 ? port - 1 : port + 1))" > "$d/staticedge.toml"
  local out
  if out=$("${reload[@]}" 2>&1); then
    printf '%s\n' "$out"; echo "ExecReload succeeded for a refused (restart-only) change"; return 1
  fi
  printf '%s\n' "$out"
  grep -q 'needs a restart' <<<"$out"
  live_config "$port" > "$d/staticedge.toml"
  "${reload[@]}"

  echo "== logrotate's postrotate, with systemctl kill as systemd would do it"
  local me grp
  me=$(id -un); grp=$(id -gn)
  sed -e "s#/var/log/staticedge#$d/log#" -e "s#staticedge staticedge#$me $grp#g" \
    packer/files/staticedge.logrotate > "$d/logrotate.conf"
  cat > "$d/bin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >> "$d/systemctl.calls"
[ "\$*" = "kill --kill-whom=main --signal=USR1 staticedge.service" ] || exit 1
exec kill -USR1 $pid
EOF
  chmod +x "$d/bin/systemctl"
  curl -s -o /dev/null -H 'Host: app.test' "http://127.0.0.1:$port/before-rotation"
  wait_for 10 grep -q before-rotation "$d/log/access.log"
  PATH="$d/bin:$PATH" logrotate -f -s "$d/logrotate.state" "$d/logrotate.conf"
  grep -q before-rotation "$d/log/access.log.1"
  wait_for 10 grep -q 'access log reopened (no reload)' "$d/proxy.log"
  curl -s -o /dev/null -H 'Host: app.test' "http://127.0.0.1:$port/after-rotation"
  wait_for 10 grep -q after-rotation "$d/log/access.log"
  if grep -q after-rotation "$d/log/access.log.1"; then echo "written to the rotated file"; return 1; fi
  kill -0 "$pid"

  # A drain with nothing in flight and no grace period: exit 0 at once.
  kill -TERM "$pid"
  wait_for 20 exited "$pid"
  wait "$pid"
  echo "SUMMARY: $bin: reload 0, restart-only change 1, rotation reopened"
}
check "ExecReload and logrotate against the real binary (loopback)" live_reload_and_rotation

# --- fetch-config, offline ---------------------------------------------------------------
# The boot script against a scratch /etc/staticedge with a stub `aws` that serves a
# config and a PEM bundle, a stub proxy for `staticedge check`, a stub systemctl.
fetch_config_run() {
  local d=$work/fetch etc
  etc=$d/etc/staticedge
  mkdir -p "$etc" "$d/bin" "$d/aws"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=api.example.com -addext subjectAltName=DNS:api.example.com \
    -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
  cat "$d/key.pem" "$d/cert.pem" > "$d/aws/bundle"
  printf '[server]\ngrace_period = "15s"\n' > "$d/aws/config"
  cat > "$d/bin/aws" <<EOF
#!/bin/sh
echo "\$*" >> "$d/aws.calls"
case "\$1 \$2" in
  "ssm get-parameter") cat "$d/aws/config" ;;
  "secretsmanager get-secret-value") cat "$d/aws/bundle" ;;
  *) exit 1 ;;
esac
EOF
  # `systemctl reload` exits $STUB_RELOAD_RC (0 unless a case sets it): the proxy's verdict.
  cat > "$d/bin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >> "$d/systemctl.calls"
[ "\$1" != reload ] || exit "\${STUB_RELOAD_RC:-0}"
EOF
  chmod +x "$d/bin/aws" "$d/bin/systemctl"
  cat > "$etc/bootstrap.env" <<'EOF'
STATICEDGE_REGION=us-east-1
STATICEDGE_CONFIG_PARAMETER=/staticedge/test/config
STATICEDGE_TLS_SECRETS="api.example.com=arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"
STATICEDGE_TLS_SECRET_VERSIONS="api.example.com=a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
STATICEDGE_ASG_NAME=staticedge
STATICEDGE_DRAIN_DELAY=90
STATICEDGE_METRICS_AGENT_CONFIG=ssm:AmazonCloudWatch-staticedge-prometheus
EOF
  # Owned by whoever runs the checks instead of root/staticedge; one fetch attempt.
  STATICEDGE_USER=$(id -un) STATICEDGE_GROUP=$(id -gn) STATICEDGE_ETC_OWNER=$(id -un)
  export STATICEDGE_USER STATICEDGE_GROUP STATICEDGE_ETC_OWNER STATICEDGE_ETC=$etc \
    STATICEDGE_BIN=$work/bin/staticedge STATICEDGE_AWS=$d/bin/aws STATICEDGE_FETCH_ATTEMPTS=1 \
    STUB_LOG=$d/staticedge.calls PATH="$d/bin:$PATH"
  local fc=packer/files/fetch-config

  echo "== boot: fetch, install, check"
  bash "$fc"
  cmp "$d/aws/config" "$etc/staticedge.toml"
  [ "$(stat -c %a "$etc/staticedge.toml")" = 640 ]
  cmp "$d/key.pem" "$etc/tls/api.example.com/privkey.pem"
  cmp "$d/cert.pem" "$etc/tls/api.example.com/fullchain.pem"
  [ "$(stat -c %a "$etc/tls/api.example.com/privkey.pem")" = 600 ]
  grep -qx "staticedge-stub check --config $etc/staticedge.toml" "$d/staticedge.calls"
  grep -q -- '--secret-id arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf --version-id a1b2c3d4-5678-90ab-cdef-EXAMPLE11111' "$d/aws.calls"
  # The lifecycle keys are known, not "unknown keys".
  if bash "$fc" 2>&1 | grep -q 'ignoring unknown key'; then echo "lifecycle keys reported as unknown"; return 1; fi
  [ ! -e "$d/systemctl.calls" ]
  [ -z "$(find "$etc" -name '.fetch.*')" ]

  echo "== rotation rejected by staticedge check: old files back, no reload"
  printf '[server]\nBROKEN = 1\n' > "$d/aws/config"
  if bash "$fc" --reload; then echo "a rejected config was accepted"; return 1; fi
  grep -q 'grace_period' "$etc/staticedge.toml"
  cmp "$d/key.pem" "$etc/tls/api.example.com/privkey.pem"
  [ ! -e "$d/systemctl.calls" ]

  echo "== rotation accepted: reload"
  printf '[server]\ngrace_period = "20s"\n' > "$d/aws/config"
  bash "$fc" --reload
  grep -q '"20s"' "$etc/staticedge.toml"
  grep -qx 'reload staticedge.service' "$d/systemctl.calls"

  echo "== rotation the proxy refuses (systemctl reload fails): exit 1, said plainly"
  local out
  printf '[server]\nthreads = 9\n' > "$d/aws/config"
  if out=$(STUB_RELOAD_RC=1 bash "$fc" --reload 2>&1); then
    printf '%s\n' "$out"; echo "a refused reload reported success"; return 1
  fi
  printf '%s\n' "$out"
  grep -q 'refused; the previous configuration keeps serving' <<<"$out"
  if grep -q 'staticedge reloaded' <<<"$out"; then echo "said reloaded after a refusal"; return 1; fi
  [ "$(grep -c '^reload staticedge.service$' "$d/systemctl.calls")" = 2 ]

  echo "== a secret without a private key is refused"
  cp "$d/cert.pem" "$d/aws/bundle"
  if timeout 20 bash "$fc" >/dev/null 2>&1; then echo "bundle without key accepted"; return 1; fi
  cmp "$d/key.pem" "$etc/tls/api.example.com/privkey.pem"
}
check "fetch-config (stub aws): fetch, modes, check, rollback, reload" fetch_config_run

# --- cloudwatch-metrics, offline ----------------------------------------------------------
# The boot script that starts the CloudWatch agent's Prometheus scrape, against a stub
# amazon-cloudwatch-agent-ctl: nothing without the key, the exact fetch-config call
# with it, a failing agent fails the unit, a foreign parameter is refused.
cloudwatch_metrics_run() {
  local d=$work/cwmetrics cm=packer/files/cloudwatch-metrics
  mkdir -p "$d/etc"
  cat > "$d/ctl" <<EOF
#!/bin/sh
echo "\$*" >> "$d/ctl.calls"
exit "\${STUB_CTL_RC:-0}"
EOF
  chmod +x "$d/ctl"
  export STATICEDGE_ETC=$d/etc STATICEDGE_CWAGENT_CTL=$d/ctl STATICEDGE_FETCH_ATTEMPTS=1

  echo "== no key: nothing started"
  printf 'STATICEDGE_REGION=us-east-1\n' > "$d/etc/bootstrap.env"
  bash "$cm"
  [ ! -e "$d/ctl.calls" ]

  echo "== key: the agent loads exactly that config and starts"
  printf 'STATICEDGE_REGION=us-east-1\nSTATICEDGE_METRICS_AGENT_CONFIG=ssm:AmazonCloudWatch-edge-prometheus\n' > "$d/etc/bootstrap.env"
  bash "$cm"
  [ "$(cat "$d/ctl.calls")" = "-a fetch-config -m ec2 -s -c ssm:AmazonCloudWatch-edge-prometheus" ]

  echo "== the agent refuses: the unit fails"
  if STUB_CTL_RC=1 bash "$cm"; then echo "a failing agent was reported as running"; return 1; fi

  echo "== a parameter that is not an agent config: refused, agent untouched"
  rm -f "$d/ctl.calls"
  printf 'STATICEDGE_METRICS_AGENT_CONFIG=ssm:/staticedge/prod/config\n' > "$d/etc/bootstrap.env"
  if bash "$cm" 2>/dev/null; then echo "accepted a foreign parameter"; return 1; fi
  [ ! -e "$d/ctl.calls" ]
}
check "cloudwatch-metrics (stub agent): off without the key, fetch-config with it" cloudwatch_metrics_run

# --- shellcheck --------------------------------------------------------------------------------
shell_scripts() {
  local f
  while IFS= read -r -d '' f; do
    case "$f" in
      *.sh) printf '%s\n' "$f" ;;
      *) head -n1 "$f" | grep -Eq '^#!.*(ba|da)?sh' && printf '%s\n' "$f" ;;
    esac
  done < <(find packer tests/infra -type f -print0) | sort
}
shellcheck_all() {
  local files
  mapfile -t files < <(shell_scripts)
  [ "${#files[@]}" -gt 0 ]
  shellcheck -x "${files[@]}"
  echo "SUMMARY: ${#files[@]} scripts: ${files[*]}"
}
check "shellcheck" shellcheck_all

# --- Terraform ----------------------------------------------------------------------------------
hcl_static() { "$venv/bin/python" tests/infra/hcl_check.py "$repo"; }
check "HCL parse of every .tf/.hcl + static fleet assertions (hcl2)" hcl_static

# The module README's inputs/outputs tables are generated from variables.tf and
# outputs.tf; a change to either without regenerating fails here.
module_docs() { "$venv/bin/python" tests/infra/module_docs.py "terraform/modules/$1"; }
check "terraform/modules/fleet/README.md tables match the code" module_docs fleet
check "terraform/modules/egress/README.md tables match the code" module_docs egress

# --- Docs in step with the code ------------------------------------------------------------
# tests/infra/docs_check.py on the tree, then on a copy with one thing broken, which it
# must refuse (so a check that cannot fail does not pass for ever).
docs_copy() { # DIR: the files docs_check.py reads
  mkdir -p "$1/terraform/examples" "$1/crates/staticedge"
  cp -r docs Makefile "$1/"
  cp -r terraform/examples/elastic-beanstalk "$1/terraform/examples/"
  cp -r crates/staticedge/src "$1/crates/staticedge/"
}
docs_refuses() { # CHECK DIR WHAT
  if "$venv/bin/python" tests/infra/docs_check.py "$1" "$2"; then
    echo "docs_check.py $1 accepted $3"; return 1
  fi
}
# shellcheck disable=SC2016  # Markdown's backticks, literally
docs_outputs() {
  "$venv/bin/python" tests/infra/docs_check.py outputs "$repo"
  local d=$work/docs-outputs
  docs_copy "$d"
  printf '\nRun `terraform -chdir=x output -raw no_such_output`.\n' >> "$d/docs/deploy.md"
  docs_refuses outputs "$d" "an output the example does not have"
}
# shellcheck disable=SC2016  # Markdown's backticks, literally
docs_signals() {
  "$venv/bin/python" tests/infra/docs_check.py signals "$repo"
  local d=$work/docs-signals
  docs_copy "$d"
  sed -i '/^| `SIGQUIT` |/d' "$d/docs/operations.md"
  docs_refuses signals "$d" "a table without SIGQUIT"
  docs_copy "$d"
  sed -i 's/^| `SIGUSR2`, /| `SIGUSR2`, `SIGCHLD`, /' "$d/docs/operations.md"
  docs_refuses signals "$d" "a table naming a signal the code does not handle"
  docs_copy "$d"
  sed -i 's/(libc::SIGPWR, "SIGPWR"),/(libc::SIGPWR, "SIGPWR"),\n    (libc::SIGURG, "SIGURG"),/' \
    "$d/crates/staticedge/src/signals.rs"
  docs_refuses signals "$d" "code ignoring a signal the table does not name"
}
docs_build_packages() {
  "$venv/bin/python" tests/infra/docs_check.py builddeps "$repo"
  local d=$work/docs-builddeps
  docs_copy "$d"
  sed -i 's/^BUILD_DEBS := /BUILD_DEBS := libssl-dev /' "$d/Makefile"
  docs_refuses builddeps "$d" "a Makefile package step 0 does not name"
}
check "docs: every \`terraform output NAME\` is an output of the example" docs_outputs
check "docs/operations.md: the signals table names what the code handles and ignores" docs_signals
check "docs/deploy.md: step 0 names the Makefile's build packages" docs_build_packages

changelog_version() {
  local v e
  v=$(sed -n 's/^  value       = "\([0-9.]*\)"$/\1/p' terraform/modules/fleet/outputs.tf)
  [ -n "$v" ] || { echo "no module_version output"; return 1; }
  grep -qx "## $v" terraform/modules/fleet/CHANGELOG.md || { echo "CHANGELOG.md has no ## $v"; return 1; }
  grep -q "fleet_module_version = \"$v\"" terraform/examples/elastic-beanstalk/main.tf ||
    { echo "the example is not pinned to $v"; return 1; }
  e=$(sed -n 's/^  value       = "\([0-9.]*\)"$/\1/p' terraform/modules/egress/outputs.tf)
  [ -n "$e" ] || { echo "no egress module_version output"; return 1; }
  grep -qx "## $e" terraform/modules/egress/CHANGELOG.md || { echo "egress CHANGELOG.md has no ## $e"; return 1; }
  echo "SUMMARY: fleet $v, in CHANGELOG.md and pinned by the example; egress $e in its CHANGELOG.md"
}
check "module versions: outputs, CHANGELOGs and the example's pin agree" changelog_version

tf=$(command -v terraform || true)
mirror=""
if [ -n "$tf" ]; then
  hit=$(find / -maxdepth 4 \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
    -type d -path '*registry.terraform.io/hashicorp' -print 2>/dev/null | head -n1 || true)
  [ -n "$hit" ] && mirror=$(dirname "$(dirname "$hit")")
fi

if [ -n "$tf" ] && [ -n "$mirror" ]; then
  # Our own CLI config (whatever TF_CLI_CONFIG_FILE says otherwise): the mirror only.
  cat > "$work/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path = "$mirror"
  }
}
disable_checkpoint = true
EOF
  export TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
  unset TF_PLUGIN_CACHE_DIR
  echo "infra: terraform $("$tf" version | head -n1 | cut -d' ' -f2), provider mirror $mirror"
  # init writes .terraform/ and a lock file: work on a copy, keep the tree clean.
  cp -r terraform "$work/tf"

  tf_fmt() { "$tf" fmt -check -recursive -diff terraform; }
  tf_init() { (cd "$work/tf/$1" && "$tf" init -backend=false -input=false -no-color); }
  tf_validate() { (cd "$work/tf/$1" && "$tf" validate -no-color); }
  tf_test() {
    local out
    out=$(cd "$work/tf/$1" && "$tf" test -no-color 2>&1) || { printf '%s\n' "$out"; return 1; }
    printf '%s\n' "$out"
    echo "SUMMARY: $(grep -E '^Success!' <<<"$out" | sed 's/^Success! //')"
  }
  # The example's config template rendered and parsed as TOML; with a built proxy, it
  # must also pass `staticedge check` (certificate paths pointed at throwaway ones).
  tf_render() {
    local d=$work/render out bin
    mkdir -p "$d"
    out=$(cd "$work/tf/examples/elastic-beanstalk" && "$tf" console -no-color <<'EOF'
templatefile("staticedge.toml.tftpl", { grace_period = "30s", drain_timeout = "60s", cert_names = ["api.example.com"], http_listener = true, hostnames = ["api.example.com"], host_header = "preserve", upstream = "myapp.eba-abc123.us-east-1.elasticbeanstalk.com:80", upstream_tls = false, probe_path = "/health", probe_hostname = "api.example.com", proxy_protocol = "optional" })
EOF
)
    sed -e '1{/^<<EOT$/d}' -e '${/^EOT$/d}' <<<"$out" > "$d/staticedge.toml"
    "$venv/bin/python" -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$d/staticedge.toml"
    bin=""
    for b in "${STATICEDGE_BIN:-}" target/debug/staticedge target/release/staticedge; do
      if [ -n "$b" ] && [ -x "$b" ]; then bin=$b; break; fi
    done
    if [ -z "$bin" ]; then
      echo "SUMMARY: TOML ok; no staticedge binary built, \`staticedge check\` not run"
      return 0
    fi
    mkdir -p "$d/tls/api.example.com"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj /CN=api.example.com -addext subjectAltName=DNS:api.example.com \
      -keyout "$d/tls/api.example.com/privkey.pem" -out "$d/tls/api.example.com/fullchain.pem" 2>/dev/null
    sed -i -e "s#/etc/staticedge/tls#$d/tls#g" -e "s#/var/log/staticedge#$d#g" "$d/staticedge.toml"
    "$bin" check --config "$d/staticedge.toml"
    echo "SUMMARY: TOML ok; $bin check ok"
  }

  check "terraform fmt -check -recursive" tf_fmt
  for dir in modules/fleet modules/egress examples/elastic-beanstalk; do
    check "terraform init -backend=false ($dir)" tf_init "$dir"
    check "terraform validate ($dir)" tf_validate "$dir"
    check "terraform test ($dir)" tf_test "$dir"
  done
  check "example config template renders to valid config" tf_render
else
  if [ -z "$tf" ]; then
    warn "terraform is not installed: terraform fmt/init/validate/test NOT run. Falling back to the hcl2 parse above and checkov."
  else
    warn "no provider mirror (find / -maxdepth 4 -path '*registry.terraform.io/hashicorp*' found nothing) and the registry is unreachable: terraform init/validate/test NOT run. Falling back to the hcl2 parse above and checkov."
    tf_fmt() { "$tf" fmt -check -recursive -diff terraform; }
    check "terraform fmt -check -recursive" tf_fmt
  fi
fi

# --- checkov --------------------------------------------------------------------------------------
checkov_run() {
  # Every suppression must say why: #checkov:skip=ID:reason.
  local bad
  bad=$(grep -rn 'checkov:skip=' terraform | grep -Ev 'checkov:skip=[A-Z0-9_]+:[^ ].{9,}' || true)
  if [ -n "$bad" ]; then echo "skip without a reason:"; echo "$bad"; return 1; fi
  local out
  out=$("$venv/bin/checkov" -d terraform --framework terraform --skip-download --quiet --compact 2>&1) || {
    printf '%s\n' "$out"; return 1; }
  printf '%s\n' "$out"
  echo "SUMMARY: $(grep -Eo 'Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' <<<"$out" | head -n1)"
}
check "checkov terraform/ (skips explained inline)" checkov_run

echo
echo "infra: $passed passed, $failed failed"
[ "$failed" = 0 ]
