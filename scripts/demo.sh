#!/usr/bin/env bash
# A local demo fleet: four systemd containers (a DB/broker host that also runs
# the moto stand-in for AWS, a control host, two workers) on one Docker network,
# with Airflow deployed by site.yml, the smoke DAG run once through Celery and
# the main job (S3 CSV -> JSON -> DynamoDB, as another account) run on the
# embedded scripts/demo/orders.csv.
#   scripts/demo.sh                # bring up (or converge again) and deploy
#   scripts/demo.sh --screenshots  # the same, then walk the UI and Flower in headless Chromium
#   scripts/demo.sh down           # remove the containers and the network
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

network=airflow-demo
hosts=(demo-data:12 demo-control:12 demo-worker1:12 demo-worker2:13)
secrets="$HOME/.airflow-fleet/demo"
screenshots=""

started=$SECONDS
stage() { printf '\n[demo %4ss] %s\n' "$((SECONDS - started))" "$*"; }

down() {
  local ids
  ids="$(docker ps -aq --filter label=fleet=demo 2>/dev/null || true)"
  # shellcheck disable=SC2086  # one id per word
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  if docker network inspect "$network" >/dev/null 2>&1; then docker network rm "$network" >/dev/null; fi
  echo "demo fleet removed (secrets stay in $secrets)"
}

case "${1:-up}" in
  down) down; exit 0 ;;
  up) ;;
  --screenshots) screenshots="$secrets/screenshots" ;;
  *) echo "usage: scripts/demo.sh [--screenshots | down]" >&2; exit 2 ;;
esac

stage "tools: Docker engine, debootstrap and the pinned controller tools (.venv)"
if [ -n "$screenshots" ]; then scripts/bootstrap.sh --browser; else scripts/bootstrap.sh; fi
export PATH="$PWD/.venv/bin:$PATH"

stage "images: Debian 12 and 13 with systemd (built once, then cached by recipe)"
images/build.sh bookworm trixie

stage "hosts: ${#hosts[@]} systemd containers on the Docker network $network"
docker network inspect "$network" >/dev/null 2>&1 || docker network create --label fleet=demo "$network" >/dev/null
for spec in "${hosts[@]}"; do
  name="${spec%%:*}" version="${spec##*:}"
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" != true ]; then
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run -d --name "$name" --hostname "$name" --network "$network" --label fleet=demo \
      --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
      --cap-add SYS_ADMIN "airflow-fleet/debian:$version" /lib/systemd/systemd >/dev/null
    echo "started $name (Debian $version)"
  else
    echo "$name runs already"
  fi
done
for spec in "${hosts[@]}"; do
  name="${spec%%:*}"
  for _ in $(seq 1 30); do
    state="$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
done

address() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
control="$(address demo-control)"
ui="http://$control:8080"
flower="http://$control:5555"
aws="http://$(address demo-data):5000"

stage "AWS stand-in: moto on demo-data ($aws)"
ansible-playbook -i inventories/local tests/playbooks/aws_standin.yml

# The UI builds its links and redirects from airflow_api_base_url: the address printed below,
# which this machine's browser reaches (the containers' names resolve only inside Docker).
stage "Airflow: playbooks/site.yml on the fleet (a first run takes minutes, a second one converges)"
ansible-playbook -i inventories/local playbooks/site.yml -e "airflow_api_base_url=$ui"

stage "DAGs: playbooks/dags.yml rolls out dags/ (a new release only when a file changed)"
ansible-playbook -i inventories/local playbooks/dags.yml -e "airflow_api_base_url=$ui"

export PYTHONPATH="$PWD/tests"  # the REST client and the AWS stand-in's helpers
stage "smoke test: the fleet_smoke DAG once, through Celery on a worker"
python3 scripts/demo/smoke.py "$ui" "$secrets/admin_password"

stage "main job: s3_csv_to_dynamodb on the embedded scripts/demo/orders.csv"
python3 scripts/demo/pipeline_demo.py "$ui" "$secrets/admin_password" "$aws"

if [ -n "$screenshots" ]; then
  stage "browser: the UI and Flower in headless Chromium"
  python3 scripts/demo/browse.py "$ui" "$secrets/admin_password" "$flower" "$secrets/flower_password" \
    --workers 2 --screenshots "$screenshots"
fi

stage "done"
cat <<EOT
Airflow demo fleet is up.
  UI / REST API   $ui     user: admin
  Flower          $flower     user: flower
  Passwords       $secrets/admin_password
                  $secrets/flower_password
EOT
[ -z "$screenshots" ] || echo "  Screenshots     $screenshots/"
echo "  Converge again  scripts/demo.sh        Remove  scripts/demo.sh down"
