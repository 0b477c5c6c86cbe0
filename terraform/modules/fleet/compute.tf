# --- Instance role: least privilege, no AWS-managed policy -------------------------------
# Session Manager / Run Command (instead of SSH), this fleet's config parameter and
# certificate secrets, the lifecycle calls of its own group, and (optional) the
# CloudWatch agent's own log groups, metrics namespace and config parameter. Nothing
# else: AmazonSSMManagedInstanceCore would add ssm:GetParameter(s) on every parameter.

locals {
  arn_prefix           = "arn:${data.aws_partition.current.partition}"
  region               = data.aws_region.current.id
  account              = data.aws_caller_identity.current.account_id
  config_parameter_arn = "${local.arn_prefix}:ssm:${local.region}:${local.account}:parameter${var.config_parameter_name}"
  # The group's ARN holds a generated id; its name is fixed (var.name).
  asg_arn_pattern = "${local.arn_prefix}:autoscaling:${local.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/${var.name}"

  instance_statements = concat(
    [
      {
        # The SSM agent's channels: these actions have no resource-level permissions.
        Sid    = "SessionManagerChannels"
        Effect = "Allow"
        Action = [
          "ec2messages:AcknowledgeMessage",
          "ec2messages:DeleteMessage",
          "ec2messages:FailMessage",
          "ec2messages:GetEndpoint",
          "ec2messages:GetMessages",
          "ec2messages:SendReply",
          "ssmmessages:CreateControlChannel",
          "ssmmessages:CreateDataChannel",
          "ssmmessages:OpenControlChannel",
          "ssmmessages:OpenDataChannel",
        ]
        Resource = ["*"]
      },
      {
        Sid      = "SessionManagerRegistration"
        Effect   = "Allow"
        Action   = ["ssm:UpdateInstanceInformation"]
        Resource = ["${local.arn_prefix}:ec2:${local.region}:${local.account}:instance/*"]
      },
      {
        Sid      = "ReadConfig"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter"]
        Resource = [local.config_parameter_arn]
      },
      {
        Sid    = "OwnLifecycle"
        Effect = "Allow"
        Action = [
          "autoscaling:CompleteLifecycleAction",
          "autoscaling:SetInstanceHealth",
        ]
        Resource = [local.asg_arn_pattern]
      },
    ],
    length(var.tls_secret_arns) == 0 ? [] : [
      {
        Sid      = "ReadCertificates"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = sort(values(var.tls_secret_arns))
      },
    ],
    length(var.kms_key_arns) == 0 ? [] : [
      {
        Sid      = "DecryptConfig"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = var.kms_key_arns
        Condition = {
          StringEquals = {
            "kms:ViaService" = [
              "ssm.${local.region}.amazonaws.com",
              "secretsmanager.${local.region}.amazonaws.com",
            ]
          }
        }
      },
    ],
    # (A for filter, not a conditional: the statements' shapes differ.)
    [for statement in [
      {
        Sid    = "CloudWatchAgentLogs"
        Effect = "Allow"
        Action = [
          "logs:CreateLogGroup",
          "logs:CreateLogStream",
          "logs:DescribeLogStreams",
          "logs:PutLogEvents",
          "logs:PutRetentionPolicy",
        ]
        Resource = [
          "${local.arn_prefix}:logs:${local.region}:${local.account}:log-group:/staticedge/${var.name}/*",
          "${local.arn_prefix}:logs:${local.region}:${local.account}:log-group:/staticedge/${var.name}/*:log-stream:*",
        ]
      },
      {
        Sid       = "CloudWatchAgentMetrics"
        Effect    = "Allow"
        Action    = ["cloudwatch:PutMetricData"]
        Resource  = ["*"]
        Condition = { StringEquals = { "cloudwatch:namespace" = "CWAgent" } }
      },
      {
        # The agent reads the instance's tags and volumes for metric dimensions; these
        # Describe calls have no resource-level permissions.
        Sid      = "CloudWatchAgentDescribe"
        Effect   = "Allow"
        Action   = ["ec2:DescribeTags", "ec2:DescribeVolumes"]
        Resource = ["*"]
      },
      {
        Sid    = "CloudWatchAgentConfig"
        Effect = "Allow"
        Action = ["ssm:GetParameter"]
        Resource = concat(
          ["${local.arn_prefix}:ssm:${local.region}:${local.account}:parameter/AmazonCloudWatch-${var.name}"],
          var.cloudwatch_prometheus_metrics ? ["${local.arn_prefix}:ssm:${local.region}:${local.account}:parameter/${local.metrics_agent_param}"] : [],
        )
      },
    ] : statement if var.cloudwatch_agent],
  )
}

