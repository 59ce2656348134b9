#!/usr/bin/env bash
# A local demo fleet: four systemd containers (a DB/broker host that also runs
# the moto stand-in for AWS, a control host, two workers) on one Docker network,
# with Airflow deployed by site.yml, the smoke DAG run once through Celery and
# the main job (S3 CSV -> JSON -> DynamoDB, as another account) run on the
# embedded scripts/demo/orders.csv.
#   scripts/demo.sh          # bring up (or converge again) and deploy
#   scripts/demo.sh down     # remove the containers and the network
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

network=airflow-demo
hosts=(demo-data:12 demo-control:12 demo-worker1:12 demo-worker2:13)

down() {
  local ids
  ids="$(docker ps -aq --filter label=fleet=demo)"
  # shellcheck disable=SC2086  # one id per word
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  if docker network inspect "$network" >/dev/null 2>&1; then docker network rm "$network" >/dev/null; fi
  echo "demo fleet removed (secrets stay in ~/.airflow-fleet/demo)"
}

if [ "${1:-up}" = down ]; then
  down
  exit 0
fi

scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
images/build.sh bookworm trixie

docker network inspect "$network" >/dev/null 2>&1 || docker network create --label fleet=demo "$network" >/dev/null
for spec in "${hosts[@]}"; do
  name="${spec%%:*}" version="${spec##*:}"
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" != true ]; then
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run -d --name "$name" --hostname "$name" --network "$network" --label fleet=demo \
      --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
      --cap-add SYS_ADMIN "airflow-fleet/debian:$version" /lib/systemd/systemd >/dev/null
    echo "started $name (Debian $version)"
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

ansible-playbook -i inventories/local tests/playbooks/aws_standin.yml
ansible-playbook -i inventories/local playbooks/site.yml

ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
control="$(ip demo-control)"
export PYTHONPATH="$PWD/tests"  # the REST client and the AWS stand-in's helpers
python3 scripts/demo/smoke.py "http://$control:8080" "$HOME/.airflow-fleet/demo/admin_password"
python3 scripts/demo/pipeline_demo.py "http://$control:8080" "$HOME/.airflow-fleet/demo/admin_password" \
  "http://$(ip demo-data):5000"

cat <<EOT

Airflow demo fleet is up.
  UI / REST API   http://$control:8080     user: admin
  Flower          http://$control:5555     user: flower
  Passwords       $HOME/.airflow-fleet/demo/admin_password
                  $HOME/.airflow-fleet/demo/flower_password
  Converge again  scripts/demo.sh        Remove  scripts/demo.sh down
EOT
