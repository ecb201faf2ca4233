# Bakes the Governor machine image (docs: README, "Running a fleet on AWS").
#
#   npm run bundle
#   packer init ami/
#   packer build -var region=eu-west-1 -var fleet=edge \
#     -var bundle=governor-0.1.0.tgz -var governor_version=0.1.0 -var node_sha256=<sha256 of the Node tarball> ami/
#
# The image: a current Debian 12 (or Amazon Linux 2023) with Node.js LTS from the official
# tarball (checksum pinned), the bundle in /opt/governor, the hardened governor.service enabled,
# no SSH server, and IMDSv2 required. Instances launched from it must also ask for IMDSv2 with
# hop limit 1 (the IAM policy in ami/iam-policy.json refuses any other launch).

packer {
  required_version = ">= 1.10.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

variable "region" {
  type        = string
  description = "AWS region to bake in (the image is regional)."
}

variable "fleet" {
  type        = string
  description = "Fleet the image is for: tagged governor:fleet, which the IAM policy requires of every image a governor launches."
  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", var.fleet))
    error_message = "The fleet must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "bundle" {
  type        = string
  description = "Path of the tarball made by `npm run bundle` (governor-<version>.tgz)."
}

variable "governor_version" {
  type        = string
  default     = "0.1.0"
  description = "Governor version in the bundle (for the image name and tags)."
}

variable "base_os" {
  type        = string
  default     = "debian-12"
  description = "Base image: debian-12 or al2023."
  validation {
    condition     = contains(["debian-12", "al2023"], var.base_os)
    error_message = "The base_os must be debian-12 or al2023."
  }
}

variable "arch" {
  type        = string
  default     = "x86_64"
  description = "CPU architecture: x86_64 or arm64 (Graviton)."
  validation {
    condition     = contains(["x86_64", "arm64"], var.arch)
    error_message = "The arch must be x86_64 or arm64."
  }
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Build instance type (use an arm64 type such as t4g.small with arch = arm64)."
}

variable "node_version" {
  type        = string
  default     = "22.12.0"
  description = "Node.js LTS version (20 or newer) installed from the official tarball."
}

variable "node_sha256" {
  type        = string
  description = "SHA-256 of node-v<node_version>-linux-<x64|arm64>.tar.xz, from https://nodejs.org/dist/v<node_version>/SHASUMS256.txt."
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.node_sha256))
    error_message = "The node_sha256 must be 64 lowercase hex digits."
  }
}

variable "subnet_id" {
  type        = string
  default     = null
  description = "Subnet of the build instance (default: the default VPC)."
}

locals {
  bases = {
    "debian-12" = { name = "debian-12-${var.arch == "arm64" ? "arm64" : "amd64"}-*", owner = "136693071363", user = "admin" }
    "al2023"    = { name = "al2023-ami-2023.*-${var.arch}", owner = "137112412989", user = "ec2-user" }
  }
  base      = local.bases[var.base_os]
  node_arch = var.arch == "arm64" ? "arm64" : "x64"
  stamp     = formatdate("YYYYMMDDhhmmss", timestamp())
  tags = {
    "Name"             = "governor-${var.fleet}-${var.governor_version}"
    "governor:fleet"   = var.fleet
    "governor:version" = var.governor_version
    "governor:base"    = var.base_os
  }
}

source "amazon-ebs" "governor" {
  region          = var.region
  instance_type   = var.instance_type
  subnet_id       = var.subnet_id
  ami_name        = "governor-${var.fleet}-${var.governor_version}-${var.arch}-${local.stamp}"
  ami_description = "Governor ${var.governor_version} for fleet ${var.fleet} on ${var.base_os} (${var.arch})"

  source_ami_filter {
    filters = {
      name                = local.base.name
      architecture        = var.arch
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = [local.base.owner]
    most_recent = true
  }

  # The build instance: IMDSv2 only, not reachable from other hops (containers, proxies).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }
  # Instances launched from the image default to IMDSv2 as well.
  imds_support = "v2.0"

  ssh_username                              = local.base.user
  temporary_security_group_source_public_ip = true
  encrypt_boot                              = true

  tags          = local.tags
  snapshot_tags = local.tags
  run_tags      = merge(local.tags, { "Name" = "governor-bake-${var.fleet}" })
}

build {
  sources = ["source.amazon-ebs.governor"]

  provisioner "file" {
    source      = var.bundle
    destination = "/tmp/governor.tgz"
  }

  provisioner "file" {
    source      = "${path.root}/governor.service"
    destination = "/tmp/governor.service"
  }

  provisioner "shell" {
    script            = "${path.root}/provision.sh"
    execute_command   = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
    environment_vars  = ["NODE_VERSION=${var.node_version}", "NODE_SHA256=${var.node_sha256}", "NODE_ARCH=${local.node_arch}"]
    expect_disconnect = true
  }

  post-processor "manifest" {
    output     = "packer-manifest.json"
    strip_path = true
  }
}
