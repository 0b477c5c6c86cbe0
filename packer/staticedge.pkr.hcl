# Bakes staticedge into an AMI: a Debian 12 or Amazon Linux 2023 base, the prebuilt
# release binary, and packer/files/install.sh, which lays down the systemd units, the
# `staticedge` user, /etc/staticedge, logrotate and the boot-time config fetcher.
#
# Written for Packer's HCL2 as far back as Debian's packer 1.6.6 (the version the
# offline checks run), so it avoids what 1.6.6 rejects: `packer { required_plugins }`,
# `data "amazon-ami"`, `imds_support`, `metadata_options`. Current Packer (>= 1.10)
# needs the Amazon plugin declared: see plugins.pkr.hcl.modern and docs/deploy.md.
#
# Reproducible: the base image is named by its dated AMI name (recorded with its id in
# the AMI's tags and in packer/manifest.json), the binary is refused unless its SHA-256
# is the one given, the Debian agents are pinned by version and SHA-256, and the binary
# is smoke-tested on the build instance before the image is made.
#
#   packer build -var staticedge_binary=target/release/staticedge \
#                -var staticedge_sha256="$(sha256sum target/release/staticedge | cut -d' ' -f1)" \
#                -var version="$(target/release/staticedge --version | cut -d' ' -f2)" \
#                -var source_ami_name=debian-12-amd64-20250814-2204 \
#                -var-file packer/agents.pkrvars.hcl packer/

variable "staticedge_binary" {
  type        = string
  description = "Path of the prebuilt Linux release binary (cargo build --release -p staticedge), for the same architecture as var.arch."
}

variable "staticedge_sha256" {
  type        = string
  description = "SHA-256 of staticedge_binary (sha256sum output, lowercase hex). install.sh refuses a binary that does not match, so the image holds exactly the binary that was tested."
  validation {
    # Packer 1.6.6 has no regex() here; install.sh compares the exact digest anyway.
    condition     = length(var.staticedge_sha256) == 64 && lower(var.staticedge_sha256) == var.staticedge_sha256 && length(split(" ", var.staticedge_sha256)) == 1
    error_message = "The staticedge_sha256 must be 64 lowercase hex digits."
  }
}

variable "source_ami_name" {
  type        = string
  description = "Exact, dated name of the base AMI, e.g. debian-12-amd64-20250814-2204 or al2023-ami-2023.8.20250818.0-kernel-6.1-x86_64. No wildcards: the same template must bake the same base until this is changed on purpose."
  validation {
    condition     = length(var.source_ami_name) > 0 && length(split("*", var.source_ami_name)) == 1 && length(split("?", var.source_ami_name)) == 1
    error_message = "The source_ami_name must be one exact AMI name (no wildcards)."
  }
}

variable "ssm_agent_version" {
  type        = string
  default     = ""
  description = "Debian only: version of amazon-ssm-agent to download (AWS publishes no Debian package repository). Required with base_os = debian-12; see agents.pkrvars.hcl."
}

variable "ssm_agent_sha256" {
  type        = string
  default     = ""
  description = "Debian only: SHA-256 of that amazon-ssm-agent .deb for var.arch; the bake stops if the download differs."
}

variable "cloudwatch_agent_version" {
  type        = string
  default     = ""
  description = "Debian only: version of amazon-cloudwatch-agent to download."
}

variable "cloudwatch_agent_sha256" {
  type        = string
  default     = ""
  description = "Debian only: SHA-256 of that amazon-cloudwatch-agent .deb for var.arch."
}

variable "keep_sshd" {
  type        = bool
  default     = false
  description = "Leave sshd enabled in the image. Off by default: Session Manager is the access path and the security groups admit no SSH."
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
  description = "staticedge version recorded in the AMI name and tags: the second word of `staticedge --version`."
  validation {
    condition     = length(split(".", var.version)) >= 3 && length(split(" ", var.version)) == 1
    error_message = "The version must be a release version such as 1.4.0 (what `staticedge --version` prints)."
  }
}

variable "root_volume_size" {
  type        = number
  default     = 8
  description = "Root volume size of the AMI in GiB (the launch template may make it larger, not smaller)."
}

locals {
  # Where each supported base image comes from. Debian publishes its official AMIs from
  # account 136693071363; Amazon Linux from the "amazon" alias. Use AL2023's standard
  # images, not "minimal" ones, which lack the AWS CLI and the SSM agent.
  bases = {
    "debian-12" = {
      owners       = ["136693071363"]
      ssh_username = "admin"
    }
    "al2023" = {
      owners       = ["amazon"]
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

  # One exact, dated name from the distribution's own account: the filter matches one
  # image (most_recent only breaks a tie the owner would never create). Its id and
  # name are recorded in the AMI's tags and in the manifest.
  source_ami_filter {
    filters = {
      name                = var.source_ami_name
      architecture        = var.arch
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = local.base.owners
    most_recent = true
  }

  # Packer's temporary key leaves the image (clean-image.sh empties the file too).
  ssh_clear_authorized_keys = true

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
    SHA256      = var.staticedge_sha256
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

  # install.sh checks the SHA-256, installs the OS packages (agents pinned and
  # verified), lays down the units and smoke-tests the binary on this instance.
  provisioner "shell" {
    environment_vars = [
      "SSM_AGENT_VERSION=${var.ssm_agent_version}",
      "SSM_AGENT_SHA256=${var.ssm_agent_sha256}",
      "CLOUDWATCH_AGENT_VERSION=${var.cloudwatch_agent_version}",
      "CLOUDWATCH_AGENT_SHA256=${var.cloudwatch_agent_sha256}",
    ]
    inline = [
      "sudo -E bash ${local.stage}/install.sh --binary ${local.stage}/staticedge --sha256 ${var.staticedge_sha256} --config ${local.stage}/staticedge.example.toml --os-packages /",
    ]
  }

  # Last: nothing of the build instance stays in the image.
  provisioner "shell" {
    inline = [
      "sudo bash ${local.stage}/clean-image.sh ${var.keep_sshd ? "--keep-sshd " : ""}${local.base.ssh_username}",
      "sudo rm -rf ${local.stage}",
    ]
  }

  # packer/manifest.json (git-ignored): the AMI per region with what went into it.
  post-processor "manifest" {
    output     = "${path.root}/manifest.json"
    strip_path = true
    custom_data = {
      version           = var.version
      staticedge_sha256 = var.staticedge_sha256
      base_os           = var.base_os
      source_ami_name   = var.source_ami_name
      arch              = var.arch
      ssm_agent         = var.ssm_agent_version
      cloudwatch_agent  = var.cloudwatch_agent_version
    }
  }
}
