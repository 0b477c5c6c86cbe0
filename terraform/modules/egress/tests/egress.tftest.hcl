# Offline tests of the egress module: plan-only runs against a mocked AWS provider
# (override_during = plan makes mocked computed values known at plan time). Run by
# tests/infra/check.sh via `terraform test`. Only `command = plan`: an apply would
# need a destroy, which prevent_destroy on the addresses refuses.

mock_provider "aws" {
  override_during = plan

  # Without an id default each instance gets its own random id, so the NAT gateways
  # and route tables can be told apart.
  mock_resource "aws_eip" {
    defaults = {}
  }
  mock_resource "aws_nat_gateway" {
    defaults = {}
  }
  mock_resource "aws_route_table" {
    defaults = {}
  }
  mock_data "aws_eip" {
    defaults = { public_ip = "203.0.113.70" }
  }
}

override_resource {
  target          = aws_eip.nat["us-east-1a"]
  override_during = plan
  values          = { public_ip = "198.51.100.21", id = "eipalloc-0aaaaaaaaaaaaaa21" }
}

override_resource {
  target          = aws_eip.nat["us-east-1b"]
  override_during = plan
  values          = { public_ip = "198.51.100.22", id = "eipalloc-0bbbbbbbbbbbbbb22" }
}

override_resource {
  target          = aws_eip.nat["us-east-1c"]
  override_during = plan
  values          = { public_ip = "198.51.100.23", id = "eipalloc-0cccccccccccccc23" }
}

variables {
  name   = "myapp"
  vpc_id = "vpc-0123456789abcdef0"
  public_subnets = {
    "us-east-1a" = "subnet-0aaa0000000000001"
    "us-east-1b" = "subnet-0bbb0000000000002"
    "us-east-1c" = "subnet-0ccc0000000000003"
  }
  private_subnets = {
    "us-east-1a" = ["subnet-0a110000000000011", "subnet-0a120000000000012"]
    "us-east-1b" = ["subnet-0b110000000000021"]
    "us-east-1c" = ["subnet-0c110000000000031"]
  }
}

run "one_nat_gateway_with_its_own_ip_per_zone" {
  command = plan

  assert {
    condition     = toset(keys(aws_nat_gateway.this)) == toset(["us-east-1a", "us-east-1b", "us-east-1c"]) && toset(keys(aws_eip.nat)) == toset(keys(aws_nat_gateway.this))
    error_message = "One NAT gateway and one Elastic IP per zone."
  }
  assert {
    condition = alltrue([for az, nat in aws_nat_gateway.this :
      nat.subnet_id == var.public_subnets[az] && nat.allocation_id == aws_eip.nat[az].id && nat.connectivity_type == "public"
    ])
    error_message = "Each NAT gateway sits in its zone's public subnet with that zone's Elastic IP."
  }
  assert {
    condition     = alltrue([for e in aws_eip.nat : e.domain == "vpc"])
    error_message = "The addresses are VPC Elastic IPs."
  }
  assert {
    condition     = output.egress_ips == tolist(["198.51.100.21", "198.51.100.22", "198.51.100.23"]) && output.egress_ips_by_az["us-east-1b"] == "198.51.100.22"
    error_message = "The outputs list the outbound IPs, by zone too."
  }
  assert {
    condition     = output.eip_allocation_ids["us-east-1c"] == "eipalloc-0cccccccccccccc23" && output.nat_gateway_ids["us-east-1a"] == aws_nat_gateway.this["us-east-1a"].id
    error_message = "Allocation ids and NAT gateway ids are outputs."
  }
}

run "each_zone_routes_through_its_own_nat_gateway" {
  command = plan

  assert {
    condition     = toset(keys(aws_route_table.private)) == toset(keys(var.private_subnets)) && alltrue([for rt in aws_route_table.private : rt.vpc_id == var.vpc_id])
    error_message = "One private route table per zone, in the VPC."
  }
  assert {
    condition = alltrue([for az, r in aws_route.default_via_nat :
      r.destination_cidr_block == "0.0.0.0/0" && r.route_table_id == aws_route_table.private[az].id && r.nat_gateway_id == aws_nat_gateway.this[az].id
    ])
    error_message = "Each zone's default route leaves through that zone's NAT gateway."
  }
  assert {
    condition = length(aws_route_table_association.private) == 4 && alltrue([
      for az, ids in var.private_subnets : alltrue([for id in ids : aws_route_table_association.private[id].route_table_id == aws_route_table.private[az].id])
    ])
    error_message = "Every private subnet is associated with its zone's route table."
  }
  assert {
    condition     = output.nat_gateway_for_zone == { "us-east-1a" = "us-east-1a", "us-east-1b" = "us-east-1b", "us-east-1c" = "us-east-1c" } && output.route_table_ids["us-east-1b"] == aws_route_table.private["us-east-1b"].id
    error_message = "The outputs say which NAT gateway each zone uses, and give the route tables."
  }
}

