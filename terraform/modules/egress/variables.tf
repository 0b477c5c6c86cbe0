variable "name" {
  type        = string
  description = "Prefix of every resource name and tag, e.g. the application's name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name)) && !endswith(var.name, "-")
    error_message = "The name must be 1-40 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the application's subnets."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The vpc_id must be a VPC id (vpc-...)."
  }
}

variable "public_subnets" {
  type        = map(string)
  description = "Where the NAT gateways live: one public subnet (with a route to an internet gateway) per Availability Zone, keyed by zone: { \"us-east-1a\" = \"subnet-...\" }. The fleet's public subnets serve."

  validation {
    condition     = length(var.public_subnets) >= 1 && alltrue([for az, id in var.public_subnets : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", az)) && can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "Give at least one public subnet; keys must be Availability Zone names (us-east-1a), values subnet ids (subnet-...)."
  }
}

variable "private_subnets" {
  type        = map(list(string))
  description = "The application's private subnets (the Elastic Beanstalk environment's instances) by Availability Zone: { \"us-east-1a\" = [\"subnet-...\"] }. Each zone gets one route table whose default route leaves through a NAT gateway, so every outbound connection comes from the NAT gateways' Elastic IPs. A subnet may have only one route table: these subnets must not be associated with another one."

  validation {
    condition = length(var.private_subnets) >= 1 && alltrue([
      for az, ids in var.private_subnets :
      can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", az)) && length(ids) >= 1 && alltrue([for id in ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    ])
    error_message = "Give at least one zone; keys must be Availability Zone names, values non-empty lists of subnet ids (subnet-...)."
  }
  validation {
    condition     = length(distinct(flatten(values(var.private_subnets)))) == length(flatten(values(var.private_subnets))) && length(setintersection(toset(flatten(values(var.private_subnets))), toset(values(var.public_subnets)))) == 0
    error_message = "Each private subnet may appear once, and never as a public subnet (its default route would leave through the NAT gateway it hosts)."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway (and one outbound IP) for every zone instead of one per zone: cheaper and one IP to hand out, but the zone that hosts it is a single point of failure for outbound traffic, and the other zones pay cross-zone data transfer. See docs/deploy.md."
  default     = false
}

variable "shared_nat_az" {
  type        = string
  description = "With single_nat_gateway: the zone of the shared NAT gateway (a key of public_subnets). Null picks the first zone in sorted order."
  default     = null

  validation {
    condition     = var.shared_nat_az == null || contains(keys(var.public_subnets), coalesce(var.shared_nat_az, "x"))
    error_message = "The shared_nat_az must be a zone of public_subnets."
  }
}

variable "eip_allocation_ids" {
  type        = map(string)
  description = "Elastic IPs you already own, by the NAT gateway's zone (eipalloc-...): used instead of addresses this module creates, so they outlive this module and its state."
  default     = {}

  validation {
    condition     = alltrue([for az, id in var.eip_allocation_ids : contains(keys(var.public_subnets), az) && can(regex("^eipalloc-[0-9a-f]{8,17}$", id))])
    error_message = "Each key must be a zone of public_subnets and each value an allocation id (eipalloc-...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
