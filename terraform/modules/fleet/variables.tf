variable "name" {
  type        = string
  description = "Name of the fleet: prefix of every resource name and tag (NLB names allow 32 characters, so keep it short)."
  default     = "staticedge"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.name)) && !endswith(var.name, "-")
    error_message = "The name must be 1-24 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the NLB and the instances."
}

variable "public_subnets" {
  type        = map(string)
  description = "One public subnet per Availability Zone, keyed by the zone's name: { \"us-east-1a\" = \"subnet-...\" }. Each zone gets one Elastic IP on the NLB (the static IPs you hand out), keyed by the zone, so re-creating a subnet in the same zone keeps the address's resource. Adding a zone is an in-place change; removing one, or changing a zone's subnet, replaces the NLB, which prevent_destroy refuses."

  validation {
    condition     = length(var.public_subnets) >= 1
    error_message = "Give at least one public subnet."
  }
  validation {
    condition     = alltrue([for az, id in var.public_subnets : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", az)) && can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "Keys must be Availability Zone names (us-east-1a), values subnet ids (subnet-0123abcd...)."
  }
  validation {
    condition     = length(distinct(values(var.public_subnets))) == length(var.public_subnets)
    error_message = "Each public subnet may appear once."
  }
}

variable "eip_allocation_ids" {
  type        = map(string)
  description = "Elastic IPs you already own, by Availability Zone (eipalloc-...). Zones listed here use that address instead of one this module creates: the addresses then outlive this module and its state entirely, which is the safest way to keep them."
  default     = {}

  validation {
    condition     = alltrue([for az, id in var.eip_allocation_ids : contains(keys(var.public_subnets), az) && can(regex("^eipalloc-[0-9a-f]{8,17}$", id))])
    error_message = "Each key must be a zone of public_subnets and each value an allocation id (eipalloc-...)."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Subnets of the instances, in the same Availability Zones as public_subnets. They need a route to the upstream (the Elastic Beanstalk environment) and to the SSM, Secrets Manager and CloudWatch endpoints (NAT gateway or VPC endpoints)."

  validation {
    condition     = length(var.private_subnet_ids) >= 1 && alltrue([for id in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))]) && length(distinct(var.private_subnet_ids)) == length(var.private_subnet_ids)
    error_message = "Give at least one private subnet, each a subnet id (subnet-...) and each once."
  }
}

variable "client_cidrs_ipv4" {
  type        = list(string)
  description = "Client networks allowed to reach the static IPs. The NLB preserves client IPs, so this is also what the instances effectively accept."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.client_cidrs_ipv4) >= 1 && alltrue([for c in var.client_cidrs_ipv4 : try(cidrnetmask(c) != "" && cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "Each client network must be an IPv4 CIDR written with its network address (10.0.0.0/8, not 10.1.2.3/8)."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI baked by packer/ (staticedge-*). Changing it rolls the fleet through a canary instance refresh; setting the previous one back is the rollback."

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The ami_id must be an AMI id (ami-...)."
  }
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

  validation {
    condition     = var.root_volume_size_gib >= 8 && var.root_volume_size_gib <= 1024
    error_message = "The root_volume_size_gib must be between 8 and 1024."
  }
}

variable "min_size" {
  type        = number
  description = "Minimum number of instances: at least one per Availability Zone (public_subnets) and per instance subnet (private_subnet_ids), so scale-in never leaves a zone's static IP without a local target."
  default     = 2

  validation {
    condition     = floor(var.min_size) == var.min_size && var.min_size >= max(1, length(var.public_subnets), length(var.private_subnet_ids))
    error_message = "The min_size must be a whole number of at least one instance per Availability Zone and per instance subnet (max(length(public_subnets), length(private_subnet_ids)))."
  }
}

variable "max_size" {
  type        = number
  description = "Upper bound of the scaling policy. An instance refresh needs headroom above the running count (it launches before it terminates); the at-max alarm says when the fleet is held at this bound with CPU above target."
  default     = 6

  validation {
    condition     = var.max_size >= var.min_size && var.max_size <= 100 && floor(var.max_size) == var.max_size
    error_message = "The max_size must be a whole number between min_size and 100."
  }
}

variable "desired_capacity" {
  type        = number
  description = "Initial number of instances; null starts at min_size. Later changes by the scaling policy are not reverted by Terraform."
  default     = null

  validation {
    condition     = var.desired_capacity == null || try(var.desired_capacity >= var.min_size && var.desired_capacity <= var.max_size && floor(var.desired_capacity) == var.desired_capacity, false)
    error_message = "The desired_capacity must be a whole number between min_size and max_size."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Target of the scaling policy: the group's average CPU utilization (%) that target tracking keeps the fleet at, adding instances above it and removing them (each through the drain) below it."
  default     = 50

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "The cpu_target_percent must be between 10 and 90."
  }
}

variable "admin_port" {
  type        = number
  description = "The proxy's admin port ([admin] listen): the NLB health-checks GET /readyz there."
  default     = 9901

  validation {
    condition     = var.admin_port >= 1024 && var.admin_port <= 65535 && !contains([var.tls_port, var.http_port], var.admin_port)
    error_message = "The admin_port must be 1024-65535 and differ from tls_port and http_port (the NLB must never reach the admin port through a listener)."
  }
}

variable "tls_port" {
  type        = number
  description = "Port of the TLS listener on the NLB and on the instances."
  default     = 443

  validation {
    condition     = var.tls_port >= 1 && var.tls_port <= 65535 && var.tls_port != var.http_port
    error_message = "The tls_port must be 1-65535 and differ from http_port."
  }
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

  validation {
    condition     = var.http_port >= 1 && var.http_port <= 65535
    error_message = "The http_port must be 1-65535."
  }
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
  description = "Mirror of the proxy's [server] grace_period: after SIGTERM readiness fails at once and the proxy keeps serving this long. At least the NLB health check's interval x unhealthy_threshold + interval (10 x 2 + 10 = 30 s; the plan refuses less), so a stop never refuses flows the NLB still sends."
  default     = 30

  validation {
    condition     = var.grace_period_seconds >= 0 && var.grace_period_seconds <= 600
    error_message = "The grace_period_seconds must be between 0 and 600."
  }
}

variable "drain_timeout_seconds" {
  type        = number
  description = "Mirror of the proxy's [server] drain_timeout: after the grace period, how long in-flight requests may take (the longest request you expect)."
  default     = 60

  validation {
    condition     = var.drain_timeout_seconds >= 1 && var.drain_timeout_seconds <= 3000
    error_message = "The drain_timeout_seconds must be between 1 and 3000."
  }
}

variable "late_flow_seconds" {
  type        = number
  description = "How long the NLB may still send new flows to a target after it started deregistering it (about 2 minutes, reported by AWS users). On scale-in the proxy keeps its listeners open at least this long after deregistration starts."
  default     = 120

  validation {
    condition     = var.late_flow_seconds >= 0 && var.late_flow_seconds <= 600
    error_message = "The late_flow_seconds must be between 0 and 600."
  }
}

variable "deregistration_delay_floor_seconds" {
  type        = number
  description = "Lower bound of the target group's deregistration delay, which is otherwise the drain deadline plus a margin (see docs/operations.md)."
  default     = 180

  validation {
    condition     = var.deregistration_delay_floor_seconds >= 0 && var.deregistration_delay_floor_seconds <= 3600
    error_message = "The deregistration_delay_floor_seconds must be between 0 and 3600."
  }
}

variable "ami_stop_timeout_seconds" {
  type        = number
  description = "TimeoutStopSec of staticedge.service in the AMI (packer/files/staticedge.service, 120). grace_period + drain_timeout + 10 s must fit in it, or systemd kills a drain in progress; raise both together."
  default     = 120
}

variable "proxy_protocol" {
  type        = string
  description = "PROXY protocol v2 from the NLB, rolled in a safe order: \"off\"; \"accept\" (the proxy's TLS listener accepts a header but does not need one: roll this out first, it is a restart-only setting, so a refresh); \"send\" (the target group sends the header, only once every instance accepts it; refused while the launch template in service is not at \"accept\"). Going back is the same order reversed. See proxy_listener_proxy_protocol in the outputs."
  default     = "off"

  validation {
    condition     = contains(["off", "accept", "send"], var.proxy_protocol)
    error_message = "The proxy_protocol must be \"off\", \"accept\" or \"send\"."
  }
}

variable "instance_ready_timeout_seconds" {
  type        = number
  description = "How long a new instance may take to become ready (config fetch with its retries, bounded at 300 s by staticedge-fetch-config.service, then start-up and the start-up probe). Past it the launch is abandoned; it also sets the launch hook's timeout and the health check grace period."
  default     = 420

  validation {
    condition     = var.instance_ready_timeout_seconds >= 360 && var.instance_ready_timeout_seconds <= 3600
    error_message = "The instance_ready_timeout_seconds must be between 360 (the fetch unit's 300 s plus start-up) and 3600."
  }
}

variable "instance_warmup_seconds" {
  type        = number
  description = "Default instance warmup of the ASG (target tracking and instance refreshes): from InService until the instance's CPU counts. Null derives it: the launch gate already held the instance in Pending:Wait until /readyz answered 200 (the time to ready), so what is left is the NLB's healthy_threshold x interval (20 s) plus one 60 s metric period = 80 s."
  default     = null

  validation {
    condition     = var.instance_warmup_seconds == null || try(var.instance_warmup_seconds >= 0 && var.instance_warmup_seconds <= 3600, false)
    error_message = "The instance_warmup_seconds must be between 0 and 3600."
  }
}

variable "liveness_failures" {
  type        = number
  description = "Failed /healthz polls in a row (5 s apart) after which an instance in service reports itself Unhealthy to the group, which then replaces it."
  default     = 6

  validation {
    condition     = var.liveness_failures >= 2 && var.liveness_failures <= 60
    error_message = "The liveness_failures must be between 2 and 60."
  }
}

variable "refresh_max_healthy_percentage" {
  type        = number
  description = "Instance refresh batch size: capacity may grow to this percentage while new instances start (min healthy is always 100 %). 150 replaces up to half the group at a time, after the canary."
  default     = 150

  validation {
    condition     = var.refresh_max_healthy_percentage >= 110 && var.refresh_max_healthy_percentage <= 200
    error_message = "The refresh_max_healthy_percentage must be between 110 and 200."
  }
}

variable "canary_percentage" {
  type        = number
  description = "First checkpoint of an instance refresh: the share of the group (at least one instance) replaced before the refresh pauses for canary_seconds with the rollback alarms watching."
  default     = 10

  validation {
    condition     = var.canary_percentage >= 1 && var.canary_percentage < 100 && floor(var.canary_percentage) == var.canary_percentage
    error_message = "The canary_percentage must be a whole number from 1 to 99."
  }
}

variable "canary_seconds" {
  type        = number
  description = "How long a refresh pauses after the canary before replacing the rest. At least 180 s: the unhealthy-target alarm needs two 60 s periods to fire."
  default     = 600

  validation {
    condition     = var.canary_seconds >= 180 && var.canary_seconds <= 172800
    error_message = "The canary_seconds must be between 180 (the alarm's two 60 s periods plus a margin) and 172800."
  }
}

variable "rollback_alarm_names" {
  type        = list(string)
  description = "More CloudWatch alarms that roll an instance refresh back when they fire (the module's unhealthy-target alarm is always one), e.g. your application's 5xx rate."
  default     = []
}

variable "config_parameter_name" {
  type        = string
  description = "SSM Parameter Store name holding the fleet's staticedge.toml (String or SecureString), e.g. /staticedge/prod/config."

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.\\-/]+$", var.config_parameter_name))
    error_message = "The config_parameter_name must be a hierarchical SSM name such as /staticedge/prod/config."
  }
}

