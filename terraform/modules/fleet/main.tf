locals {
  tags = merge({ Application = "staticedge", Fleet = var.name }, var.tags)

  # The drain contract (PRODUCT.md section 6). An ASG scale-in or refresh deregisters
  # the target first and sends SIGTERM only after the deregistration delay; the NLB
  # keeps sending new flows for about 2 minutes after deregistration starts, and each
  # of those may run for drain_timeout. So the delay covers both, and never less than
  # the proxy's own grace + drain.
  proxy_stop_seconds = var.grace_period_seconds + var.drain_timeout_seconds
  deregistration_delay = min(3600, max(
    var.deregistration_delay_floor_seconds,
    120 + var.drain_timeout_seconds,
    local.proxy_stop_seconds,
  ))

  # Listeners the NLB forwards, by purpose; "http" only when enabled.
  listeners = merge(
    { tls = var.tls_port },
    var.enable_http_listener ? { http = var.http_port } : {},
  )
  # Everything the NLB opens to an instance: the listeners plus the health check.
  instance_ports = merge(local.listeners, { admin = var.admin_port })

  route53_enabled = var.route53_zone_id != null
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
