# Offline tests of the fleet module: plan-only runs against a mocked AWS provider
# (override_during = plan makes mocked computed values known at plan time, so the
# assertions can compare IDs). Run by tests/infra/check.sh via `terraform test`.
# Only `command = plan`: an apply would need a destroy, which prevent_destroy refuses.

mock_provider "aws" {
  override_during = plan

  # IDs and ARNs that pass the provider's own validators.
  mock_resource "aws_launch_template" {
    defaults = {
      id             = "lt-0123456789abcdef0"
      latest_version = 3
    }
  }
  # Empty defaults still make every computed value known at plan; without an id
  # default each instance gets its own random id, so the Elastic IPs (and health
  # checks) can be told apart.
  mock_resource "aws_eip" {
    defaults = {}
  }
  mock_resource "aws_route53_health_check" {
    defaults = {}
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/staticedge/0123456789abcdef"
      dns_name = "staticedge-0123456789abcdef.elb.us-east-1.amazonaws.com"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/se-tls/0123456789abcdef"
    }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = {
      arn = "arn:aws:iam::123456789012:instance-profile/staticedge-test"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn  = "arn:aws:iam::123456789012:role/staticedge-test"
      name = "staticedge-test"
    }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { id = "us-east-1", name = "us-east-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_eip" {
    defaults = { public_ip = "203.0.113.50" }
  }
}

# Distinct, valid addresses for the Elastic IPs (Route 53 health checks validate them)
# and distinct ARNs for the two target groups.
override_resource {
  target          = aws_eip.this["us-east-1a"]
  override_during = plan
  values          = { public_ip = "198.51.100.11", id = "eipalloc-0aaaaaaaaaaaaaaa1" }
}

override_resource {
  target          = aws_eip.this["us-east-1b"]
  override_during = plan
  values          = { public_ip = "198.51.100.12", id = "eipalloc-0bbbbbbbbbbbbbbb2" }
}

override_resource {
  target          = aws_eip.this["us-east-1c"]
  override_during = plan
  values          = { public_ip = "198.51.100.13", id = "eipalloc-0ccccccccccccccc3" }
}

override_resource {
  target          = aws_lb_target_group.this["http"]
  override_during = plan
  values          = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/se-80-/0123456789abcdef" }
}

# Distinct IDs for the two security groups, so "only from the NLB's group" means
# something.
override_resource {
  target          = aws_security_group.nlb
  override_during = plan
  values          = { id = "sg-0aaaaaaaaaaaaaaa1" }
}

override_resource {
  target          = aws_security_group.instance
  override_during = plan
  values          = { id = "sg-0bbbbbbbbbbbbbbb2" }
}

variables {
  name   = "staticedge"
  vpc_id = "vpc-0123456789abcdef0"
  public_subnets = {
    "us-east-1a" = "subnet-0aaa0000000000001"
    "us-east-1b" = "subnet-0bbb0000000000002"
    "us-east-1c" = "subnet-0ccc0000000000003"
  }
  private_subnet_ids = ["subnet-0ddd0000000000004", "subnet-0eee0000000000005", "subnet-0fff0000000000006"]
  ami_id             = "ami-0123456789abcdef0"
  # One instance per zone at least (the module refuses fewer).
  min_size = 3

  config_parameter_name    = "/staticedge/test/config"
  config_parameter_version = 7
  tls_secret_arns = {
    "api.example.com" = "arn:aws:secretsmanager:us-east-1:123456789012:secret:staticedge/api.example.com-AbCdEf"
    "www.example.com" = "arn:aws:secretsmanager:us-east-1:123456789012:secret:staticedge/www.example.com-GhIjKl"
  }
}

run "static_ips_by_zone" {
  command = plan

  assert {
    condition     = toset(keys(aws_eip.this)) == toset(["us-east-1a", "us-east-1b", "us-east-1c"])
    error_message = "There must be exactly one Elastic IP per Availability Zone, keyed by the zone."
  }
  assert {
    condition     = alltrue([for e in aws_eip.this : e.domain == "vpc"])
    error_message = "Elastic IPs must be VPC addresses (domain = \"vpc\")."
  }
  assert {
    condition     = length(aws_lb.this.subnet_mapping) == 3
    error_message = "The NLB must have one subnet_mapping per zone."
  }
  assert {
    condition = alltrue([for az, subnet in var.public_subnets : anytrue([
      for m in aws_lb.this.subnet_mapping : m.subnet_id == subnet && m.allocation_id == aws_eip.this[az].id
    ])])
    error_message = "Each zone's subnet_mapping must carry that zone's Elastic IP."
  }
  assert {
    condition     = output.static_ips == tolist(["198.51.100.11", "198.51.100.12", "198.51.100.13"]) && output.static_ips_by_az["us-east-1b"] == "198.51.100.12"
    error_message = "The outputs must list the static IPs, by zone too."
  }
  assert {
    condition     = aws_lb.this.load_balancer_type == "network" && aws_lb.this.internal == false
    error_message = "The load balancer must be an internet-facing NLB."
  }
  assert {
    condition     = aws_lb.this.enable_cross_zone_load_balancing == true
    error_message = "Cross-zone load balancing must be on."
  }
  assert {
    condition     = toset(aws_lb.this.security_groups) == toset([aws_security_group.nlb.id])
    error_message = "The NLB must get its security group at creation (adding one later replaces it)."
  }
}

run "own_elastic_ips_by_allocation_id" {
  command = plan

  variables {
    eip_allocation_ids = { "us-east-1b" = "eipalloc-0123456789abcdef0" }
  }

  assert {
    condition     = toset(keys(aws_eip.this)) == toset(["us-east-1a", "us-east-1c"])
    error_message = "A zone with a given allocation id must not get an Elastic IP from the module."
  }
  assert {
    condition     = anytrue([for m in aws_lb.this.subnet_mapping : m.subnet_id == "subnet-0bbb0000000000002" && m.allocation_id == "eipalloc-0123456789abcdef0"])
    error_message = "The given allocation id must be mapped in its zone."
  }
  assert {
    condition     = output.static_ips_by_az["us-east-1b"] == "203.0.113.50" && length(output.static_ips) == 3
    error_message = "The given address must be among the static IPs."
  }
}

run "listener_and_target_group" {
  command = plan

  assert {
    condition     = keys(aws_lb_listener.this) == ["tls"]
    error_message = "By default only the TLS listener exists."
  }
  assert {
    condition     = aws_lb_listener.this["tls"].port == 443 && aws_lb_listener.this["tls"].protocol == "TCP"
    error_message = "The listener must be TCP 443 (TLS passes through to the proxy)."
  }
  assert {
    condition     = aws_lb_listener.this["tls"].tcp_idle_timeout_seconds == 350
    error_message = "The TCP idle timeout must default to 350 s."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].protocol == "TCP" && aws_lb_target_group.this["tls"].port == 443
    error_message = "The target group must be TCP 443."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].target_type == "instance"
    error_message = "Targets must be instances (registered by the ASG)."
  }
  assert {
    condition     = tostring(aws_lb_target_group.this["tls"].preserve_client_ip) == "true"
    error_message = "Client IPs must be preserved."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].connection_termination == true
    error_message = "connection_termination must close what is left after the deregistration delay."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].proxy_protocol_v2 == false && output.proxy_listener_proxy_protocol == "off"
    error_message = "PROXY protocol is off by default, on both sides."
  }
}

