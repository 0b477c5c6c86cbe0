variable "name" {
  type        = string
  description = "Name of the fleet: prefix of every resource name and tag (NLB names allow 32 characters, so keep it short)."
  default     = "staticedge"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.name))
    error_message = "The name must be 1-24 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the NLB and the instances."
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "One public subnet per Availability Zone. Each gets one Elastic IP on the NLB: these are the static IPs you hand out. Adding a subnet later is an in-place change; removing or replacing one replaces the NLB (new IPs), which prevent_destroy refuses."

  validation {
    condition     = length(var.public_subnet_ids) >= 1 && length(var.public_subnet_ids) == length(distinct(var.public_subnet_ids))
    error_message = "Give at least one public subnet, each once."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Subnets of the instances, in the same Availability Zones as public_subnet_ids. They need a route to the upstream (the Elastic Beanstalk environment) and to the SSM, Secrets Manager and CloudWatch endpoints (NAT gateway or VPC endpoints)."

  validation {
    condition     = length(var.private_subnet_ids) >= 1
    error_message = "Give at least one private subnet."
  }
}

variable "client_cidrs_ipv4" {
  type        = list(string)
  description = "Client networks allowed to reach the static IPs. The NLB preserves client IPs, so this is also what the instances effectively accept."
  default     = ["0.0.0.0/0"]
}

variable "ami_id" {
  type        = string
  description = "AMI baked by packer/ (staticedge-*). Changing it rolls the fleet through an instance refresh; setting the previous one back is the rollback."
}

variable "instance_type" {
  type        = string
  description = "Instance type of the proxies (must match the AMI's architecture)."
  default     = "c7i.large"
}

variable "root_volume_size_gib" {
  type        = number
  description = "Root volume size in GiB (at least the AMI's)."
  default     = 16
}

variable "min_size" {
  type        = number
  description = "Minimum number of instances; keep one per Availability Zone at least."
  default     = 2
}

variable "max_size" {
  type        = number
  description = "Maximum number of instances. An instance refresh needs headroom above desired_capacity (it launches before it terminates)."
  default     = 6
}

variable "desired_capacity" {
  type        = number
  description = "Initial number of instances (later changes by scaling policies are not reverted by Terraform)."
  default     = 2
}

variable "admin_port" {
  type        = number
  description = "The proxy's admin port ([admin] listen): the NLB health-checks GET /readyz there."
  default     = 9901
}

variable "tls_port" {
  type        = number
  description = "Port of the TLS listener on the NLB and on the instances."
  default     = 443
}

variable "enable_http_listener" {
  type        = bool
  description = "Also forward TCP 80 to the proxy's plain-HTTP listener (which redirects to HTTPS)."
  default     = false
}

variable "http_port" {
  type        = number
  description = "Port of the optional plain-HTTP listener."
  default     = 80
}

variable "tcp_idle_timeout_seconds" {
  type        = number
  description = "NLB TCP idle timeout (60-6000). Keep the proxy's own idle timeouts below it: an idle flow the NLB forgot is reset on the next send."
  default     = 350

  validation {
    condition     = var.tcp_idle_timeout_seconds >= 60 && var.tcp_idle_timeout_seconds <= 6000
    error_message = "The tcp_idle_timeout_seconds must be between 60 and 6000."
  }
}

variable "grace_period_seconds" {
  type        = number
  description = "Mirror of the proxy's [server] grace_period: after SIGTERM readiness fails at once and the proxy keeps serving this long."
  default     = 15
}

variable "drain_timeout_seconds" {
  type        = number
  description = "Mirror of the proxy's [server] drain_timeout: after the grace period, how long in-flight requests may take (the longest request you expect)."
  default     = 60
}

variable "deregistration_delay_floor_seconds" {
  type        = number
  description = "Lower bound of the target group's deregistration delay. NLBs are reported to keep sending new flows to a deregistering target for about 2 minutes, so the delay is max(this, 120 + drain_timeout, grace_period + drain_timeout)."
  default     = 180

  validation {
    condition     = var.deregistration_delay_floor_seconds >= 0 && var.deregistration_delay_floor_seconds <= 3600
    error_message = "The deregistration_delay_floor_seconds must be between 0 and 3600."
  }
}

variable "proxy_protocol_v2" {
  type        = bool
  description = "Send a PROXY protocol v2 header to the targets. The proxy's TLS listener must then set proxy_protocol = \"required\" (or \"optional\"); the client IP is preserved either way."
  default     = false
}

variable "health_check_grace_period_seconds" {
  type        = number
  description = "How long the ASG ignores the NLB health of a new instance (boot, config fetch, first upstream probe)."
  default     = 90
}

variable "instance_warmup_seconds" {
  type        = number
  description = "Default instance warmup of the ASG and its instance refreshes."
  default     = 60
}

variable "config_parameter_name" {
  type        = string
  description = "SSM Parameter Store name holding the fleet's staticedge.toml (String or SecureString), e.g. /staticedge/prod/config."

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.\\-/]+$", var.config_parameter_name))
    error_message = "The config_parameter_name must be a hierarchical SSM name such as /staticedge/prod/config."
  }
}

variable "tls_secret_arns" {
  type        = map(string)
  description = "Certificates: directory name under /etc/staticedge/tls/ => Secrets Manager secret ARN whose string is a PEM bundle (private key + certificate chain). The instance role may read exactly these secrets."

  validation {
    condition = alltrue([
      for name, arn in var.tls_secret_arns :
      can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]*$", name)) && can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", arn))
    ])
    error_message = "Each key must be a plain directory name (letters, digits, '.', '_', '-'), each value a Secrets Manager secret ARN."
  }
}

variable "kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys encrypting the parameter or the secrets (the AWS-managed aws/ssm and aws/secretsmanager keys need nothing here)."
  default     = []
}

variable "upstream_egress_ports" {
  type        = list(number)
  description = "TCP ports the instances may open to any address: the upstreams (Elastic Beanstalk: 80 or 443) and the AWS APIs over 443."
  default     = [80, 443]
}

variable "attach_cloudwatch_agent_policy" {
  type        = bool
  description = "Attach CloudWatchAgentServerPolicy so the CloudWatch agent baked into the AMI can ship the access log and host metrics."
  default     = true
}

variable "deletion_protection" {
  type        = bool
  description = "NLB deletion protection (in addition to prevent_destroy in this module)."
  default     = true
}

variable "route53_zone_id" {
  type        = string
  description = "Optional hosted zone: when set, publishes route53_record_name as one A record per static IP (multivalue answer), each with its own TCP health check on tls_port so the IP of a failed Availability Zone leaves the answer. The checks come from Route 53's public checker addresses: client_cidrs_ipv4 must admit them."
  default     = null
}

variable "route53_record_name" {
  type        = string
  description = "Record name in route53_zone_id, e.g. edge.example.com."
  default     = null
}

variable "route53_ttl" {
  type        = number
  description = "TTL of the published A records."
  default     = 60
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
