#!/usr/bin/env bash
# ansible-test sanity on the collection: it must run from a directory named
# ansible_collections/<namespace>/<name>, so the tracked files are copied into one.
#   tests/sanity.sh [ansible-test sanity options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/fleetworks/airflow"
mkdir -p "$dest"
git ls-files -co --exclude-standard | grep -v '^\.ansible/' | tar -cf - -T - | tar -xf - -C "$dest"
# ansible-test fetches a pip bootstrap script from a host CI cannot reach; ours does the same from PyPI.
pip_version="$(python - <<'PY'
import pathlib, re, ansible_test
text = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)"
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cp tests/tools/get_pip_standin.py "$cache"
skip=(--skip-test pslint)  # no PowerShell in the collection or on these machines
command -v shellcheck >/dev/null 2>&1 || skip+=(--skip-test shellcheck)
cd "$dest"
git init -q && git add -A
ansible-test sanity --venv --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" "${skip[@]}" "$@"