run "one_shared_nat_gateway" {
  command = plan

  variables {
    single_nat_gateway = true
    shared_nat_az      = "us-east-1b"
  }

  assert {
    condition     = keys(aws_nat_gateway.this) == ["us-east-1b"] && keys(aws_eip.nat) == ["us-east-1b"]
    error_message = "One NAT gateway with one Elastic IP, in the chosen zone."
  }
  assert {
    condition     = alltrue([for r in aws_route.default_via_nat : r.nat_gateway_id == aws_nat_gateway.this["us-east-1b"].id]) && length(aws_route.default_via_nat) == 3
    error_message = "Every zone's default route uses the shared NAT gateway."
  }
  assert {
    condition     = output.egress_ips == tolist(["198.51.100.22"])
    error_message = "One outbound IP."
  }
}

run "shared_nat_gateway_defaults_to_the_first_zone" {
  command = plan

  variables {
    single_nat_gateway = true
  }

  assert {
    condition     = keys(aws_nat_gateway.this) == ["us-east-1a"]
    error_message = "Without shared_nat_az the first zone in sorted order hosts it."
  }
}

run "own_elastic_ips_by_allocation_id" {
  command = plan

  variables {
    eip_allocation_ids = { "us-east-1b" = "eipalloc-0123456789abcdef0" }
  }

  assert {
    condition     = toset(keys(aws_eip.nat)) == toset(["us-east-1a", "us-east-1c"]) && aws_nat_gateway.this["us-east-1b"].allocation_id == "eipalloc-0123456789abcdef0"
    error_message = "A zone with a given address uses it and gets none from the module."
  }
  assert {
    condition     = output.egress_ips_by_az["us-east-1b"] == "203.0.113.70" && length(output.egress_ips) == 3
    error_message = "The given address is among the outbound IPs."
  }
}

run "refuses_a_private_zone_without_a_nat_gateway" {
  command = plan

  variables {
    private_subnets = {
      "us-east-1a" = ["subnet-0a110000000000011"]
      "us-east-1d" = ["subnet-0d110000000000041"]
    }
  }

  expect_failures = [aws_route_table.private]
}

run "a_shared_nat_gateway_serves_zones_without_a_public_subnet" {
  command = plan

  variables {
    single_nat_gateway = true
    private_subnets = {
      "us-east-1a" = ["subnet-0a110000000000011"]
      "us-east-1d" = ["subnet-0d110000000000041"]
    }
  }

  assert {
    condition     = aws_route.default_via_nat["us-east-1d"].nat_gateway_id == aws_nat_gateway.this["us-east-1a"].id
    error_message = "With one shared NAT gateway any zone can route through it."
  }
}

run "rejects_a_subnet_listed_twice" {
  command = plan
  variables {
    private_subnets = { "us-east-1a" = ["subnet-0a110000000000011"], "us-east-1b" = ["subnet-0a110000000000011"] }
  }
  expect_failures = [var.private_subnets]
}

run "rejects_a_public_subnet_as_private" {
  command = plan
  variables {
    private_subnets = { "us-east-1a" = ["subnet-0aaa0000000000001"] }
  }
  expect_failures = [var.private_subnets]
}

run "rejects_a_shared_zone_without_a_public_subnet" {
  command = plan
  variables {
    single_nat_gateway = true
    shared_nat_az      = "us-east-1d"
  }
  expect_failures = [var.shared_nat_az]
}

run "rejects_allocation_ids_for_unknown_zones" {
  command = plan
  variables {
    eip_allocation_ids = { "us-east-1d" = "eipalloc-0123456789abcdef0" }
  }
  expect_failures = [var.eip_allocation_ids]
}
