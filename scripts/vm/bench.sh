#!/usr/bin/env bash
# make bench-vm: wall time of the VM chain (vm-test: base, image, three VMs and their suites),
# once cold (no cached base or image) and once cached, written as JSON.
# usage: bench.sh OUT_JSON
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1
cache=${VM_CACHE_DIR:?run through make (mk/vm.mk sets VM_CACHE_DIR)}

load_before=$(cut -d' ' -f1 /proc/loadavg)
rm -rf "$cache"/base-* "$cache"/image-*
start=$(date +%s.%N)
scripts/vm/vm-test.sh
cold=$(python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$start")

start=$(date +%s.%N)
scripts/vm/vm-test.sh
cached=$(python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$start")

mkdir -p "$(dirname "$out")"
python3 - "$out" "$cold" "$cached" "$load_before" <<'PY'
import datetime, json, os, sys
out, cold, cached, load_before = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
result = {
    "vm_chain_cold_s": cold,
    "vm_chain_cached_s": cached,
    "vm_chain_cold_target_s": 360,
    "vm_chain_cached_target_s": 120,
    "what": "make vm-test wall time: cold = debootstrap base + packer qemu build (provisioning "
            "run + the no-change second run) + 3 VMs with suites; cached = base and image "
            "reused, 3 VMs with suites",
    "vms_at_once": int(os.environ.get("VM_TEST_PARALLEL", "3")),
    "accelerator": "tcg",
    "cpus": os.cpu_count(),
    # TCG is CPU-bound: on a shared host these figures move with other work.
    "host_load_avg_1m_before": load_before,
    "host_load_avg_1m_after": float(open("/proc/loadavg").read().split()[0]),
    "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
}
with open(out + ".tmp", "w") as handle:
    json.dump(result, handle, indent=2)
    handle.write("\n")
os.replace(out + ".tmp", out)
print(json.dumps(result))
PY
