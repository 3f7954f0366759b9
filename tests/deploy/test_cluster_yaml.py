"""The deployment files checked by Ray's own code: jobs/runtime_env.yaml (``RuntimeEnv``) and
cluster.yaml (the autoscaler's ``prepare_config``/``validate_config``, what ``ray up`` runs before it
touches AWS), and that the cluster's GPU workers fit what the engine stage asks per actor.

cluster.yaml is closed by default: SSH only from the user's address through a security group the
user makes (its commands are in the file's header), the dashboard on the head's loopback, token
authentication on every node, and instance roles whose policies (deploy/aws/) grant the README's
S3 example what raypipe's reads and writes send, and no more. test_cluster_aws.py runs the same
commands, Ray's AWS bootstrap and the example against moto, where it is installed."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import BIN, ROOT

AWS = ROOT / "deploy" / "aws"


def test_runtime_env_file_is_accepted_by_ray():
    from ray.runtime_env import RuntimeEnv

    env = yaml.safe_load((ROOT / "jobs" / "runtime_env.yaml").read_text())
    assert set(env) <= RuntimeEnv.known_fields, set(env) - RuntimeEnv.known_fields
    parsed = RuntimeEnv(**env)
    assert parsed["working_dir"] == "."
    assert {".git", ".venv"} <= set(parsed["excludes"])


def _requirement_names(requirements: list[str]) -> set[str]:
    from packaging.requirements import Requirement

    return {Requirement(r).name.lower() for r in requirements}


def test_runtime_env_installs_raypipes_dependencies():
    """The job's pip list is pyproject's dependencies with the gpu extra, less Ray (the cluster's)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(project["dependencies"] + project["optional-dependencies"]["gpu"]) - {"ray"}
    env = yaml.safe_load((ROOT / "jobs" / "runtime_env.yaml").read_text())
    assert _requirement_names(env["pip"]) == wanted


class MapBatchesRecorder:
    """Stand-in for a ray.data.Dataset that records what a stage asks of ``map_batches`` (building
    the real stage needs no cluster; these are the resources Ray would request per actor)."""

    def map_batches(self, fn, **kwargs):
        self.kwargs = kwargs
        return self


def _cluster_config() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_validation():
    import ray
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _cluster_config()
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` does before it touches AWS
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_worker"]["resources"]["GPU"] = "one"
    with pytest.raises(Exception, match="one"):
        validate_config(prepare_config(broken))
    # the image's Ray is the Ray raypipe pins
    assert config["docker"]["image"].startswith(f"rayproject/ray:{ray.__version__}-")


def test_cluster_gpu_workers_fit_the_inference_actor():
    from raypipe.config import EngineConfig, RayConfig
    from raypipe.engines import presets
    from raypipe.engines.resolve import EngineSpec
    from raypipe.engines.vllm import VLLMInfer

    engine, ray_cfg = EngineConfig(), RayConfig()
    spec = EngineSpec("vllm", engine, presets.get(engine.preset), device="gpu")
    asked = VLLMInfer.stage(MapBatchesRecorder(), spec, ray_cfg).kwargs
    assert asked["num_gpus"] >= 1

    config = _cluster_config()
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] == 0  # no work on the head
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert gpu_types, "no GPU worker type"
    for name, node in gpu_types.items():
        resources = node["resources"]
        assert resources["GPU"] % asked["num_gpus"] == 0, name  # whole actors per node, no idle GPU
        actors = resources["GPU"] // asked["num_gpus"]
        # the actors' CPUs, and at least one more per actor for rendering
        assert resources["CPU"] >= actors * (asked["num_cpus"] + ray_cfg.stage("render", 1.0)["num_cpus"]), name
        assert node.get("min_workers", 0) == 0 and node["max_workers"] >= 1, name  # scales from zero
    assert any("raypipe[gpu]" in command for command in config["setup_commands"])



# --- the header's commands ----------------------------------------------------------------------


def _header(text: str | None = None) -> tuple[str, str]:
    """(set-up script, use script): the two shell blocks of cluster.yaml's header comment."""
    blocks, current = [], []
    for line in (text or (ROOT / "cluster.yaml").read_text()).splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("#   "):
            current.append(line[4:])
        elif current:
            blocks, current = blocks + ["\n".join(current)], []
    setup, use = blocks + (["\n".join(current)] if current else [])
    return setup, use


def _commands(script: str) -> list[list[str]]:
    """Each simple command of a script as words (continuations joined, split at ; && $( ) and #)."""
    out = []
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r";|&&|\$\(|\)", line.split(" # ")[0]):
            words = shlex.split(part, comments=True)
            out += [words] if words else []
    return out


def _flags(words: list[str]) -> dict[str, str]:
    """``--name value`` and ``--name=value`` of one command; a bare flag maps to ''."""
    flags = {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            nxt = words[i + 1] if i + 1 < len(words) else ""
            flags[name] = value if eq else ("" if nxt.startswith("--") else nxt)
    return flags


def _ray_start(commands: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(environment, flags) of the one ``ray start`` among a node type's start commands."""
    found = [w for c in commands for w in _commands(c) if "ray" in w and w[w.index("ray") + 1 :][:1] == ["start"]]
    if len(found) != 1:
        return {}, {}
    at = found[0].index("ray")
    return dict(w.split("=", 1) for w in found[0][:at] if "=" in w), _flags(found[0][at:])


def closed_problems(config: dict, setup: str, use: str) -> list[str]:
    """What leaves the cluster open: SSH or the dashboard reachable from anywhere, a node without the
    token, a node the launcher would give its own role. Empty when the cluster is closed."""
    problems = []
    types = config["available_node_types"]
    if "security_group" in config["provider"]:
        problems.append("provider.security_group: the launcher's own group always has SSH from 0.0.0.0/0")
    groups = {tuple(t["node_config"].get("SecurityGroupIds", ())) for t in types.values()}
    if len(groups) != 1 or not all(groups):
        problems.append("SecurityGroupIds: every node type must name the one group the set-up makes")
    commands = _commands(setup)
    rules = [_flags(w) for w in commands if w[:3] == ["aws", "ec2", "authorize-security-group-ingress"]]
    for rule in rules:
        if rule.get("--region") != config["provider"]["region"] or rule.get("--group-id") != "$SG":
            problems.append(f"ingress rule for another group or region: {rule}")
        elif "--cidr" in rule and (rule["--cidr"], rule.get("--protocol"), rule.get("--port")) != (
            "$MY_CIDR", "tcp", "22"
        ):
            problems.append(f"ingress rule other than SSH from $MY_CIDR: {rule}")
        elif "--cidr" not in rule and (rule.get("--source-group"), rule.get("--protocol")) != ("$SG", "all"):
            problems.append(f"ingress rule other than the group's own traffic: {rule}")
    if sorted("--cidr" in r for r in rules) != [False, True]:
        problems.append("the set-up must make exactly one SSH rule and one intra-group rule")
    if "0.0.0.0/0" in setup or "::/0" in setup or '"${MY_CIDR:?' not in setup:
        problems.append("the set-up must take the user's address and stop without it")
    head_env, head = _ray_start(config.get("head_start_ray_commands", []))
    worker_env, worker = _ray_start(config.get("worker_start_ray_commands", []))
    if head.get("--dashboard-host") != "127.0.0.1" or "--autoscaling-config" not in head:
        problems.append(f"head: the dashboard must listen on 127.0.0.1 only: {head}")
    # `ray start --address` turns token auth on only from RAY_AUTH_MODE, never from a token file
    for name, env in (("head", head_env), ("worker", worker_env)):
        if env.get("RAY_AUTH_MODE") != "token":
            problems.append(f"{name}: ray start without RAY_AUTH_MODE=token")
    if not worker.get("--address", "").startswith("$RAY_HEAD_IP:"):
        problems.append("worker: ray start must join the head")
    submit = [_flags(w) for w in _commands(use) if w[:3] == ["ray", "job", "submit"]]
    if "export RAY_AUTH_MODE=token" not in use or [s.get("--address") for s in submit] != [
        f"http://127.0.0.1:{head.get('--dashboard-port')}"
    ]:
        problems.append("the submit must go through the tunnel with RAY_AUTH_MODE=token")
    for name, node in types.items():  # without one, the head gets EC2 and S3 full access, workers no role
        if not node["node_config"].get("IamInstanceProfile", {}).get("Name"):
            problems.append(f"{name}: no IamInstanceProfile")
    return problems


def test_cluster_is_closed_by_default_and_broken_copies_are_caught():
    config, (setup, use) = _cluster_config(), _header()
    assert closed_problems(config, setup, use) == []

    def broken(edit, text_edit=lambda s, u: (s, u)):
        c = copy.deepcopy(config)
        edit(c)
        return closed_problems(c, *text_edit(setup, use))

    types = "available_node_types"
    head = config["head_node_type"]
    assert broken(lambda c: c["provider"].update(security_group={"IpPermissions": []}))
    assert broken(lambda c: c[types]["gpu_worker"]["node_config"].pop("SecurityGroupIds"))
    assert broken(lambda c: None, lambda s, u: (s.replace('"$MY_CIDR"', "0.0.0.0/0"), u))
    assert broken(lambda c: None, lambda s, u: (s.replace("--port 22", "--port 0-65535"), u))
    assert broken(lambda c: None, lambda s, u: (s.replace('--source-group "$SG"', "--cidr 10.0.0.0/8"), u))
    assert broken(lambda c: c.__setitem__("head_start_ray_commands", [
        x.replace("127.0.0.1", "0.0.0.0") for x in c["head_start_ray_commands"]]))
    assert broken(lambda c: c.__setitem__("worker_start_ray_commands", [
        x.replace("RAY_AUTH_MODE=token ", "") for x in c["worker_start_ray_commands"]]))
    assert broken(lambda c: c.pop("head_start_ray_commands"))  # Ray's defaults: 0.0.0.0, no token
    assert broken(lambda c: None, lambda s, u: (s, u.replace("export RAY_AUTH_MODE=token", "")))
    assert broken(lambda c: c[types][head]["node_config"].pop("IamInstanceProfile"))
    assert broken(lambda c: c[types]["gpu_worker"]["node_config"].pop("IamInstanceProfile"))


def test_the_token_reaches_every_node_where_ray_looks_for_it(tmp_path, monkeypatch):
    """The header's ``ray get-auth-token --generate`` writes the file that file_mounts sends to the
    path each node's Ray reads (~/.ray/auth_token of the image's user, ray)."""
    from ray._private.authentication.authentication_token_setup import (
        _get_default_token_path,
    )

    config = _cluster_config()
    [generate] = [[x for x in w if not x.startswith(">")]  # without the redirection
                  for w in _commands(_header()[0]) if w[:2] == ["ray", "get-auth-token"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    made = subprocess.run([str(BIN / "ray"), *generate[1:]], env={**env, "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    [(remote, local)] = [(r, lc) for r, lc in config["file_mounts"].items() if "auth_token" in r]
    token = Path(local.replace("~", str(tmp_path), 1)).read_text().strip()
    assert token == made.stdout.strip() and len(token) >= 32
    monkeypatch.setenv("HOME", "/home/ray")
    assert str(_get_default_token_path()) == remote


# --- the instance roles' policies -----------------------------------------------------------------


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; nothing else is special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, flags=re.S) is not None


def allowed(policy: dict, action: str, resource: str, context: dict | None = None) -> bool:
    """IAM's decision for one identity policy: some Allow statement matches (action, resource and
    every condition: StringEquals/StringLike, a key the request lacks fails it) and no Deny does."""
    decision = False
    for st in _listed(policy["Statement"]):
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(st), "not modelled here"
        if not any(_matches(a.lower(), action.lower()) for a in _listed(st["Action"])):
            continue
        if not any(_matches(r, resource) for r in _listed(st["Resource"])):
            continue
        ops = {"StringEquals": lambda want, have: want == have, "StringLike": _matches}
        if not all(op in ops and (context or {}).get(key) is not None
                   and any(ops[op](w, context[key]) for w in _listed(want))
                   for op, keys in st.get("Condition", {}).items() for key, want in keys.items()):
            continue
        if st["Effect"] == "Deny":
            return False
        decision = True
    return decision


def _readme_example() -> tuple[str, str]:
    """(input, output) of the header's ``ray job submit`` (the README's s3://bucket/pdfs/ example)."""
    [words] = [w for w in _commands(_header()[1]) if "jobs/ocr_pdfs.py" in w]
    return words[words.index("jobs/ocr_pdfs.py") + 1], _flags(words)["--output"]


def s3_requests(source: str, output: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(what a run of ``source`` → ``output`` sends, what no role of it may do), as (action, ARN).
    Sent, by pyarrow's S3 filesystem and Ray Data's writer and checkpoint: HEAD of each folder's own
    key and GET/HEAD of objects (s3:GetObject); listing, and HeadBucket before creating a folder
    (s3:ListBucket, with no prefix to condition on); folder markers, data files, checkpoint and
    summary uploads and the copy that commits a checkpoint (s3:PutObject, multipart aborted with
    s3:AbortMultipartUpload); deleting pending checkpoint records, uncommitted data files, and all of
    them with --fresh (s3:DeleteObject)."""
    src_bucket, src = source[5:].rstrip("/").split("/", 1)
    out_bucket, out = output[5:].rstrip("/").split("/", 1)
    src_arn, out_arn = f"arn:aws:s3:::{src_bucket}", f"arn:aws:s3:::{out_bucket}"
    needed = [("s3:ListBucket", src_arn), ("s3:ListBucket", out_arn),
              ("s3:GetObject", f"{src_arn}/{src}"), ("s3:GetObject", f"{src_arn}/{src}/a/b c.pdf"),
              ("s3:GetObject", f"{out_arn}/{out}"), ("s3:GetObject", f"{out_arn}/{out}/_raypipe/checkpoint/x.parquet")]
    pending = "_raypipe/checkpoint/x.pending.parquet"
    for key in ("", "_raypipe/", pending, "_raypipe/summary.json", "u_000000-0.parquet"):
        needed += [("s3:PutObject", f"{out_arn}/{out}/{key}"), ("s3:AbortMultipartUpload", f"{out_arn}/{out}/{key}")]
    needed += [("s3:DeleteObject", f"{out_arn}/{out}/{key}") for key in (pending, "u_0.parquet")]
    refused = [("s3:PutObject", f"{src_arn}/{src}/a.pdf"), ("s3:DeleteObject", f"{src_arn}/{src}/a.pdf"),
               ("s3:GetObject", f"{out_arn}/{out}books/x"), ("s3:PutObject", f"{out_arn}/{out}books/x"),
               ("s3:GetObject", f"{src_arn}/other/x"), ("s3:GetObject", "arn:aws:s3:::another-bucket/x"),
               ("s3:DeleteBucket", out_arn), ("s3:PutBucketPolicy", out_arn), ("s3:ListAllMyBuckets", "*")]
    return needed, refused


def s3_policy_problems(policy: dict, source: str, output: str) -> list[str]:
    needed, refused = s3_requests(source, output)
    return ([f"not granted: {a} {r}" for a, r in needed if not allowed(policy, a, r)]
            + [f"granted beyond the job: {a} {r}" for a, r in refused if allowed(policy, a, r)])


def test_s3_policy_grants_the_readme_example_what_raypipe_sends_and_no_more():
    policy = json.loads((AWS / "s3-policy.json").read_text())
    source, output = _readme_example()
    assert (source, output) == ("s3://bucket/pdfs/", "s3://bucket/text/")  # the README's example
    assert s3_policy_problems(policy, source, output) == []

    def edited(edit) -> list[str]:
        copied = copy.deepcopy(policy)
        edit(copied["Statement"])
        return s3_policy_problems(copied, source, output)

    def drop_action(name):
        return lambda sts: [st.update(Action=[a for a in _listed(st["Action"]) if a != name]) for st in sts]

    assert edited(drop_action("s3:DeleteObject")) == [f"not granted: s3:DeleteObject arn:aws:s3:::bucket/text/{k}"
                                                      for k in ("_raypipe/checkpoint/x.pending.parquet", "u_0.parquet")]
    assert edited(drop_action("s3:AbortMultipartUpload"))
    # the usual 'prefix/*' alone: pyarrow's HEAD of the folder's own key is refused, listing fails
    only_children = edited(lambda sts: [st.update(Resource=[r for r in _listed(st["Resource"]) if "/" not in r
                                                             or r.endswith("*")]) for st in sts])
    assert only_children == ["not granted: s3:GetObject arn:aws:s3:::bucket/pdfs",
                             "not granted: s3:GetObject arn:aws:s3:::bucket/text"]
    # listing restricted to the prefixes: HeadBucket carries no prefix, so creating a folder fails
    assert edited(lambda sts: sts[0].update(Condition={"StringLike": {"s3:prefix": ["pdfs/*", "text/*"]}}))
    assert edited(lambda sts: sts.append({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::bucket/*"}))
    # another example elsewhere needs the policy edited with it
    assert s3_policy_problems(policy, "s3://scans/in/", "s3://results/out/")


def test_roles_are_made_as_the_nodes_name_them_and_the_head_can_run_only_this_cluster():
    from ray.autoscaler.tags import TAG_RAY_CLUSTER_NAME

    config = _cluster_config()
    types = config["available_node_types"]
    head_profile = types[config["head_node_type"]]["node_config"]["IamInstanceProfile"]["Name"]
    [worker_profile] = {t["node_config"]["IamInstanceProfile"]["Name"] for n, t in types.items()
                        if n != config["head_node_type"]}
    commands = _commands(_header()[0])
    [loop] = [w for w in commands if w[:3] == ["for", "ROLE", "in"]]
    assert sorted(loop[3:]) == sorted([head_profile, worker_profile])
    policies = {}  # role -> policy files the set-up puts on it
    for w in commands:
        if w[:3] == ["aws", "iam", "put-role-policy"]:
            f = _flags(w)
            for role in (loop[3:] if f["--role-name"] == "$ROLE" else [f["--role-name"]]):
                policies.setdefault(role, []).append(f["--policy-document"].removeprefix("file://"))
        if w[:3] == ["aws", "iam", "add-role-to-instance-profile"]:
            assert _flags(w)["--instance-profile-name"] == _flags(w)["--role-name"]  # role named as its profile
    assert policies == {worker_profile: ["deploy/aws/s3-policy.json"],
                        head_profile: ["deploy/aws/s3-policy.json", "deploy/aws/head-policy.json"]}
    assert all((ROOT / f).exists() for files in policies.values() for f in files)

    trust = json.loads((AWS / "ec2-trust.json").read_text())["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]

    head = json.loads((AWS / "head-policy.json").read_text())
    for action in ("ec2:RunInstances", "ec2:CreateTags", "ec2:DescribeInstances"):
        assert allowed(head, action, "*"), action
    ours, theirs = {f"ec2:ResourceTag/{TAG_RAY_CLUSTER_NAME}": config["cluster_name"]}, {
        f"ec2:ResourceTag/{TAG_RAY_CLUSTER_NAME}": "another"}
    instance = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
    for action in ("ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"):
        assert allowed(head, action, instance, ours) and not allowed(head, action, instance, theirs), action
        assert not allowed(head, action, instance), action  # an instance without the tag
    passed = {"iam:PassedToService": "ec2.amazonaws.com"}
    assert allowed(head, "iam:PassRole", f"arn:aws:iam::123456789012:role/{worker_profile}", passed)
    assert not allowed(head, "iam:PassRole", "arn:aws:iam::123456789012:role/admin", passed)
    assert not allowed(head, "iam:PassRole", f"arn:aws:iam::123456789012:role/{head_profile}", passed)
    for action, resource in (("iam:CreateRole", "*"), ("iam:AttachRolePolicy", "*"), ("s3:GetObject", "*"),
                             ("ec2:AuthorizeSecurityGroupIngress", "*"), ("ec2:ModifyInstanceAttribute", instance)):
        assert not allowed(head, action, resource), action
