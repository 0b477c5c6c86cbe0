# staticedge in front of an Elastic Beanstalk environment: fixed IPs (one per AZ) that
# terminate TLS with your certificates and forward to the environment by its name.
# Optionally (app.tf) the environment itself, in private subnets behind NAT gateways
# with fixed outbound IPs; output fixed_ips lists inbound and outbound addresses.
# The runbook is docs/deploy.md.

locals {
  config_parameter_name = "/${var.name}/config"

  # The module version this example is written for (terraform/modules/fleet/CHANGELOG.md).
  # In your own repository, pin the source instead, e.g.
  #   source = "git::https://example.com/you/staticedge.git//terraform/modules/fleet?ref=fleet-v3.0.0"
  fleet_module_version = "3.0.0"

  # HTTPS to the application needs a name its load balancer has a certificate for: no
  # one can get one for *.elasticbeanstalk.com, so that is your own name, a CNAME to
  # the environment. Plain HTTP goes to the environment's own name.
  # (Empty when neither name is given: the config parameter's precondition says so.)
  upstream_address = var.eb_https_name != null ? "${var.eb_https_name}:443" : try("${local.eb_cname}:${var.eb_port}", "")

  # The environment this example created, or the one named.
  eb_cname = local.create_environment ? aws_elastic_beanstalk_environment.app[0].cname : var.eb_environment_cname
}

# The proxy's configuration lives in SSM; every instance fetches it at boot
# (packer/files/fetch-config) by the version the launch template names. Changing it
# here makes a new parameter version, hence a new launch template version, hence a
# canary instance refresh; a rollback of the refresh brings the old version back.
resource "aws_ssm_parameter" "config" {
  #checkov:skip=CKV_AWS_337:Encrypted with the AWS-managed aws/ssm key; the config holds no secrets (keys are in Secrets Manager). Set key_id and the module's kms_key_arns where policy demands a CMK.
  name        = local.config_parameter_name
  description = "staticedge.toml of the ${var.name} fleet"
  type        = "SecureString"
  # Standard up to 4 KB, advanced (paid) only when the config grows beyond.
  tier = "Intelligent-Tiering"
  value = templatefile("${path.module}/staticedge.toml.tftpl", {
    grace_period  = "${var.grace_period_seconds}s"
    drain_timeout = "${var.drain_timeout_seconds}s"
    cert_names    = sort(keys(var.tls_secret_arns))
    http_listener = var.enable_http_listener
    hostnames     = var.hostnames
    host_header   = var.host_header
    upstream      = local.upstream_address
    upstream_tls  = var.eb_https_name != null
    # Restart-only in the proxy: rolled out by the refresh the new version starts.
    proxy_protocol = module.fleet.proxy_listener_proxy_protocol
    probe_path     = var.upstream_probe_path
    # The probe asks with the Host the app will see: the EB name by default.
    probe_hostname = var.host_header == "preserve" ? var.hostnames[0] : (var.host_header == "upstream" ? null : var.host_header)
  })

  lifecycle {
    precondition {
      condition     = (var.eb_application_name == null) != (var.eb_environment_cname == null)
      error_message = "Give exactly one of eb_environment_cname (an environment you run) and eb_application_name (this example creates the environment)."
    }
  }
}

module "fleet" {
  source = "../../modules/fleet"

  name               = var.name
  vpc_id             = var.vpc_id
  public_subnets     = var.public_subnets
  eip_allocation_ids = var.eip_allocation_ids
  private_subnet_ids = var.private_subnet_ids
  client_cidrs_ipv4  = var.client_cidrs_ipv4
  ami_id             = var.ami_id
  instance_type      = var.instance_type
  min_size           = var.min_size
  max_size           = var.max_size

  cloudwatch_prometheus_metrics = var.cloudwatch_prometheus_metrics
  alarm_sns_topic_arn           = var.alarm_sns_topic_arn

  enable_http_listener  = var.enable_http_listener
  grace_period_seconds  = var.grace_period_seconds
  drain_timeout_seconds = var.drain_timeout_seconds

  proxy_protocol = var.proxy_protocol

  config_parameter_name    = aws_ssm_parameter.config.name
  config_parameter_version = aws_ssm_parameter.config.version
  tls_secret_arns          = var.tls_secret_arns
  tls_secret_version_ids   = var.tls_secret_version_ids

  route53_zone_id     = var.route53_zone_id
  route53_record_name = var.route53_record_name
}