run "health_check_on_admin_port_readyz" {
  command = plan

  assert {
    condition     = aws_lb_target_group.this["tls"].health_check[0].protocol == "HTTP"
    error_message = "The health check must be HTTP (not TCP, not the TLS traffic port)."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].health_check[0].port == "9901"
    error_message = "The health check must use the admin port 9901, not traffic-port."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].health_check[0].path == "/readyz"
    error_message = "The NLB must route by /readyz."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].health_check[0].matcher == "200"
    error_message = "Only 200 is healthy."
  }
  assert {
    condition = (
      aws_lb_target_group.this["tls"].health_check[0].interval == 10 &&
      aws_lb_target_group.this["tls"].health_check[0].timeout == 5 &&
      aws_lb_target_group.this["tls"].health_check[0].healthy_threshold == 2 &&
      aws_lb_target_group.this["tls"].health_check[0].unhealthy_threshold == 2
    )
    error_message = "Health check timing must be 10/5/2/2."
  }
}

# SIGTERM first: the NLB needs interval x unhealthy_threshold (20 s) to see the 503,
# plus up to one interval before the first failing check starts. The default grace
# period must cover it, computed from the target group's own check.
run "default_grace_covers_the_health_check" {
  command = plan

  assert {
    condition = var.grace_period_seconds >= (
      aws_lb_target_group.this["tls"].health_check[0].interval * aws_lb_target_group.this["tls"].health_check[0].unhealthy_threshold +
      aws_lb_target_group.this["tls"].health_check[0].interval
    )
    error_message = "grace_period_seconds must be at least interval x unhealthy_threshold + interval of the target group's health check."
  }
  assert {
    condition     = var.grace_period_seconds == 30 && output.drain_timings.min_grace_period == 30
    error_message = "The default grace period is 30 s, exactly the 10 s x 2 + 10 s the health check needs."
  }
  assert {
    condition     = var.grace_period_seconds + var.drain_timeout_seconds + 10 <= var.ami_stop_timeout_seconds && var.ami_stop_timeout_seconds == 120
    error_message = "The AMI's TimeoutStopSec (120 s) must cover grace 30 s + drain 60 s + 10 s."
  }
}

run "refuses_a_grace_period_shorter_than_the_health_check" {
  command = plan

  variables {
    grace_period_seconds = 29
  }

  expect_failures = [aws_lb_target_group.this]
}

# Defaults: grace 30, drain 60, late flows 120. The watcher waits 90 s after the
# flip, SIGTERM's grace ends at 120 s (no late flow meets a closed port), the proxy has
# exited by 180 s; the NLB keeps connections 210 s; the hook holds 215 s.
run "drain_arithmetic_defaults" {
  command = plan

  assert {
    condition = output.drain_timings == {
      drain_delay                 = 90
      listeners_close_after       = 120
      drain_deadline              = 180
      deregistration_delay        = 210
      terminate_hook_timeout      = 215
      unhealthy_draining_interval = 90
      min_grace_period            = 30
    }
    error_message = "Default drain timings: delay 90, close 120, deadline 180, deregistration 210, hook 215, unhealthy draining 90, minimum grace 30."
  }
  assert {
    condition     = tonumber(aws_lb_target_group.this["tls"].deregistration_delay) == 210
    error_message = "The target group must use the derived deregistration delay."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].target_health_state[0].enable_unhealthy_connection_termination == false && aws_lb_target_group.this["tls"].target_health_state[0].unhealthy_draining_interval == 90
    error_message = "An unhealthy (draining) target must keep its connections for grace + drain."
  }
  assert {
    condition = (
      aws_autoscaling_lifecycle_hook.drain.name == "staticedge-drain" &&
      aws_autoscaling_lifecycle_hook.drain.autoscaling_group_name == aws_autoscaling_group.this.name &&
      aws_autoscaling_lifecycle_hook.drain.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout == 215 &&
      aws_autoscaling_lifecycle_hook.drain.default_result == "CONTINUE"
    )
    error_message = "The termination hook must hold the instance for the drain (215 s), then continue."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_DRAIN_DELAY=90\n") && strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_TERMINATE_HOOK=staticedge-drain\n") && strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_ASG_NAME=staticedge\n")
    error_message = "The watcher must get the drain delay, the hook and the group from the user data."
  }
}

