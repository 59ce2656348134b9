#!/usr/bin/env bash
# Remove every container and network the test scenarios made (labelled by
# molecule), so a run never trips over leftovers of an earlier one.
set -euo pipefail
containers="$(docker ps -aq --filter label=owner=molecule; docker ps -aq --filter name=^af-outsider$)"
# shellcheck disable=SC2086  # one id per word
[ -z "$containers" ] || docker rm -f $containers >/dev/null
for net in af-solo-net af-cluster-net; do
  if docker network inspect "$net" >/dev/null 2>&1; then
    docker network rm "$net" >/dev/null
  fi
done
