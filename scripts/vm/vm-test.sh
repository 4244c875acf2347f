#!/usr/bin/env bash
# make vm-test: build or reuse the VM image, boot it once per role and run the infra suites
# over SSH, then boot the bare base and check the role refuses a wrong sha256.
#
#   worker VM  (concourse.role=worker)  node + worker suites; the image build's second playbook
#                                       run changed nothing (VM_TEST_RERUN_PLAYBOOK=1: run it here)
#   web VM     (concourse.role=web)     node + web suites
#   fresh VM   (the debootstrap base)   the wrong-checksum refusal leaves nothing installed
#
# qemu runs under TCG with user-mode networking; SSH is forwarded on 127.0.0.1 only. Every VM
# this script starts is stopped on exit, also on failure or interrupt.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source scripts/vm/lib.sh

cache=${VM_CACHE_DIR:?run through make (mk/vm.mk sets VM_CACHE_DIR)}
venv=${VM_VENV:-.cache/vm-venv}
export PATH="$PWD/$venv/bin:$PATH"
run=$cache/run
results=$cache/results
mkdir -p "$run" "$results"

started=$SECONDS
image=$(scripts/vm/image.sh)
base=$(cat "$image/base_dir")
image_s=$((SECONDS - started))

vms=("$run/worker" "$run/web" "$run/fresh")
http_pid=""
cleanup() {
  local jobs; jobs=$(jobs -pr)
  # shellcheck disable=SC2086  # our own suite subshells, by pid
  [[ -z $jobs ]] || kill $jobs 2>/dev/null || true
  for state in "${vms[@]}"; do vm_stop "$state"; done
  [[ -n $http_pid ]] && kill "$http_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The playbook runs inside the suites fetch the release from the host, as the build did.
http_port=$(vm_free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$cache/fixture" "$http_port" >"$run/http.log" 2>&1 &
http_pid=$!
read -r tarball_name tarball_sha256 concourse_version < <(python3 -c '
import json, os, sys
release = json.load(open(sys.argv[1]))
print(os.path.basename(release["path"]), release["sha256"], release["version"])' "$image/tarball.json")
export PROMOTE_INFRA_TARBALL_URL="http://10.0.2.2:$http_port/$tarball_name"
export PROMOTE_INFRA_TARBALL_SHA256=$tarball_sha256
export PROMOTE_INFRA_CONCOURSE_VERSION=$concourse_version
export PROMOTE_INFRA_EXTRA_VARS=$PWD/packer/local-vm-ansible-vars.json
# The drain suites serve a stand-in IMDS and lifecycle API here; the guest reaches the host at
# 10.0.2.2 (qemu user networking).
export PROMOTE_INFRA_HOST_ADDR=10.0.2.2
# Idempotence: the image build already ran the playbook a second time and failed on any change;
# test_playbook.py checks that record. VM_TEST_RERUN_PLAYBOOK=1 re-runs it against the worker VM.
if [[ ${VM_TEST_RERUN_PLAYBOOK:-0} != 1 ]]; then
  PROMOTE_INFRA_IDEMPOTENCE_RECORD=$(realpath "$image/idempotence.json")
  export PROMOTE_INFRA_IDEMPOTENCE_RECORD
  vm_log "idempotence: checking the image build's second playbook run ($PROMOTE_INFRA_IDEMPOTENCE_RECORD)"
fi
strategy_plugins=$(python3 -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__) + "/plugins/strategy")' 2>/dev/null || true)
if [[ -n $strategy_plugins && ${VM_ANSIBLE_MITOGEN:-1} == 1 ]]; then
  export ANSIBLE_STRATEGY_PLUGINS=$strategy_plugins ANSIBLE_STRATEGY=mitogen_linear
fi

# suite NAME DISK KERNEL_DIR CMDLINE PYTEST_ARGS...: boot, wait for boot to settle, run pytest.
# Exit status: the suite's. Runs in the background; output goes to $run/NAME.log.
suite() {
  local name=$1 disk=$2 kernel_dir=$3 cmdline=$4; shift 4
  local state=$run/$name suite_started=$SECONDS status=0
  vm_boot "$state" "$disk" "$kernel_dir" "$cmdline"
  # Let the boot finish (the role's units start after SSH is up); "degraded" still lets the
  # suites say what is wrong.
  vm_ssh "$state" "timeout 180 systemctl is-system-running --wait" >/dev/null || true
  local port; port=$(cat "$state/port")
  printf '%s ansible_host=127.0.0.1 ansible_port=%s ansible_user=root ansible_ssh_private_key_file=%s\n' \
    "$name" "$port" "$PWD/$VM_SSH_KEY" >"$state/inventory"
  # One multiplexed connection for all of testinfra's commands: a fresh SSH session costs
  # seconds under TCG, a multiplexed one a fraction of a second.
  printf 'Host *\n  IdentityFile %s\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  ConnectTimeout 10\n  ControlMaster auto\n  ControlPersist 120\n  ControlPath %s\n' \
    "$PWD/$VM_SSH_KEY" "$VM_SSH_CONTROL_PATH" >"$state/ssh_config"
  vm_log "running the $name suites"
  if PROMOTE_INFRA_INVENTORY=$state/inventory timeout "${VM_SUITE_TIMEOUT:-900}" \
      python3 -m pytest tests/infra --confcutdir=tests/infra -p no:cacheprovider -rfEs \
      --hosts="ssh://root@127.0.0.1:$port" --ssh-config="$state/ssh_config" \
      --junitxml="$results/$name.xml" --durations=5 "$@"; then
    vm_log "$name suites passed in $((SECONDS - suite_started))s"
  else
    vm_log "$name suites FAILED (console: $state/console.log)"
    status=1
  fi
  vm_stop "$state"
  return $status
}

# VM_TEST_PARALLEL VMs at a time (default 3, all; 1 runs them one by one). TCG is CPU-bound,
# so the order barely matters, but three at once pack the host's cores best: on 2 cores the
# cached run took 99 s with three at once against 127 s two at a time (the third waiting).
max_parallel=${VM_TEST_PARALLEL:-3}
declare -A names=()
failed=()
reap_one() {  # wait for any one suite, note whether it failed
  local pid
  if wait -n -p pid; then :; else echo failed >"$run/${names[$pid]}.failed"; fi
  cat "$run/${names[$pid]}.log"
  unset "names[$pid]"
}
start_suite() {
  local name=$1; shift
  while ((${#names[@]} >= max_parallel)); do reap_one; done
  suite "$name" "$@" >"$run/$name.log" 2>&1 &
  names[$!]=$name
}
rm -f "$run"/*.failed
start_suite worker "$image/concourse.qcow2" "$image" "concourse.role=worker" --infra-role=worker
start_suite web "$image/concourse.qcow2" "$image" "concourse.role=web" --infra-role=web
start_suite fresh "$base/disk.qcow2" "$base" "" --infra-fresh-host
while ((${#names[@]})); do reap_one; done
for name in worker web fresh; do
  if [[ -e $run/$name.failed ]]; then failed+=("$name"); fi
done

vm_log "vm-test: image ${image_s}s, total $((SECONDS - started))s"
if ((${#failed[@]})); then
  vm_log "vm-test FAILED: ${failed[*]}"
  exit 1
fi
vm_log "vm-test passed"