run "drain_arithmetic_long_requests" {
  command = plan

  variables {
    grace_period_seconds     = 30
    drain_timeout_seconds    = 300
    ami_stop_timeout_seconds = 360
  }

  assert {
    condition     = output.drain_timings.drain_delay == 90 && output.drain_timings.drain_deadline == 420 && output.drain_timings.deregistration_delay == 450 && output.drain_timings.terminate_hook_timeout == 455
    error_message = "Long drains: delay 90, deadline 120 + 300 = 420, deregistration 450, hook 455."
  }
  assert {
    condition     = aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout == 455 && tonumber(aws_lb_target_group.this["tls"].deregistration_delay) == 450
    error_message = "The hook and the target group must follow the timings."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].target_health_state[0].unhealthy_draining_interval == 330
    error_message = "unhealthy_draining_interval must follow grace_period + drain_timeout."
  }
}

run "drain_arithmetic_grace_longer_than_late_flows" {
  command = plan

  variables {
    grace_period_seconds     = 150
    drain_timeout_seconds    = 60
    ami_stop_timeout_seconds = 240
  }

  assert {
    condition     = output.drain_timings.drain_delay == 0 && output.drain_timings.listeners_close_after == 150 && output.drain_timings.deregistration_delay == 240
    error_message = "A grace period longer than the late-flow window needs no delay: close at 150, deregistration 150 + 60 + 30."
  }
}

run "drain_arithmetic_floor" {
  command = plan

  variables {
    late_flow_seconds                  = 0
    grace_period_seconds               = 30
    drain_timeout_seconds              = 10
    deregistration_delay_floor_seconds = 120
  }

  assert {
    condition     = output.drain_timings.deregistration_delay == 120 && output.drain_timings.terminate_hook_timeout == 75
    error_message = "The floor applies when the drain is short; the hook follows the drain (30 + 10 + 5 + 30)."
  }
}

run "refuses_a_drain_past_the_deregistration_cap" {
  command = plan

  variables {
    drain_timeout_seconds    = 3000
    grace_period_seconds     = 600
    ami_stop_timeout_seconds = 4000
  }

  expect_failures = [aws_lb_target_group.this]
}

run "refuses_a_drain_longer_than_the_ami_stop_timeout" {
  command = plan

  variables {
    drain_timeout_seconds = 90
  }

  expect_failures = [aws_autoscaling_group.this]
}

run "canary_refresh_with_alarm_rollback" {
  command = plan

  assert {
    condition = (
      aws_autoscaling_group.this.instance_refresh[0].strategy == "Rolling" &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].min_healthy_percentage == 100 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].max_healthy_percentage == 150 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].checkpoint_percentages == tolist([10, 100]) &&
      tonumber(aws_autoscaling_group.this.instance_refresh[0].preferences[0].checkpoint_delay) == 600 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].skip_matching == true &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].auto_rollback == true
    )
    error_message = "Instance refresh: a 10 % canary, a 600 s pause, batches up to 150 %, never below 100 %, auto rollback."
  }
  assert {
    condition     = aws_autoscaling_group.this.instance_refresh[0].preferences[0].alarm_specification[0].alarms == tolist(["staticedge-unhealthy-targets"])
    error_message = "The unhealthy-target alarm must roll a refresh back."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.unhealthy_targets.namespace == "AWS/NetworkELB" &&
      aws_cloudwatch_metric_alarm.unhealthy_targets.metric_name == "UnHealthyHostCount" &&
      aws_cloudwatch_metric_alarm.unhealthy_targets.threshold == 0 &&
      aws_cloudwatch_metric_alarm.unhealthy_targets.comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.unhealthy_targets.dimensions["TargetGroup"] == aws_lb_target_group.this["tls"].arn_suffix
    )
    error_message = "The alarm must watch the TLS target group's unhealthy targets."
  }
  assert {
    condition     = aws_autoscaling_group.this.instance_maintenance_policy[0].min_healthy_percentage == 100
    error_message = "Replacements launch before they terminate."
  }
  assert {
    condition     = aws_autoscaling_group.this.launch_template[0].version == "3"
    error_message = "The ASG must pin the launch template's latest_version, not \"$Latest\"."
  }
}

run "more_rollback_alarms" {
  command = plan

  variables {
    rollback_alarm_names = ["app-5xx"]
    canary_percentage    = 25
    canary_seconds       = 900
  }

  assert {
    condition     = aws_autoscaling_group.this.instance_refresh[0].preferences[0].alarm_specification[0].alarms == tolist(["staticedge-unhealthy-targets", "app-5xx"]) && aws_autoscaling_group.this.instance_refresh[0].preferences[0].checkpoint_percentages == tolist([25, 100])
    error_message = "Extra alarms and the canary size must reach the refresh."
  }
}

run "health_checks_cannot_churn_the_fleet" {
  command = plan

  assert {
    condition     = aws_autoscaling_group.this.health_check_type == "EC2"
    error_message = "The group must replace on liveness (EC2 + the watcher's /healthz report), never on the NLB's fleet-wide readiness."
  }
  assert {
    condition     = aws_autoscaling_group.this.health_check_grace_period == 480
    error_message = "The grace period must cover the boot's retries (420 s ready timeout + 60 s)."
  }
  assert {
    condition = (
      aws_autoscaling_lifecycle_hook.ready.name == "staticedge-ready" &&
      aws_autoscaling_lifecycle_hook.ready.autoscaling_group_name == aws_autoscaling_group.this.name &&
      aws_autoscaling_lifecycle_hook.ready.lifecycle_transition == "autoscaling:EC2_INSTANCE_LAUNCHING" &&
      aws_autoscaling_lifecycle_hook.ready.heartbeat_timeout == 480 &&
      aws_autoscaling_lifecycle_hook.ready.default_result == "ABANDON"
    )
    error_message = "The launch gate must hold a new instance until ready, and abandon it when it never is."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_READY_TIMEOUT=420\n") && strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_LIVENESS_FAILURES=6\n") && strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_LAUNCH_HOOK=staticedge-ready\n")
    error_message = "The watcher must get the launch gate's settings."
  }
}

