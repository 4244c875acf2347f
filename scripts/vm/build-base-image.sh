#!/usr/bin/env bash
# Build the Debian 12 base disk for the local VM: debootstrap -> mkfs.ext4 -d -> qcow2.
#
# No loop mounts and no bootloader: the VM is booted with qemu's direct kernel boot, so the
# kernel and initrd are copied out beside the disk. The role's packages (containerd, runc,
# iptables, chrony) are pre-seeded here so the TCG-emulated Packer build does not spend minutes
# in dpkg (iptables alone cost it ~20 s); the role still declares and verifies them.
#
# usage: build-base-image.sh OUT_DIR SSH_PUBLIC_KEY
set -euo pipefail

out_dir=$1
ssh_public_key=$2
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
disk_size=${VM_BASE_DISK_SIZE:-4G}

packages=(
  linux-image-cloud-amd64 initramfs-tools
  systemd systemd-sysv dbus kmod procps iproute2
  openssh-server sudo ca-certificates
  python3 python3-apt
  containerd runc iptables openssh-client chrony
)
include=$(IFS=,; echo "${packages[*]}")

[[ $EUID -eq 0 ]] || { echo "build-base-image: must run as root (debootstrap)" >&2; exit 2; }
[[ -f $ssh_public_key ]] || { echo "build-base-image: no public key at $ssh_public_key" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vm-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

echo "build-base-image: debootstrap $suite from $mirror" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -50 "$work/debootstrap.log" >&2; exit 1; }
echo "build-base-image: debootstrap done after ${SECONDS}s" >&2

# Network: DHCP on the first virtio NIC via systemd-networkd; qemu user-mode DNS at 10.0.2.3.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/20-wired.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
NET
echo "nameserver 10.0.2.3" >"$root/etc/resolv.conf"
echo "concourse-vm" >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 concourse-vm\n' >"$root/etc/hosts"
echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" >"$root/etc/fstab"
: >"$root/etc/machine-id"

install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$ssh_public_key" "$root/root/.ssh/authorized_keys"

chroot "$root" systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1
# The image is provisioned later; the system containerd must not race Concourse's own.
chroot "$root" systemctl disable containerd.service >/dev/null 2>&1 || true
# Under TCG every unit costs CPU seconds at each boot, and the VMs live for minutes: none of
# these periodic jobs, consoles, debug filesystems or module preloads is used in that time,
# and the apt timers would fetch package lists through qemu's NAT during the Packer build.
# (The role loads overlay and br_netfilter itself, through modules-load.d.)
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer getty@tty1.service serial-getty@ttyS0.service \
  modprobe@loop.service modprobe@dm_mod.service modprobe@drm.service modprobe@efi_pstore.service \
  modprobe@fuse.service modprobe@configfs.service sys-kernel-debug.mount sys-kernel-tracing.mount \
  sys-kernel-config.mount sys-fs-fuse-connections.mount dev-hugepages.mount \
  systemd-binfmt.service proc-sys-fs-binfmt_misc.automount >/dev/null 2>&1
# The initramfs only has to find /dev/vda: the virtio modules, not "most" of the kernel's
# (15 MB -> 6 MB, and less to probe under emulation).
printf 'virtio_pci\nvirtio_blk\n' >>"$root/etc/initramfs-tools/modules"
echo "MODULES=list" >"$root/etc/initramfs-tools/conf.d/local-vm.conf"
chroot "$root" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 \
  || { tail -20 "$work/initramfs.log" >&2; exit 1; }
chroot "$root" apt-get clean
# apt-get clean also drops apt's binary package cache, which the Ansible apt module would then
# rebuild from the package lists inside the emulated VM (seconds per task); build it here.
chroot "$root" apt-cache gencaches >/dev/null

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)

mkdir -p "$out_dir"
cp "$kernel" "$out_dir/vmlinuz.tmp"
cp "$initrd" "$out_dir/initrd.img.tmp"
truncate -s "$disk_size" "$work/disk.raw"
mkfs.ext4 -q -L root -d "$root" "$work/disk.raw"
qemu-img convert -O qcow2 "$work/disk.raw" "$out_dir/disk.qcow2.tmp"
mv "$out_dir/vmlinuz.tmp" "$out_dir/vmlinuz"
mv "$out_dir/initrd.img.tmp" "$out_dir/initrd.img"
mv "$out_dir/disk.qcow2.tmp" "$out_dir/disk.qcow2"
echo "build-base-image: wrote $out_dir (kernel $(basename "$kernel")) after ${SECONDS}s" >&2
