#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_vm
short_description: A VM of a tenant's project in one task, the CreateVM flow with its rollback
version_added: 0.2.0
description:
  - Creates, converges or destroys one VM of a tenant's project, the way C(openstack.cloud.server) is one task for
    a user. It runs on the controller and talks to the state store and the Proxmox API.
  - "Create: authorize (the tenant, project and network exist; a tenant's API token may only act for its tenant),
    reserve (the quota check and the node, in one transaction of the state store; see
    M(ironcloud.stack.cloud_reservation)), lease the address on the project network, clone the O(image) onto the
    reserved node with cores, memory, disk, cloud-init (user, keys, C(ipconfig0) with the address and gateway), the
    NIC C(virtio,bridge=<bridge>,tag=<project tag>,mtu=<network MTU>), the tags C(ic-tenant-<tenant>)
    C(ic-project-<project>) and the pool, bind the lease to the VMID, start, commit the reservation."
  - Any failure after the reservation rolls back what this run did, newest first (destroy the VM it made, release
    the lease, drop the reservation), and fails with the original error, the step and what was undone. A VM that
    existed before the run is never rolled back; a rerun converges it.
  - An existing VM of that name is converged (lease bound, config, power, an interrupted run's reservation
    committed); it is refused when its tags do not say it is this tenant's and project's.
  - O(state=absent) destroys the VM (refusing another tenant's), releases its address, its usage and its
    reservation.
  - The Proxmox connection options are the caller's (a tenant's token or an operator's); every request about the
    VM is made with them. Placement reads C(/cluster/resources) with the placement token when one is given
    (O(placement_api_token_id)), else with the same connection, which must then see the cluster's nodes and VMs.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
attributes:
  check_mode:
    support: full
    details: Check mode reads only and predicts the node, the address and the changes.
  diff_mode:
    support: full
  idempotent:
    support: full
  action_group:
    description: Use C(group/ironcloud.stack.cloud) and C(group/ironcloud.stack.proxmox) in C(module_defaults).
    support: full
    membership:
      - ironcloud.stack.cloud
      - ironcloud.stack.proxmox
options:
  tenant:
    description: The tenant (M(ironcloud.stack.cloud_tenant)).
    type: str
    required: true
  project:
    description: The project of the tenant.
    type: str
    required: true
  name:
    description: The VM's name, unique in the cluster (lowercase letters, digits, C(-), C(.)).
    type: str
    required: true
  size:
    description: The name of one of O(sizes); or give O(cores), O(memory_mb) and O(disk_gb).
    type: str
  sizes:
    description: Sizes by name, each C({cores, memory_mb, disk_gb}) (the spec file's C(cloud_sizes)).
    type: dict
    default: {}
  cores:
    description: vCPUs.
    type: int
  memory_mb:
    description: Memory in MiB.
    type: int
  disk_gb:
    description: Size of the system disk C(scsi0) in GiB (the template's disk is grown to it, never shrunk).
    type: int
  image:
    description: The template to clone, by name or VMID. Required unless O(state=absent).
    type: str
  network:
    description: The project network of the NIC, by name (M(ironcloud.stack.cloud_network)). Required unless
      O(state=absent); with O(state=absent) the lease on every network of the VM is released when not given.
    type: str
  address:
    description: A fixed address on O(network) (it must be free); default the next free one.
    type: str
  anti_affinity:
    description: Tags of which the VM's node may hold no other VM (or reservation in flight); the VM carries them.
    type: list
    elements: str
    default: []
  roles:
    description:
      - Roles of the VM in the tenant's workloads, e.g. V(k3s-server) or V(k3s-agent). The VM carries the tag
        C(ic-<role>), which the inventory plugin M(ironcloud.stack.cloud) turns into the group C(<role>) with C(-) as
        C(_) (V(k3s-server) is the group C(k3s_server) that C(k3s.yml) builds).
      - "A role is a name (lowercase letters, digits, C(-)); it may not start with C(tenant-), C(project-) or C(node-)
        nor be C(all), C(ungrouped), C(hypervisors), C(running) or C(stopped)."
      - The tags are converged on an existing VM too (a role left out is removed).
    type: list
    elements: str
    default: []
  ciuser:
    description:
      - The cloud-init user (default the image's).
      - A Linux user name, 1 to 32 characters out of C(a-z), C(0-9), C(_) and C(-), starting with a letter or C(_).
      - Recorded with the VM's address lease (as O(ironcloud.stack.cloud_address#module:login_user)), which the
        P(ironcloud.stack.cloud#inventory) inventory sets as C(ansible_user) of the VM. Without it the login user is
        not known and the inventory sets none (a lease keeps the login user it had).
    type: str
  sshkeys:
    description: Public keys for the cloud-init user (OpenSSH format, one per item or one per line).
    type: list
    elements: str
  ssh_key_file:
    description:
      - Without O(sshkeys), the private key file of the key pair to log in with; its public key (the same path with
        C(.pub)) becomes the VM's O(sshkeys). The private key is never read; its path is returned as
        C(vm.ssh_key_file).
      - Ignored when O(sshkeys) is given (then C(vm.ssh_key_file) is null).
    type: path
  credentials_dir:
    description:
      - Without O(sshkeys) and O(ssh_key_file), the tenant's key pair in this directory (the tenant role makes it
        once per tenant, file C(<tenant>_ed25519) and C(.pub), mode 0600) is used as with O(ssh_key_file).
    type: path
  floating_ip:
    description:
      - V(true) - the VM has a floating IP (allocated from the provider network's pool and associated with its
        address, as M(ironcloud.stack.cloud_floating_ip) does; needs a router of the project with an external
        address on O(network)). Allocated before the clone; a failure later releases it with the rest.
      - Allocating and releasing it write the usage ledger rows billing prices (C(floating_ip) C(allocated) /
        C(released), source C(cloud_vm)), as M(ironcloud.stack.cloud_floating_ip) does.
      - V(false) - any floating IP of the VM is released. Unset - whatever it has is left alone and reported.
      - V(state=absent) always releases it.
    type: bool
  floating_ip_provider:
    description: The provider network of the floating IP (default the store's default provider, C(external)).
    type: str
  dns_domain:
    description:
      - The domain of the cloud's names; the VM's name is C(<name>.<project>.<tenant>.<dns_domain>) (what its
        project's router serves, M(ironcloud.stack.ovs_router) O(ironcloud.stack.ovs_router#module:dns_domain)).
      - The VM gets the network's gateway (the router) as cloud-init C(nameserver) and
        C(<project>.<tenant>.<dns_domain>) as C(searchdomain).
    type: str
    default: ""
  state:
    description:
      - V(present) the VM exists; a new VM is started, an existing one keeps its power state (unless its create was
        interrupted, then it is started).
      - V(started) and V(stopped) also converge the power state; a new VM with V(stopped) is not started.
      - V(absent) destroys it and releases its address, usage and reservation.
    type: str
    choices: [present, started, stopped, absent]
    default: present
  timeout:
    description: Seconds to wait for each Proxmox task.
    type: int
    default: 300
  pool:
    description: The Proxmox pool of the VM; default C(ic-<tenant>), the pool of M(ironcloud.stack.proxmox_tenant).
      An empty string puts it in no pool.
    type: str
  bridge:
    description: The OVS bridge of the NIC.
    type: str
    default: br-int
  storage:
    description: The storage of a full clone's disks (default the template's).
    type: str
  full_clone:
    description: Full (V(true)) or linked (V(false)) clone; default PVE's (linked for a template).
    type: bool
  vmid:
    description: A fixed VMID for a new VM (refused if taken). Default the next free one.
    type: int
  vmid_range:
    description: The VMIDs a new VM may get, V([first, last]).
    type: list
    elements: int
  node:
    description: Place a new VM on this node only (still checked for room).
    type: str
  reservation_ttl:
    description: Seconds the reservation lives until it is committed (a run killed half-way leaves only it behind,
      and it expires; M(ironcloud.stack.cloud_reconcile) clears it).
    type: int
    default: 900
  cpu_allocation_ratio:
    description: vCPUs a node may allocate per core (overcommit), for placement.
    type: float
  ram_allocation_ratio:
    description: Memory a node may allocate per MiB, for placement.
    type: float
  reserved_host_memory_mb:
    description: Memory of each node kept for the host itself, for placement.
    type: int
  placement_api_token_id:
    description:
      - A token (C(user@realm!name)) that may read the whole cluster (for example with the C(PVEAuditor) role on
        C(/)), used for nothing but placement's C(GET /cluster/resources). Needed when the connection is a
        tenant's token, which sees only its pool.
    type: str
  placement_api_token_secret:
    description: The secret of O(placement_api_token_id).
    type: str
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: A VM of tenant acme's project web, started, with the tenant's token
  ironcloud.stack.cloud_vm:
    state_store: postgresql://ironcloud@db.example.com/ironcloud
    api_host: pve1.example.com
    api_token_id: ic-acme@pve!ironcloud
    api_token_secret: "{{ acme_token_secret }}"
    placement_api_token_id: auditor@pve!placement
    placement_api_token_secret: "{{ auditor_token_secret }}"
    ca_path: /etc/ssl/certs/pve-root-ca.pem
    tenant: acme
    project: web
    name: web1
    cores: 2
    memory_mb: 4096
    disk_gb: 20
    image: debian-12-cloud
    network: front
    ciuser: debian
    sshkeys:
      - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEd6oIzAn0MDzBaUsfuN0T5sAJ/1zHj+sftgnMYYq8dW admin@example.com"
  register: web1

- name: How to log in
  ansible.builtin.debug:
    msg: "ssh {{ web1.vm.ssh_user }}@{{ web1.vm.address | ansible.utils.ipaddr('address') }}"

- name: A size by name
  ironcloud.stack.cloud_vm:
    tenant: acme
    project: web
    name: web2
    size: small
    sizes:
      small: {cores: 1, memory_mb: 2048, disk_gb: 10}
    image: 9000
    network: front
    anti_affinity: [web]

- name: Stop it
  ironcloud.stack.cloud_vm:
    tenant: acme
    project: web
    name: web2
    size: small
    sizes:
      small: {cores: 1, memory_mb: 2048, disk_gb: 10}
    image: 9000
    network: front
    state: stopped

- name: Remove it (VM, address, usage, reservation)
  ironcloud.stack.cloud_vm:
    tenant: acme
    project: web
    name: web2
    state: absent
"""

RETURN = r"""
vm:
  description: The VM after the task (in check mode, as it would be). After O(state=absent), its former VMID and
    node with status V(absent).
  returned: always
  type: dict
  contains:
    vmid:
      description: The VMID (null for a VM check mode would create).
      type: int
      sample: 120
    node:
      description: Its node.
      type: str
      sample: pve2
    name:
      description: Its name.
      type: str
    tenant:
      description: The tenant.
      type: str
    project:
      description: The project.
      type: str
    network:
      description: The project network of its NIC.
      type: str
    address:
      description: Its address on the network, in CIDR form.
      type: str
      sample: 10.100.0.5/24
    gateway:
      description: The network's gateway.
      type: str
      sample: 10.100.0.1
    status:
      description: V(running), V(stopped) or V(absent).
      type: str
    cores:
      description: vCPUs.
      type: int
    memory_mb:
      description: Memory in MiB.
      type: int
    disk_gb:
      description: Disk in GiB.
      type: int
    pool:
      description: Its Proxmox pool.
      type: str
    reservation:
      description: The id of its reservation (C(<tenant>-<project>-<name>)).
      type: str
    ssh_user:
      description: The cloud-init user (null when the image's default is used).
      type: str
    ssh_key_fingerprints:
      description: The SHA256 fingerprints of the public keys it was given (as C(ssh-keygen -l) prints them).
      type: list
      elements: str
      sample: ["SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"]
    ssh_key_file:
      description: The file with the private key to log in with (O(ssh_key_file) or the tenant's in
        O(credentials_dir)); null when the caller gave its own O(sshkeys). Never the key itself.
      type: str
    floating_ip:
      description: Its floating IP (the address to reach it from outside), or null.
      type: str
    dns_name:
      description: Its DNS name, C(<name>.<project>.<tenant>[.<dns_domain>]), served by its project's router.
      type: str
actions:
  description: What was done (or would be in check mode), in order.
  returned: always
  type: list
  elements: str
msg:
  description: What was done.
  returned: always
  type: str
failure:
  description: On a failed create, the step that failed (C(step)), its error, what was rolled back
    (C(rolled_back)) and what could not be (C(rollback_failed)).
  returned: failure
  type: dict
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._cloud.vm_flow import (
    ensure_vm,
    placement_reader,
    read_public_key,
    resolve_ssh_key,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_vm(
            ctx.client(STATE_STORE),
            ctx.client(PROXMOX),
            resolve_ssh_key(ctx.params, read_public_key),
            ctx.check_mode,
            ctx.started,
            placement_reader(ctx.params),
        ),
        layers=[STATE_STORE, PROXMOX],
        requirements=[NETADDR],
        argument_spec=dict(
            tenant=dict(type="str", required=True),
            project=dict(type="str", required=True),
            name=dict(type="str", required=True),
            size=dict(type="str"),
            sizes=dict(type="dict", default={}),
            cores=dict(type="int"),
            memory_mb=dict(type="int"),
            disk_gb=dict(type="int"),
            image=dict(type="str"),
            network=dict(type="str"),
            address=dict(type="str"),
            anti_affinity=dict(type="list", elements="str", default=[]),
            roles=dict(type="list", elements="str", default=[]),
            ciuser=dict(type="str"),
            sshkeys=dict(type="list", elements="str", no_log=False),
            ssh_key_file=dict(type="path", no_log=False),
            credentials_dir=dict(type="path"),
            floating_ip=dict(type="bool"),
            floating_ip_provider=dict(type="str"),
            dns_domain=dict(type="str", default=""),
            state=dict(type="str", choices=["present", "started", "stopped", "absent"], default="present"),
            timeout=dict(type="int", default=300),
            pool=dict(type="str"),
            bridge=dict(type="str", default="br-int"),
            storage=dict(type="str"),
            full_clone=dict(type="bool"),
            vmid=dict(type="int"),
            vmid_range=dict(type="list", elements="int"),
            node=dict(type="str"),
            reservation_ttl=dict(type="int", default=900),
            cpu_allocation_ratio=dict(type="float"),
            ram_allocation_ratio=dict(type="float"),
            reserved_host_memory_mb=dict(type="int"),
            placement_api_token_id=dict(type="str", no_log=False),
            placement_api_token_secret=dict(type="str", no_log=True),
        ),
        mutually_exclusive=[("size", "cores"), ("size", "memory_mb"), ("size", "disk_gb")],
        required_together=[("placement_api_token_id", "placement_api_token_secret")],
        required_if=[
            ("state", "present", ("image", "network")),
            ("state", "started", ("image", "network")),
            ("state", "stopped", ("image", "network")),
        ],
    )


if __name__ == "__main__":
    main()
