#!/usr/bin/env bash
# The whole test suite, from a fresh machine: tools, images, lint, unit tests,
# then every molecule scenario on real systemd hosts.
#   scripts/test.sh                 # everything
#   scripts/test.sh default         # only these scenarios, one after the other (after lint and unit tests)
# Each scenario has a time limit of its own (a hang fails that scenario, the rest still runs
# and the timing table still prints); the table ends with the total against the budget.
# The tests without a fleet run in the background beside the first scenario. The single host
# (default) runs beside the cluster from the moment the cluster's hosts are converged: two
# converges side by side are CPU-bound and save nothing, but most of the cluster's verify is
# waiting (on DAG runs, heartbeat timeouts, a host's boot), which the single host's converge and
# tests fill.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenarios=("$@")
overlap=""
if [ "${#scenarios[@]}" -eq 0 ]; then
  scenarios=(cluster default)
  overlap=default
fi

# Seconds each scenario may take before it is stopped: about twice its time on a quiet machine,
# so that a busy one (60% slower) is not stopped (the single host, beside the cluster, took 2,364 s
# on a slow hour); and never past the deadline, CI's cut at 90
# minutes less what removing the last scenario's hosts (about 50 s), cleaning up and printing the
# table take, so that a hang fails its scenario and the table still prints. The budget is the
# whole command's target.
declare -A limit_of=([default]=3200 [cluster]=5100)
deadline="${FLEET_TEST_DEADLINE:-5320}"
budget=3600

timings=()
step_started=$SECONDS
step_name=""
step() {
  [ -z "$step_name" ] || timings+=("$(printf '%-22s %6ss' "$step_name" "$((SECONDS - step_started))")")
  step_name="$1"
  step_started=$SECONDS
  printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"
}

