# --- Alarms that page someone (optional: alarm_sns_topic_arn) ------------------------------
# Nothing here exists while alarm_sns_topic_arn is null. Each description is what the
# person paged reads first: what it means and what to do. docs/operations.md has the
# longer runbook. (The refresh rollback alarm, <name>-unhealthy-targets in compute.tf,
# always exists and has no actions.)

locals {
  alarm_actions = local.alarms_enabled ? [var.alarm_sns_topic_arn] : []
  nlb_dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.this["tls"].arn_suffix
  }
}

# A zone whose targets are all gone or unready: its static IP still works (cross-zone
# load balancing sends its clients to other zones), but one more failure is an outage
# for someone, and the group should have replaced the instance by now.
resource "aws_cloudwatch_metric_alarm" "zone_without_healthy_target" {
  for_each = local.alarms_enabled ? var.public_subnets : {}

  alarm_name          = "${var.name}-no-healthy-target-${each.key}"
  alarm_description   = "staticedge ${var.name}: no healthy target in ${each.key} for 2 minutes (its static IP is served cross-zone only). To do: aws elbv2 describe-target-health --target-group-arn <target_group_arn> shows each instance's state; an instance there answering /readyz 503 lists its reasons on the admin port (/readyz, /status via SSM); an empty zone means the group could not launch there (its activity history says why: capacity, subnet, quota)."
  namespace           = "AWS/NetworkELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  # No data from a zone means no target reported there at all.
  treat_missing_data = "breaching"
  dimensions         = merge(local.nlb_dimensions, { AvailabilityZone = each.key })
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = local.tags
}

# Any target unready for longer than a deploy or a drain takes. A draining target
# (deregistered) does not count; a systemctl stop on an instance in service does,
# for about grace_period until the group replaces it.
resource "aws_cloudwatch_metric_alarm" "unhealthy_target" {
  count = local.alarms_enabled ? 1 : 0

  alarm_name          = "${var.name}-unhealthy-target-${var.alarm_unhealthy_minutes}min"
  alarm_description   = "staticedge ${var.name}: a target has failed /readyz for ${var.alarm_unhealthy_minutes} minutes. To do: find it with aws elbv2 describe-target-health; on it (SSM), curl -s 127.0.0.1:${var.admin_port}/readyz lists the reasons (certificate, DNS, listener, start-up probe); the same reason on every instance is a shared cause (certificate, DNS, the application) to fix at its source, never by replacing instances (docs/operations.md, runbook)."
  namespace           = "AWS/NetworkELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.alarm_unhealthy_minutes
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = local.nlb_dimensions
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# The scaling policy has run out of room: every instance the group may have is in
# service and the fleet is still hotter than the target.
resource "aws_cloudwatch_metric_alarm" "at_max_size_with_high_cpu" {
  count = local.alarms_enabled ? 1 : 0

  alarm_name          = "${var.name}-at-max-size-cpu-high"
  alarm_description   = "staticedge ${var.name}: the group has been at max_size with average CPU above ${var.cpu_target_percent} % for ${var.alarm_at_max_minutes} minutes; target tracking cannot add capacity. To do: raise max_size (and check the account's EC2 quota and the subnets' free addresses) or move to a larger instance_type, then terraform apply; see docs/capacity.md for the sizing."
  evaluation_periods  = var.alarm_at_max_minutes
  datapoints_to_alarm = var.alarm_at_max_minutes
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags

  metric_query {
    id = "in_service"
    metric {
      namespace   = "AWS/AutoScaling"
      metric_name = "GroupInServiceInstances"
      dimensions  = { AutoScalingGroupName = aws_autoscaling_group.this.name }
      period      = 60
      stat        = "Minimum"
    }
  }
  metric_query {
    id = "max_size"
    metric {
      namespace   = "AWS/AutoScaling"
      metric_name = "GroupMaxSize"
      dimensions  = { AutoScalingGroupName = aws_autoscaling_group.this.name }
      period      = 60
      stat        = "Maximum"
    }
  }
  metric_query {
    id = "cpu"
    metric {
      namespace   = "AWS/EC2"
      metric_name = "CPUUtilization"
      dimensions  = { AutoScalingGroupName = aws_autoscaling_group.this.name }
      period      = 60
      stat        = "Average"
    }
  }
  metric_query {
    id          = "at_max_and_hot"
    expression  = "IF(in_service >= max_size AND cpu > ${var.cpu_target_percent}, 1, 0)"
    label       = "at max_size with CPU above target"
    return_data = true
  }
}

# The one every operator wants: a certificate about to expire, from the proxy's own
# gauge (the notAfter of each certificate it serves), shipped by the agent.
resource "aws_cloudwatch_metric_alarm" "certificate_expiry" {
  count = local.certificate_alarm_wanted ? 1 : 0

  alarm_name          = "${var.name}-certificate-expires-soon"
  alarm_description   = "staticedge ${var.name}: a certificate the fleet serves expires in less than ${var.alarm_certificate_days} days. To do: find it on any instance (curl -s 127.0.0.1:${var.admin_port}/status, certificates), renew it, and put the new PEM bundle in its Secrets Manager secret; then, if its version is pinned (tls_secret_version_ids), set the new VersionId and terraform apply (a canary refresh), else reload the fetch unit on the fleet (docs/deploy.md, step 6)."
  evaluation_periods  = 1
  threshold           = var.alarm_certificate_days
  comparison_operator = "LessThanThreshold"
  # No samples (agent stopped, metrics off on the instances) is its own problem; it
  # leaves this alarm in INSUFFICIENT_DATA rather than paging about certificates.
  treat_missing_data = "missing"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = local.tags

  metric_query {
    id = "expiry"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "staticedge_certificate_expiry_timestamp_seconds"
      dimensions  = { Fleet = var.name }
      period      = 300
      stat        = "Minimum"
    }
  }
  metric_query {
    id          = "days_left"
    expression  = "(expiry - EPOCH(expiry)) / 86400"
    label       = "days until the first certificate expires"
    return_data = true
  }
}
