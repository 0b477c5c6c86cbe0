# --- Scaling: target tracking on the group's average CPU ---------------------------------
# Scale-out launches through the launch gate (Pending:Wait until /readyz is 200) and
# counts an instance's CPU after the warm-up (local.instance_warmup). Scale-in goes the
# way every termination goes: the group deregisters the target (the NLB keeps its
# connections for the deregistration delay), the termination hook holds the instance
# in Terminating:Wait while lifecycle-watch drains the proxy, and only then terminates
# it. Nothing here may bypass that: no scale-in protection, no warm pool, no second
# target group attachment outside the group.

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value     = var.cpu_target_percent
    disable_scale_in = false
  }
}
