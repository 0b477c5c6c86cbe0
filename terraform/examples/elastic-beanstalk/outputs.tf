output "static_ips" {
  description = "Give these to the partner (allow-lists, A records)."
  value       = module.fleet.static_ips
}

output "fixed_ips" {
  description = "Everything a partner allow-lists, in one place: inbound (the NLB's Elastic IPs, where they connect to) and outbound (the NAT gateways' Elastic IPs, where the application's calls come from; empty without app_private_subnets)."
  value = {
    inbound  = module.fleet.static_ips
    outbound = local.egress_enabled ? module.egress[0].egress_ips : []
  }
}

output "egress_eip_allocation_ids" {
  description = "Allocation ids of the outbound IPs by zone (keep them across a re-created egress module, like eip_allocation_ids)."
  value       = local.egress_enabled ? module.egress[0].eip_allocation_ids : {}
}

output "eb_environment_cname" {
  description = "The Elastic Beanstalk environment the fleet forwards to (created here or given)."
  value       = local.eb_cname
}

output "alarm_names" {
  description = "The fleet's alarms on alarm_sns_topic_arn."
  value       = module.fleet.alarm_names
}

output "eip_allocation_ids" {
  description = "Allocation ids of the static IPs by Availability Zone: to take the addresses over from the module (docs/deploy.md, step 5), pass them back as eip_allocation_ids."
  value       = module.fleet.eip_allocation_ids
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

output "fleet_module_version" {
  description = "Version of the fleet module in use."
  value       = module.fleet.module_version

  precondition {
    condition     = module.fleet.module_version == local.fleet_module_version
    error_message = "This example is written for fleet module ${local.fleet_module_version}; read terraform/modules/fleet/CHANGELOG.md before moving to another."
  }
}

output "config_parameter_version" {
  description = "Version of the config parameter the launch template names."
  value       = aws_ssm_parameter.config.version
}

output "drain_timings" {
  description = "The way-out timings derived by the module (seconds)."
  value       = module.fleet.drain_timings
}

output "config_parameter_name" {
  description = "SSM parameter holding staticedge.toml."
  value       = aws_ssm_parameter.config.name
}
