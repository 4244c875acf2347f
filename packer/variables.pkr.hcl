# Variables shared by the three sources. Accepted by Debian's packer 1.6.6 and by modern packer
# (which also reads plugins.pkr.hcl.modern once it is copied to plugins.pkr.hcl; see that file).

# --- what is built -------------------------------------------------------------------------
variable "untested_name" {
  type        = string
  default     = "untested-dw-al2-concourse-ami"
  description = "Image name prefix; the image is <untested_name>-<UTC timestamp>."
}

variable "concourse_version" {
  type    = string
  default = "7.11.2"
}

variable "concourse_tarball_url" {
  type        = string
  default     = ""
  description = "Release tarball, fetched by the instance being built (for qemu: http://10.0.2.2:PORT/... is the host)."
}

variable "concourse_tarball_sha256" {
  type        = string
  default     = ""
  description = "sha256 of the tarball; the Ansible role refuses a mismatch."
}

variable "git_sha" {
  type    = string
  default = "unknown"
}

variable "manifest_path" {
  type        = string
  default     = "packer/manifest.json"
  description = "Where the manifest post-processor writes the artifact id (ami-... or the qcow2 path)."
}

variable "ansible_extra_arguments" {
  type        = list(string)
  default     = []
  description = "Extra ansible-playbook arguments, e.g. [\"-v\"]."
}

# --- AWS (amazon-ebs.aws) ---------------------------------------------------------------------
variable "aws_region" {
  type    = string
  default = "eu-west-2"
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Empty: the default VPC's subnet."
}

variable "source_ami_owner" {
  type        = string
  default     = "137112412989"
  description = "Amazon's account for Amazon Linux 2023."
}

variable "source_ami_name" {
  type    = string
  default = "al2023-ami-2023.*-x86_64"
}

variable "ssh_username" {
  type    = string
  default = "ec2-user"
}

# --- the local AWS endpoint (amazon-ebs.sandbox) -----------------------------------------------
# The moto server must hold a base image matching sandbox_source_ami_owner and
# sandbox_source_ami_name before the build; it is seeded through MOTO_AMIS_PATH, a JSON list in
# moto's amis.json shape, e.g.
#   [{"ami_id": "ami-0a1b2c3d4e5f60718", "name": "al2023-ami-2023.6.20241010.0-kernel-6.1-x86_64",
#     "owner_id": "137112412989", "state": "available", "public": true,
#     "architecture": "x86_64", "virtualization_type": "hvm", "root_device_type": "ebs",
#     "root_device_name": "/dev/xvda", "description": "Amazon Linux 2023 AMI (sandbox seed)"}]
# Credentials are any non-empty AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (moto does not check).
variable "endpoint" {
  type        = string
  default     = "http://127.0.0.1:5000"
  description = "EC2 endpoint of the local AWS (moto server)."
}

variable "sandbox_source_ami_owner" {
  type    = string
  default = "137112412989"
}

variable "sandbox_source_ami_name" {
  type    = string
  default = "al2023-ami-2023.*-x86_64"
}

variable "sandbox_instance_type" {
  type    = string
  default = "t3.micro"
}

# --- the local VM (qemu.local) ----------------------------------------------------------------
# The base is the debootstrap disk from scripts/vm/build-base-image.sh; it has no bootloader, so
# qemu boots its kernel and initrd directly.
variable "vm_base_image" {
  type    = string
  default = ".cache/vm/base/disk.qcow2"
}

variable "vm_kernel" {
  type    = string
  default = ".cache/vm/base/vmlinuz"
}

variable "vm_initrd" {
  type    = string
  default = ".cache/vm/base/initrd.img"
}

variable "vm_output_dir" {
  type        = string
  default     = ".cache/vm/image"
  description = "Must not exist yet; Packer creates it and writes concourse.qcow2 there."
}

variable "vm_ssh_private_key_file" {
  type    = string
  default = ".cache/vm/ssh/id_ed25519"
}

variable "vm_memory" {
  type    = number
  default = 1024
}

variable "vm_cpus" {
  type    = number
  default = 2
}

variable "vm_cpu_model" {
  type        = string
  default     = "qemu64"
  description = "qemu -cpu; under TCG qemu64 boots and provisions in fewer CPU seconds than max."
}