resource "aws_iam_role" "instance" {
  name_prefix = "${var.name}-"
  description = "staticedge instances (${var.name})"
  # jsonencode rather than aws_iam_policy_document: known at plan, also under mocks.
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

# The role's only policy: nothing is attached, so this document is every grant.
resource "aws_iam_role_policy" "instance" {
  #checkov:skip=CKV_AWS_290:The only unconstrained writes are the SSM agent's ec2messages/ssmmessages channel calls and cloudwatch:PutMetricData (namespace-conditioned); neither has resource-level permissions.
  #checkov:skip=CKV_AWS_355:Resource "*" only for actions without resource-level permissions (ec2messages, ssmmessages, PutMetricData, ec2:Describe*).
  name = "staticedge-instance"
  role = aws_iam_role.instance.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.instance_statements
  })
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "${var.name}-"
  role        = aws_iam_role.instance.name
  tags        = local.tags
}

# --- Launch template -------------------------------------------------------------------

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  description            = "staticedge ${var.name}"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.instance.id]

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  # IMDSv2 only, and a hop limit of 1 so nothing behind another hop (a container)
  # can borrow the instance role.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # cloud-init writes /etc/staticedge/bootstrap.env early in boot; the AMI's
  # staticedge-fetch-config.service and staticedge-lifecycle.service read it
  # (packer/files/fetch-config, packer/files/lifecycle-watch). The config and pinned
  # certificate versions are in it: changing them is a new template version, so an
  # instance refresh with its canary, and a rollback restores them.
  user_data = base64encode(templatefile("${path.module}/templates/user-data.yaml.tftpl", {
    region               = local.region
    config_parameter     = "${var.config_parameter_name}:${var.config_parameter_version}"
    tls_secrets          = join(" ", [for name in sort(keys(var.tls_secret_arns)) : "${name}=${var.tls_secret_arns[name]}"])
    tls_secret_versions  = join(" ", [for name in sort(keys(var.tls_secret_version_ids)) : "${name}=${var.tls_secret_version_ids[name]}"])
    asg_name             = var.name
    launch_hook          = local.launch_hook_name
    terminate_hook       = local.terminate_hook_name
    drain_delay          = local.drain_delay
    ready_timeout        = var.instance_ready_timeout_seconds
    liveness_failures    = var.liveness_failures
    proxy_protocol_stage = var.proxy_protocol
    # Metrics off the box: the scrape file the agent reads, and the agent config the
    # image's staticedge-cloudwatch-metrics.service loads (empty: nothing is shipped).
    metrics_agent_config = var.cloudwatch_prometheus_metrics ? "ssm:${local.metrics_agent_param}" : ""
    metrics_scrape_path  = local.metrics_scrape_path
    metrics_scrape_yaml  = local.metrics_scrape_yaml
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = var.name })
  }

  tags = local.tags
}

# --- Auto Scaling group ------------------------------------------------------------------

