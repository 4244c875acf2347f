#!/usr/bin/env bash
# Build, or reuse from the cache, the local VM image: the debootstrap base disk, then Packer's
# qemu builder running the Ansible roles against it. Prints the image directory on stdout:
#   concourse.qcow2  vmlinuz  initrd.img  tarball.json (the fixture release it was built with)
#   idempotence.json (the build's second playbook run, which changed nothing; see
#                     scripts/vm/ansible-converges)
#
# Cache keys are hashes of the inputs, so editing a role, a template or the fixture rebuilds
# the image, and editing the base script rebuilds the base too. Old entries are removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source scripts/vm/lib.sh

cache=${VM_CACHE_DIR:?run through make (mk/vm.mk sets VM_CACHE_DIR)}
venv=${VM_VENV:-.cache/vm-venv}
export PATH="$PWD/$venv/bin:$PATH"
export CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR="$cache/packer_cache"
mkdir -p "$cache"

hash_inputs() {  # hash_inputs PATH... -> 16 hex digits over every file's path and content
  find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
}

ssh_key=$cache/ssh/id_ed25519
if [[ ! -f $ssh_key ]]; then
  mkdir -p "$cache/ssh"
  ssh-keygen -q -t ed25519 -N '' -C promote-vm-test -f "$ssh_key"
fi

base_key=$(hash_inputs scripts/vm/build-base-image.sh "$ssh_key.pub")
base=$cache/base-$base_key
if [[ ! -f $base/disk.qcow2 ]]; then
  started=$SECONDS
  find "$cache" -maxdepth 1 -name 'base-*' ! -name "base-$base_key" -exec rm -rf {} +
  scripts/vm/build-base-image.sh "$base" "$ssh_key.pub"
  vm_log "base image built in $((SECONDS - started))s: $base"
else
  vm_log "base image cached: $base"
fi

fixture=$cache/fixture
python3 tests/fixtures/concourse_release/build_tarball.py "$fixture" >"$cache/fixture.json"
tarball_name=$(python3 -c 'import json, os, sys; print(os.path.basename(json.load(open(sys.argv[1]))["path"]))' "$cache/fixture.json")
tarball_sha256=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["sha256"])' "$cache/fixture.json")
concourse_version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$cache/fixture.json")

image_key=$( (echo "$base_key $tarball_sha256"
  hash_inputs ansible packer scripts/vm/image.sh scripts/vm/ansible-converges \
    scripts/vm/requirements.txt tests/infra/playbook_run.py) | sha256sum | cut -c1-16)
image=$cache/image-$image_key
if [[ -f $image/concourse.qcow2 ]]; then
  vm_log "VM image cached: $image"
  echo "$image"
  exit 0
fi

started=$SECONDS
find "$cache" -maxdepth 1 -name 'image-*' ! -name "image-$image_key" -exec rm -rf {} +
rm -rf "$image.partial"

# The instance being built downloads the release itself, as on AWS; the host is 10.0.2.2 from
# inside qemu's user-mode network, and the server listens on loopback only.
http_port=$(vm_free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$fixture" "$http_port" >"$cache/http.log" 2>&1 &
http_pid=$!
trap 'kill "$http_pid" 2>/dev/null || true' EXIT

strategy_plugins=$(python3 -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__) + "/plugins/strategy")' 2>/dev/null || true)
if [[ -n $strategy_plugins && ${VM_ANSIBLE_MITOGEN:-1} == 1 ]]; then
  # Mitogen cuts the Ansible run under TCG emulation from minutes to under one.
  export ANSIBLE_STRATEGY_PLUGINS=$strategy_plugins ANSIBLE_STRATEGY=mitogen_linear
fi

# The second provisioner (ansible-converges) records its no-change run here.
PROMOTE_IDEMPOTENCE_RECORD=$(realpath -m "$cache")/idempotence.partial.json
export PROMOTE_IDEMPOTENCE_RECORD
rm -f "$PROMOTE_IDEMPOTENCE_RECORD"

vm_log "building the VM image with packer (qemu.local, TCG): $image"
timeout "${VM_BUILD_TIMEOUT:-1200}" packer build -color=false -only=qemu.local \
  -var "vm_base_image=$base/disk.qcow2" \
  -var "vm_kernel=$base/vmlinuz" \
  -var "vm_initrd=$base/initrd.img" \
  -var "vm_output_dir=$image.partial" \
  -var "vm_ssh_private_key_file=$ssh_key" \
  -var "concourse_version=$concourse_version" \
  -var "concourse_tarball_url=http://10.0.2.2:$http_port/$tarball_name" \
  -var "concourse_tarball_sha256=$tarball_sha256" \
  -var "git_sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  -var "manifest_path=$cache/manifest-local.json" \
  packer/ >&2

cp "$base/vmlinuz" "$base/initrd.img" "$image.partial/"
cp "$cache/fixture.json" "$image.partial/tarball.json"
mv "$PROMOTE_IDEMPOTENCE_RECORD" "$image.partial/idempotence.json"
echo "$base" >"$image.partial/base_dir"
mv "$image.partial" "$image"
vm_log "VM image built in $((SECONDS - started))s: $image"
echo "$image"