run "instances_only_reachable_from_the_nlb" {
  command = plan

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.instance_from_nlb) == 2
    error_message = "The instances accept exactly the TLS port and the admin port."
  }
  assert {
    condition = alltrue([
      for r in aws_vpc_security_group_ingress_rule.instance_from_nlb :
      r.security_group_id == aws_security_group.instance.id &&
      r.referenced_security_group_id == aws_security_group.nlb.id &&
      r.cidr_ipv4 == null && r.cidr_ipv6 == null && r.prefix_list_id == null
    ])
    error_message = "Instance ingress must come only from the NLB's security group."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.instance_from_nlb : r.from_port]) == toset([443, 9901])
    error_message = "Instance ingress ports must be 443 and the admin port."
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.nlb_clients : r.security_group_id == aws_security_group.nlb.id])
    error_message = "Client CIDRs may only be opened on the NLB's security group."
  }
  assert {
    condition     = contains([for r in aws_vpc_security_group_egress_rule.nlb_to_instances : r.from_port], 9901)
    error_message = "The health check port must be open from the NLB to the instances."
  }
}

run "launch_template" {
  command = plan

  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required" && aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 only, hop limit 1."
  }
  assert {
    condition     = aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "The root volume must be encrypted."
  }
  assert {
    condition     = toset(aws_autoscaling_group.this.target_group_arns) == toset([aws_lb_target_group.this["tls"].arn]) && toset(aws_autoscaling_group.this.vpc_zone_identifier) == toset(var.private_subnet_ids)
    error_message = "The ASG registers in the target group and runs in the private subnets."
  }
  assert {
    condition     = startswith(base64decode(aws_launch_template.this.user_data), "#cloud-config\n")
    error_message = "User data must be cloud-config (write_files runs before network-online)."
  }
}

run "config_named_by_version" {
  command = plan

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_CONFIG_PARAMETER=/staticedge/test/config:7\n")
    error_message = "The launch template must name the config parameter by version."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "api.example.com=arn:aws:secretsmanager:us-east-1:123456789012:secret:staticedge/api.example.com-AbCdEf")
    error_message = "User data must pass each certificate secret to the boot script."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_TLS_SECRET_VERSIONS=\"\"\n")
    error_message = "Unpinned certificates read AWSCURRENT."
  }
}

run "config_and_certificate_versions_change_the_template" {
  command = plan

  variables {
    config_parameter_version = 8
    tls_secret_version_ids   = { "api.example.com" = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111" }
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_CONFIG_PARAMETER=/staticedge/test/config:8\n")
    error_message = "A new config version must be a new launch template (a refresh with a canary)."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_TLS_SECRET_VERSIONS=\"api.example.com=a1b2c3d4-5678-90ab-cdef-EXAMPLE11111\"\n")
    error_message = "A pinned certificate version must be in the launch template."
  }
}

run "least_privilege" {
  command = plan

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Action])) == toset([
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:SetInstanceHealth",
      "cloudwatch:PutMetricData",
      "ec2:DescribeTags",
      "ec2:DescribeVolumes",
      "ec2messages:AcknowledgeMessage",
      "ec2messages:DeleteMessage",
      "ec2messages:FailMessage",
      "ec2messages:GetEndpoint",
      "ec2messages:GetMessages",
      "ec2messages:SendReply",
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
      "logs:PutRetentionPolicy",
      "secretsmanager:GetSecretValue",
      "ssm:GetParameter",
      "ssm:UpdateInstanceInformation",
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ])
    error_message = "The role's actions must be exactly the session, config, certificate, lifecycle and agent ones."
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if contains(s.Action, "ssm:GetParameter")
      ])) == toset([
      "arn:aws:ssm:us-east-1:123456789012:parameter/staticedge/test/config",
      "arn:aws:ssm:us-east-1:123456789012:parameter/AmazonCloudWatch-staticedge",
    ])
    error_message = "The role may read exactly the config parameter (and the agent's own config), no other parameter."
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if contains(s.Action, "secretsmanager:GetSecretValue")
    ])) == toset(values(var.tls_secret_arns))
    error_message = "The role may read exactly the certificate secrets."
  }
  assert {
    condition = jsonencode(flatten([
      for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if contains(s.Action, "autoscaling:CompleteLifecycleAction")
    ])) == jsonencode(["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/staticedge"])
    error_message = "Lifecycle calls only on the fleet's own group."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.instance.policy).Statement :
      alltrue([for a in s.Action : can(regex("^(ec2messages|ssmmessages):|^cloudwatch:PutMetricData$|^ec2:Describe", a))]) if contains(s.Resource, "*")
    ])
    error_message = "Resource \"*\" only for actions without resource-level permissions."
  }
  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : alltrue([for a in s.Action : !strcontains(a, "*")])])
    error_message = "No wildcard actions."
  }
}

run "least_privilege_without_the_agent" {
  command = plan

  variables {
    cloudwatch_agent = false
  }

  assert {
    condition     = length([for a in flatten([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Action]) : a if startswith(a, "logs:") || startswith(a, "cloudwatch:") || startswith(a, "ec2:")]) == 0
    error_message = "Without the agent, no logs, metrics or EC2 grants."
  }
}

run "proxy_protocol_accept_stage" {
  command = plan

  variables {
    proxy_protocol = "accept"
  }

  assert {
    condition     = aws_lb_target_group.this["tls"].proxy_protocol_v2 == false && output.proxy_listener_proxy_protocol == "optional"
    error_message = "Stage accept: the proxy accepts the header, the NLB does not send it yet."
  }
}

