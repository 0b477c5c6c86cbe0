# Optional: publish the static IPs under one name, one A record per IP with its own
# health check, so resolvers stop getting the IP of an Availability Zone that fails.

resource "aws_route53_health_check" "ip" {
  for_each = local.route53_enabled ? var.public_subnets : {}

  type              = "TCP"
  ip_address        = local.public_ips[each.key]
  port              = var.tls_port
  request_interval  = 30
  failure_threshold = 3
  tags              = merge(local.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_route53_record" "ip" {
  #checkov:skip=CKV2_AWS_23:Each record is one of the NLB's Elastic IPs (aws_eip.this or a given allocation id), read through local.public_ips.
  for_each = local.route53_enabled ? var.public_subnets : {}

  zone_id         = var.route53_zone_id
  name            = var.route53_record_name
  type            = "A"
  ttl             = var.route53_ttl
  records         = [local.public_ips[each.key]]
  set_identifier  = each.key
  health_check_id = aws_route53_health_check.ip[each.key].id

  multivalue_answer_routing_policy = true

  lifecycle {
    precondition {
      condition     = var.route53_record_name != null
      error_message = "Set route53_record_name together with route53_zone_id."
    }
  }
}
