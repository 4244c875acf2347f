# packer build -only=amazon-ebs.aws      packer/   real AWS (needs credentials)
# packer build -only=amazon-ebs.sandbox  packer/   the local AWS endpoint (var endpoint)
# packer build -only=qemu.local          packer/   the local VM image (see mk/vm.mk)

build {
  sources = ["source.amazon-ebs.aws", "source.qemu.local"]

  provisioner "ansible" {
    playbook_file    = "${path.root}/../ansible/concourse.yml"
    user             = "${build.User}"
    use_proxy        = false
    ansible_env_vars = ["ANSIBLE_CONFIG=${path.root}/../ansible/ansible.cfg"]
    extra_arguments = concat(
      ["--extra-vars", jsonencode(local.release_vars)],
      source.name == "local" ? ["--extra-vars", jsonencode(local.local_vm_vars)] : [],
      var.ansible_extra_arguments,
    )
  }

  # The local image proves the roles converge: the same playbook runs a second time and any
  # change fails the build (scripts/vm/ansible-converges; its record goes into the image
  # directory for tests/infra/test_playbook.py).
  provisioner "ansible" {
    only             = ["qemu.local"]
    command          = "${path.root}/../scripts/vm/ansible-converges"
    playbook_file    = "${path.root}/../ansible/concourse.yml"
    user             = "${build.User}"
    use_proxy        = false
    ansible_env_vars = ["ANSIBLE_CONFIG=${path.root}/../ansible/ansible.cfg"]
    extra_arguments = concat(
      ["--extra-vars", jsonencode(local.release_vars)],
      ["--extra-vars", jsonencode(local.local_vm_vars)],
      var.ansible_extra_arguments,
    )
  }

  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
    custom_data = {
      ami_name          = local.ami_name
      concourse_version = var.concourse_version
      git_sha           = var.git_sha
    }
  }
}

build {
  sources = ["source.amazon-ebs.sandbox"]

  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
    custom_data = {
      ami_name          = local.ami_name
      concourse_version = var.concourse_version
      git_sha           = var.git_sha
    }
  }
}
