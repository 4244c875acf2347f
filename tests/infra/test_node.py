"""What every Concourse node built from the image has, whichever role it plays."""

import pytest
from conftest import file_stats, unit_property

REQUIRED_SYSCTLS = {
    "net.ipv4.ip_forward": 1,
    "net.bridge.bridge-nf-call-iptables": 1,
    "net.bridge.bridge-nf-call-ip6tables": 1,
    "kernel.kptr_restrict": 2,
    "net.ipv4.conf.all.accept_redirects": 0,
    "fs.suid_dumpable": 0,
}


def test_node_plays_the_expected_role(host, node_role):
    assert host.file("/run/concourse/role").content_string.strip() == node_role
    assert host.service(f"concourse-{node_role}.target").is_running


def test_role_selector_is_enabled_at_boot(host):
    selector = host.service("concourse-select-role.service")
    assert selector.is_enabled
    assert unit_property(host, "concourse-select-role.service", "Result") == "success"


def test_only_the_chosen_role_runs(host, node_role):
    other = "web" if node_role == "worker" else "worker"
    assert host.service(f"concourse-{node_role}.service").is_running
    assert not host.service(f"concourse-{other}.service").is_running
    assert not host.service(f"concourse-health@{other}.timer").is_running


def test_both_roles_units_are_installed(host):
    units = (
        "concourse-web.service",
        "concourse-worker.service",
        "concourse-web.target",
        "concourse-worker.target",
        "concourse-health@.service",
        "concourse-health@.timer",
        "concourse-keys@.service",
        "concourse-select-role.service",
    )
    stats = file_stats(host, *(f"/etc/systemd/system/{unit}" for unit in units))
    for unit in units:
        unit_file = stats.get(f"/etc/systemd/system/{unit}")
        assert unit_file and unit_file.kind == "file", unit
        assert unit_file.user == "root" and unit_file.mode == 0o644, unit


def test_release_is_installed_under_usr_local_concourse(host):
    home = host.file("/usr/local/concourse")
    assert home.is_symlink
    release = host.file(home.linked_to)
    assert release.is_directory and release.user == "root"
    binary = host.file("/usr/local/concourse/bin/concourse")
    assert binary.is_file and binary.user == "root" and binary.mode == 0o755
    assert host.file("/usr/local/concourse/resource-types").is_directory


def test_version_file_matches_the_installed_binary(host):
    version_file = host.file("/etc/concourse/version")
    assert version_file.user == "root" and version_file.mode == 0o644
    version = version_file.content_string.strip()
    assert version
    assert host.check_output("/usr/local/concourse/bin/concourse --version") == version
    assert host.file("/usr/local/concourse").linked_to.endswith(f"concourse-{version}")


def test_no_download_or_staging_tree_is_left_behind(host):
    leftovers = host.check_output(
        "find /usr/local /var/tmp -maxdepth 1"
        " \\( -name '.concourse-*.partial' -o -name 'concourse-*.tgz' \\)"
    )
    assert leftovers == ""


def test_config_directory_is_root_only(host):
    env_files = ("web.env", "worker.env", "health.env")
    stats = file_stats(host, "/etc/concourse", *(f"/etc/concourse/{f}" for f in env_files))
    config_dir = stats.get("/etc/concourse")
    assert config_dir and config_dir.kind == "directory"
    assert (config_dir.user, config_dir.group, config_dir.mode) == ("root", "root", 0o700)
    for env_file in env_files:
        f = stats.get(f"/etc/concourse/{env_file}")
        assert f and (f.user, f.mode) == ("root", 0o600), env_file


def test_every_key_is_root_owned_and_private(host):
    keys = host.check_output(
        "find /etc/concourse -maxdepth 1 -type f"
        " \\( -name '*key*' -o -name 'authorized_worker_keys' \\)"
    ).split()
    assert keys, "no keys under /etc/concourse"
    stats = file_stats(host, *keys)
    for key in keys:
        f = stats.get(key)
        assert f and (f.user, f.group, f.mode) == ("root", "root", 0o600), key


def test_concourse_system_user_cannot_log_in(host):
    user = host.user("concourse")
    assert user.exists
    assert user.uid < 1000
    assert user.shell.endswith("nologin")


@pytest.mark.parametrize(("name", "value"), sorted(REQUIRED_SYSCTLS.items()))
def test_sysctl_is_set_for_containers_and_hardening(host, name, value):
    assert host.sysctl(name) == value


@pytest.mark.parametrize("module", ["overlay", "br_netfilter"])
def test_kernel_module_for_containerd_is_loaded_and_loads_at_boot(host, module):
    assert host.file(f"/sys/module/{module}").is_directory
    assert module in host.file("/etc/modules-load.d/concourse.conf").content_string.split()


def test_journal_is_bounded(host):
    assert host.file("/etc/systemd/journald.conf.d/50-concourse.conf").contains("^SystemMaxUse=")
    usage_limit = host.check_output(
        "systemd-analyze cat-config systemd/journald.conf | grep ^SystemMaxUse="
    )
    assert usage_limit.endswith("M") or usage_limit.endswith("G")


def test_time_is_synced_by_chrony_from_the_amazon_time_service(host):
    name = "chrony" if host.system_info.distribution == "debian" else "chronyd"
    chrony = host.service(name)
    assert chrony.is_running and chrony.is_enabled
    assert host.run("grep -rqs '^server 169.254.169.123 ' /etc/chrony/conf.d /etc/chrony.d").rc == 0


def test_sshd_refuses_passwords(host):
    effective = host.check_output(
        "sshd -T 2>/dev/null | grep -E '^(passwordauthentication|x11forwarding) '"
    )
    assert "passwordauthentication no" in effective
    assert "x11forwarding no" in effective


def test_packaged_containerd_daemon_stays_off(host):
    # The worker runs its own containerd with /etc/containerd/config.toml.
    containerd = host.service("containerd")
    assert not containerd.is_enabled
    assert not containerd.is_running


def test_containerd_runtime_config_is_valid(host):
    config = host.file("/etc/containerd/config.toml")
    assert config.is_file and config.user == "root"
    dump = host.check_output("containerd --config /etc/containerd/config.toml config dump")
    assert "oom_score = -999" in dump
    assert 'disabled_plugins = ["io.containerd.grpc.v1.cri"]' in dump
