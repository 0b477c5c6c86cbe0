locals {
  tags = merge({ Application = "staticedge", Fleet = var.name }, var.tags)

  # --- The NLB's health check, and what it implies -----------------------------------
  # One place for the target groups' check (network.tf), so the rules below derive
  # from the values the NLB really uses.
  health_check = {
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  # SIGTERM first (systemctl stop, reboot): the NLB sees the 503 after
  # unhealthy_threshold failed checks, interval apart, and needs up to one more
  # interval for the first of them to start. The proxy must keep accepting that long.
  min_grace_period_seconds = local.health_check.interval * local.health_check.unhealthy_threshold + local.health_check.interval
  # A new instance is InService only once the launch gate saw /readyz 200 (config
  # fetch, start and start-up probe all happen before, in Pending:Wait). From there
  # the NLB needs healthy_threshold checks before it sends traffic, and the instance's
  # CPU needs one full 1-minute (detailed monitoring) period carrying that traffic
  # before it says anything about load.
  derived_instance_warmup = local.health_check.healthy_threshold * local.health_check.interval + 60
  instance_warmup         = coalesce(var.instance_warmup_seconds, local.derived_instance_warmup)

  # --- The drain contract: every timing of the way out from one set of variables ----
  # Scale-in (and instance refresh, and replacement) order: the group deregisters the
  # target, the NLB stops new flows (though some keep arriving for late_flow_seconds)
  # and keeps established ones for the deregistration delay; the instance then waits
  # in Terminating:Wait for the termination hook. lifecycle-watch sees the
  # target-lifecycle-state flip to Terminated at the start, waits drain_delay, and
  # sends SIGTERM: the proxy serves on for grace_period, then closes its listeners
  # (GOAWAY, Connection: close) and lets in-flight requests finish within
  # drain_timeout. So its listeners close no earlier than late_flow_seconds after
  # deregistration started, and it has exited by drain_deadline.
  watcher_poll_seconds  = 5
  drain_margin_seconds  = 30
  drain_delay           = max(0, var.late_flow_seconds - var.grace_period_seconds)
  listeners_close_after = local.drain_delay + var.grace_period_seconds
  drain_deadline        = local.listeners_close_after + var.drain_timeout_seconds
  # The NLB must not reset connections before the proxy is done with them (it ends the
  # deregistration early once no connection is left). AWS caps the delay at 3600 s.
  deregistration_delay = max(var.deregistration_delay_floor_seconds, local.drain_deadline + local.drain_margin_seconds)
  # The hook holds the instance while the drain may still run (deregistration can end
  # early, when no connection is open, while the watcher still waits drain_delay).
  # Heartbeat timeouts are 30-7200 s.
  terminate_hook_timeout = max(30, local.drain_deadline + local.watcher_poll_seconds + local.drain_margin_seconds)
  # SIGTERM first (systemctl stop, reboot): the NLB notices the 503 through its health
  # checks; established flows to the unhealthy target are kept this long.
  proxy_stop_seconds = var.grace_period_seconds + var.drain_timeout_seconds

  # --- The way in ------------------------------------------------------------------
  # lifecycle-watch abandons a launch that is not ready after instance_ready_timeout;
  # the hook's own timeout (ABANDON) is the backstop if the watcher never runs.
  launch_hook_timeout       = var.instance_ready_timeout_seconds + 60
  health_check_grace_period = var.instance_ready_timeout_seconds + 60

  launch_hook_name    = "staticedge-ready"
  terminate_hook_name = "staticedge-drain"

  # Listeners the NLB forwards, by purpose; "http" only when enabled.
  listeners = merge(
    { tls = var.tls_port },
    var.enable_http_listener ? { http = var.http_port } : {},
  )
  # Everything the NLB opens to an instance: the listeners plus the health check.
  instance_ports = merge(local.listeners, { admin = var.admin_port })

  # The PROXY protocol stage: what the proxy's listener must be set to, and whether
  # the target group sends the header. "send" is only reached through "accept".
  proxy_listener_proxy_protocol = var.proxy_protocol == "off" ? "off" : "optional"
  target_group_sends_proxy_v2   = var.proxy_protocol == "send"

  # Static IPs by Availability Zone: the ones this module owns plus those given.
  allocation_ids = merge({ for az, eip in aws_eip.this : az => eip.id }, var.eip_allocation_ids)
  public_ips     = merge({ for az, eip in aws_eip.this : az => eip.public_ip }, { for az, eip in data.aws_eip.given : az => eip.public_ip })

  route53_enabled = var.route53_zone_id != null

  # --- Scaling, alarms, metrics off the box ------------------------------------------
  desired_capacity = coalesce(var.desired_capacity, var.min_size)
  alarms_enabled   = var.alarm_sns_topic_arn != null
  # The CloudWatch agent scrapes the admin port and turns the selected gauges into
  # metrics of this namespace, with the fleet's name as their one dimension (the
  # agent's config is the SSM parameter below; see prometheus.tf).
  metrics_namespace        = "staticedge"
  metrics_agent_param      = "AmazonCloudWatch-${var.name}-prometheus"
  metrics_log_group        = "/staticedge/${var.name}/prometheus"
  metrics_scrape_path      = "/opt/aws/amazon-cloudwatch-agent/etc/staticedge-prometheus.yaml"
  certificate_alarm_wanted = local.alarms_enabled && var.cloudwatch_prometheus_metrics
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
