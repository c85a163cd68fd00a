#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxmox_vm
short_description: One Proxmox VE VM, created or cloned, configured, started, migrated or removed in one task
version_added: 0.1.0
description:
  - Converges one QEMU VM, found by O(name) (unique in the cluster) or O(vmid).
  - A missing VM is created from scratch or cloned from a template (O(clone)); its config, cloud-init settings and
    tags are applied in the same task, and it is started when O(state=started).
  - An existing VM is compared with the options in PVE's stored form (NIC MACs kept, sizes like V(32G), booleans
    0/1, URL-encoded ssh keys decoded), so a rerun reports no change. Only the options given are managed.
  - A different O(node) migrates the VM (live when it runs, with its local disks when it has any).
  - Without O(vmid), the module picks a free VMID starting at C(/cluster/nextid) and retries with another one
    when a parallel create took it, so many parallel creates never collide.
  - Every API call that starts a task waits for it (O(timeout)) and fails with the end of the task log.
extends_documentation_fragment:
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.proxmox.action_group
attributes:
  idempotent:
    support: partial
    details: O(state=restarted) restarts the VM on every run.
options:
  name:
    description:
      - The VM's name, unique in the cluster. A name several VMs carry is an error.
      - Required to create a VM unless O(vmid) is given.
    type: str
  vmid:
    description:
      - The VM's id. When a VM is created without it, a free one is chosen (see O(vmid_range)).
    type: int
  vmid_range:
    description:
      - The ids a new VM may get, V([first, last]), both included.
    type: list
    elements: int
  node:
    description:
      - The node the VM runs on. Required to create a VM from scratch; a clone defaults to the template's node.
      - When an existing VM is on another node, it is migrated here.
    type: str
    aliases: [target]
  clone:
    description:
      - The template (or VM) to clone a new VM from, by name or VMID. Ignored when the VM exists.
    type: str
  full:
    description:
      - Make a full clone (V(true)) or a linked clone of a template (V(false)). PVE's default is linked for a
        template and full for a VM.
    type: bool
  storage:
    description:
      - The storage of a full clone's disks, and the default storage for new disks and the cloud-init drive.
    type: str
  cores:
    description: Cores per socket.
    type: int
  sockets:
    description: CPU sockets.
    type: int
  memory:
    description: Memory in MiB.
    type: int
  cpu:
    description: The emulated CPU type, as PVE's C(cpu) option (for example V(host) or V(x86-64-v2-AES)).
    type: str
  disks:
    description:
      - The VM's disks. A missing disk is added; a larger size grows the disk; a smaller size is an error (PVE
        cannot shrink a disk). Disks not listed are left alone.
    type: list
    elements: dict
    suboptions:
      key:
        description: The slot, for example V(scsi0) or V(virtio1). Default V(scsi<index>).
        type: str
      size:
        description: The size, for example V(32G), V(512M) or a number of GiB.
        type: str
        required: true
      storage:
        description: The storage of a new disk; default O(storage).
        type: str
      options:
        description: "Drive options, for example C({discard: on, ssd: 1})."
        type: dict
  nets:
    description:
      - The NICs, in order (the first is C(net0)). Each is a dict (C(model), default V(virtio), C(bridge), C(tag),
        C(firewall), C(mtu), C(macaddr) ...) or a PVE net string.
      - Without C(macaddr) the MAC PVE generated is kept.
    type: list
    elements: raw
  ciuser:
    description: Cloud-init user.
    type: str
  cipassword:
    description:
      - Cloud-init password. PVE stores only a hash, so it is set when the VM has none (at creation) and not
        compared afterwards.
    type: str
  sshkeys:
    description: Cloud-init SSH public keys, a list or one key per line.
    type: raw
  ipconfig:
    description:
      - Cloud-init IP settings per NIC (the first is C(ipconfig0)), each a dict (C(ip), C(gw), C(ip6), C(gw6)) or a
        PVE string such as V(ip=10.0.0.5/24,gw=10.0.0.1).
    type: list
    elements: raw
  nameserver:
    description: Cloud-init DNS servers.
    type: str
  searchdomain:
    description: Cloud-init DNS search domains.
    type: str
  tags:
    description:
      - The VM's tags (lower case; PVE stores them sorted and C(;)-separated). The cloud's VMs carry
        V(ic-tenant-<tenant>) and V(ic-project-<project>).
    type: list
    elements: str
  pool:
    description: The resource pool of the VM (it must exist). An existing VM is moved into it.
    type: str
  description:
    description: The VM's description (notes).
    type: str
  onboot:
    description: Start the VM when its node boots.
    type: bool
  agent:
    description: The QEMU guest agent, V(true)/V(false) or PVE's C(agent) string (V(enabled=1,fstrim_cloned_disks=1)).
    type: raw
  config:
    description:
      - "Any other QEMU config option of PVE, by its name (for example C({balloon: 0, scsihw: virtio-scsi-single}))."
      - Names and values are checked against the PVE 9.1 API schema before anything is sent.
    type: dict
  state:
    description:
      - V(present) creates or updates the VM and leaves its power state alone (a new VM stays stopped).
      - V(started), V(stopped) also set the power state; V(restarted) restarts (or starts) it on every run.
      - V(absent) stops and destroys the VM with its disks.
    type: str
    choices: [present, started, stopped, restarted, absent]
    default: present
  timeout:
    description: Seconds to wait for each task (create, clone, start, migrate, resize ...).
    type: int
    default: 300
  restart_if_needed:
    description:
      - Restart a running VM whose changes PVE keeps pending until the next start. Without it, the pending changes
        are reported in RV(pending).
    type: bool
    default: false
