#!/usr/bin/env bash
# Make this machine able to run the fleet: a Docker engine, debootstrap, and
# the pinned controller tools in .venv. Safe to run again; does only what is
# missing. Needs root (or sudo) for the system packages and dockerd.
#   scripts/bootstrap.sh            # what the fleet needs
#   scripts/bootstrap.sh --browser  # and Debian's headless Chromium for the browser checks
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_pkgs+=(python3 python3-venv)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
command -v shellcheck >/dev/null 2>&1 || need_pkgs+=(shellcheck)  # ansible-test sanity, the scripts' lint
if [ "${1:-}" = --browser ]; then  # scripts/demo/browse.py: Debian's browser and driver, no download of its own
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)
  command -v certutil >/dev/null 2>&1 || need_pkgs+=(libnss3-tools)
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${need_pkgs[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Use a reachable Docker engine; start one when there is none (these machines
# have no systemd to do it).
if ! docker info >/dev/null 2>&1; then
  echo "bootstrap: starting dockerd (log: /var/log/fleet-dockerd.log)"
  "${sudo_cmd[@]}" sh -c 'nohup dockerd >/var/log/fleet-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 30 /var/log/fleet-dockerd.log; echo "bootstrap: dockerd did not start" >&2; exit 1; }
fi

# The checkout is the fleetworks.airflow collection: link it where Ansible looks for
# collections (ansible.cfg), so playbooks run from here find its modules by FQCN.
link=.ansible/collections/ansible_collections/fleetworks/airflow
if [ "$(readlink "$link" 2>/dev/null || true)" != ../../../.. ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../../.. "$link"
fi

# Controller tools, reinstalled only when requirements-dev.txt changes.
want="$(sha256sum requirements-dev.txt | cut -c1-16)"
if [ "$(cat .venv/.requirements-hash 2>/dev/null || true)" != "$want" ]; then
  echo "bootstrap: installing controller tools into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"
  .venv/bin/uv pip install --quiet --system-certs --python .venv/bin/python -r requirements-dev.txt
  echo "$want" > .venv/.requirements-hash
fi
