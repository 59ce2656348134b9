#!/usr/bin/env bash
# The whole test suite, from a fresh machine: tools, images, lint, unit tests,
# then every molecule scenario on real systemd hosts.
#   scripts/test.sh                 # everything
#   scripts/test.sh default cluster # only these scenarios (after lint and unit tests)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenarios=("$@")
[ "${#scenarios[@]}" -gt 0 ] || scenarios=(services default cluster)

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "bootstrap"
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1 MOLECULE_NO_COLOR=1

step "images"
images/build.sh

step "lint"
# A built copy of this collection left in ~/.ansible/collections (by ansible-galaxy, or an older
# Molecule prerun) is searched before the checkout's link: drop it, so this tree is what is linted.
stale="$HOME/.ansible/collections/ansible_collections/fleetworks/airflow"
if [ -f "$stale/MANIFEST.json" ] && [ ! -L "$stale" ]; then rm -rf "$stale"; fi
yamllint --strict .
ansible-lint --offline
python tests/check_roles.py

step "unit tests"
python -m pytest -q tests/unit

step "ansible-test sanity"
tests/sanity.sh

passed=0
failed=0
failed_names=()
timings=()
scripts/cleanup.sh

# The EC2 provisioning test needs no fleet (a moto server on this machine): it runs beside the
# first scenario, which spends most of its time waiting on package installs.
step "EC2 provisioning against a moto server (in the background)"
ec2_log=$(mktemp)
(
  started=$SECONDS
  rc=0
  python -m pytest -q -p no:cacheprovider tests/integration || rc=$?
  echo "$((SECONDS - started))" >"$ec2_log.seconds"
  exit "$rc"
) >"$ec2_log" 2>&1 &
ec2_pid=$!
ec2_result() {
  local rc=0
  wait "$ec2_pid" || rc=$?
  local seconds
  seconds=$(cat "$ec2_log.seconds" 2>/dev/null || echo "?")
  step "EC2 provisioning against a moto server: result"
  tail -n 30 "$ec2_log"
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    timings+=("$(printf '%-10s %6ss  passed (beside %s)' ec2-moto "$seconds" "${scenarios[0]}")")
  else
    failed=$((failed + 1))
    failed_names+=(ec2-moto)
    timings+=("$(printf '%-10s %6ss  FAILED' ec2-moto "$seconds")")
  fi
}

for scenario in "${scenarios[@]}"; do
  step "molecule scenario: $scenario"
  start=$SECONDS
  steps_file=$(mktemp)
  # Each step's time (create, converge, idempotence, verify, ...) goes beside the scenario's.
  set +e
  molecule test --scenario-name "$scenario" 2>&1 | python tests/tools/step_times.py "$steps_file"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "scenario $scenario passed in $((SECONDS - start))s"
    timings+=("$(printf '%-10s %6ss  passed  (%s)' "$scenario" "$((SECONDS - start))" "$(cat "$steps_file")")")
  else
    failed=$((failed + 1))
    failed_names+=("$scenario")
    echo "scenario $scenario FAILED after $((SECONDS - start))s"
    timings+=("$(printf '%-10s %6ss  FAILED  (%s)' "$scenario" "$((SECONDS - start))" "$(cat "$steps_file")")")
    molecule destroy --scenario-name "$scenario" >/dev/null 2>&1 || true
  fi
  rm -f "$steps_file"
  if [ -n "$ec2_pid" ]; then
    ec2_result
    ec2_pid=""
  fi
done
scripts/cleanup.sh

step "time per scenario"
printf '%s\n' "${timings[@]}"
echo "whole test command: ${SECONDS}s"
[ "$failed" -eq 0 ] || echo "failed scenarios: ${failed_names[*]}"
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
