# Bakes staticedge into an AMI: a Debian 12 or Amazon Linux 2023 base, the prebuilt
# release binary, and packer/files/install.sh, which lays down the systemd units, the
# `staticedge` user, /etc/staticedge, logrotate and the boot-time config fetcher.
#
# Written for Packer's HCL2 as far back as Debian's packer 1.6.6 (the version the
# offline checks run), so it avoids what 1.6.6 rejects: `packer { required_plugins }`,
# `data "amazon-ami"`, `imds_support`, `metadata_options`. Current Packer (>= 1.10)
# needs the Amazon plugin declared: see plugins.pkr.hcl.modern and docs/deploy.md.
#
#   packer build -var staticedge_binary=target/release/staticedge \
#                -var base_os=debian-12 -var region=us-east-1 packer/

variable "staticedge_binary" {
  type        = string
  description = "Path of the prebuilt Linux release binary (cargo build --release -p staticedge), for the same architecture as var.arch."
}

variable "example_config" {
  type        = string
  default     = ""
  description = "Path of the example configuration baked as /etc/staticedge/staticedge.toml; empty means config/staticedge.example.toml of this repository. The boot script replaces it with the fleet's real config from SSM."
}

variable "base_os" {
  type        = string
  default     = "debian-12"
  description = "Base image family: \"debian-12\" or \"al2023\"."
  validation {
    condition     = contains(["debian-12", "al2023"], var.base_os)
    error_message = "The base_os must be \"debian-12\" or \"al2023\"."
  }
}

variable "arch" {
  type        = string
  default     = "x86_64"
  description = "CPU architecture of the AMI: \"x86_64\" or \"arm64\"; must match the binary."
  validation {
    condition     = contains(["x86_64", "arm64"], var.arch)
    error_message = "The arch must be \"x86_64\" or \"arm64\"."
  }
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region the AMI is built in (copy it elsewhere with ami_regions)."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Extra regions to copy the finished AMI to."
}

variable "instance_type" {
  type        = string
  default     = ""
  description = "Build instance type; empty picks t3.small (x86_64) or t4g.small (arm64)."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet for the build instance; empty uses the default VPC. It needs outbound HTTPS for OS packages."
}

variable "ami_name_prefix" {
  type        = string
  default     = "staticedge"
  description = "AMI names are <prefix>-<version>-<base_os>-<arch>-<timestamp>."
}

variable "version" {
  type        = string
  default     = "dev"
  description = "staticedge version recorded in the AMI name and tags (e.g. the output of `staticedge --version`)."
}

variable "root_volume_size" {
  type        = number
  default     = 8
  description = "Root volume size of the AMI in GiB (the launch template may make it larger, not smaller)."
}

locals {
  # Where each supported base image comes from. Debian publishes its official AMIs from
  # account 136693071363; Amazon Linux from the "amazon" alias. The AL2023 pattern
  # skips the "minimal" images, which lack the AWS CLI and the SSM agent.
  bases = {
    "debian-12" = {
      owners       = ["136693071363"]
      name         = "debian-12-${var.arch == "arm64" ? "arm64" : "amd64"}-*"
      ssh_username = "admin"
    }
    "al2023" = {
      owners       = ["amazon"]
      name         = "al2023-ami-2023.*-${var.arch}"
      ssh_username = "ec2-user"
    }
  }
  base = local.bases[var.base_os]

  timestamp      = formatdate("YYYYMMDDhhmmss", timestamp())
  config_path    = var.example_config != "" ? var.example_config : "${path.root}/../config/staticedge.example.toml"
  build_instance = var.instance_type != "" ? var.instance_type : (var.arch == "arm64" ? "t4g.small" : "t3.small")
  # Everything is uploaded here first (the SSH user cannot write to / directly), then
  # install.sh, run with sudo, puts it in place.
  stage = "/tmp/staticedge-bake"
}

source "amazon-ebs" "staticedge" {
  region        = var.region
  ami_regions   = var.ami_regions
  instance_type = local.build_instance
  subnet_id     = var.subnet_id
  ssh_username  = local.base.ssh_username

  source_ami_filter {
    filters = {
      name                = local.base.name
      architecture        = var.arch
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = local.base.owners
    most_recent = true
  }

  ami_name        = "${var.ami_name_prefix}-${var.version}-${var.base_os}-${var.arch}-${local.timestamp}"
  ami_description = "staticedge ${var.version} on ${var.base_os} (${var.arch})"
  ena_support     = true
  encrypt_boot    = true

  # Both base images boot from /dev/xvda. gp3 needs explicit iops/throughput in
  # Packer 1.6.x (packer#10420).
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.root_volume_size
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  tags = {
    Name        = "staticedge-${var.version}"
    Application = "staticedge"
    Version     = var.version
    BaseOS      = var.base_os
    BaseAMI     = "{{ .SourceAMI }}"
    BaseAMIName = "{{ .SourceAMIName }}"
  }
  run_tags = {
    Name = "packer-staticedge-${var.version}"
  }
}

build {
  sources = ["source.amazon-ebs.staticedge"]

  provisioner "shell" {
    inline = ["mkdir -p ${local.stage}"]
  }

  provisioner "file" {
    source      = var.staticedge_binary
    destination = "${local.stage}/staticedge"
  }

  provisioner "file" {
    source      = local.config_path
    destination = "${local.stage}/staticedge.example.toml"
  }

  # The trailing slash uploads the directory's contents, not the directory itself.
  provisioner "file" {
    source      = "${path.root}/files/"
    destination = local.stage
  }

  provisioner "shell" {
    inline = [
      "sudo bash ${local.stage}/install.sh --binary ${local.stage}/staticedge --config ${local.stage}/staticedge.example.toml --os-packages /",
      "rm -rf ${local.stage}",
    ]
  }
}