step "bootstrap"
scripts/bootstrap.sh --browser
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
shellcheck .ci/run scripts/*.sh images/*.sh tests/*.sh
python tests/check_roles.py

step "unit tests"
python -m pytest -q tests/unit

step "ansible-test sanity"
tests/sanity.sh

passed=0
failed=0
failed_names=()
scripts/cleanup.sh

# The tests that need no fleet (tests/integration: EC2 provisioning against a moto server, the
# refusals on the controller against hosts that cannot be reached) run beside the scenarios,
# which spend much of their time waiting on package installs and services; their result is
# taken after the first scenario that ends once they did.
printf '\n=== controller tests (EC2 on moto, refusals), in the background (%s)\n' "$(date -u +%H:%M:%S)"
bg_log=$(mktemp)
(
  started=$SECONDS
  rc=0
  timeout --kill-after=30 1200 python -m pytest -q -p no:cacheprovider --durations=5 tests/integration || rc=$?
  echo "$((SECONDS - started))" >"$bg_log.seconds"
  exit "$rc"
) >"$bg_log" 2>&1 &
bg_pid=$!
bg_beside=""
bg_result() {
  local rc=0
  wait "$bg_pid" || rc=$?
  local seconds
  seconds=$(cat "$bg_log.seconds" 2>/dev/null || echo "?")
  printf '\n=== controller tests (EC2 on moto, refusals): result\n'
  tail -n 30 "$bg_log"
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    timings+=("$(printf '%-22s %6ss  passed (beside %s)' controller-tests "$seconds" "$bg_beside")")
  else
    failed=$((failed + 1))
    failed_names+=(controller-tests)
    timings+=("$(printf '%-22s %6ss  FAILED' controller-tests "$seconds")")
  fi
  bg_pid=""
}

# One scenario, within its limit; its verdict and its line of the table go to files in $results.
results=$(mktemp -d)
run_scenario() {
  local scenario=$1 limit=$2 start=$SECONDS rc verdict steps_file destroyed
  steps_file=$(mktemp)
  # Each step's time (create, converge, verify and its test files) goes beside the scenario's.
  # The limit bounds the test; removing the hosts, before (Molecule's own record of them) and
  # after, has a bound of its own.
  timeout --kill-after=20 100 molecule destroy --scenario-name "$scenario" >/dev/null 2>&1 || true
  set +e
  timeout --kill-after=60 "$limit" molecule test --scenario-name "$scenario" --destroy never 2>&1 \
    | python tests/tools/step_times.py "$steps_file" "$results/$scenario.step" "$results/$scenario.failures"
  rc=${PIPESTATUS[0]}
  set -e
  verdict=passed
  if [ "$rc" -ne 0 ]; then
    verdict=FAILED
    [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || verdict="FAILED (stopped at its limit of ${limit}s)"
  fi
  destroyed=$SECONDS
  timeout --kill-after=20 100 molecule destroy --scenario-name "$scenario" >/dev/null 2>&1 || true
  echo "scenario $scenario $verdict after $((SECONDS - start))s"
  printf '%-22s %6ss  %s, limit %ss (then destroy %ss)%s\n%28s%s\n' "$scenario" "$((SECONDS - start))" "$verdict" \
    "$limit" "$((SECONDS - destroyed))" "${3:-}" "" "$(sed 's/; /\n                            /g' "$steps_file")" \
    >"$results/$scenario.row"
  echo "$rc" >"$results/$scenario.rc"
  rm -f "$steps_file"
}
collect() {
  local scenario=$1
  timings+=("$(cat "$results/$scenario.row")")
  if [ "$(cat "$results/$scenario.rc")" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("$scenario")
  fi
}
limit_for() {
  local limit="${limit_of[$1]:-1800}"
  [ "$((deadline - SECONDS))" -ge "$limit" ] || limit=$((deadline - SECONDS > 60 ? deadline - SECONDS : 60))
  echo "$limit"
}

overlap_pid=""
for scenario in "${scenarios[@]}"; do
  [ "$scenario" != "$overlap" ] || continue
  step "molecule scenario: $scenario"
  step_name=""  # the scenario's own line below holds its time
  if [ -n "$overlap" ] && [ "$scenario" = cluster ]; then
    # Its output goes to a file, printed whole once the cluster's is.
    (
      while [ "$(cat "$results/cluster.step" 2>/dev/null)" != verify ] && [ ! -f "$results/cluster.rc" ]; do sleep 5; done
      run_scenario "$overlap" "$(limit_for "$overlap")" ", beside cluster's verify"
    ) >"$results/$overlap.log" 2>&1 &
    overlap_pid=$!
  fi
  run_scenario "$scenario" "$(limit_for "$scenario")"
  collect "$scenario"
  bg_beside="${bg_beside:+$bg_beside, }$scenario"
  if [ -n "$bg_pid" ] && [ -f "$bg_log.seconds" ]; then bg_result; fi
done
if [ -n "$overlap_pid" ]; then
  wait "$overlap_pid" || true
  printf '\n=== molecule scenario: %s, beside cluster: its output\n' "$overlap"
  cat "$results/$overlap.log"
  collect "$overlap"
fi
[ -z "$bg_pid" ] || bg_result
step "cleanup"
scripts/cleanup.sh
if [ "${#failed_names[@]}" -gt 0 ]; then
  step "what failed"
  step_name=""
  for name in "${failed_names[@]}"; do
    printf -- '--- %s\n' "$name"
    if [ -s "$results/$name.failures" ]; then
      cat "$results/$name.failures"
    elif [ "$name" = controller-tests ]; then
      grep -E '^(FAILED|ERROR) ' "$bg_log" | head -n 40 || true
    else
      echo "(no failed task or test in its output: see the scenario's output above)"
    fi
  done
fi
step "time per step and scenario"

printf '%s\n' "${timings[@]}"
echo "whole test command: ${SECONDS}s of a ${budget}s budget ($((SECONDS * 100 / budget))%)"
[ "$failed" -eq 0 ] || echo "failed scenarios: ${failed_names[*]}"
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
