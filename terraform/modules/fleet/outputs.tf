output "static_ips" {
  description = "The fixed public IPs (one per Availability Zone), sorted: hand these to the partner."
  value       = sort([for eip in aws_eip.this : eip.public_ip])
}

output "static_ips_by_subnet" {
  description = "The same IPs keyed by public subnet id."
  value       = { for subnet, eip in aws_eip.this : subnet => eip.public_ip }
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

output "deregistration_delay_seconds" {
  description = "Deregistration delay derived from grace_period + drain_timeout."
  value       = local.deregistration_delay
}
