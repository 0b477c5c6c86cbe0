# --- Metrics off the box: the CloudWatch agent's Prometheus scrape (optional) ------------
# The agent baked into the AMI scrapes the proxy's admin port every minute and writes
# the selected gauges as embedded-metric-format records into a log group, from which
# CloudWatch makes metrics: namespace "staticedge", one dimension Fleet = var.name, so
# the samples of every instance (and every certificate, every upstream) land in one
# series per metric. Minimum of the certificate expiry is the first certificate to
# expire anywhere in the fleet; Minimum of staticedge_ready says one instance is not.

locals {
  # The gauges worth alarming on. Counters stay on /metrics (scrape them with
  # Prometheus, docs/observability.md): a fleet-wide sum of raw counter values means
  # nothing.
  metrics_shipped = [
    "staticedge_certificate_expiry_timestamp_seconds",
    "staticedge_ready",
    "staticedge_draining",
    "staticedge_dns_stale_seconds",
    "staticedge_upstream_addresses",
    "staticedge_downstream_connections",
  ]

  # Written by cloud-init (templates/user-data.yaml.tftpl) where the agent config
  # points. Prometheus syntax; the Fleet label becomes the metrics' dimension.
  metrics_scrape_yaml = yamlencode({
    global = { scrape_interval = "60s", scrape_timeout = "10s" }
    scrape_configs = [{
      job_name     = "staticedge"
      metrics_path = "/metrics"
      static_configs = [{
        targets = ["127.0.0.1:${var.admin_port}"]
        labels  = { Fleet = var.name }
      }]
    }]
  })

  metrics_agent_config = {
    logs = {
      metrics_collected = {
        prometheus = {
          log_group_name         = local.metrics_log_group
          prometheus_config_path = local.metrics_scrape_path
          emf_processor = {
            metric_declaration_dedup = true
            metric_namespace         = local.metrics_namespace
            metric_declaration = [{
              source_labels    = ["job"]
              label_matcher    = "^staticedge$"
              dimensions       = [["Fleet"]]
              metric_selectors = [for m in local.metrics_shipped : "^${m}$"]
            }]
          }
        }
      }
    }
  }
}

# The agent's config; the instance role may read exactly this parameter (and the
# operator's own AmazonCloudWatch-<name>, for logs).
resource "aws_ssm_parameter" "metrics_agent" {
  #checkov:skip=CKV2_AWS_34:The agent config holds no secret (a scrape target and metric names); String lets the agent read it without a KMS grant.
  count = var.cloudwatch_prometheus_metrics ? 1 : 0

  name        = local.metrics_agent_param
  description = "CloudWatch agent config of the ${var.name} fleet: scrape staticedge's /metrics"
  type        = "String"
  tier        = "Standard"
  value       = jsonencode(local.metrics_agent_config)
  tags        = local.tags
}

# Created here (not by the agent) so it has a retention: it holds the raw samples,
# which nobody reads once CloudWatch made metrics of them.
resource "aws_cloudwatch_log_group" "metrics" {
  #checkov:skip=CKV_AWS_338:Raw embedded-metric records of the scrape; the metrics made from them follow CloudWatch's own retention, so a year of the records would only cost.
  #checkov:skip=CKV_AWS_158:Holds metric samples of the proxy (names, numbers, certificate names), nothing secret; CloudWatch Logs encrypts at rest by default.
  count = var.cloudwatch_prometheus_metrics ? 1 : 0

  name              = local.metrics_log_group
  retention_in_days = var.metrics_log_retention_days
  tags              = local.tags
}
