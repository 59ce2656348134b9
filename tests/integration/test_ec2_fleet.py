"""The EC2 side of a fleet, end to end against a moto server reached over HTTP by the same
amazon.aws modules and aws_ec2 inventory plugin that talk to AWS: provision from variables, the
inventory puts the tagged instances into the collection's groups, a re-run changes nothing, a
larger worker count adds one instance and touches no other, a smaller one is refused until the
instance it names is listed as retired, and teardown removes everything it created.

Run by scripts/test.sh (no fleet needed):  python -m pytest -q tests/integration"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
FLEET = "ci-fleet"
TARGET_ROLE = "arn:aws:iam::210987654321:role/airflow-pipeline-writer"
ADMIN_CIDR = "10.20.0.0/16"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    """A moto server, a VPC with two subnets in two zones, and an inventory directory made from
    the collection's own inventories/aws files, pointed at the server."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": REGION, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    session = boto3.session.Session(region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    inventory = tmp_path_factory.mktemp("inventory")
    plugin = yaml.safe_load((ROOT / "inventories/aws/aws_ec2.yml").read_text())
    plugin.update(endpoint_url=endpoint, regions=[REGION])
    plugin["filters"]["tag:airflow-fleet"] = FLEET
    (inventory / "aws_ec2.yml").write_text(yaml.safe_dump(plugin))
    settings = yaml.safe_load((ROOT / "inventories/aws/group_vars/all/ec2.yml").read_text())
    settings.update(aws_fleet_name=FLEET, aws_fleet_region=REGION, aws_fleet_endpoint_url=endpoint,
                    aws_fleet_vpc_id=vpc, aws_fleet_subnet_ids=subnets, aws_fleet_ami_id=ami,
                    aws_fleet_admin_cidrs=[ADMIN_CIDR], aws_fleet_assume_role_arns=[TARGET_ROLE],
                    aws_fleet_secrets_dir=str(tmp_path_factory.mktemp("secrets")),
                    # RDS instead of the data pool's PostgreSQL. (ElastiCache is not tried here: on a
                    # re-run community.aws.elasticache reads CacheNodes, which moto does not return.)
                    aws_fleet_rds_enabled=True,
                    # moto describes gp3 instances without StorageThroughput, which rds_instance reads.
                    aws_fleet_rds_storage_type="gp2",
                    aws_fleet_pools=[dict(p, groups=["airflow_redis"]) if p["name"] == "data" else p
                                     for p in settings["aws_fleet_pools"]])
    (inventory / "group_vars/all").mkdir(parents=True)
    (inventory / "group_vars/all/ec2.yml").write_text(yaml.safe_dump(settings))
    yield {"endpoint": endpoint, "env": env, "inventory": inventory, "session": session, "vpc": vpc, "subnets": subnets}
    server.stop()


def playbook(aws, name: str, **extra) -> subprocess.CompletedProcess:
    cmd = ["ansible-playbook", "-i", str(aws["inventory"]), str(ROOT / "playbooks" / name)]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    return subprocess.run(cmd, capture_output=True, text=True, env=aws["env"], cwd=ROOT, timeout=600, check=False)


def changed(run: subprocess.CompletedProcess) -> int:
    return sum(int(n) for n in re.findall(r"^localhost\s+:.*changed=(\d+)", run.stdout, re.MULTILINE))


