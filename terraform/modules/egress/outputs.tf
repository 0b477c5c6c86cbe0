output "egress_ips" {
  description = "The fixed outbound IPs (one per NAT gateway), sorted: hand these to partners that allow-list the application's calls."
  value       = sort(values(local.public_ips))
}

output "egress_ips_by_az" {
  description = "The same IPs keyed by the NAT gateway's Availability Zone."
  value       = local.public_ips
}

output "eip_allocation_ids" {
  description = "Allocation ids of the outbound IPs by zone (pass them back as eip_allocation_ids to a re-created module: the addresses survive it)."
  value       = local.allocation_ids
}

output "nat_gateway_ids" {
  description = "NAT gateway ids by zone."
  value       = { for az, nat in aws_nat_gateway.this : az => nat.id }
}

output "route_table_ids" {
  description = "The private route tables by zone (add routes to them for VPC endpoints or peering)."
  value       = { for az, rt in aws_route_table.private : az => rt.id }
}

output "nat_gateway_for_zone" {
  description = "Which zone's NAT gateway each private zone leaves through (itself, or the shared one)."
  value       = local.nat_for_zone
}

output "module_version" {
  description = "Version of this module (CHANGELOG.md)."
  value       = "1.0.0"
}