variable "config_parameter_version" {
  type        = number
  description = "Version of that parameter the instances read (NAME:VERSION). It is part of the launch template, so a config change is an instance refresh with a canary, and a rollback brings the previous config back too. The example passes aws_ssm_parameter.config.version."

  validation {
    condition     = var.config_parameter_version >= 1 && floor(var.config_parameter_version) == var.config_parameter_version
    error_message = "The config_parameter_version must be a whole number of at least 1."
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

variable "tls_secret_version_ids" {
  type        = map(string)
  description = "Optional: certificate name => the secret's VersionId the instances read. Pinned, a certificate change is a refresh with a canary and rolls back with the template; unpinned names read AWSCURRENT at boot (and at every `systemctl reload staticedge-fetch-config`)."
  default     = {}

  validation {
    condition     = alltrue([for name, v in var.tls_secret_version_ids : contains(keys(var.tls_secret_arns), name) && can(regex("^[A-Za-z0-9-]{32,64}$", v))])
    error_message = "Each key must be a name of tls_secret_arns and each value a secret VersionId."
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

variable "cloudwatch_agent" {
  type        = bool
  description = "Let the CloudWatch agent baked into the AMI ship logs to the log groups /staticedge/<name>/*, metrics to the CWAgent namespace, and read its config from the SSM parameter AmazonCloudWatch-<name>."
  default     = true
}

variable "cloudwatch_prometheus_metrics" {
  type        = bool
  description = "Ship staticedge's own gauges (certificate expiry, ready, DNS staleness, upstream addresses, open connections, draining) from the admin port's /metrics to CloudWatch, namespace \"staticedge\", dimension Fleet = name: the CloudWatch agent's Prometheus scrape, configured from the SSM parameter AmazonCloudWatch-<name>-prometheus and started by the AMI's staticedge-cloudwatch-metrics.service. Needs cloudwatch_agent. Required for the certificate-expiry alarm."
  default     = false

  validation {
    condition     = !var.cloudwatch_prometheus_metrics || var.cloudwatch_agent
    error_message = "cloudwatch_prometheus_metrics needs cloudwatch_agent = true (the agent's permissions)."
  }
}

variable "metrics_log_retention_days" {
  type        = number
  description = "Retention of the log group the agent writes the scraped samples to (embedded metric format); the metrics themselves are kept by CloudWatch as usual."
  default     = 7

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.metrics_log_retention_days)
    error_message = "The metrics_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ...)."
  }
}

variable "alarm_sns_topic_arn" {
  type        = string
  description = "SNS topic the fleet's alarms notify (alarm and OK). Null: no alarm is created (the refresh rollback alarm always exists, without actions)."
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", coalesce(var.alarm_sns_topic_arn, "x")))
    error_message = "The alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "alarm_unhealthy_minutes" {
  type        = number
  description = "Minutes any target must stay unhealthy before the unhealthy-target alarm notifies (one-minute periods)."
  default     = 5

  validation {
    condition     = var.alarm_unhealthy_minutes >= 1 && var.alarm_unhealthy_minutes <= 60 && floor(var.alarm_unhealthy_minutes) == var.alarm_unhealthy_minutes
    error_message = "The alarm_unhealthy_minutes must be a whole number from 1 to 60."
  }
}

variable "alarm_at_max_minutes" {
  type        = number
  description = "Minutes the group must sit at max_size with average CPU above cpu_target_percent before the at-max alarm notifies."
  default     = 15

  validation {
    condition     = var.alarm_at_max_minutes >= 1 && var.alarm_at_max_minutes <= 120 && floor(var.alarm_at_max_minutes) == var.alarm_at_max_minutes
    error_message = "The alarm_at_max_minutes must be a whole number from 1 to 120."
  }
}

variable "alarm_certificate_days" {
  type        = number
  description = "The certificate-expiry alarm fires when the first certificate any instance serves expires in fewer days than this (from staticedge_certificate_expiry_timestamp_seconds; needs cloudwatch_prometheus_metrics)."
  default     = 14

  validation {
    condition     = var.alarm_certificate_days >= 1 && var.alarm_certificate_days <= 60
    error_message = "The alarm_certificate_days must be between 1 and 60."
  }
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