def plain(value):
    """ansible-inventory's JSON without its markers of untrusted strings ({"__ansible_unsafe": s})."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(aws) -> dict:
    out = subprocess.run(["ansible-inventory", "-i", str(aws["inventory"]), "--list"], capture_output=True, text=True,
                         env=aws["env"], cwd=ROOT, timeout=120, check=True).stdout
    return plain(json.loads(out))


def group_hosts(inv: dict, group: str) -> list[str]:
    return sorted(inv.get(group, {}).get("hosts", []))


def client(aws, service: str):
    return aws["session"].client(service, endpoint_url=aws["endpoint"])


def pool_instances(aws, pool: str) -> dict[str, str]:
    """instance id -> subnet of the pool's live instances."""
    reservations = client(aws, "ec2").describe_instances(Filters=[
        {"Name": "tag:airflow-fleet", "Values": [FLEET]}, {"Name": "tag:airflow-pool", "Values": [pool]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
    return {i["InstanceId"]: i["SubnetId"] for r in reservations for i in r["Instances"]}


def ingress(aws, pool: str) -> set[tuple[int, str]]:
    """(port, source) of a security group's rules: a source pool's name, or a CIDR."""
    ec2 = client(aws, "ec2")
    groups = ec2.describe_security_groups(Filters=[{"Name": "tag:airflow-fleet", "Values": [FLEET]}])["SecurityGroups"]
    names = {g["GroupId"]: g["GroupName"].removeprefix(f"{FLEET}-") for g in groups}
    (group,) = [g for g in groups if g["GroupName"] == f"{FLEET}-{pool}"]
    rules = set()
    for perm in group["IpPermissions"]:
        rules |= {(perm["FromPort"], names[pair["GroupId"]]) for pair in perm.get("UserIdGroupPairs", [])}
        rules |= {(perm["FromPort"], r["CidrIp"]) for r in perm.get("IpRanges", [])}
    return rules


@pytest.fixture(scope="module")
def provisioned(aws):
    run = playbook(aws, "ec2_provision.yml")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return run


def test_the_inventory_puts_the_tagged_instances_into_the_fleets_groups(aws, provisioned):
    inv = inventory(aws)
    control, workers = group_hosts(inv, "airflow_api_servers"), group_hosts(inv, "airflow_workers")
    assert len(control) == 2 and len(workers) == 2, inv
    for group in ("airflow_schedulers", "airflow_dag_processors", "airflow_triggerers", "airflow_flower"):
        assert group_hosts(inv, group) == control, group
    assert "airflow_postgresql" not in inv  # RDS instead
    assert len(group_hosts(inv, "airflow_redis")) == 1
    hostvars = inv["_meta"]["hostvars"]
    for host in workers:
        assert hostvars[host]["ansible_host"] == host  # addressed by private IP
        assert re.match(r"^10\.30\.[01]\.\d+$", host)
        assert hostvars[host]["airflow_worker_queues"] == ["default"]
        assert hostvars[host]["airflow_worker_concurrency"] == 8
    # Each pool is spread over both subnets (two zones).
    for pool in ("control", "workers"):
        assert sorted(pool_instances(aws, pool).values()) == sorted(aws["subnets"]), pool


def test_security_groups_open_only_what_each_group_needs(aws, provisioned):
    pools = {"control", "workers", "data"}
    assert ingress(aws, "control") == ({(8080, p) for p in pools} | {(8080, ADMIN_CIDR), (5555, ADMIN_CIDR), (22, ADMIN_CIDR)}
                                       | {(8794, "control")})
    assert ingress(aws, "workers") == {(8793, "control"), (22, ADMIN_CIDR)}
    assert ingress(aws, "data") == {(6379, p) for p in pools} | {(22, ADMIN_CIDR)}
    assert ingress(aws, "rds") == {(5432, "control")}


def test_instances_run_with_the_profile_that_may_assume_only_the_listed_role(aws, provisioned):
    iam = client(aws, "iam")
    profile = iam.get_instance_profile(InstanceProfileName=f"{FLEET}-airflow-node")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"{FLEET}-airflow-node"]
    policy = iam.get_role_policy(RoleName=f"{FLEET}-airflow-node", PolicyName="airflow-fleet")["PolicyDocument"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["CrossAccountRoles"]["Action"] == "sts:AssumeRole"
    assert statements["CrossAccountRoles"]["Resource"] == [TARGET_ROLE]
    assert statements["TaskLogs"]["Resource"] == f"arn:aws:s3:::{FLEET}-airflow-task-logs/*"
    reservations = client(aws, "ec2").describe_instances(Filters=[{"Name": "tag:airflow-fleet", "Values": [FLEET]}])
    instances = [i for r in reservations["Reservations"] for i in r["Instances"]]
    assert len(instances) == 5
    for instance in instances:
        assert instance["IamInstanceProfile"]["Arn"] == profile["Arn"]
        assert instance["MetadataOptions"]["HttpTokens"] == "required"
    # The bucket for remote logs, closed to the public; the managed services exist.
    s3 = client(aws, "s3")
    assert s3.get_public_access_block(Bucket=f"{FLEET}-airflow-task-logs")["PublicAccessBlockConfiguration"]["BlockPublicAcls"]
    rds = client(aws, "rds").describe_db_instances(DBInstanceIdentifier=f"{FLEET}-airflow")["DBInstances"][0]
    assert rds["Engine"] == "postgres" and not rds["PubliclyAccessible"] and rds["StorageEncrypted"]


def test_a_rerun_with_nothing_changed_changes_nothing(aws, provisioned):
    run = playbook(aws, "ec2_provision.yml")
    assert run.returncode == 0, run.stdout[-4000:]
    assert changed(run) == 0, re.findall(r"^changed: .*$|^TASK \[.*$", run.stdout, re.MULTILINE)[-40:]


def test_scaling_out_adds_one_worker_and_leaves_the_others(aws, provisioned):
    before = pool_instances(aws, "workers")
    others = pool_instances(aws, "control")
    settings = yaml.safe_load((aws["inventory"] / "group_vars/all/ec2.yml").read_text())
    pools = [dict(p, count=3) if p["name"] == "workers" else p for p in settings["aws_fleet_pools"]]
    run = playbook(aws, "ec2_provision.yml", aws_fleet_pools=pools)
    assert run.returncode == 0, run.stdout[-4000:]
    after = pool_instances(aws, "workers")
    assert len(after) == 3 and set(before) < set(after)
    assert pool_instances(aws, "control") == others
    assert len(group_hosts(inventory(aws), "airflow_workers")) == 3


def test_scaling_in_is_refused_until_the_named_instance_is_retired(aws, provisioned):
    settings = yaml.safe_load((aws["inventory"] / "group_vars/all/ec2.yml").read_text())
    pools = settings["aws_fleet_pools"]  # back to 2 workers
    before = pool_instances(aws, "workers")
    assert len(before) == 3
    refused = playbook(aws, "ec2_provision.yml", aws_fleet_pools=pools)
    assert refused.returncode != 0
    assert "Nothing was changed" in refused.stdout and "fleetworks.airflow.retire --limit" in refused.stdout
    assert changed(refused) == 0
    assert pool_instances(aws, "workers") == before
    (excess,) = set(re.findall(r"aws_fleet_retired_instance_ids=\[\\?\"(i-[0-9a-f]+)\\?\"\]", refused.stdout))
    run = playbook(aws, "ec2_provision.yml", aws_fleet_pools=pools, aws_fleet_retired_instance_ids=[excess])
    assert run.returncode == 0, run.stdout[-4000:]
    assert set(pool_instances(aws, "workers")) == set(before) - {excess}


def test_teardown_is_refused_unconfirmed_then_removes_everything(aws, provisioned):
    refused = playbook(aws, "ec2_teardown.yml")
    assert refused.returncode != 0 and "aws_fleet_teardown_confirm" in refused.stdout
    assert len(pool_instances(aws, "control")) == 2
    run = playbook(aws, "ec2_teardown.yml", aws_fleet_teardown_confirm=FLEET, aws_fleet_teardown_keep_logs=False,
                   aws_fleet_teardown_rds_final_snapshot=False)
    assert run.returncode == 0, run.stdout[-4000:]
    assert pool_instances(aws, "control") == pool_instances(aws, "workers") == pool_instances(aws, "data") == {}
    ec2 = client(aws, "ec2")
    assert ec2.describe_security_groups(Filters=[{"Name": "tag:airflow-fleet", "Values": [FLEET]}])["SecurityGroups"] == []
    iam = client(aws, "iam")
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"] == f"{FLEET}-airflow-node"]
    assert not [p for p in iam.list_instance_profiles()["InstanceProfiles"] if p["InstanceProfileName"] == f"{FLEET}-airflow-node"]
    assert not [b for b in client(aws, "s3").list_buckets()["Buckets"] if b["Name"] == f"{FLEET}-airflow-task-logs"]
    assert client(aws, "rds").describe_db_instances()["DBInstances"] == []
    # Nothing of the fleet is left for the inventory either.
    assert group_hosts(inventory(aws), "airflow_workers") == []
