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

# The release: a URL the instance fetches, or a tarball on this machine that Ansible uploads
# (the pipeline's github-release download); with its sha256, or the sha1 Concourse publishes
# beside each release (<tarball>.sha1). The role verifies with sha256 when both are given and
# refuses a mismatch, or a release with neither.
variable "concourse_tarball_url" {
  type        = string
  default     = ""
  description = "Release tarball, fetched by the instance being built (for qemu: http://10.0.2.2:PORT/... is the host)."
}

variable "concourse_tarball" {
  type        = string
  default     = ""
  description = "Release tarball on this machine, uploaded to the instance by Ansible (instead of concourse_tarball_url)."
}

variable "concourse_tarball_sha256" {
  type        = string
  default     = ""
  description = "sha256 of the tarball; the Ansible role refuses a mismatch."
}

variable "concourse_tarball_sha1" {
  type        = string
  default     = ""
  description = "sha1 of the tarball, as the release publishes it; used when concourse_tarball_sha256 is empty."
}

variable "git_sha" {
  type    = string
  default = "unknown"
}

variable "playbook_commit" {
  type        = string
  default     = "unknown"
  description = "The last commit that changed ansible/ or packer/ (promote build passes it): tag promote:playbook-commit."
}

variable "source_ami" {
  type        = string
  default     = ""
  description = "Build from exactly this base image (it must still match the owner and name filter); empty: the newest match."
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

variable "security_group_ids" {
  type        = list(string)
  default     = []
  description = "Security groups of the build instance (SSH from here must reach it); empty: Packer makes a temporary one."
}

variable "iam_instance_profile" {
  type        = string
  default     = ""
  description = "Instance profile of the build instance (e.g. SSM, or an S3 mirror of the release); empty: none."
}

variable "ssh_interface" {
  type        = string
  default     = ""
  description = "How Packer reaches the instance: public_ip, private_ip (a private subnet), ...; empty: Packer's default."
}

variable "ami_users" {
  type        = list(string)
  default     = []
  description = "Accounts given launch permission on the image (the environments' accounts)."
}

variable "snapshot_users" {
  type        = list(string)
  default     = []
  description = "Accounts given createVolumePermission on its snapshots (empty: none beyond the owner)."
}

# A build instance without direct internet: the proxy the playbook's downloads and package
# installs use (the environment of every task on the instance); empty: none.
variable "http_proxy" {
  type    = string
  default = ""
}

variable "https_proxy" {
  type    = string
  default = ""
}

variable "no_proxy" {
  type    = string
  default = "169.254.169.254,localhost,127.0.0.1"
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
