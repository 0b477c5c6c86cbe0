"""Static checks of the HCL under terraform/ and packer/ with the `hcl2` parser.

Always run by tests/infra/check.sh; when Terraform or its provider mirror is missing it
is, with checkov, all that checks the Terraform code, so it asserts the fleet module's
essentials itself (the same points terraform test asserts on a plan), plus the two that
a plan cannot show: prevent_destroy on the Elastic IPs and the NLB.

The parser is bc-python-hcl2 (checkov's fork of python-hcl2, same `hcl2` module): it
wraps attribute values in one-element lists, which `one()` unwraps.

Usage: python hcl_check.py REPO_ROOT   (prints one line per problem; exit 1 if any)
"""

import json
import sys
from pathlib import Path

import hcl2

SUFFIXES = (".tf", ".tftest.hcl", ".pkr.hcl", ".pkr.hcl.modern")


def one(value):
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def resources(docs):
    """{(type, name): body} over every parsed .tf file."""
    found = {}
    for doc in docs:
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found[(rtype, name)] = body
    return found


def main(root: Path) -> int:
    problems = []
    parsed = {}
    files = sorted(
        p
        for d in ("terraform", "packer")
        for p in (root / d).rglob("*")
        if p.is_file() and p.name.endswith(SUFFIXES) and ".terraform" not in p.parts
    )
    for path in files:
        try:
            with path.open() as fh:
                parsed[path] = hcl2.load(fh)
        except Exception as exc:  # the parser raises lark errors of many kinds
            problems.append(f"{path.relative_to(root)}: does not parse: {exc}")
    print(f"parsed {len(parsed)} of {len(files)} HCL files")

    module = root / "terraform/modules/fleet"
    res = resources(doc for p, doc in parsed.items() if p.parent == module and p.suffix == ".tf")

    def need(cond, message):
        if not cond:
            problems.append(f"terraform/modules/fleet: {message}")

    def body(rtype, name):
        b = res.get((rtype, name))
        need(b is not None, f"resource {rtype}.{name} is missing")
        return b or {}

    for rtype in ("aws_eip", "aws_lb"):
        lc = one(body(rtype, "this").get("lifecycle", [{}]))
        need(one(lc.get("prevent_destroy")) is True, f"{rtype}.this must have lifecycle.prevent_destroy = true")

    eip = body("aws_eip", "this")
    need(one(eip.get("domain")) == "vpc", 'aws_eip.this must set domain = "vpc"')
    need("public_subnets" in json.dumps(eip.get("for_each")), "one aws_eip per Availability Zone (for_each over public_subnets)")

    lb = body("aws_lb", "this")
    lb_text = json.dumps(lb)
    need(one(lb.get("load_balancer_type")) == "network", "the load balancer must be network")
    need(one(lb.get("enable_cross_zone_load_balancing")) is True, "cross-zone load balancing must be on")
    need("aws_security_group.nlb" in json.dumps(lb.get("security_groups")), "the NLB needs its security group at creation")
    need("subnet_mapping" in lb_text and "allocation_id" in lb_text and "local.allocation_ids" in lb_text,
         "the NLB needs a subnet_mapping with each Elastic IP")

    tg = body("aws_lb_target_group", "this")
    hc = one(tg.get("health_check", [{}]))
    need(one(hc.get("protocol")) == "HTTP", "health check protocol must be HTTP")
    need("var.admin_port" in str(one(hc.get("port"))), "health check port must be the admin port")
    need(one(hc.get("path")) == "/readyz", "health check path must be /readyz")
    ths = one(tg.get("target_health_state", [{}]))
    need(one(ths.get("enable_unhealthy_connection_termination")) is False,
         "target_health_state.enable_unhealthy_connection_termination must be false")
    need(one(tg.get("connection_termination")) is True, "connection_termination must be true")
    need("deregistration_delay" in str(one(tg.get("deregistration_delay"))), "deregistration_delay must be derived")

    lt = body("aws_launch_template", "this")
    md = one(lt.get("metadata_options", [{}]))
    need(one(md.get("http_tokens")) == "required", "IMDSv2 must be required")
    need(one(md.get("http_put_response_hop_limit")) == 1, "IMDS hop limit must be 1")

    asg = body("aws_autoscaling_group", "this")
    need(one(asg.get("health_check_type")) == "EC2",
         "ASG health_check_type must be EC2 (liveness; the NLB's fleet-wide readiness must not replace the fleet)")
    need("initial_lifecycle_hook" not in asg,
         "lifecycle hooks must be aws_autoscaling_lifecycle_hook resources (initial_lifecycle_hook only applies at creation)")
    hooks = json.dumps([b for (rtype, _), b in res.items() if rtype == "aws_autoscaling_lifecycle_hook"])
    need("EC2_INSTANCE_TERMINATING" in hooks and "EC2_INSTANCE_LAUNCHING" in hooks,
         "the ASG needs its launch gate and termination (drain) lifecycle hooks")
    prefs = json.dumps(one(asg.get("instance_refresh", [{}])))
    need("checkpoint_percentages" in prefs and "alarm_specification" in prefs and "auto_rollback" in prefs,
         "the instance refresh needs a canary checkpoint and alarm-based auto rollback")
    for (rtype, name) in res:
        need(rtype != "aws_iam_role_policy_attachment",
             f"{rtype}.{name}: no managed policy on the instance role (AmazonSSMManagedInstanceCore reads every parameter)")
    ltref = one(asg.get("launch_template", [{}]))
    need("latest_version" in str(one(ltref.get("version"))), "the ASG must pin latest_version")
    need("instance_refresh" in asg, "the ASG needs an instance_refresh")

    policy = body("aws_autoscaling_policy", "cpu")
    need(one(policy.get("policy_type")) == "TargetTrackingScaling"
         and "ASGAverageCPUUtilization" in json.dumps(policy.get("target_tracking_configuration")),
         "the group scales by target tracking on its average CPU")
    need(one(asg.get("protect_from_scale_in")) is False,
         "no scale-in protection: every instance must be able to leave through the drain")
    for (rtype, name), b in res.items():
        if rtype == "aws_cloudwatch_metric_alarm" and name != "unhealthy_targets":
            need("alarm_sns_topic_arn" in json.dumps(b.get("for_each", b.get("count")))
                 or "alarms_enabled" in json.dumps(b.get("for_each", b.get("count")))
                 or "certificate_alarm_wanted" in json.dumps(b.get("count")),
                 f"{rtype}.{name} must exist only with alarm_sns_topic_arn")

    rule = body("aws_vpc_security_group_ingress_rule", "instance_from_nlb")
    need("aws_security_group.nlb" in str(one(rule.get("referenced_security_group_id"))),
         "instance ingress must reference the NLB security group")
    for (rtype, name), b in res.items():
        if rtype == "aws_vpc_security_group_ingress_rule" and "aws_security_group.instance" in json.dumps(b.get("security_group_id")):
            need(name == "instance_from_nlb", f"{rtype}.{name} opens the instances to something else than the NLB")

    # The egress module: its outbound IPs are allow-listed like the NLB's.
    egress = root / "terraform/modules/egress"
    eres = resources(doc for p, doc in parsed.items() if p.parent == egress and p.suffix == ".tf")
    eip = eres.get(("aws_eip", "nat"))
    if eip is None:
        problems.append("terraform/modules/egress: resource aws_eip.nat is missing")
    else:
        lc = one(eip.get("lifecycle", [{}]))
        if one(lc.get("prevent_destroy")) is not True:
            problems.append("terraform/modules/egress: aws_eip.nat must have lifecycle.prevent_destroy = true")
    route = eres.get(("aws_route", "default_via_nat"), {})
    if "aws_nat_gateway.this" not in json.dumps(route.get("nat_gateway_id")):
        problems.append("terraform/modules/egress: the private default route must go through aws_nat_gateway.this")

    for path, doc in parsed.items():
        if path.suffix == ".tf" and "$Latest" in json.dumps(doc):
            problems.append(f"{path.relative_to(root)}: uses \"$Latest\" (no instance refresh, no rollback)")

    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
