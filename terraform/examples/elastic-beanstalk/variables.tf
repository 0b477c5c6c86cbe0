variable "region" {
  type        = string
  description = "Region of the Elastic Beanstalk environment and of the fleet."
  default     = "us-east-1"
}

variable "name" {
  type        = string
  description = "Name of the fleet (resource names, tags, SSM parameter path)."
  default     = "staticedge"
}

variable "vpc_id" {
  type        = string
  description = "VPC for the NLB and the instances."
}

variable "public_subnets" {
  type        = map(string)
  description = "One public subnet per Availability Zone, keyed by zone: one static IP each."
}

variable "eip_allocation_ids" {
  type        = map(string)
  description = "Elastic IPs you already own, by zone (eipalloc-...), used instead of new ones."
  default     = {}
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets (same AZs) with a NAT route to the internet, for the EB environment's public endpoint and the AWS APIs."
}

variable "ami_id" {
  type        = string
  description = "AMI built by packer/ (the packer build prints it)."
}

variable "instance_type" {
  type        = string
  description = "Instance type of the proxies."
  default     = "c7i.large"
}

variable "eb_environment_cname" {
  type        = string
  description = "The Elastic Beanstalk environment's CNAME (console: Domain), e.g. myapp.eba-abc123.us-east-1.elasticbeanstalk.com. For blue/green, the production CNAME that gets swapped: staticedge re-resolves it and follows the swap. Null when eb_application_name makes the example create the environment."
  default     = null

  validation {
    condition     = var.eb_environment_cname == null || can(regex("^[a-z0-9.-]+\\.elasticbeanstalk\\.com$", coalesce(var.eb_environment_cname, "x")))
    error_message = "Give the environment's *.elasticbeanstalk.com name, without scheme or port."
  }
}

variable "eb_port" {
  type        = number
  description = "Port of the EB environment's plain-HTTP load balancer listener."
  default     = 80
}

variable "eb_https_name" {
  type        = string
  description = "Optional: speak HTTPS to the application through your own name (e.g. app-origin.example.com), a CNAME to eb_environment_cname whose certificate the environment's load balancer holds. staticedge follows that name's DNS like the EB name. Null: plain HTTP to eb_environment_cname:eb_port."
  default     = null

  validation {
    condition     = var.eb_https_name == null || (can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", coalesce(var.eb_https_name, "x"))) && !endswith(coalesce(var.eb_https_name, "x"), "elasticbeanstalk.com"))
    error_message = "Give your own DNS name (no scheme, no port); no certificate can cover *.elasticbeanstalk.com."
  }
}

variable "hostnames" {
  type        = list(string)
  description = "Public host names served (Host / SNI); the partner's DNS points them at the static IPs."
}

variable "host_header" {
  type        = string
  description = "Host header sent to EB: \"upstream\" (the EB CNAME, which an EB app already accepts, e.g. in Django's ALLOWED_HOSTS), \"preserve\" (the client's, when the app knows its public names) or a literal host name."
  default     = "upstream"
}

variable "upstream_probe_path" {
  type        = string
  description = "Optional path a fresh instance must GET successfully from EB before it reports ready (catches a bad AMI or config during a rollout). Null disables the probe."
  default     = null
}

variable "tls_secret_arns" {
  type        = map(string)
  description = "Certificate name => Secrets Manager secret ARN holding the PEM bundle (private key + chain). Create the secrets out of band (docs/deploy.md), never in Terraform: state would hold the keys."
}

variable "tls_secret_version_ids" {
  type        = map(string)
  description = "Optional: certificate name => secret VersionId to pin (a certificate change is then a canary refresh, and rolls back with it)."
  default     = {}
}

variable "proxy_protocol" {
  type        = string
  description = "PROXY protocol v2 stage: \"off\", then \"accept\" (wait for the refresh to finish), then \"send\". See docs/deploy.md."
  default     = "off"
}

variable "client_cidrs_ipv4" {
  type        = list(string)
  description = "Client networks allowed in."
  default     = ["0.0.0.0/0"]
}

variable "enable_http_listener" {
  type        = bool
  description = "Also accept port 80 and redirect it to HTTPS."
  default     = true
}

variable "grace_period_seconds" {
  type        = number
  description = "[server] grace_period, written into the config and mirrored in the target group. At least 30 s: the NLB's health check needs 10 s x 2 + 10 s to see the 503."
  default     = 30
}

variable "drain_timeout_seconds" {
  type        = number
  description = "[server] drain_timeout, written into the config and mirrored in the target group."
  default     = 60
}

variable "route53_zone_id" {
  type        = string
  description = "Optional hosted zone to publish route53_record_name with the static IPs."
  default     = null
}

variable "route53_record_name" {
  type        = string
  description = "Record name for the static IPs, e.g. edge.example.com."
  default     = null
}

variable "min_size" {
  type        = number
  description = "Fewest proxy instances: at least one per zone of public_subnets."
  default     = 2
}

variable "max_size" {
  type        = number
  description = "Most proxy instances the CPU target tracking may run."
  default     = 6
}

variable "alarm_sns_topic_arn" {
  type        = string
  description = "Optional SNS topic for the fleet's alarms (none without it); see docs/operations.md."
  default     = null
}

variable "cloudwatch_prometheus_metrics" {
  type        = bool
  description = "Ship staticedge's own gauges to CloudWatch (needed for the certificate-expiry alarm)."
  default     = false
}

variable "app_private_subnets" {
  type        = map(list(string))
  description = "The application's private subnets by zone: { \"us-east-1a\" = [\"subnet-...\"] }. When given, the egress module routes them through one NAT gateway per zone with its own Elastic IP: the application's fixed outbound IPs (output fixed_ips)."
  default     = {}
}

variable "egress_single_nat_gateway" {
  type        = bool
  description = "One shared NAT gateway (one outbound IP, one zone of failure) instead of one per zone."
  default     = false
}

variable "eb_application_name" {
  type        = string
  description = "Optional: an existing Elastic Beanstalk application; the example then creates its environment in app_private_subnets with a public load balancer in public_subnets, and forwards to it (leave eb_environment_cname null)."
  default     = null
}

variable "eb_solution_stack_name" {
  type        = string
  description = "Platform of the created environment, e.g. \"64bit Amazon Linux 2023 v4.3.0 running Python 3.12\" (aws elasticbeanstalk list-available-solution-stacks)."
  default     = null
}

variable "eb_instance_profile" {
  type        = string
  description = "Instance profile of the created environment's instances."
  default     = "aws-elasticbeanstalk-ec2-role"
}
