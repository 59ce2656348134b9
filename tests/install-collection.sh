#!/usr/bin/env bash
# Build the collection tarball the way a release is built (ansible-galaxy
# collection build, honouring galaxy.yml's build_ignore) and install it into a
# collections path, as a user installing it would:
#   tests/install-collection.sh DEST    # DEST/fleetworks-airflow-*.tar.gz, DEST/collections
# Scenarios that run "as installed" point ANSIBLE_COLLECTIONS_PATH at DEST/collections.
set -euo pipefail
dest=${1:?usage: install-collection.sh DEST}
project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$dest"
rm -rf "$dest/collections" "$dest"/fleetworks-airflow-*.tar.gz
ansible-galaxy collection build --output-path "$dest" "$project"
# --offline: the dependencies come with PyPI's ansible package; Galaxy is not asked.
ansible-galaxy collection install --offline --no-deps --force -p "$dest/collections" "$dest"/fleetworks-airflow-*.tar.gz