run "proxy_protocol_send_stage" {
  command = plan

  variables {
    proxy_protocol = "send"
  }

  # The template in service was rolled out with stage "accept".
  override_data {
    target = data.aws_launch_template.deployed[0]
    values = { user_data = "I2Nsb3VkLWNvbmZpZwpTVEFUSUNFREdFX1BST1hZX1BST1RPQ09MX1NUQUdFPWFjY2VwdAo=" } # base64: a user data with STATICEDGE_PROXY_PROTOCOL_STAGE=accept
  }

  assert {
    condition     = aws_lb_target_group.this["tls"].proxy_protocol_v2 == true && output.proxy_listener_proxy_protocol == "optional"
    error_message = "Stage send: the NLB sends the header to a proxy that accepts it either way."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_PROXY_PROTOCOL_STAGE=send\n")
    error_message = "The stage is recorded in the launch template."
  }
}

run "refuses_send_before_the_fleet_accepts" {
  command = plan

  variables {
    proxy_protocol = "send"
  }

  override_data {
    target = data.aws_launch_template.deployed[0]
    values = { user_data = "I2Nsb3VkLWNvbmZpZwpTVEFUSUNFREdFX1BST1hZX1BST1RPQ09MX1NUQUdFPW9mZgo=" } # base64: a user data with STATICEDGE_PROXY_PROTOCOL_STAGE=off
  }

  expect_failures = [aws_lb_target_group.this]
}

run "optional_http_listener" {
  command = plan

  variables {
    enable_http_listener = true
  }

  assert {
    condition     = aws_lb_listener.this["http"].port == 80 && aws_lb_target_group.this["http"].health_check[0].path == "/readyz"
    error_message = "The optional listener must be TCP 80, checked on /readyz too."
  }
  assert {
    condition     = length(aws_autoscaling_group.this.target_group_arns) == 2
    error_message = "The ASG registers in both target groups."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.instance_from_nlb : r.from_port]) == toset([80, 443, 9901])
    error_message = "Port 80 opens from the NLB only."
  }
}

run "route53_records_per_ip" {
  command = plan

  variables {
    route53_zone_id     = "Z0123456789ABCDEFGHIJ"
    route53_record_name = "edge.example.com"
  }

  assert {
    condition     = length(aws_route53_record.ip) == 3
    error_message = "One A record per static IP."
  }
  assert {
    condition     = alltrue([for k, r in aws_route53_record.ip : r.health_check_id == aws_route53_health_check.ip[k].id && r.multivalue_answer_routing_policy == true])
    error_message = "Each record has its own health check (multivalue answer)."
  }
  assert {
    condition     = alltrue([for k, r in aws_route53_record.ip : r.records == toset([aws_eip.this[k].public_ip])])
    error_message = "Each record publishes its own zone's Elastic IP."
  }
}

run "no_route53_by_default" {
  command = plan

  assert {
    condition     = length(aws_route53_record.ip) == 0 && length(aws_route53_health_check.ip) == 0
    error_message = "Route 53 records are optional and off by default."
  }
}

# --- Scaling ------------------------------------------------------------------------------

run "scaling_policy_tracks_average_cpu" {
  command = plan

  assert {
    condition = (
      aws_autoscaling_policy.cpu.policy_type == "TargetTrackingScaling" &&
      aws_autoscaling_policy.cpu.autoscaling_group_name == aws_autoscaling_group.this.name &&
      aws_autoscaling_policy.cpu.target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ASGAverageCPUUtilization" &&
      aws_autoscaling_policy.cpu.target_tracking_configuration[0].target_value == 50
    )
    error_message = "One target-tracking policy on the group's average CPU, target 50 %."
  }
  assert {
    condition     = aws_autoscaling_group.this.min_size == 3 && aws_autoscaling_group.this.max_size == 6 && aws_autoscaling_group.this.desired_capacity == 3
    error_message = "The group scales between min_size (one per zone) and max_size, starting at min_size."
  }
  assert {
    condition     = aws_autoscaling_group.this.default_instance_warmup == 80 && aws_autoscaling_group.this.instance_refresh[0].preferences[0].instance_warmup == "80"
    error_message = "Warm-up after InService: the NLB's 2 x 10 s healthy checks + one 60 s CPU period = 80 s, for scaling and refreshes alike."
  }
  assert {
    condition     = contains(aws_autoscaling_group.this.enabled_metrics, "GroupInServiceInstances") && contains(aws_autoscaling_group.this.enabled_metrics, "GroupMaxSize") && aws_autoscaling_group.this.metrics_granularity == "1Minute"
    error_message = "The group publishes the metrics the at-max alarm compares."
  }
}

run "scaling_target_and_warmup_are_variables" {
  command = plan

  variables {
    cpu_target_percent      = 65
    instance_warmup_seconds = 120
    max_size                = 12
  }

  assert {
    condition     = aws_autoscaling_policy.cpu.target_tracking_configuration[0].target_value == 65 && aws_autoscaling_group.this.default_instance_warmup == 120 && aws_autoscaling_group.this.max_size == 12
    error_message = "cpu_target_percent, instance_warmup_seconds and max_size reach the policy and the group."
  }
}

# Scale-in is a termination like any other: it must go through the deregistration
# delay and the termination hook, whose timings are the drain's.
run "scale_in_keeps_the_drain_contract" {
  command = plan

  assert {
    condition     = aws_autoscaling_policy.cpu.target_tracking_configuration[0].disable_scale_in == false && aws_autoscaling_group.this.protect_from_scale_in == false
    error_message = "The policy scales in (through the drain), and no instance is protected from it."
  }
  assert {
    condition     = contains(aws_autoscaling_group.this.target_group_arns, aws_lb_target_group.this["tls"].arn)
    error_message = "The group owns the target registration, so scale-in deregisters first."
  }
  assert {
    condition     = tonumber(aws_lb_target_group.this["tls"].deregistration_delay) == output.drain_timings.deregistration_delay && output.drain_timings.deregistration_delay >= output.drain_timings.drain_deadline + 30
    error_message = "The NLB keeps a scaled-in instance's connections past the proxy's drain deadline."
  }
  assert {
    condition = (
      aws_autoscaling_lifecycle_hook.drain.autoscaling_group_name == aws_autoscaling_policy.cpu.autoscaling_group_name &&
      aws_autoscaling_lifecycle_hook.drain.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout >= output.drain_timings.drain_deadline &&
      aws_autoscaling_lifecycle_hook.drain.default_result == "CONTINUE"
    )
    error_message = "The scaled group's termination hook holds each instance until the drain is done."
  }
}

