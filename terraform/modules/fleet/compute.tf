# --- Instance role: SSM (no SSH), CloudWatch agent, and read access to exactly this
# fleet's config parameter and certificate secrets. ----------------------------------

locals {
  config_parameter_arn = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:parameter${var.config_parameter_name}"

  read_config_statements = concat(
    [
      {
        Sid      = "ReadConfig"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter"]
        Resource = [local.config_parameter_arn]
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
              "ssm.${data.aws_region.current.id}.amazonaws.com",
              "secretsmanager.${data.aws_region.current.id}.amazonaws.com",
            ]
          }
        }
      },
    ],
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

resource "aws_iam_role_policy" "read_config" {
  name = "read-config"
  role = aws_iam_role.instance.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.read_config_statements
  })
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  count      = var.attach_cloudwatch_agent_policy ? 1 : 0
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"
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
  # staticedge-fetch-config.service reads it (packer/files/fetch-config).
  user_data = base64encode(templatefile("${path.module}/templates/user-data.yaml.tftpl", {
    region           = data.aws_region.current.id
    config_parameter = var.config_parameter_name
    tls_secrets      = join(" ", [for name in sort(keys(var.tls_secret_arns)) : "${name}=${var.tls_secret_arns[name]}"])
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
  desired_capacity    = var.desired_capacity

  # The NLB's /readyz verdict decides replacement, not just "the VM is up".
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period_seconds
  default_instance_warmup   = var.instance_warmup_seconds
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
    max_healthy_percentage = 200
  }

  # A new AMI or user data rolls through the fleet without losing capacity: launch a
  # new instance, wait until the NLB finds it ready plus the warmup, then deregister
  # (deregistration_delay) and terminate an old one. Any failure rolls back.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = var.instance_warmup_seconds
      skip_matching          = true
      auto_rollback          = true
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
  }
}
