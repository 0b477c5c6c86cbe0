terraform {
  # tests/ need 1.11 (mock_provider override_during); applying needs 1.5.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.75, < 7.0"
    }
  }

  # Keep state remote and locked for anything real, e.g.:
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "staticedge/prod.tfstate"
  #   region       = "us-east-1"
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { ManagedBy = "terraform", Stack = var.name }
  }
}