run "min_size_follows_the_zones" {
  command = plan

  variables {
    public_subnets     = { "us-east-1a" = "subnet-0aaa0000000000001", "us-east-1b" = "subnet-0bbb0000000000002" }
    private_subnet_ids = ["subnet-0ddd0000000000004", "subnet-0eee0000000000005"]
    min_size           = 2
  }

  assert {
    condition     = aws_autoscaling_group.this.min_size == 2 && aws_autoscaling_group.this.desired_capacity == 2
    error_message = "Two zones: two instances at least."
  }
}

run "rejects_min_size_below_one_per_zone" {
  command = plan
  variables {
    min_size = 2
  }
  expect_failures = [var.min_size]
}

run "rejects_min_size_below_one_per_instance_subnet" {
  command = plan
  variables {
    public_subnets = { "us-east-1a" = "subnet-0aaa0000000000001", "us-east-1b" = "subnet-0bbb0000000000002" }
    min_size       = 2
  }
  expect_failures = [var.min_size]
}

run "rejects_a_cpu_target_of_100" {
  command = plan
  variables {
    cpu_target_percent = 100
  }
  expect_failures = [var.cpu_target_percent]
}

# --- Alarms -------------------------------------------------------------------------------

run "no_alarm_without_a_topic" {
  command = plan

  variables {
    cloudwatch_prometheus_metrics = true
  }

  assert {
    condition = (
      length(aws_cloudwatch_metric_alarm.zone_without_healthy_target) == 0 &&
      length(aws_cloudwatch_metric_alarm.unhealthy_target) == 0 &&
      length(aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu) == 0 &&
      length(aws_cloudwatch_metric_alarm.certificate_expiry) == 0
    )
    error_message = "alarm_sns_topic_arn unset: no alarm is created, metrics or not."
  }
  assert {
    condition     = output.alarm_names == []
    error_message = "The alarm_names output is empty without a topic."
  }
}

run "alarms_with_a_topic" {
  command = plan

  variables {
    alarm_sns_topic_arn           = "arn:aws:sns:us-east-1:123456789012:pager"
    cloudwatch_prometheus_metrics = true
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.zone_without_healthy_target)) == toset(["us-east-1a", "us-east-1b", "us-east-1c"])
    error_message = "One no-healthy-target alarm per zone."
  }
  assert {
    condition = alltrue([for az, a in aws_cloudwatch_metric_alarm.zone_without_healthy_target :
      a.namespace == "AWS/NetworkELB" && a.metric_name == "HealthyHostCount" && a.statistic == "Minimum" &&
      a.threshold == 1 && a.comparison_operator == "LessThanThreshold" && a.treat_missing_data == "breaching" &&
      a.dimensions["AvailabilityZone"] == az && a.dimensions["TargetGroup"] == aws_lb_target_group.this["tls"].arn_suffix
    ])
    error_message = "Per zone: fewer than 1 healthy target in that zone of the TLS target group (no data counts as none)."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.unhealthy_target[0].metric_name == "UnHealthyHostCount" &&
      aws_cloudwatch_metric_alarm.unhealthy_target[0].statistic == "Maximum" &&
      aws_cloudwatch_metric_alarm.unhealthy_target[0].threshold == 0 &&
      aws_cloudwatch_metric_alarm.unhealthy_target[0].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.unhealthy_target[0].period == 60 &&
      aws_cloudwatch_metric_alarm.unhealthy_target[0].evaluation_periods == 5
    )
    error_message = "Any unhealthy target for 5 one-minute periods."
  }
  assert {
    condition = (
      one([for q in aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[0].metric_query : q.expression if q.return_data == true]) == "IF(in_service >= max_size AND cpu > 50, 1, 0)" &&
      toset([for q in aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[0].metric_query : one(q.metric).metric_name if length(q.metric) > 0]) == toset(["GroupInServiceInstances", "GroupMaxSize", "CPUUtilization"]) &&
      alltrue([for q in aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[0].metric_query : one(q.metric).dimensions["AutoScalingGroupName"] == "staticedge" if length(q.metric) > 0]) &&
      aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[0].threshold == 1 &&
      aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[0].evaluation_periods == 15
    )
    error_message = "At max_size with the group's average CPU above the policy's target, for 15 minutes."
  }
  assert {
    condition = (
      one([for q in aws_cloudwatch_metric_alarm.certificate_expiry[0].metric_query : q.expression if q.return_data == true]) == "(expiry - EPOCH(expiry)) / 86400" &&
      one([for q in aws_cloudwatch_metric_alarm.certificate_expiry[0].metric_query : one(q.metric) if length(q.metric) > 0]).metric_name == "staticedge_certificate_expiry_timestamp_seconds" &&
      one([for q in aws_cloudwatch_metric_alarm.certificate_expiry[0].metric_query : one(q.metric) if length(q.metric) > 0]).namespace == "staticedge" &&
      one([for q in aws_cloudwatch_metric_alarm.certificate_expiry[0].metric_query : one(q.metric) if length(q.metric) > 0]).stat == "Minimum" &&
      one([for q in aws_cloudwatch_metric_alarm.certificate_expiry[0].metric_query : one(q.metric) if length(q.metric) > 0]).dimensions["Fleet"] == "staticedge" &&
      aws_cloudwatch_metric_alarm.certificate_expiry[0].threshold == 14 &&
      aws_cloudwatch_metric_alarm.certificate_expiry[0].comparison_operator == "LessThanThreshold"
    )
    error_message = "Certificate expiry: days left of the fleet's first-expiring certificate, from staticedge's own gauge, under 14."
  }
  assert {
    condition = alltrue([for a in concat(
      values(aws_cloudwatch_metric_alarm.zone_without_healthy_target),
      aws_cloudwatch_metric_alarm.unhealthy_target,
      aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu,
      aws_cloudwatch_metric_alarm.certificate_expiry,
    ) : a.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:pager"]) && a.ok_actions == toset(["arn:aws:sns:us-east-1:123456789012:pager"]) && strcontains(a.alarm_description, "To do:")])
    error_message = "Every alarm notifies the topic (alarm and OK) and says what to do."
  }
  assert {
    condition     = length(output.alarm_names) == 6
    error_message = "alarm_names lists the six alarms (three zones, unhealthy, at max, certificate)."
  }
}

run "alarm_thresholds_are_variables" {
  command = plan

  variables {
    alarm_sns_topic_arn           = "arn:aws:sns:us-east-1:123456789012:pager"
    cloudwatch_prometheus_metrics = true
    alarm_unhealthy_minutes       = 10
    alarm_at_max_minutes          = 30
    alarm_certificate_days        = 21
    cpu_target_percent            = 70
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.unhealthy_target[0].evaluation_periods == 10 &&
      aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[0].evaluation_periods == 30 &&
      one([for q in aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[0].metric_query : q.expression if q.return_data == true]) == "IF(in_service >= max_size AND cpu > 70, 1, 0)" &&
      aws_cloudwatch_metric_alarm.certificate_expiry[0].threshold == 21
    )
    error_message = "The alarms follow their variables and the policy's CPU target."
  }
}

