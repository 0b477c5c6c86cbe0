#!/usr/bin/env bash
# Creates the test virtualenv with Debian's python3 and installs the pinned requirements,
# only when the requirements file changed since the last install.
set -euo pipefail
venv=$1 req=$2
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
