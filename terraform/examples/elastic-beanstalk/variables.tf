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

variable "public_subnet_ids" {
  type        = list(string)
  description = "One public subnet per Availability Zone: one static IP each."
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
  description = "The Elastic Beanstalk environment's CNAME (console: Domain), e.g. myapp.eba-abc123.us-east-1.elasticbeanstalk.com. For blue/green, the production CNAME that gets swapped: staticedge re-resolves it and follows the swap."

  validation {
    condition     = can(regex("^[a-z0-9.-]+\\.elasticbeanstalk\\.com$", var.eb_environment_cname))
    error_message = "Give the environment's *.elasticbeanstalk.com name, without scheme or port."
  }
}

variable "eb_port" {
  type        = number
  description = "Port of the EB environment's load balancer listener to use (80, or 443 with eb_tls)."
  default     = 80
}

variable "eb_tls" {
  type        = bool
  description = "Speak HTTPS to the EB environment (its listener needs a certificate valid for eb_environment_cname)."
  default     = false
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
  description = "[server] grace_period, written into the config and mirrored in the target group."
  default     = 15
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