notes:
  - The logic is in C(plugins/module_utils/_proxmox/vms.py) (API) and C(vm.py) (normalisation and diff).
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: A VM from the Debian template, with cloud-init, started, in one task
  ironcloud.stack.proxmox_vm:
    api_host: pve1.example.com
    api_token_id: ansible@pve!cloud
    api_token_secret: "{{ vault_proxmox_token_secret }}"
    ca_path: /etc/ssl/certs/pve-root-ca.pem
    name: web-1
    clone: debian-12-cloud
    node: pve2
    cores: 2
    memory: 4096
    disks:
      - key: scsi0
        size: 32G
    nets:
      - bridge: br-int
        tag: 101
    ciuser: debian
    sshkeys:
      - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEd6oIzAn0MDzBaUsfuN0T5sAJ/1zHj+sftgnMYYq8dW admin@example.com"
    ipconfig:
      - ip: 10.20.0.5/24
        gw: 10.20.0.1
    tags: [ic-tenant-acme, ic-project-web]
    pool: ic-acme
    state: started

- name: Move it to pve3 (live)
  ironcloud.stack.proxmox_vm:
    name: web-1
    node: pve3

- name: More memory, applied by a restart
  ironcloud.stack.proxmox_vm:
    name: web-1
    memory: 8192
    restart_if_needed: true

- name: Any other PVE option, checked against the PVE schema
  ironcloud.stack.proxmox_vm:
    name: web-1
    config:
      balloon: 0
      scsihw: virtio-scsi-single

- name: Remove it
  ironcloud.stack.proxmox_vm:
    name: web-1
    state: absent
"""

RETURN = r"""
vm:
  description: The VM after the task (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    vmid:
      description: The VM's id (V(null) for a VM check mode would create).
      type: int
      sample: 101
    node:
      description: The node of the VM.
      type: str
      sample: pve2
    name:
      description: The VM's name.
      type: str
    status:
      description: V(running), V(stopped), or V(absent).
      type: str
    config:
      description: The VM's config as PVE stores it (ssh keys decoded, the password masked).
      type: dict
    tags:
      description: The tags the removed VM had (so a caller can tell whose VM it was, C(ic-tenant-<t>)).
      returned: when a VM was removed (O(state=absent))
      type: list
      elements: str
      sample: [ic-project-web, ic-tenant-acme]
pending:
  description: Config keys whose change waits for the next start of the VM.
  returned: always
  type: list
  elements: str
migrated:
  description: Whether the VM moved to another node.
  returned: always
  type: bool
actions:
  description: What was done (or would be in check mode), in order, for example V([cloned, configured, started]).
  returned: always
  type: list
  elements: str
diff:
  description: The changed fields before and after.
  returned: always
  type: dict
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vms import VmManager


def main() -> None:
    run_module(
        logic=lambda ctx: VmManager(ctx.client(PROXMOX), ctx.params, ctx.check_mode).ensure(),
        layers=[PROXMOX],
        argument_spec=dict(
            name=dict(type="str"),
            vmid=dict(type="int"),
            vmid_range=dict(type="list", elements="int"),
            node=dict(type="str", aliases=["target"]),
            clone=dict(type="str"),
            full=dict(type="bool"),
            storage=dict(type="str"),
            cores=dict(type="int"),
            sockets=dict(type="int"),
            memory=dict(type="int"),
            cpu=dict(type="str"),
            disks=dict(
                type="list",
                elements="dict",
                options=dict(
                    key=dict(type="str", no_log=False),
                    size=dict(type="str", required=True),
                    storage=dict(type="str"),
                    options=dict(type="dict"),
                ),
            ),
            nets=dict(type="list", elements="raw"),
            ciuser=dict(type="str"),
            cipassword=dict(type="str", no_log=True),
            sshkeys=dict(type="raw", no_log=False),
            ipconfig=dict(type="list", elements="raw"),
            nameserver=dict(type="str"),
            searchdomain=dict(type="str"),
            tags=dict(type="list", elements="str"),
            pool=dict(type="str"),
            description=dict(type="str"),
            onboot=dict(type="bool"),
            agent=dict(type="raw"),
            config=dict(type="dict"),
            state=dict(type="str", default="present", choices=["present", "started", "stopped", "restarted", "absent"]),
            timeout=dict(type="int", default=300),
            restart_if_needed=dict(type="bool", default=False),
        ),
        required_one_of=[("name", "vmid")],
    )


if __name__ == "__main__":
    main()
