terraform {
  # The module needs 1.9 (validations that compare variables); its tests/
  # (mock_provider override_during) need 1.11.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.75 has tcp_idle_timeout_seconds, target_health_state and
      # aws_vpc_security_group_*_rule as used here; 6.x is accepted as is.
      version = ">= 5.75, < 7.0"
    }
  }
}
