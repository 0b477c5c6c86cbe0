# Plan-only test of the example against a mocked AWS provider: the rendered config
# and the module wiring. Run by tests/infra/check.sh.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_launch_template" {
    defaults = {
      id             = "lt-0123456789abcdef0"
      latest_version = 1
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/staticedge/0123456789abcdef"
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
      name = "staticedge-test"
    }
  }
  mock_resource "aws_security_group" {
    defaults = {
      id = "sg-0123456789abcdef0"
    }
  }
  mock_resource "aws_eip" {
    defaults = {}
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { version = 4 }
  }
  mock_resource "aws_elastic_beanstalk_environment" {
    defaults = { cname = "myapp-app.eba-def456.us-east-1.elasticbeanstalk.com" }
  }
  mock_resource "aws_nat_gateway" {
    defaults = {}
  }
  mock_resource "aws_route_table" {
    defaults = {}
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

variables {
  vpc_id               = "vpc-0123456789abcdef0"
  public_subnets       = { "us-east-1a" = "subnet-0aaa0000000000001", "us-east-1b" = "subnet-0bbb0000000000002" }
  private_subnet_ids   = ["subnet-0ccc0000000000003", "subnet-0ddd0000000000004"]
  ami_id               = "ami-0123456789abcdef0"
  eb_environment_cname = "myapp.eba-abc123.us-east-1.elasticbeanstalk.com"
  hostnames            = ["api.example.com", "www.example.com"]
  tls_secret_arns = {
    "api.example.com" = "arn:aws:secretsmanager:us-east-1:123456789012:secret:staticedge/api.example.com-AbCdEf"
  }
}

run "config_points_at_the_eb_environment" {
  command = plan

  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "address = \"myapp.eba-abc123.us-east-1.elasticbeanstalk.com:80\"")
    error_message = "The upstream must be the EB environment's name and port."
  }
  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "cert = \"/etc/staticedge/tls/api.example.com/fullchain.pem\"")
    error_message = "Each certificate secret must appear in the config at the path fetch-config writes."
  }
  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "grace_period = \"30s\"") && strcontains(nonsensitive(aws_ssm_parameter.config.value), "drain_timeout = \"60s\"")
    error_message = "The config's drain timings must be the ones the target group is derived from."
  }
  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "listen = \"0.0.0.0:9901\"")
    error_message = "The admin port in the config must be the one the NLB checks."
  }
  assert {
    condition     = !strcontains(nonsensitive(aws_ssm_parameter.config.value), "[upstream.eb.probe]")
    error_message = "No probe unless asked for."
  }
  assert {
    condition     = aws_ssm_parameter.config.name == "/staticedge/config" && aws_ssm_parameter.config.type == "SecureString"
    error_message = "The config parameter is /<name>/config."
  }
  assert {
    condition     = output.drain_timings.listeners_close_after >= var.grace_period_seconds && output.drain_timings.drain_deadline == output.drain_timings.listeners_close_after + var.drain_timeout_seconds
    error_message = "The fleet must be derived from the same drain timings as the config."
  }
  assert {
    condition     = output.config_parameter_version == 4 && output.fleet_module_version == "3.0.0"
    error_message = "The module gets the parameter's version, and is the version the example is written for."
  }
  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "proxy_protocol = \"off\"")
    error_message = "PROXY protocol is off by default."
  }
  assert {
    condition     = length(module.fleet.static_ips) == 2
    error_message = "One static IP per public subnet."
  }
}

run "probe_and_https_upstream" {
  command = plan

  variables {
    upstream_probe_path = "/health"
    eb_https_name       = "app-origin.example.com"
  }

  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "[upstream.eb.probe]\npath = \"/health\"\nexpect_status = [200]")
    error_message = "The probe must be rendered when a path is given, with the EB name as its Host (the default)."
  }
  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "host_header = \"upstream\"")
    error_message = "The EB name is the default Host header."
  }
  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "tls = true") && strcontains(nonsensitive(aws_ssm_parameter.config.value), "address = \"app-origin.example.com:443\"")
    error_message = "HTTPS goes to the operator's own name, which a certificate can cover."
  }
}

run "rejects_https_to_the_elasticbeanstalk_name" {
  command = plan

  variables {
    eb_https_name = "myapp.eba-abc123.us-east-1.elasticbeanstalk.com"
  }

  expect_failures = [var.eb_https_name]
}

run "proxy_protocol_stages_reach_the_config" {
  command = plan

  variables {
    proxy_protocol = "send"
  }

  # The fleet in service already runs the "accept" stage (base64 user data).
  override_data {
    target = module.fleet.data.aws_launch_template.deployed[0]
    values = { user_data = "I2Nsb3VkLWNvbmZpZwpTVEFUSUNFREdFX1BST1hZX1BST1RPQ09MX1NUQUdFPWFjY2VwdAo=" }
  }

  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "proxy_protocol = \"optional\"")
    error_message = "When the NLB sends PROXY headers the proxy must accept them."
  }
}

run "preserved_host_probes_with_the_public_name" {
  command = plan

  variables {
    upstream_probe_path = "/health"
    host_header         = "preserve"
  }

  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "path = \"/health\"\nhost = \"api.example.com\"")
    error_message = "With host_header = preserve the probe asks for the first public name."
  }
}

run "rejects_a_non_eb_name" {
  command = plan

  variables {
    eb_environment_cname = "https://myapp.example.com"
  }

  expect_failures = [var.eb_environment_cname]
}

