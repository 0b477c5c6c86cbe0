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
}

# Distinct, valid addresses for the Elastic IPs (Route 53 health checks validate them)
# and distinct ARNs for the two target groups.
override_resource {
  target          = aws_eip.this["subnet-0aaa0000000000001"]
  override_during = plan
  values          = { public_ip = "198.51.100.11" }
}

override_resource {
  target          = aws_eip.this["subnet-0bbb0000000000002"]
  override_during = plan
  values          = { public_ip = "198.51.100.12" }
}

override_resource {
  target          = aws_eip.this["subnet-0ccc0000000000003"]
  override_during = plan
  values          = { public_ip = "198.51.100.13" }
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
  name               = "staticedge"
  vpc_id             = "vpc-0123456789abcdef0"
  public_subnet_ids  = ["subnet-0aaa0000000000001", "subnet-0bbb0000000000002", "subnet-0ccc0000000000003"]
  private_subnet_ids = ["subnet-0ddd0000000000004", "subnet-0eee0000000000005", "subnet-0fff0000000000006"]
  ami_id             = "ami-0123456789abcdef0"

  config_parameter_name = "/staticedge/test/config"
  tls_secret_arns = {
    "api.example.com" = "arn:aws:secretsmanager:us-east-1:123456789012:secret:staticedge/api.example.com-AbCdEf"
    "www.example.com" = "arn:aws:secretsmanager:us-east-1:123456789012:secret:staticedge/www.example.com-GhIjKl"
  }
}

run "static_ips" {
  command = plan

  assert {
    condition     = length(aws_eip.this) == length(var.public_subnet_ids)
    error_message = "There must be exactly one Elastic IP per public subnet."
  }
  assert {
    condition     = alltrue([for s in var.public_subnet_ids : contains(keys(aws_eip.this), s)])
    error_message = "Every public subnet must have its Elastic IP."
  }
  assert {
    condition     = alltrue([for e in aws_eip.this : e.domain == "vpc"])
    error_message = "Elastic IPs must be VPC addresses (domain = \"vpc\")."
  }
  assert {
    condition     = length(aws_lb.this.subnet_mapping) == length(var.public_subnet_ids)
    error_message = "The NLB must have one subnet_mapping per public subnet."
  }
  assert {
    condition     = alltrue([for m in aws_lb.this.subnet_mapping : m.allocation_id == aws_eip.this[m.subnet_id].id])
    error_message = "Each subnet_mapping must carry the Elastic IP of its own subnet."
  }
  assert {
    condition     = length(distinct([for m in aws_lb.this.subnet_mapping : m.allocation_id])) == length(var.public_subnet_ids)
    error_message = "Each Elastic IP must be used in exactly one subnet_mapping."
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
    error_message = "The health check must ask /readyz."
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

run "drain_contract" {
  command = plan

  assert {
    condition     = aws_lb_target_group.this["tls"].target_health_state[0].enable_unhealthy_connection_termination == false
    error_message = "An unhealthy (draining) target must keep its established connections."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].target_health_state[0].unhealthy_draining_interval == var.grace_period_seconds + var.drain_timeout_seconds
    error_message = "unhealthy_draining_interval must be grace_period + drain_timeout."
  }
  assert {
    condition     = tonumber(aws_lb_target_group.this["tls"].deregistration_delay) >= var.grace_period_seconds + var.drain_timeout_seconds
    error_message = "deregistration_delay must be at least grace_period + drain_timeout."
  }
  assert {
    condition     = tonumber(aws_lb_target_group.this["tls"].deregistration_delay) == 180
    error_message = "With the default 15 s + 60 s, deregistration_delay must be 180 s (the ~2 min of late new flows + the longest request)."
  }
}

run "drain_contract_long_requests" {
  command = plan

  variables {
    grace_period_seconds  = 30
    drain_timeout_seconds = 300
  }

  assert {
    condition     = tonumber(aws_lb_target_group.this["tls"].deregistration_delay) == 420
    error_message = "deregistration_delay must follow a longer drain_timeout (120 + 300)."
  }
  assert {
    condition     = aws_lb_target_group.this["tls"].target_health_state[0].unhealthy_draining_interval == 330
    error_message = "unhealthy_draining_interval must follow grace_period + drain_timeout."
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
    condition     = alltrue([for r in aws_vpc_security_group_egress_rule.nlb_to_instances : r.referenced_security_group_id == aws_security_group.instance.id])
    error_message = "The NLB may only talk to the instances' security group."
  }
  assert {
    condition     = contains([for r in aws_vpc_security_group_egress_rule.nlb_to_instances : r.from_port], 9901)
    error_message = "The health check port must be open from the NLB to the instances."
  }
}

run "launch_template_and_asg" {
  command = plan

  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required."
  }
  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "The IMDS hop limit must be 1."
  }
  assert {
    condition     = aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "The root volume must be encrypted."
  }
  assert {
    condition     = aws_autoscaling_group.this.health_check_type == "ELB"
    error_message = "The ASG must replace instances on the NLB's health verdict (ELB)."
  }
  assert {
    condition     = aws_autoscaling_group.this.launch_template[0].version == "3"
    error_message = "The ASG must pin the launch template's latest_version, not \"$Latest\"."
  }
  assert {
    condition     = aws_autoscaling_group.this.launch_template[0].id == aws_launch_template.this.id
    error_message = "The ASG must use the module's launch template."
  }
  assert {
    condition     = toset(aws_autoscaling_group.this.target_group_arns) == toset([aws_lb_target_group.this["tls"].arn])
    error_message = "The ASG must register its instances in the target group."
  }
  assert {
    condition = (
      aws_autoscaling_group.this.instance_refresh[0].strategy == "Rolling" &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].min_healthy_percentage == 100 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].auto_rollback == true
    )
    error_message = "Instance refresh must be rolling, 100 % healthy, with auto rollback."
  }
  assert {
    condition     = toset(aws_autoscaling_group.this.vpc_zone_identifier) == toset(var.private_subnet_ids)
    error_message = "Instances run in the private subnets."
  }
}

