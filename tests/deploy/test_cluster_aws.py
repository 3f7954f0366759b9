"""cluster.yaml against moto, a local AWS (EC2, IAM and S3, with IAM checks on request), where boto3,
moto[server] and the AWS CLI are installed: the set-up commands at the top of cluster.yaml run as
written, Ray's own AWS bootstrap (what ``ray up`` runs before it launches anything) then keeps the
group and the instance profiles as they are, and the README's S3 example runs with nothing but
deploy/aws/s3-policy.json. Moto stands in for AWS, which cannot be reached from here."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess

import pytest
import yaml
from helpers import BIN, ROOT, run_cli
from samples import text_pages, write_pdf

pytest.importorskip("boto3", reason="the launcher's AWS SDK: pip install boto3")
pytest.importorskip("moto.server", reason="a local AWS on loopback: pip install 'moto[server]'")

MY_CIDR = "198.51.100.7/32"


def _setup_script() -> str:
    """The first shell block of cluster.yaml's header comment: the once-per-account set-up."""
    lines = []
    for line in (ROOT / "cluster.yaml").read_text().splitlines():
        if line.startswith("#   "):
            lines.append(line[4:])
        elif lines:
            return "\n".join(lines)
    raise AssertionError("cluster.yaml has no set-up block")


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    """Moto's server on a loopback port, and this process's AWS environment pointed at it."""
    import requests
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
    server.stop()
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture
def fresh_aws(aws):
    import requests

    requests.post(f"{aws['AWS_ENDPOINT_URL']}/moto-api/reset-auth", data=b"inf", timeout=10)
    requests.post(f"{aws['AWS_ENDPOINT_URL']}/moto-api/reset", timeout=10)
    return aws


def _ingress(ec2, group_id: str) -> list[dict]:
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]


@pytest.mark.skipif(shutil.which("aws", path=f"{BIN}:{os.environ.get('PATH', '')}") is None,
                    reason="the set-up commands use the AWS CLI: pip install -e '.[dev]'")
def test_setup_commands_then_rays_bootstrap_keep_the_cluster_closed(fresh_aws, tmp_path, monkeypatch):
    import boto3
    from ray.autoscaler._private.commands import _bootstrap_config

    home = {**os.environ, "HOME": str(tmp_path), "MY_CIDR": MY_CIDR, "PATH": f"{BIN}:{os.environ['PATH']}"}
    script = "set -euo pipefail\n" + _setup_script() + '\nprintf "\\ngroup=%s\\n" "$SG"'
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=home, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    group = done.stdout.strip().splitlines()[-1].removeprefix("group=")
    unset = subprocess.run(["bash", "-c", script], cwd=ROOT, env={**home, "MY_CIDR": ""}, capture_output=True,
                           text=True, timeout=300)
    assert unset.returncode != 0 and "MY_CIDR" in unset.stderr  # no address given: nothing is made

    ec2, iam = boto3.client("ec2"), boto3.client("iam")
    rules = _ingress(ec2, group)
    assert sorted((r["IpProtocol"], r.get("FromPort"), [x["CidrIp"] for x in r["IpRanges"]],
                   [p["GroupId"] for p in r["UserIdGroupPairs"]]) for r in rules) == [
        ("-1", None, [], [group]), ("tcp", 22, [MY_CIDR], [])]
    assert (tmp_path / ".ray" / "auth_token").exists()

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    for node in config["available_node_types"].values():
        node["node_config"]["SecurityGroupIds"] = [group]
    monkeypatch.setenv("HOME", str(tmp_path))  # the launcher writes its SSH key under ~/.ssh
    before = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    booted = _bootstrap_config(copy.deepcopy(config), no_config_cache=True)  # (writes no cache file)
    for name, node in booted["available_node_types"].items():
        assert node["node_config"]["SecurityGroupIds"] == [group], name
        assert node["node_config"]["IamInstanceProfile"] == config["available_node_types"][name]["node_config"][
            "IamInstanceProfile"], name
    assert {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]} == before
    assert _ingress(ec2, group) == rules  # the launcher added nothing
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == ["raypipe-head", "raypipe-worker"]
    assert sorted(iam.list_role_policies(RoleName="raypipe-head")["PolicyNames"]) == ["raypipe-autoscaler",
                                                                                        "raypipe-s3"]

    # why every node names the group: the launcher's own one opens SSH to the world
    own = copy.deepcopy(config)
    for node in own["available_node_types"].values():
        node["node_config"].pop("SecurityGroupIds")
    _bootstrap_config(own, no_config_cache=True)
    made = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupId"] not in before]
    assert [r["IpRanges"] for g in made for r in g["IpPermissions"] if r.get("FromPort") == 22] == [
        [{"CidrIp": "0.0.0.0/0"}]]
    # and the placeholder left in place stops `ray up` before anything is launched
    with pytest.raises(Exception) as stopped:
        _bootstrap_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()), no_config_cache=True)
    assert "_get_vpc_id_of_sg" in {entry.name for entry in stopped.traceback}  # looking the group up


