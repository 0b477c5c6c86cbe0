output "static_ips" {
  description = "The fixed public IPs (one per Availability Zone), sorted: hand these to the partner."
  value       = sort(values(local.public_ips))
}

output "static_ips_by_az" {
  description = "The same IPs keyed by Availability Zone."
  value       = local.public_ips
}

output "eip_allocation_ids" {
  description = "Allocation ids of the static IPs by Availability Zone (to pass as eip_allocation_ids to a re-created module: the addresses survive it)."
  value       = local.allocation_ids
}

output "nlb_dns_name" {
  description = "DNS name of the NLB (resolves to the static IPs)."
  value       = aws_lb.this.dns_name
}

output "nlb_arn" {
  description = "ARN of the NLB."
  value       = aws_lb.this.arn
}

output "target_group_arn" {
  description = "ARN of the TLS target group."
  value       = aws_lb_target_group.this["tls"].arn
}

output "asg_name" {
  description = "Name of the Auto Scaling group (for start-instance-refresh)."
  value       = aws_autoscaling_group.this.name
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = aws_launch_template.this.id
}

output "instance_security_group_id" {
  description = "Security group of the instances (allow it where the upstream filters by source)."
  value       = aws_security_group.instance.id
}

output "nlb_security_group_id" {
  description = "Security group of the NLB."
  value       = aws_security_group.nlb.id
}

output "instance_role_name" {
  description = "IAM role of the instances."
  value       = aws_iam_role.instance.name
}

output "drain_timings" {
  description = "Every timing of the way out, derived from grace_period_seconds, drain_timeout_seconds and late_flow_seconds (seconds): the watcher's delay before SIGTERM, when the listeners close and when the proxy has exited (both after deregistration starts), the deregistration delay, the termination hook's timeout, the unhealthy draining interval of the SIGTERM-first path, and the shortest grace period the NLB's health check allows (interval x unhealthy_threshold + interval)."
  value = {
    drain_delay                 = local.drain_delay
    listeners_close_after       = local.listeners_close_after
    drain_deadline              = local.drain_deadline
    deregistration_delay        = local.deregistration_delay
    terminate_hook_timeout      = local.terminate_hook_timeout
    unhealthy_draining_interval = local.proxy_stop_seconds
    min_grace_period            = local.min_grace_period_seconds
  }
}

output "deregistration_delay_seconds" {
  description = "Deregistration delay of the target groups (see drain_timings)."
  value       = local.deregistration_delay
}

output "proxy_listener_proxy_protocol" {
  description = "What the proxy's TLS listener must set as proxy_protocol for the current proxy_protocol stage (\"off\" or \"optional\"); render it into the config."
  value       = local.proxy_listener_proxy_protocol
}

output "module_version" {
  description = "Version of this module (CHANGELOG.md); callers can assert the one they were written for."
  value       = "3.0.0"
}

output "scaling_policy_name" {
  description = "Name of the target-tracking policy on the group's average CPU."
  value       = aws_autoscaling_policy.cpu.name
}

output "alarm_names" {
  description = "The alarms that notify alarm_sns_topic_arn (empty without a topic): per zone no healthy target, an unhealthy target, at max_size with CPU above target, and (with cloudwatch_prometheus_metrics) certificate expiry."
  value = concat(
    [for az in sort(keys(aws_cloudwatch_metric_alarm.zone_without_healthy_target)) : aws_cloudwatch_metric_alarm.zone_without_healthy_target[az].alarm_name],
    aws_cloudwatch_metric_alarm.unhealthy_target[*].alarm_name,
    aws_cloudwatch_metric_alarm.at_max_size_with_high_cpu[*].alarm_name,
    aws_cloudwatch_metric_alarm.certificate_expiry[*].alarm_name,
  )
}

output "metrics_namespace" {
  description = "CloudWatch namespace of staticedge's own metrics when cloudwatch_prometheus_metrics is on (dimension Fleet = name)."
  value       = local.metrics_namespace
}
