# The local VM chain: Ansible roles, Packer templates, the debootstrap + qemu VM image and the
# testinfra suites. Included by the top-level Makefile (`include mk/vm.mk`).
#
#   make vm-deps          apt-get install packer, qemu, debootstrap when missing; venv with
#                         ansible-core, ansible-lint, pytest-testinfra, mitogen
#   make ansible-lint     ansible-lint --profile production on ansible/
#   make packer-validate  packer validate (Debian's 1.6.6) on every template in packer/
#   make vm-image         build or reuse the VM image (cached under .cache/vm, keyed by inputs)
#   make vm-test          vm-image, then boot it per role (worker, web) and the bare base (the
#                         wrong-checksum refusal), three VMs at once, and run tests/infra over
#                         SSH; VM_TEST_PARALLEL=N VMs at a time, VM_TEST_RERUN_PLAYBOOK=1 re-runs
#                         the playbook on the worker instead of checking the build's no-change
#                         record (scripts/vm/ansible-converges)
#   make bench-vm         time the chain cold (base and image deleted) and cached
#                         -> benchmarks/results/image.json (make bench adds the figures)
#   make vm-clean         drop the VM cache (keeps the venv)
#   make packer-build-sandbox PACKER_VARS='-var endpoint=http://127.0.0.1:PORT -var manifest_path=...'
#                         amazon-ebs against the local AWS endpoint (no instance, no provisioner)
#   make packer-build-aws PACKER_VARS='-var concourse_tarball_url=... -var concourse_tarball_sha256=...'
#                         amazon-ebs on real AWS, provisioned by the Ansible roles

VM_VENV      ?= .cache/vm-venv
VM_CACHE_DIR ?= .cache/vm
VM_SSH_KEY   ?= $(VM_CACHE_DIR)/ssh/id_ed25519
VM_APT_PACKAGES ?= packer qemu-system-x86 qemu-utils debootstrap openssh-client e2fsprogs
VM_BENCH_OUT ?= benchmarks/results/image.json
VM_ENV = PATH="$(CURDIR)/$(VM_VENV)/bin:$$PATH" VM_VENV=$(VM_VENV) VM_CACHE_DIR=$(VM_CACHE_DIR) \
         VM_SSH_KEY=$(VM_SSH_KEY) CHECKPOINT_DISABLE=1

PACKER_VARS ?=

.PHONY: vm-deps vm-apt-deps ansible-lint packer-validate vm-image vm-test bench-vm vm-clean \
        packer-build-sandbox packer-build-aws

vm-apt-deps:
	@missing=""; \
	for tool in packer:packer qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
	            debootstrap:debootstrap ssh:openssh-client mkfs.ext4:e2fsprogs; do \
	  command -v $${tool%%:*} >/dev/null 2>&1 || PATH="$$PATH:/usr/sbin:/sbin" command -v $${tool%%:*} >/dev/null 2>&1 \
	    || missing="$$missing $${tool#*:}"; \
	done; \
	python3 -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "vm-deps: apt-get install$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VM_VENV)/.installed: scripts/vm/requirements.txt
	python3 -m venv $(VM_VENV)
	$(VM_VENV)/bin/pip install -q --disable-pip-version-check -r scripts/vm/requirements.txt
	touch $@

$(VM_SSH_KEY):
	mkdir -p $(dir $@)
	ssh-keygen -q -t ed25519 -N '' -C promote-vm-test -f $@

vm-deps: vm-apt-deps $(VM_VENV)/.installed $(VM_SSH_KEY)  ## apt-get packer, qemu, debootstrap when missing; the VM venv; the SSH key

ansible-lint: $(VM_VENV)/.installed  ## ansible-lint --profile production on ansible/ (part of make test)
	cd ansible && PATH="$(CURDIR)/$(VM_VENV)/bin:$$PATH" ansible-lint --profile production

# Runs from the repository root: the templates' default paths are relative to it.
packer-validate: vm-deps  ## packer validate and fmt -check on every template (part of make test)
	$(VM_ENV) packer validate -var vm_ssh_private_key_file=$(VM_SSH_KEY) packer/
	$(VM_ENV) packer validate -only=amazon-ebs.sandbox -var endpoint=http://127.0.0.1:5000 packer/
	$(VM_ENV) packer fmt -check packer/

vm-image: vm-deps  ## build or reuse the VM image (cached under VM_CACHE_DIR, keyed by inputs)
	$(VM_ENV) scripts/vm/image.sh

vm-test: vm-deps  ## boot the VM image per role and run tests/infra over SSH (part of make test)
	$(VM_ENV) scripts/vm/vm-test.sh

bench-vm: vm-deps  ## time the VM chain cold and cached -> benchmarks/results/image.json
	$(VM_ENV) scripts/vm/bench.sh $(VM_BENCH_OUT)

vm-clean:  ## drop the VM cache (keeps the venv)
	rm -rf $(VM_CACHE_DIR)/base-* $(VM_CACHE_DIR)/image-* $(VM_CACHE_DIR)/run $(VM_CACHE_DIR)/fixture

# The manifest (default packer/manifest.json, or -var manifest_path=...) holds the AMI as
# builds[-1].artifact_id = "<region>:<ami-id>". AWS credentials come from the environment
# (any non-empty pair for the sandbox).
packer-build-sandbox: vm-deps  ## amazon-ebs against the local AWS: PACKER_VARS='-var endpoint=...'
	$(VM_ENV) packer build -color=false -only=amazon-ebs.sandbox $(PACKER_VARS) packer/

packer-build-aws: vm-deps  ## amazon-ebs on real AWS, provisioned by the Ansible roles
	$(VM_ENV) packer build -color=false -only=amazon-ebs.aws $(PACKER_VARS) packer/