run "boot_config_and_least_privilege" {
  command = plan

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "STATICEDGE_CONFIG_PARAMETER=/staticedge/test/config")
    error_message = "User data must pass the config parameter name to the boot script."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "api.example.com=arn:aws:secretsmanager:us-east-1:123456789012:secret:staticedge/api.example.com-AbCdEf")
    error_message = "User data must pass each certificate secret to the boot script."
  }
  assert {
    condition     = startswith(base64decode(aws_launch_template.this.user_data), "#cloud-config\n")
    error_message = "User data must be cloud-config (write_files runs before network-online)."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.read_config.policy).Statement[0].Resource == [
      "arn:aws:ssm:us-east-1:123456789012:parameter/staticedge/test/config"
    ]
    error_message = "The role may read exactly the config parameter."
  }
  assert {
    condition     = toset(jsondecode(aws_iam_role_policy.read_config.policy).Statement[1].Resource) == toset(values(var.tls_secret_arns))
    error_message = "The role may read exactly the certificate secrets."
  }
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.read_config.policy).Statement : [
        for r in s.Resource : !strcontains(r, "*")
      ]
    ]))
    error_message = "No wildcard resources in the config policy."
  }
  assert {
    condition     = endswith(aws_iam_role_policy_attachment.ssm.policy_arn, ":iam::aws:policy/AmazonSSMManagedInstanceCore")
    error_message = "Instances are managed through SSM (no SSH)."
  }
}

run "optional_http_listener" {
  command = plan

  variables {
    enable_http_listener = true
  }

  assert {
    condition     = aws_lb_listener.this["http"].port == 80 && aws_lb_listener.this["http"].protocol == "TCP"
    error_message = "The optional listener must be TCP 80."
  }
  assert {
    condition     = aws_lb_target_group.this["http"].port == 80 && aws_lb_target_group.this["http"].health_check[0].path == "/readyz"
    error_message = "The port 80 target group goes to the proxy's port 80 and checks /readyz too."
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
    condition     = length(aws_route53_record.ip) == length(var.public_subnet_ids)
    error_message = "One A record per static IP."
  }
  assert {
    condition     = alltrue([for k, r in aws_route53_record.ip : r.health_check_id == aws_route53_health_check.ip[k].id && r.multivalue_answer_routing_policy == true])
    error_message = "Each record has its own health check (multivalue answer)."
  }
  assert {
    condition     = alltrue([for k, r in aws_route53_record.ip : r.records == toset([aws_eip.this[k].public_ip])])
    error_message = "Each record publishes its own Elastic IP."
  }
}

run "no_route53_by_default" {
  command = plan

  assert {
    condition     = length(aws_route53_record.ip) == 0 && length(aws_route53_health_check.ip) == 0
    error_message = "Route 53 records are optional and off by default."
  }
}

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
    public_subnet_ids = ["subnet-0aaa0000000000001", "subnet-0aaa0000000000001"]
  }

  expect_failures = [var.public_subnet_ids]
}