resource "aws_autoscaling_group" "this" {
  name                = var.name
  vpc_zone_identifier = var.private_subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = local.desired_capacity
  # Scale-in must be able to pick any instance: each leaves through the drain.
  protect_from_scale_in = false

  # Group metrics (free at 1-minute granularity): the at-max alarm compares
  # GroupInServiceInstances with GroupMaxSize; the rest explain a scaling event.
  metrics_granularity = "1Minute"
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupMaxSize",
    "GroupMinSize",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
  ]

  # Replacement on liveness only: EC2 status checks, plus lifecycle-watch reporting a
  # dead proxy (/healthz) as Unhealthy. Never on the NLB's /readyz verdict: its reasons
  # that hit every instance at once (every certificate expired, DNS stale past
  # serve_stale_for) would replace the whole fleet with instances that lack the stale
  # DNS answer that kept traffic flowing. The NLB still routes by /readyz.
  health_check_type         = "EC2"
  health_check_grace_period = local.health_check_grace_period
  default_instance_warmup   = local.instance_warmup
  target_group_arns         = [for k in sort(keys(local.listeners)) : aws_lb_target_group.this[k].arn]

  launch_template {
    id = aws_launch_template.this.id
    # A pinned number, not "$Latest": a new version is then a change of this group,
    # which starts the instance refresh below (and makes auto_rollback possible).
    version = aws_launch_template.this.latest_version
  }

  # Replacements for unhealthy instances also launch before they terminate.
  instance_maintenance_policy {
    min_healthy_percentage = 100
    max_healthy_percentage = var.refresh_max_healthy_percentage
  }

  # A canary roll: a new AMI, config version or certificate version first replaces
  # canary_percentage of the group (at least one instance, which must pass the launch
  # gate), pauses canary_seconds while the alarms watch, then replaces the rest in
  # batches of up to (max healthy - 100) % without ever going below the desired
  # capacity. An alarm, a launch that never becomes ready, or a failed refresh rolls
  # back to the previous template version: AMI, config and certificates together.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = var.refresh_max_healthy_percentage
      instance_warmup        = local.instance_warmup
      checkpoint_percentages = [var.canary_percentage, 100]
      checkpoint_delay       = var.canary_seconds
      skip_matching          = true
      auto_rollback          = true
      alarm_specification {
        alarms = concat([aws_cloudwatch_metric_alarm.unhealthy_targets.alarm_name], var.rollback_alarm_names)
      }
    }
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Scaling policies and operators own the running count.
    ignore_changes = [desired_capacity]

    precondition {
      condition     = var.grace_period_seconds + var.drain_timeout_seconds + 10 <= var.ami_stop_timeout_seconds
      error_message = "grace_period_seconds + drain_timeout_seconds + 10 s must fit in the AMI's TimeoutStopSec (ami_stop_timeout_seconds), or systemd kills a drain in progress: raise TimeoutStopSec in packer/files/staticedge.service, bake, and set ami_stop_timeout_seconds."
    }
  }
}

# --- Lifecycle hooks ----------------------------------------------------------------------
# Separate resources rather than the group's initial_lifecycle_hook, which AWS applies
# only when the group is created: these follow every change of the drain timings and
# also reach a group created by an earlier version of this module. The price: the
# first instances of a brand-new group may launch before the launch hook exists
# (they then enter service without the gate; there is no traffic to protect yet).

# Launch gate: a new instance stays in Pending:Wait, outside the target group, until
# lifecycle-watch sees /readyz 200 (CONTINUE) or gives up (ABANDON: fetch or check
# failed, or not ready in time). Also how an instance refresh waits for readiness.
resource "aws_autoscaling_lifecycle_hook" "ready" {
  name                   = local.launch_hook_name
  autoscaling_group_name = aws_autoscaling_group.this.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_LAUNCHING"
  heartbeat_timeout      = local.launch_hook_timeout
  default_result         = "ABANDON"
}

# Drain: the instance waits in Terminating:Wait until lifecycle-watch has drained and
# stopped the proxy (or the timeout, then CONTINUE: termination is never blocked).
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.terminate_hook_name
  autoscaling_group_name = aws_autoscaling_group.this.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = local.terminate_hook_timeout
  default_result         = "CONTINUE"
}

# The canary's judge: any target of the TLS target group unhealthy for two minutes
# while a refresh runs rolls it back. Draining (deregistered) targets do not count.
resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  alarm_name          = "${var.name}-unhealthy-targets"
  alarm_description   = "staticedge ${var.name}: a target of the TLS target group is unhealthy (/readyz not 200). Rolls back a running instance refresh."
  namespace           = "AWS/NetworkELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.this["tls"].arn_suffix
  }
  tags = local.tags
}
