# The static IPs: one Elastic IP per Availability Zone, each pinned to the NLB through
# a subnet_mapping. They are what partners allow-list, so Terraform must never release
# them. Keyed by zone, not by subnet id: a subnet re-created in the same zone keeps its
# address resource. Zones in var.eip_allocation_ids bring their own address instead.
resource "aws_eip" "this" {
  for_each = { for az, subnet in var.public_subnets : az => subnet if !contains(keys(var.eip_allocation_ids), az) }

  #checkov:skip=CKV2_AWS_19:These addresses belong to the NLB (subnet_mapping), not to instances.
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    prevent_destroy = true
  }
}

# Addresses given by allocation id: read, never managed.
data "aws_eip" "given" {
  for_each = var.eip_allocation_ids
  id       = each.value
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:NLB access logs only cover TLS listeners; this one is TCP pass-through (use VPC Flow Logs and the proxy's access log).
  name               = var.name
  load_balancer_type = "network"
  internal           = false

  # Security groups can only be given at creation: adding them to an NLB created
  # without, or removing all of them, replaces the NLB and with it the IPs.
  security_groups = [aws_security_group.nlb.id]

  # Without it, an AZ whose targets are all unhealthy drops its share of clients
  # (clients pick an IP, hence an AZ, from DNS or their allow-list).
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection

  # One mapping per zone. Editing or removing a mapping would replace the NLB (new
  # DNS name; the addresses survive in aws_eip.this but are briefly unattached), which
  # prevent_destroy blocks.
  dynamic "subnet_mapping" {
    for_each = var.public_subnets
    content {
      subnet_id     = subnet_mapping.value
      allocation_id = local.allocation_ids[subnet_mapping.key]
    }
  }

  tags = merge(local.tags, { Name = var.name })

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_lb_target_group" "this" {
  for_each = local.listeners

  # name_prefix + create_before_destroy: a change that replaces the group (port,
  # protocol) builds the new one before the listener lets go of the old one.
  name_prefix = each.key == "tls" ? "se-tls" : "se-80-"
  port        = each.value
  protocol    = "TCP"
  vpc_id      = var.vpc_id
  target_type = "instance"

  preserve_client_ip = true
  # Only in the "send" stage, which presumes the "accept" stage was rolled out first
  # (the proxy's setting is restart-only; the attribute applies at once).
  proxy_protocol_v2 = local.target_group_sends_proxy_v2

  deregistration_delay = local.deregistration_delay
  # At the end of the delay, close what is left instead of letting flows hang on an
  # instance that is about to terminate. The drain ends before it (drain_deadline +
  # margin), so this only ever resets a connection the proxy failed to close.
  connection_termination = true

  # The proxy's readiness, on the admin port; never traffic-port (that is TLS).
  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = tostring(var.admin_port)
    path                = "/readyz"
    matcher             = "200"
    interval            = local.health_check.interval
    timeout             = local.health_check.timeout
    healthy_threshold   = local.health_check.healthy_threshold
    unhealthy_threshold = local.health_check.unhealthy_threshold
  }

  # A draining staticedge fails /readyz on purpose. By default the NLB would then
  # reset every established connection to it; instead let them finish.
  target_health_state {
    enable_unhealthy_connection_termination = false
    unhealthy_draining_interval             = local.proxy_stop_seconds
  }

  tags = merge(local.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    create_before_destroy = true

    # "send" only after "accept" is in service: the fleet's current launch template
    # (read before this apply changes it) must already carry a stage that accepts.
    precondition {
      condition     = var.proxy_protocol != "send" || length(regexall("STATICEDGE_PROXY_PROTOCOL_STAGE=(accept|send)\n", try(base64decode(data.aws_launch_template.deployed[0].user_data), ""))) > 0
      error_message = "proxy_protocol = \"send\" makes the NLB send PROXY headers at once, but the launch template in service does not have stage \"accept\" (or \"send\"): its instances would refuse every connection. Apply proxy_protocol = \"accept\" first, wait for its instance refresh to finish, then \"send\"."
    }

    # SIGTERM first, the NLB only learns of the drain from this health check: until it
    # has marked the target unhealthy it keeps sending new flows, which a proxy past
    # its grace period refuses.
    precondition {
      condition     = var.grace_period_seconds >= local.min_grace_period_seconds
      error_message = "grace_period_seconds (and the proxy's [server] grace_period) must be at least the health check's interval x unhealthy_threshold + interval (${local.min_grace_period_seconds} s): until the NLB has seen the 503 it sends new flows, and a proxy past its grace period refuses them."
    }

    precondition {
      condition     = local.drain_deadline + local.drain_margin_seconds <= 3600
      error_message = "max(late_flow_seconds, grace_period_seconds) + drain_timeout_seconds + 30 s must fit in the NLB's 3600 s deregistration delay limit, or the NLB resets connections the proxy is still draining. Shorten drain_timeout."
    }
  }
}

# The launch template the fleet runs before this apply (its arguments depend on no
# resource, so Terraform reads it at plan time). Only read when asking for "send".
data "aws_launch_template" "deployed" {
  count = var.proxy_protocol == "send" ? 1 : 0

  filter {
    name   = "tag:Fleet"
    values = [var.name]
  }
  filter {
    name   = "tag:Application"
    values = ["staticedge"]
  }
}

resource "aws_lb_listener" "this" {
  for_each = local.listeners

  load_balancer_arn = aws_lb.this.arn
  port              = each.value
  protocol          = "TCP"
  # TLS passes through untouched: the certificates live on the instances.
  tcp_idle_timeout_seconds = var.tcp_idle_timeout_seconds

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }

  tags = local.tags
}

# --- Security groups ---------------------------------------------------------------

resource "aws_security_group" "nlb" {
  name_prefix = "${var.name}-nlb-"
  description = "staticedge NLB: clients in, instances out"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-nlb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "instance" {
  name_prefix = "${var.name}-instance-"
  description = "staticedge instances: only from the NLB"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-instance" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "nlb_clients" {
  # One rule per (listener, client CIDR).
  for_each = {
    for pair in setproduct(keys(local.listeners), var.client_cidrs_ipv4) :
    "${pair[0]}-${pair[1]}" => { port = local.listeners[pair[0]], cidr = pair[1] }
  }

  security_group_id = aws_security_group.nlb.id
  description       = "clients to the static IPs"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_instances" {
  for_each = local.instance_ports

  security_group_id            = aws_security_group.nlb.id
  description                  = "NLB to instances (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.instance.id
  tags                         = local.tags
}

# With client IP preservation the packets carry the client's address, yet a rule
# referencing the NLB's security group still admits them (the NLB's group is
# evaluated, not the source IP). This is the only way in: no SSH, SSM instead.
resource "aws_vpc_security_group_ingress_rule" "instance_from_nlb" {
  for_each = local.instance_ports

  security_group_id            = aws_security_group.instance.id
  description                  = "from the NLB (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.nlb.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "instance_out" {
  for_each = toset([for p in var.upstream_egress_ports : tostring(p)])

  security_group_id = aws_security_group.instance.id
  description       = "upstreams and AWS APIs (tcp ${each.key})"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}
