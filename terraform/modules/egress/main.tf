# Fixed egress IPs: the application's outbound connections (webhooks, partner APIs
# that allow-list callers) leave through NAT gateways with Elastic IPs, one per zone
# (or one shared). The inbound half of "fixed IPs" is the fleet module's NLB.

locals {
  tags = merge({ Purpose = "egress" }, var.tags)

  shared_az = coalesce(var.shared_nat_az, sort(keys(var.public_subnets))[0])
  # Zones that host a NAT gateway.
  nat_subnets = var.single_nat_gateway ? { (local.shared_az) = var.public_subnets[local.shared_az] } : var.public_subnets
  # Which NAT gateway each private zone's traffic leaves through: its own zone's, so
  # a zone failure only takes that zone's egress with it (or the shared one).
  nat_for_zone = { for az in keys(var.private_subnets) : az => var.single_nat_gateway ? local.shared_az : az }

  # Every (zone, subnet) association.
  associations = merge([
    for az, ids in var.private_subnets : { for id in ids : id => az }
  ]...)

  allocation_ids = merge({ for az, eip in aws_eip.nat : az => eip.id }, { for az, id in var.eip_allocation_ids : az => id if contains(keys(local.nat_subnets), az) })
  public_ips     = merge({ for az, eip in aws_eip.nat : az => eip.public_ip }, { for az, eip in data.aws_eip.given : az => eip.public_ip })
}

# The outbound IPs partners allow-list: Terraform must never release them.
resource "aws_eip" "nat" {
  for_each = { for az, subnet in local.nat_subnets : az => subnet if !contains(keys(var.eip_allocation_ids), az) }

  #checkov:skip=CKV2_AWS_19:These addresses belong to NAT gateways, not to instances.
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.name}-egress-${each.key}" })

  lifecycle {
    prevent_destroy = true
  }
}

# Addresses given by allocation id: read, never managed.
data "aws_eip" "given" {
  for_each = { for az, id in var.eip_allocation_ids : az => id if contains(keys(local.nat_subnets), az) }
  id       = each.value
}

resource "aws_nat_gateway" "this" {
  for_each = local.nat_subnets

  connectivity_type = "public"
  subnet_id         = each.value
  allocation_id     = local.allocation_ids[each.key]
  tags              = merge(local.tags, { Name = "${var.name}-egress-${each.key}" })
}

# One route table per private zone: its default route is that zone's NAT gateway.
resource "aws_route_table" "private" {
  for_each = var.private_subnets

  vpc_id = var.vpc_id
  tags   = merge(local.tags, { Name = "${var.name}-private-${each.key}" })

  lifecycle {
    precondition {
      condition     = contains(keys(local.nat_subnets), local.nat_for_zone[each.key])
      error_message = "Private zone ${each.key} has no public subnet to put its NAT gateway in: add one for that zone to public_subnets, or set single_nat_gateway."
    }
  }
}

resource "aws_route" "default_via_nat" {
  for_each = var.private_subnets

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[local.nat_for_zone[each.key]].id
}

resource "aws_route_table_association" "private" {
  for_each = local.associations

  subnet_id      = each.key
  route_table_id = aws_route_table.private[each.value].id
}
