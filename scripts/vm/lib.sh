# Shared helpers for the local VM scripts: boot a throw-away overlay of a qcow2 under qemu
# (TCG, user-mode network with SSH forwarded on 127.0.0.1 only), wait for SSH, stop it.
# Source this file; every wait is bounded.
# shellcheck shell=bash

# VM_CACHE_DIR and VM_SSH_KEY are defined once, in mk/vm.mk, and passed in by make.
: "${VM_CACHE_DIR:?run through make (mk/vm.mk sets VM_CACHE_DIR)}"
: "${VM_SSH_KEY:?run through make (mk/vm.mk sets VM_SSH_KEY)}"
VM_MEMORY=${VM_MEMORY:-1024}
# One vCPU per VM: vm-test runs three VMs at once on a 2-core host, and TCG's cross-vCPU work
# (IPIs, TLB flushes) only costs there. qemu64 rather than max: the guest kernel takes cheaper
# paths without max's extra features (measured: ~20-22 vs ~26-27 CPU seconds to boot).
VM_CPUS=${VM_CPUS:-1}
VM_CPU_MODEL=${VM_CPU_MODEL:-qemu64}
VM_SSH_TIMEOUT=${VM_SSH_TIMEOUT:-240}

vm_log() { echo "vm: $*" >&2; }

vm_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The first connection stays up as a master that every later one reuses (the suites' ssh_config
# names the same ControlPath): a new SSH connection costs the guest ~1 CPU second under TCG.
VM_SSH_CONTROL_PATH=${VM_SSH_CONTROL_PATH:-/tmp/promote-vm-%C}
vm_ssh_opts() {
  echo "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 -i $VM_SSH_KEY -o ControlMaster=auto -o ControlPersist=120 -o ControlPath=$VM_SSH_CONTROL_PATH"
}

# vm_ssh STATE_DIR CMD...: run CMD as root in the VM described by STATE_DIR.
vm_ssh() {
  local state=$1; shift
  # shellcheck disable=SC2046
  ssh $(vm_ssh_opts) -p "$(cat "$state/port")" root@127.0.0.1 "$@"
}

# vm_boot STATE_DIR IMAGE_QCOW2 KERNEL_DIR [KERNEL_CMDLINE_EXTRA]
# Boots a copy-on-write overlay of IMAGE_QCOW2 so the image itself is never modified.
vm_boot() {
  local state=$1 image=$2 kernel_dir=$3 extra=${4:-}
  mkdir -p "$state"
  rm -f "$state/disk.qcow2" "$state/pid" "$state/console.log"
  qemu-img create -q -f qcow2 -F qcow2 -b "$(realpath "$image")" "$state/disk.qcow2"
  local port; port=$(vm_free_port)
  echo "$port" >"$state/port"
  qemu-system-x86_64 \
    -machine pc,accel=tcg -cpu "$VM_CPU_MODEL" -smp "$VM_CPUS" -m "$VM_MEMORY" \
    -display none -serial "file:$state/console.log" \
    -kernel "$kernel_dir/vmlinuz" -initrd "$kernel_dir/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 $extra" \
    -drive "file=$state/disk.qcow2,if=virtio,format=qcow2,cache=unsafe" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
    -pidfile "$state/pid" -daemonize
  vm_log "booted $(basename "$state") (ssh 127.0.0.1:$port, console $state/console.log)"
  vm_wait_ssh "$state"
}

vm_wait_ssh() {
  local state=$1 started=$SECONDS deadline=$((SECONDS + VM_SSH_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      vm_log "qemu for $(basename "$state") died; console tail:"; tail -30 "$state/console.log" >&2; return 1
    fi
    if vm_ssh "$state" true 2>/dev/null; then
      vm_log "ssh up on $(basename "$state") after $((SECONDS - started))s"; return 0
    fi
    sleep 1
  done
  vm_log "timed out after ${VM_SSH_TIMEOUT}s waiting for ssh on $(basename "$state"); console tail:"
  tail -30 "$state/console.log" >&2
  return 1
}

# vm_stop STATE_DIR: kill this VM's qemu (by its pid file only) and wait for it to go.
vm_stop() {
  local state=$1 pid
  [[ -f $state/pid ]] || return 0
  pid=$(cat "$state/pid")
  # shellcheck disable=SC2046
  [[ ! -f $state/port ]] || ssh $(vm_ssh_opts) -O exit -p "$(cat "$state/port")" root@127.0.0.1 2>/dev/null || true
  if kill -0 "$pid" 2>/dev/null; then
    # utime + stime of qemu: the CPU the VM cost the host, whatever else was running.
    vm_log "stopping $(basename "$state"): qemu used $(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$pid/stat") CPU s"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid"
}
