#!/usr/bin/env bash
# `make interop`: Netmiko (pinned in requirements.txt) as the oracle for
# fleet's lab and shell engine. Creates a venv under target/interop, then
# runs interop.py against a fresh `fleet lab`. Fails, saying why, when
# Python or the venv cannot be set up: it never skips.
set -euo pipefail
fleet=${1:?usage: run.sh FLEET_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=$root/target/interop/venv
work=$root/target/interop/work

python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "interop: FAILED: python3 not found (Debian: apt-get install python3 python3-venv)" >&2
  exit 2
fi
stamp=$venv/.requirements
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  if ! "$python" -m venv "$venv"; then
    echo "interop: FAILED: '$python -m venv' failed (Debian: apt-get install python3-venv)" >&2
    exit 2
  fi
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"; then
    echo "interop: FAILED: pip could not install $here/requirements.txt from PyPI" >&2
    exit 2
  fi
  cp "$here/requirements.txt" "$stamp"
fi
rm -rf "$work"
exec "$venv/bin/python" "$here/interop.py" "$fleet" "$work"