run "no_egress_and_no_environment_by_default" {
  command = plan

  assert {
    condition     = length(module.egress) == 0 && length(aws_elastic_beanstalk_environment.app) == 0
    error_message = "Without app_private_subnets and eb_application_name the example only builds the fleet."
  }
  assert {
    condition     = length(output.fixed_ips.inbound) == 2 && output.fixed_ips.outbound == []
    error_message = "fixed_ips lists the inbound IPs, and no outbound ones without egress."
  }
}

# The whole picture: the EB environment in private subnets behind NAT gateways, its
# load balancer public, the fleet in front; one output lists every fixed IP.
run "environment_in_private_subnets_with_fixed_egress" {
  command = plan

  variables {
    eb_environment_cname   = null
    eb_application_name    = "myapp"
    eb_solution_stack_name = "64bit Amazon Linux 2023 v4.3.0 running Python 3.12"
    app_private_subnets = {
      "us-east-1a" = ["subnet-0a110000000000011"]
      "us-east-1b" = ["subnet-0b110000000000021"]
    }
  }

  override_resource {
    target          = module.egress[0].aws_eip.nat["us-east-1a"]
    override_during = plan
    values          = { public_ip = "198.51.100.31", id = "eipalloc-0aaaaaaaaaaaaaa31" }
  }
  override_resource {
    target          = module.egress[0].aws_eip.nat["us-east-1b"]
    override_during = plan
    values          = { public_ip = "198.51.100.32", id = "eipalloc-0bbbbbbbbbbbbbb32" }
  }
  override_resource {
    target          = module.fleet.aws_eip.this["us-east-1a"]
    override_during = plan
    values          = { public_ip = "198.51.100.11", id = "eipalloc-0aaaaaaaaaaaaaa11" }
  }
  override_resource {
    target          = module.fleet.aws_eip.this["us-east-1b"]
    override_during = plan
    values          = { public_ip = "198.51.100.12", id = "eipalloc-0bbbbbbbbbbbbbb12" }
  }

  assert {
    condition = alltrue([for want in [
      { namespace = "aws:ec2:vpc", name = "VPCId", value = "vpc-0123456789abcdef0" },
      { namespace = "aws:ec2:vpc", name = "Subnets", value = "subnet-0a110000000000011,subnet-0b110000000000021" },
      { namespace = "aws:ec2:vpc", name = "ELBSubnets", value = "subnet-0aaa0000000000001,subnet-0bbb0000000000002" },
      { namespace = "aws:ec2:vpc", name = "AssociatePublicIpAddress", value = "false" },
      { namespace = "aws:ec2:vpc", name = "ELBScheme", value = "public" },
      ] : anytrue([for s in aws_elastic_beanstalk_environment.app[0].setting : s.namespace == want.namespace && s.name == want.name && s.value == want.value])
    ])
    error_message = "The environment's instances are in the private subnets without public IPs, its load balancer public in the public subnets."
  }
  assert {
    condition     = output.fixed_ips.inbound == tolist(["198.51.100.11", "198.51.100.12"]) && output.fixed_ips.outbound == tolist(["198.51.100.31", "198.51.100.32"])
    error_message = "fixed_ips lists the NLB's Elastic IPs (inbound) and the NAT gateways' (outbound), one per zone each."
  }
  assert {
    condition     = strcontains(nonsensitive(aws_ssm_parameter.config.value), "address = \"myapp-app.eba-def456.us-east-1.elasticbeanstalk.com:80\"") && output.eb_environment_cname == "myapp-app.eba-def456.us-east-1.elasticbeanstalk.com"
    error_message = "The fleet forwards to the environment the example created."
  }
  assert {
    condition     = output.egress_eip_allocation_ids == tomap({ "us-east-1a" = "eipalloc-0aaaaaaaaaaaaaa31", "us-east-1b" = "eipalloc-0bbbbbbbbbbbbbb32" })
    error_message = "The outbound addresses' allocation ids are an output."
  }
}

run "shared_nat_gateway_for_an_existing_environment" {
  command = plan

  variables {
    egress_single_nat_gateway = true
    app_private_subnets = {
      "us-east-1a" = ["subnet-0a110000000000011"]
      "us-east-1b" = ["subnet-0b110000000000021"]
    }
  }

  assert {
    condition     = length(output.fixed_ips.outbound) == 1 && length(aws_elastic_beanstalk_environment.app) == 0
    error_message = "One shared NAT gateway gives one outbound IP; the named environment is used as is."
  }
}

run "refuses_both_an_environment_name_and_an_application" {
  command = plan

  variables {
    eb_application_name    = "myapp"
    eb_solution_stack_name = "64bit Amazon Linux 2023 v4.3.0 running Python 3.12"
    app_private_subnets    = { "us-east-1a" = ["subnet-0a110000000000011"] }
  }

  expect_failures = [aws_ssm_parameter.config]
}

run "refuses_an_environment_without_private_subnets" {
  command = plan

  variables {
    eb_environment_cname   = null
    eb_application_name    = "myapp"
    eb_solution_stack_name = "64bit Amazon Linux 2023 v4.3.0 running Python 3.12"
  }

  expect_failures = [aws_elastic_beanstalk_environment.app]
}

run "refuses_neither_an_environment_name_nor_an_application" {
  command = plan

  variables {
    eb_environment_cname = null
  }

  expect_failures = [aws_ssm_parameter.config]
}
