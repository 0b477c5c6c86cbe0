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
