terraform {
  # Validations that compare variables need 1.9; tests/ (mock_provider
  # override_during) need 1.11.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The same range as the fleet module, so one root module can use both.
      version = ">= 5.75, < 7.0"
    }
  }
}
