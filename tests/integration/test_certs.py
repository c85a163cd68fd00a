"""playbooks/certs.yml against Debian guests: the CA and the tenants' name-constrained intermediates on the
controller, a certificate per VM made from a key on the VM, the trust store, renewal at the threshold, and the K3s
manifests of cert-manager.

The guests are podman containers of the lab's guest image (Debian 12 with python3, python3-cryptography, openssl,
ca-certificates) this test starts and removes, reached with the containers.podman.podman connection and grouped
as the ironcloud.stack.cloud inventory groups them (tenant_<t>, running, k3s_server; host variables vm_name, tenant,
project, floating_ip). They share one network namespace, so the TLS handshake between two "VMs" goes over
loopback; the client still checks the server's name and chain. No cert-manager runs: the lab's stand-in K3s cannot
run it, so the test checks what is written for K3s (the manifests' structure, the pinned chart, the Secret holding
the tenant's intermediate, the files' modes).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import re
import stat
import subprocess
import time
import uuid

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ.get("IRONCLOUD_GUEST_IMAGE", "localhost/ironcloud-guest:bookworm")
DOMAIN = "cloud.test"
IP_RANGE = "203.0.113.0/24"
FLOATING_IP = "203.0.113.10"
PREFIX = "h12-certs-%s" % uuid.uuid4().hex[:6]
# host: (vm_name, tenant, project, floating IPs, K3s server)
GUESTS = {
    PREFIX + "-web1": ("web1", "acme", "web", [FLOATING_IP], False),
    PREFIX + "-web2": ("web2", "acme", "web", [], True),
    PREFIX + "-app1": ("app1", "globex", "app", [], False),
}
WEB1, WEB2, APP1 = GUESTS
WEB1_NAME = "web1.web.acme." + DOMAIN
WEB2_NAME = "web2.web.acme." + DOMAIN
APP1_NAME = "app1.app.globex." + DOMAIN
CERTS_DIR = "/etc/ssl/ironcloud"
MANIFESTS = "/var/lib/rancher/k3s/server/manifests"


def podman(*args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], text=True, capture_output=True, timeout=timeout, check=check)


def guest(host: str, *argv: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", "exec", "-i", host, *argv], input=stdin or "", text=True, capture_output=True, check=check
    )


def read(host: str, path: str) -> str:
    return guest(host, "cat", path).stdout


@pytest.fixture(scope="module")
def guests():
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail("the guest image %s is not there: build the lab (make lab-up) or set IRONCLOUD_GUEST_IMAGE" % IMAGE)
    started = []
    try:
        for number, host in enumerate(GUESTS):
            # The first has no network but loopback; the others share its namespace.
            network = "none" if number == 0 else "container:" + WEB1
            podman("run", "-d", "--name", host, "--network", network, IMAGE, "sleep", "infinity")
            started.append(host)
        yield list(GUESTS)
    finally:
        for host in reversed(started):  # the others use the first one's network namespace
            podman("rm", "-f", "-t", "0", host, check=False)


@pytest.fixture(scope="module")
def setup(guests, tmp_path_factory):
    base = tmp_path_factory.mktemp("h12-certs")
    hosts = {}
    tenants: dict[str, dict] = {}
    for host, (vm, tenant, project, fips, _k3s) in GUESTS.items():
        hosts[host] = {"vm_name": vm, "project": project, **({"floating_ip": fips[0]} if fips else {})}
        tenants.setdefault("tenant_" + tenant, {"vars": {"tenant": tenant}, "hosts": {}})["hosts"][host] = {}
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "containers.podman.podman",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_become": False,
                "certs_domain": DOMAIN,
                "certs_ip_ranges": [IP_RANGE],
                "certs_credentials_dir": str(base / "credentials"),
                # The image has openssl, python3-cryptography and ca-certificates, but no python3-apt for the
                # apt module, and the guests have no network to a mirror.
                "certs_install_packages": False,
            },
            "hosts": hosts,
            "children": {
                "running": {"hosts": {h: {} for h in GUESTS}},
                "k3s_server": {"hosts": {h: {} for h, g in GUESTS.items() if g[4]}},
                **tenants,
            },
        }
    }
    path = base / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return {"inventory": str(path), "pki": base / "credentials" / "pki", "base": base}


def run(setup, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
    )
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", setup["inventory"], "playbooks/certs.yml"]
    proc = subprocess.run([*argv, *args], cwd=ROOT, env=env, text=True, capture_output=True, timeout=900, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc


def recap(proc: subprocess.CompletedProcess) -> dict[str, dict[str, int]]:
    """The PLAY RECAP's counters per host."""
    out = {}
    for line in proc.stdout.split("PLAY RECAP", 1)[1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            out[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return out


def changed(proc: subprocess.CompletedProcess) -> dict[str, int]:
    return {host: counts["changed"] for host, counts in recap(proc).items()}


def load_cert(pem: str | bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def handshake(server: str, client: str, name: str, port: int, expect: str | None = None) -> subprocess.CompletedProcess:
    """openssl s_server on server with its certificate (for name) and chain; s_client on client verifying the name
    expect (default: name) against the client's trust store (-verify_return_error: a bad chain or name fails the
    handshake)."""
    expect = expect or name
    guest(
        server,
        "sh",
        "-c",
        "nohup openssl s_server -accept %d -naccept 1 -cert %s/%s.crt -key %s/%s.key -cert_chain %s/%s.fullchain.crt"
        " -www >/tmp/s_server.%d.log 2>&1 &" % (port, CERTS_DIR, name, CERTS_DIR, name, CERTS_DIR, name, port),
    )
    deadline = time.monotonic() + 20
    while True:
        proc = guest(
            client,
            "openssl",
            "s_client",
            "-connect",
            "127.0.0.1:%d" % port,
            "-servername",
            expect,
            "-verify_hostname",
            expect,
            "-verify_return_error",
            check=False,
            stdin="GET / HTTP/1.0\r\n\r\n",
        )
        if "Connection refused" not in proc.stderr + proc.stdout or time.monotonic() > deadline:
            return proc
        time.sleep(0.5)


def sign_leaf(issuer_dir, names: list[x509.GeneralName]) -> str:
    """A leaf certificate for names signed by the intermediate in issuer_dir, bypassing certs.yml (as a tenant
    holding its intermediate's key could)."""
    issuer = load_cert((issuer_dir / "ca.crt").read_bytes())
    issuer_key = serialization.load_pem_private_key((issuer_dir / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cn = next((n.value for n in names if isinstance(n, x509.DNSName)), "leaf")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def verify_in(host: str, tenant: str, leaf: str) -> subprocess.CompletedProcess:
    """openssl verify of leaf on host: the CA from the host's trust store, the tenant's intermediate untrusted."""
    guest(host, "sh", "-c", "cat > /tmp/leaf.pem", stdin=leaf)
    return guest(
        host,
        "openssl",
        "verify",
        "-untrusted",
        "/usr/local/share/ca-certificates/ironcloud-%s.crt" % tenant,
        "/tmp/leaf.pem",
        check=False,
    )


@pytest.fixture(scope="module")
def first_run(setup):
    return run(setup, "--diff")


def test_the_ca_and_the_tenants_intermediates_are_kept_on_the_controller(setup, first_run):
    pki = setup["pki"]
    assert stat.S_IMODE(os.stat(pki).st_mode) == 0o700
    for key in (pki / "ca.key", pki / "acme" / "ca.key", pki / "globex" / "ca.key"):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600, key
    root = load_cert((pki / "ca.crt").read_bytes())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for tenant in ("acme", "globex"):
        cert = load_cert((pki / tenant / "ca.crt").read_bytes())
        assert cert.issuer == root.subject
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert basic.critical and basic.value.ca and basic.value.path_length == 0
        constraints = cert.extensions.get_extension_for_class(x509.NameConstraints)
        assert constraints.critical
        permitted = {str(n.value) for n in constraints.value.permitted_subtrees}
        assert permitted == {tenant + "." + DOMAIN, IP_RANGE}
        chain = (pki / tenant / "chain.crt").read_text()
        assert chain.count("BEGIN CERTIFICATE") == 2 and chain.index((pki / "ca.crt").read_text().strip()) > 0
    # no key is ever shown, not even with --diff
    assert "PRIVATE KEY" not in first_run.stdout + first_run.stderr
    for tenant in ("acme", "globex"):
        key_b64 = base64.b64encode((pki / tenant / "ca.key").read_bytes()).decode()
        assert key_b64[:40] not in first_run.stdout


def test_every_vm_has_its_certificate_from_its_key_and_the_tenants_chain_in_its_trust_store(setup, first_run):
    pki = setup["pki"]
    for host, (vm, tenant, project, fips, _k3s) in GUESTS.items():
        name = "%s.%s.%s.%s" % (vm, project, tenant, DOMAIN)
        mode = guest(host, "stat", "-c", "%a %U", "%s/%s.key" % (CERTS_DIR, name)).stdout.split()
        assert mode == ["600", "root"]
        cert = load_cert(read(host, "%s/%s.crt" % (CERTS_DIR, name)))
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [name]
        assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == fips
        intermediate = load_cert((pki / tenant / "ca.crt").read_bytes())
        assert cert.issuer == intermediate.subject
        # the key never left the VM: the certificate is for the key there
        key = serialization.load_pem_private_key(read(host, "%s/%s.key" % (CERTS_DIR, name)).encode(), None)
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()
        assert not list(setup["base"].rglob(name + ".key"))
        fullchain = read(host, "%s/%s.fullchain.crt" % (CERTS_DIR, name))
        assert [load_cert(p) for p in re.findall(r"-----BEGIN.*?END CERTIFICATE-----", fullchain, re.S)] == [
            cert,
            intermediate,
        ]
        bundle = read(host, "/etc/ssl/certs/ca-certificates.crt")
        assert (pki / "ca.crt").read_text().strip() in bundle
        assert (pki / tenant / "ca.crt").read_text().strip() in bundle


def test_a_tls_handshake_between_two_vms_of_a_tenant_verifies(first_run):
    proc = handshake(WEB1, WEB2, WEB1_NAME, 8443)
    assert proc.returncode == 0 and "Verify return code: 0 (ok)" in proc.stdout, proc.stdout + proc.stderr
    # the same handshake fails where the name is not the server's: the client does check
    wrong = handshake(WEB1, WEB2, WEB1_NAME, 8444, expect=WEB2_NAME)
    assert wrong.returncode != 0 and "hostname mismatch" in wrong.stdout + wrong.stderr


def test_another_tenants_vm_trusts_the_certificate_for_its_own_name(first_run):
    # globex's VM has the common CA: acme's certificate, for acme's name, verifies there too
    proc = handshake(WEB1, APP1, WEB1_NAME, 8445)
    assert proc.returncode == 0 and "Verify return code: 0 (ok)" in proc.stdout, proc.stdout + proc.stderr


def test_a_tenants_intermediate_cannot_sign_for_another_tenants_zone(setup, first_run):
    acme = setup["pki"] / "acme"
    inside = verify_in(WEB2, "acme", sign_leaf(acme, [x509.DNSName("db1.web.acme." + DOMAIN)]))
    assert inside.returncode == 0 and "OK" in inside.stdout, inside.stdout + inside.stderr
    outside = verify_in(WEB2, "acme", sign_leaf(acme, [x509.DNSName(APP1_NAME)]))
    assert outside.returncode != 0 and "permitted subtree violation" in outside.stdout + outside.stderr
    # the zone is a subtree: a name that merely ends like it is outside
    lookalike = verify_in(WEB2, "acme", sign_leaf(acme, [x509.DNSName("evilacme." + DOMAIN)]))
    assert lookalike.returncode != 0 and "permitted subtree violation" in lookalike.stdout + lookalike.stderr
    # and an address outside the floating range
    address = verify_in(WEB2, "acme", sign_leaf(acme, [x509.IPAddress(ipaddress.ip_address("198.51.100.7"))]))
    assert address.returncode != 0 and "permitted subtree violation" in address.stdout + address.stderr


def test_a_rerun_changes_nothing_and_check_mode_agrees(setup, first_run):
    assert sum(changed(first_run).values()) > 0
    before = {h: read(h, "%s/%s.crt" % (CERTS_DIR, n)) for h, n in ((WEB1, WEB1_NAME), (APP1, APP1_NAME))}
    again = run(setup)
    assert set(changed(again).values()) == {0}, again.stdout[-4000:]
    assert "Update the trust store" not in again.stdout
    checked = run(setup, "--check", "--diff")
    assert set(changed(checked).values()) == {0}, checked.stdout[-4000:]
    assert before == {h: read(h, "%s/%s.crt" % (CERTS_DIR, n)) for h, n in ((WEB1, WEB1_NAME), (APP1, APP1_NAME))}


def test_certificates_within_their_threshold_are_renewed(setup, first_run):
    """One run with both thresholds above the lifetimes (each run of the playbook takes minutes on the lab's
    machine): web1's certificate and globex's intermediate are renewed, with their keys."""
    pki = setup["pki"]
    path = "%s/%s.crt" % (CERTS_DIR, WEB1_NAME)
    old = load_cert(read(WEB1, path))
    lifetime = (old.not_valid_after_utc - old.not_valid_before_utc).days
    old_ca = load_cert((pki / "globex" / "ca.crt").read_bytes())
    ca_key = (pki / "globex" / "ca.key").read_bytes()
    ca_lifetime = (old_ca.not_valid_after_utc - old_ca.not_valid_before_utc).days
    renew = ["-e", "certs_renew_days=%d" % (lifetime + 1), "-e", "certs_intermediate_renew_days=%d" % (ca_lifetime + 1)]

    # check mode says what it would renew, and renews nothing
    checked = run(setup, "--check", *renew)
    assert changed(checked)[WEB1] > 0 and changed(checked)["localhost"] > 0
    assert load_cert(read(WEB1, path)) == old and load_cert((pki / "globex" / "ca.crt").read_bytes()) == old_ca

    renewed = run(setup, *renew)
    assert changed(renewed)[WEB1] > 0
    new = load_cert(read(WEB1, path))
    assert new.serial_number != old.serial_number and new.not_valid_after_utc >= old.not_valid_after_utc
    # the key stays, the names too; the handshake still verifies
    assert new.public_key().public_numbers() == old.public_key().public_numbers()
    assert new.extensions.get_extension_for_class(x509.SubjectAlternativeName) == (
        old.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    )
    proc = handshake(WEB1, WEB2, WEB1_NAME, 8446)
    assert "Verify return code: 0 (ok)" in proc.stdout, proc.stdout + proc.stderr

    # globex's intermediate: renewed with its key; its VM gets it in its trust store, its certificate stays valid
    new_ca = load_cert((pki / "globex" / "ca.crt").read_bytes())
    assert new_ca.serial_number != old_ca.serial_number and (pki / "globex" / "ca.key").read_bytes() == ca_key
    assert new_ca.public_bytes(serialization.Encoding.PEM).decode().strip() in read(
        APP1, "/usr/local/share/ca-certificates/ironcloud-globex.crt"
    )
    verified = verify_in(APP1, "globex", read(APP1, "%s/%s.crt" % (CERTS_DIR, APP1_NAME)))
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # under the default thresholds it is a no-op again
    assert set(changed(run(setup)).values()) == {0}


def test_the_k3s_manifests_of_cert_manager_and_the_tenants_issuer(setup, first_run):
    """No cert-manager runs here (the lab's stand-in K3s cannot run it): what K3s would apply is checked."""
    pki = setup["pki"]
    files = {
        name: guest(WEB2, "stat", "-c", "%a %U", "%s/%s" % (MANIFESTS, name)).stdout.split()
        for name in ("ironcloud-cert-manager.yaml", "ironcloud-issuer-acme.yaml")
    }
    assert files == {name: ["600", "root"] for name in files}
    assert guest(APP1, "test", "-e", MANIFESTS, check=False).returncode != 0  # not a K3s server

    chart = [d for d in yaml.safe_load_all(read(WEB2, MANIFESTS + "/ironcloud-cert-manager.yaml")) if d]
    kinds = {d["kind"]: d for d in chart}
    assert set(kinds) == {"Namespace", "HelmChart"}
    helm = kinds["HelmChart"]
    assert helm["apiVersion"] == "helm.cattle.io/v1" and helm["metadata"]["namespace"] == "kube-system"
    assert helm["spec"]["repo"] == "https://charts.jetstack.io" and helm["spec"]["chart"] == "cert-manager"
    assert re.match(r"^v\d+\.\d+\.\d+$", helm["spec"]["version"])  # pinned, never "latest" or a range
    assert helm["spec"]["targetNamespace"] == "cert-manager" == kinds["Namespace"]["metadata"]["name"]
    assert yaml.safe_load(helm["spec"]["valuesContent"]) == {"crds": {"enabled": True, "keep": True}}

    issuer = [d for d in yaml.safe_load_all(read(WEB2, MANIFESTS + "/ironcloud-issuer-acme.yaml")) if d]
    kinds = {d["kind"]: d for d in issuer}
    assert set(kinds) == {"Secret", "ClusterIssuer"}
    secret, cluster_issuer = kinds["Secret"], kinds["ClusterIssuer"]
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"] == {"name": "ic-acme-ca", "namespace": "cert-manager"}
    assert cluster_issuer["apiVersion"] == "cert-manager.io/v1"
    assert cluster_issuer["metadata"] == {"name": "ic-acme"}
    assert cluster_issuer["spec"] == {"ca": {"secretName": "ic-acme-ca"}}
    # tls.crt: acme's intermediate, then the CA; tls.key: the intermediate's key
    tls_crt = base64.b64decode(secret["data"]["tls.crt"]).decode()
    assert tls_crt.strip() == (pki / "acme" / "chain.crt").read_text().strip()
    key = serialization.load_pem_private_key(base64.b64decode(secret["data"]["tls.key"]), None)
    intermediate = load_cert((pki / "acme" / "ca.crt").read_bytes())
    assert key.public_key().public_numbers() == intermediate.public_key().public_numbers()
    json.dumps(issuer)  # plain data, nothing left for a template