run "no_certificate_alarm_without_metrics" {
  command = plan

  variables {
    alarm_sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:pager"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.certificate_expiry) == 0 && length(aws_cloudwatch_metric_alarm.unhealthy_target) == 1
    error_message = "The certificate alarm needs the proxy's metrics in CloudWatch; the NLB and group alarms do not."
  }
}

run "rejects_a_topic_that_is_not_an_arn" {
  command = plan
  variables {
    alarm_sns_topic_arn = "pager"
  }
  expect_failures = [var.alarm_sns_topic_arn]
}

# --- Metrics off the box ------------------------------------------------------------------

run "no_metrics_shipping_by_default" {
  command = plan

  assert {
    condition     = length(aws_ssm_parameter.metrics_agent) == 0 && length(aws_cloudwatch_log_group.metrics) == 0 && !strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_METRICS_AGENT_CONFIG")
    error_message = "Off by default: no agent config, no log group, nothing for the instance to start."
  }
}

run "metrics_shipped_by_the_cloudwatch_agent" {
  command = plan

  variables {
    cloudwatch_prometheus_metrics = true
  }

  assert {
    condition     = aws_ssm_parameter.metrics_agent[0].name == "AmazonCloudWatch-staticedge-prometheus"
    error_message = "The agent config is the SSM parameter AmazonCloudWatch-<name>-prometheus."
  }
  assert {
    condition = (
      jsondecode(aws_ssm_parameter.metrics_agent[0].value).logs.metrics_collected.prometheus.log_group_name == "/staticedge/staticedge/prometheus" &&
      jsondecode(aws_ssm_parameter.metrics_agent[0].value).logs.metrics_collected.prometheus.prometheus_config_path == "/opt/aws/amazon-cloudwatch-agent/etc/staticedge-prometheus.yaml" &&
      jsondecode(aws_ssm_parameter.metrics_agent[0].value).logs.metrics_collected.prometheus.emf_processor.metric_namespace == "staticedge" &&
      jsondecode(aws_ssm_parameter.metrics_agent[0].value).logs.metrics_collected.prometheus.emf_processor.metric_declaration[0].dimensions == [["Fleet"]] &&
      contains(jsondecode(aws_ssm_parameter.metrics_agent[0].value).logs.metrics_collected.prometheus.emf_processor.metric_declaration[0].metric_selectors, "^staticedge_certificate_expiry_timestamp_seconds$")
    )
    error_message = "The agent writes staticedge's gauges (certificate expiry among them) to namespace staticedge, dimension Fleet, through the log group."
  }
  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_METRICS_AGENT_CONFIG=ssm:AmazonCloudWatch-staticedge-prometheus\n") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "path: /opt/aws/amazon-cloudwatch-agent/etc/staticedge-prometheus.yaml\n") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "127.0.0.1:9901") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "\"Fleet\": \"staticedge\"")
    )
    error_message = "User data names the agent config and writes the scrape file for the admin port, labelled with the fleet."
  }
  assert {
    condition     = yamldecode(local.metrics_scrape_yaml).scrape_configs[0].static_configs[0].targets == ["127.0.0.1:9901"] && yamldecode(local.metrics_scrape_yaml).scrape_configs[0].metrics_path == "/metrics"
    error_message = "The scrape file points at /metrics on the admin port."
  }
  assert {
    condition     = can(yamldecode(base64decode(aws_launch_template.this.user_data))) && length(yamldecode(base64decode(aws_launch_template.this.user_data)).write_files) == 2
    error_message = "The user data stays valid YAML with the scrape file as a second write_files entry."
  }
  assert {
    condition = contains(flatten([
      for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if contains(s.Action, "ssm:GetParameter")
    ]), "arn:aws:ssm:us-east-1:123456789012:parameter/AmazonCloudWatch-staticedge-prometheus")
    error_message = "The instance role may read the agent config."
  }
  assert {
    condition     = aws_cloudwatch_log_group.metrics[0].name == "/staticedge/staticedge/prometheus" && aws_cloudwatch_log_group.metrics[0].retention_in_days == 7
    error_message = "The samples' log group exists with a retention, under the agent's allowed prefix."
  }
}

run "rejects_metrics_without_the_agent" {
  command = plan
  variables {
    cloudwatch_prometheus_metrics = true
    cloudwatch_agent              = false
  }
  expect_failures = [var.cloudwatch_prometheus_metrics]
}

# --- Every validation refuses what it must -------------------------------------------

