locals {
  # One format for every image name: the tested copy's (promote publish) is the same.
  timestamp = formatdate("YYYYMMDD'T'hhmmssZ", timestamp())
  ami_name  = "${var.untested_name}-${local.timestamp}"

  # Ancestry: what the image was built from, so `promote build --if-stale` can tell whether a
  # rebuild would change anything. The amazon-ebs builder fills {{ .SourceAMI }} and
  # {{ .SourceAMIName }} with the base image it resolved; a digest is tagged only when given.
  image_tags = merge(
    {
      Name                      = local.ami_name
      "promote:stage"           = "untested"
      "concourse:version"       = var.concourse_version
      "git:sha"                 = var.git_sha
      "promote:source-ami"      = "{{ .SourceAMI }}"
      "promote:source-ami-name" = "{{ .SourceAMIName }}"
      "promote:playbook-commit" = var.playbook_commit
    },
    {
      for key, digest in {
        "promote:concourse-sha256" = var.concourse_tarball_sha256
        "promote:concourse-sha1"   = var.concourse_tarball_sha1
      } : key => digest if digest != ""
    },
  )

  release_vars = {
    concourse_version        = var.concourse_version
    concourse_tarball_url    = var.concourse_tarball_url
    concourse_tarball_file   = var.concourse_tarball == "" ? "" : abspath(var.concourse_tarball)
    concourse_tarball_sha256 = var.concourse_tarball_sha256
    concourse_tarball_sha1   = var.concourse_tarball_sha1
    build_environment = var.http_proxy == "" && var.https_proxy == "" ? {} : {
      http_proxy  = var.http_proxy
      HTTP_PROXY  = var.http_proxy
      https_proxy = var.https_proxy
      HTTPS_PROXY = var.https_proxy
      no_proxy    = var.no_proxy
      NO_PROXY    = var.no_proxy
    }
  }

  # The base image: the newest match of the owner and name filter, or exactly var.source_ami
  # (which must still match them).
  aws_source_filters = {
    for key, value in {
      name                  = var.source_ami_name
      "image-id"            = var.source_ami
      architecture          = "x86_64"
      "root-device-type"    = "ebs"
      "virtualization-type" = "hvm"
    } : key => value if value != ""
  }
  sandbox_source_filters = {
    for key, value in {
      name       = var.sandbox_source_ami_name
      "image-id" = var.source_ami
    } : key => value if value != ""
  }

  # The local VM has no instance metadata service. It must not reach the host's through
  # qemu's user-mode NAT either, so its health check asks a closed local port. Its web node
  # generates a 2048-bit session key: 4096 bits takes minutes under TCG emulation. The infra
  # tests read the same file for their own playbook runs.
  local_vm_vars = jsondecode(file(abspath("${path.root}/local-vm-ansible-vars.json")))
}

# Real AWS: Amazon Linux 2023, provisioned by the Ansible roles over SSH.
source "amazon-ebs" "aws" {
  region               = var.aws_region
  instance_type        = var.instance_type
  subnet_id            = var.subnet_id
  security_group_ids   = var.security_group_ids
  iam_instance_profile = var.iam_instance_profile
  ssh_interface        = var.ssh_interface
  ami_name             = local.ami_name
  ami_description      = "Concourse ${var.concourse_version} (web + worker), untested, git ${var.git_sha}"
  ami_users            = var.ami_users
  snapshot_users       = var.snapshot_users

  source_ami_filter {
    filters     = local.aws_source_filters
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  ssh_username  = var.ssh_username
  ssh_timeout   = "10m"
  tags          = local.image_tags
  snapshot_tags = local.image_tags
  run_tags      = { Name = "packer-build ${local.ami_name}" }
}

# The local AWS endpoint (moto server): exercises the image pipeline (filter, register, tag,
# manifest) without an instance to provision, hence no communicator and no provisioner.
source "amazon-ebs" "sandbox" {
  region                     = var.aws_region
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  communicator               = "none"
  instance_type              = var.sandbox_instance_type
  ami_name                   = local.ami_name
  ami_description            = "Concourse ${var.concourse_version} (sandbox), untested, git ${var.git_sha}"

  source_ami_filter {
    filters     = local.sandbox_source_filters
    owners      = [var.sandbox_source_ami_owner]
    most_recent = true
  }

  ami_users     = var.ami_users
  tags          = local.image_tags
  snapshot_tags = local.image_tags
}

# The local VM: the debootstrap base booted under qemu (TCG), provisioned by the same roles.
source "qemu" "local" {
  disk_image       = true
  iso_url          = var.vm_base_image
  iso_checksum     = "none"
  use_backing_file = false
  skip_compaction  = true
  disk_compression = false
  output_directory = var.vm_output_dir
  vm_name          = "concourse.qcow2"
  format           = "qcow2"
  accelerator      = "tcg"
  headless         = true
  memory           = var.vm_memory
  cpus             = var.vm_cpus
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  vnc_bind_address = "127.0.0.1"
  boot_wait        = "1s"

  # Direct kernel boot (the debootstrap disk has no bootloader); SSH forwarded on loopback only.
  qemuargs = [
    ["-cpu", var.vm_cpu_model],
    ["-kernel", var.vm_kernel],
    ["-initrd", var.vm_initrd],
    ["-append", "root=/dev/vda rw console=ttyS0"],
    ["-netdev", "user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22"],
    ["-serial", "file:${var.vm_output_dir}.console.log"],
  ]

  communicator         = "ssh"
  ssh_username         = "root"
  ssh_private_key_file = var.vm_ssh_private_key_file
  ssh_timeout          = "5m"
  shutdown_command     = "systemctl poweroff"
  shutdown_timeout     = "3m"
}
