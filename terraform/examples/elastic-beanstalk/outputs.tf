output "static_ips" {
  description = "Give these to the partner (allow-lists, A records)."
  value       = module.fleet.static_ips
}

output "nlb_dns_name" {
  description = "DNS name of the NLB (a CNAME target that resolves to the static IPs)."
  value       = module.fleet.nlb_dns_name
}

output "asg_name" {
  description = "Auto Scaling group, for instance refreshes and SSM Run Command targets."
  value       = module.fleet.asg_name
}

output "target_group_arn" {
  description = "TLS target group (describe-target-health shows each instance's /readyz verdict)."
  value       = module.fleet.target_group_arn
}

output "config_parameter_name" {
  description = "SSM parameter holding staticedge.toml."
  value       = aws_ssm_parameter.config.name
}
