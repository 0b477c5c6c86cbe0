# Optional: publish the static IPs under one name, one A record per IP with its own
# health check, so resolvers stop getting the IP of an Availability Zone that fails.

resource "aws_route53_health_check" "ip" {
  for_each = local.route53_enabled ? aws_eip.this : {}

  type              = "TCP"
  ip_address        = each.value.public_ip
  port              = var.tls_port
  request_interval  = 30
  failure_threshold = 3
  tags              = merge(local.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_route53_record" "ip" {
  for_each = local.route53_enabled ? aws_eip.this : {}

  zone_id         = var.route53_zone_id
  name            = var.route53_record_name
  type            = "A"
  ttl             = var.route53_ttl
  records         = [each.value.public_ip]
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