def _s3_user(policy: dict):
    """The keys of an IAM user with only ``policy``, in moto's terms where they differ from AWS's:
    AWS checks s3:ListBucket for HeadBucket, moto s3:HeadBucket; AWS checks a multi-object delete
    key by key against s3:DeleteObject, moto once against the bucket (single deletes stay per key)."""
    import boto3

    policy = copy.deepcopy(policy)
    for st in list(policy["Statement"]):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if "s3:ListBucket" in actions:
            st["Action"] = [*actions, "s3:HeadBucket"]
        if "s3:DeleteObject" in actions:
            buckets = sorted({r.split("/", 1)[0] for r in resources})
            policy["Statement"].append({"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": buckets})
    iam = boto3.client("iam")
    name = f"node{len(iam.list_users()['Users'])}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def _enforce(aws, on: bool) -> None:
    import requests

    requests.post(f"{aws['AWS_ENDPOINT_URL']}/moto-api/reset-auth", data=b"0" if on else b"inf", timeout=10)


def test_the_readme_example_runs_on_s3_with_the_policy_alone(fresh_aws, tmp_path):
    import boto3
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    policy = json.loads((ROOT / "deploy" / "aws" / "s3-policy.json").read_text())
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bucket")
    texts = {f"doc-{i}.pdf": f"Document {i} of the example\nline {i * 7919}" for i in range(3)}
    for name, text in texts.items():
        s3.put_object(Bucket="bucket", Key=f"pdfs/{'sub/' if name.endswith('1.pdf') else ''}{name}",
                      Body=write_pdf(tmp_path / name, text_pages([text])).read_bytes())
    node = _s3_user(policy)
    only_children = copy.deepcopy(policy)  # the usual 'prefix/*' without the folder's own key
    for st in only_children["Statement"]:
        st["Resource"] = [r for r in st["Resource"] if r.endswith("*")] if isinstance(st["Resource"], list) else st[
            "Resource"]
    narrow = _s3_user(only_children)
    _enforce(fresh_aws, True)
    try:
        example = ["run", "s3://bucket/pdfs/", "--output", "s3://bucket/text/", "--engine", "text-layer"]
        first = run_cli(*example, env=node, timeout=600)
        assert first.returncode == 0, first.stderr[-3000:]
        again = run_cli(*example, "--fresh", env=node, timeout=600)  # deletes the first run's files
        assert again.returncode == 0, again.stderr[-3000:]
        refused = run_cli(*example, env=narrow, timeout=600)
        assert refused.returncode != 0 and "ACCESS_DENIED" in refused.stderr + refused.stdout

        fs = pafs.S3FileSystem(access_key=node["AWS_ACCESS_KEY_ID"], secret_key=node["AWS_SECRET_ACCESS_KEY"],
                               endpoint_override=fresh_aws["AWS_ENDPOINT_URL"].removeprefix("http://"),
                               scheme="http", region="us-east-1")
        rows = pads.dataset("bucket/text", filesystem=fs, format="parquet").to_table().to_pylist()
        meta = fs.get_file_info(pafs.FileSelector("bucket/text/_raypipe", recursive=True))
    finally:
        _enforce(fresh_aws, False)
    assert sorted(r["doc_id"].rsplit("/", 1)[-1] for r in rows) == sorted(texts)  # the second run's, once each
    for row in rows:
        assert texts[row["doc_id"].rsplit("/", 1)[-1]].splitlines()[1] in row["text"]
    assert any(f.path.endswith("summary.json") for f in meta)
    inputs = s3.list_objects_v2(Bucket="bucket", Prefix="pdfs/")["KeyCount"]
    assert inputs == len(texts)  # nothing written beside the input