run "rejects_secret_names_that_are_not_arns" {
  command = plan
  variables {
    tls_secret_arns = { "api.example.com" = "staticedge/api.example.com" }
  }
  expect_failures = [var.tls_secret_arns]
}

run "rejects_duplicate_subnets" {
  command = plan
  variables {
    public_subnets = { "us-east-1a" = "subnet-0aaa0000000000001", "us-east-1b" = "subnet-0aaa0000000000001" }
  }
  expect_failures = [var.public_subnets]
}

run "rejects_subnets_not_keyed_by_zone" {
  command = plan
  variables {
    public_subnets = { "subnet-0aaa0000000000001" = "subnet-0aaa0000000000001" }
  }
  expect_failures = [var.public_subnets]
}

run "rejects_allocation_ids_for_unknown_zones" {
  command = plan
  variables {
    eip_allocation_ids = { "us-east-1d" = "eipalloc-0123456789abcdef0" }
  }
  expect_failures = [var.eip_allocation_ids]
}

run "rejects_min_above_max" {
  command = plan
  variables {
    min_size         = 4
    max_size         = 3
    desired_capacity = 4
  }
  expect_failures = [var.max_size]
}

run "rejects_desired_outside_min_max" {
  command = plan
  variables {
    desired_capacity = 7
  }
  expect_failures = [var.desired_capacity]
}

run "rejects_zero_instances" {
  command = plan
  variables {
    min_size = 0
  }
  expect_failures = [var.min_size]
}

run "rejects_negative_grace" {
  command = plan
  variables {
    grace_period_seconds = -1
  }
  expect_failures = [var.grace_period_seconds]
}

run "rejects_zero_drain" {
  command = plan
  variables {
    drain_timeout_seconds = 0
  }
  expect_failures = [var.drain_timeout_seconds]
}

run "rejects_admin_port_on_the_tls_port" {
  command = plan
  variables {
    admin_port = 443
  }
  expect_failures = [var.admin_port]
}

run "rejects_tls_and_http_on_one_port" {
  command = plan
  variables {
    http_port = 443
  }
  expect_failures = [var.tls_port]
}

run "rejects_out_of_range_ports" {
  command = plan
  variables {
    http_port = 70000
  }
  expect_failures = [var.http_port]
}

run "rejects_a_cidr_that_is_not_a_network" {
  command = plan
  variables {
    client_cidrs_ipv4 = ["10.1.2.3/8"]
  }
  expect_failures = [var.client_cidrs_ipv4]
}

run "rejects_a_cidr_that_is_not_a_cidr" {
  command = plan
  variables {
    client_cidrs_ipv4 = ["partners"]
  }
  expect_failures = [var.client_cidrs_ipv4]
}

run "rejects_an_unversioned_config" {
  command = plan
  variables {
    config_parameter_version = 0
  }
  expect_failures = [var.config_parameter_version]
}

run "rejects_versions_for_unknown_certificates" {
  command = plan
  variables {
    tls_secret_version_ids = { "other.example.com" = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111" }
  }
  expect_failures = [var.tls_secret_version_ids]
}

run "rejects_an_unknown_proxy_protocol_stage" {
  command = plan
  variables {
    proxy_protocol = "on"
  }
  expect_failures = [var.proxy_protocol]
}

run "rejects_a_ready_timeout_below_the_boot" {
  command = plan
  variables {
    instance_ready_timeout_seconds = 90
  }
  expect_failures = [var.instance_ready_timeout_seconds]
}

run "rejects_a_whole_fleet_canary" {
  command = plan
  variables {
    canary_percentage = 100
  }
  expect_failures = [var.canary_percentage]
}

run "rejects_batches_over_200_percent" {
  command = plan
  variables {
    refresh_max_healthy_percentage = 250
  }
  expect_failures = [var.refresh_max_healthy_percentage]
}

run "rejects_a_long_late_flow_window" {
  command = plan
  variables {
    late_flow_seconds = 900
  }
  expect_failures = [var.late_flow_seconds]
}

run "rejects_a_bad_ami_id" {
  command = plan
  variables {
    ami_id = "debian-12"
  }
  expect_failures = [var.ami_id]
}

run "rejects_a_name_ending_in_a_hyphen" {
  command = plan
  variables {
    name = "edge-"
  }
  expect_failures = [var.name]
}

run "rejects_a_tiny_root_volume" {
  command = plan
  variables {
    root_volume_size_gib = 4
  }
  expect_failures = [var.root_volume_size_gib]
}

run "rejects_no_public_subnet" {
  command = plan
  variables {
    public_subnets = {}
  }
  expect_failures = [var.public_subnets]
}

run "rejects_private_subnets_that_are_not_subnet_ids" {
  command = plan
  variables {
    private_subnet_ids = ["10.0.1.0/24"]
  }
  expect_failures = [var.private_subnet_ids]
}

run "rejects_an_nlb_idle_timeout_below_60" {
  command = plan
  variables {
    tcp_idle_timeout_seconds = 30
  }
  expect_failures = [var.tcp_idle_timeout_seconds]
}

run "rejects_a_deregistration_floor_past_the_aws_limit" {
  command = plan
  variables {
    deregistration_delay_floor_seconds = 4000
  }
  expect_failures = [var.deregistration_delay_floor_seconds]
}

run "rejects_a_negative_warmup" {
  command = plan
  variables {
    instance_warmup_seconds = -1
  }
  expect_failures = [var.instance_warmup_seconds]
}

run "rejects_a_liveness_threshold_of_one_poll" {
  command = plan
  variables {
    liveness_failures = 1
  }
  expect_failures = [var.liveness_failures]
}

run "rejects_a_canary_pause_too_short_for_the_alarm" {
  command = plan
  variables {
    canary_seconds = 10
  }
  expect_failures = [var.canary_seconds]
}

run "rejects_a_config_parameter_that_is_not_a_path" {
  command = plan
  variables {
    config_parameter_name = "staticedge-config"
  }
  expect_failures = [var.config_parameter_name]
}
