"""The lab's Proxmox API: LabPve (tests/lab/pve) as a background process on a loopback address."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import uuid
from typing import Any

from .base import CONFIG, ROOT, Lab, Layer, pid_alive, read_pid, stop_pid, wait_for, write_private
from .pki import issue

SERVE = os.path.join(ROOT, "tests", "lab", "pve", "serve.py")


class Pve(Layer):
    name = "pve"

    def _dir(self, lab: Lab) -> str:
        return os.path.dirname(lab.path("pve", "x"))

    def _running(self, lab: Lab) -> bool:
        pid = read_pid(os.path.join(self._dir(lab), "pve.pid"))
        return pid is not None and pid_alive(pid, SERVE)

    def _answers(self, host: str, port: int, ca: str) -> bool:
        ctx = ssl.create_default_context(cafile=ca)
        try:
            with socket.create_connection((host, port), timeout=1) as sock, ctx.wrap_socket(sock, server_hostname=host):
                return True
        except OSError:
            return False

    def up(self, lab: Lab) -> None:
        cfg = lab.config["proxmox"]
        directory = self._dir(lab)
        ca = lab.facts("pki")["ca"]
        secrets_file = os.path.join(directory, "secrets.json")
        if not os.path.exists(secrets_file):
            write_private(
                secrets_file, json.dumps({"password": secrets.token_urlsafe(18), "token_secret": str(uuid.uuid4())})
            )
        with open(secrets_file, encoding="utf-8") as f:
            creds = json.load(f)
        host, port = cfg["host"], int(cfg["port"])
        if not self._running(lab):
            tls = issue(os.path.dirname(ca), "pve", [host, "localhost"])
            argv = [
                sys.executable,
                SERVE,
                "--state-dir",
                directory,
                "--config",
                CONFIG,
                "--cert",
                tls["cert"],
                "--key",
                tls["key"],
            ]
            with open(os.path.join(directory, "pve.log"), "ab") as log:
                # The fake keeps its own copy of the log's file descriptor; it outlives this process.
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            wait_for(lambda: self._running(lab) and self._answers(host, port, ca), 30, "the lab Proxmox API")
        token_id = "%s!%s" % (cfg["user"], cfg["token_name"])
        env = {
            "PROXMOX_HOST": host,
            "PROXMOX_PORT": str(port),
            "PROXMOX_USER": cfg["user"],
            "PROXMOX_PASSWORD": creds["password"],
            "PROXMOX_TOKEN_ID": token_id,
            "PROXMOX_TOKEN_SECRET": creds["token_secret"],
            "PROXMOX_CA_PATH": ca,
            "IRONCLOUD_LAB_PVE_CONTROL": os.path.join(directory, "control.sock"),
            "IRONCLOUD_LAB_PVE_REQUESTS": os.path.join(directory, "requests.jsonl"),
        }
        inventory = {
            "all": {
                "hosts": {
                    "localhost": {
                        # The controller: modules for the API and the state store run here, in the venv's Python.
                        "ansible_connection": "local",
                        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    }
                },
                "vars": {
                    "proxmox_api_host": host,
                    "proxmox_api_port": port,
                    "proxmox_api_token_id": token_id,
                    "proxmox_ca_path": ca,
                    "proxmox_cluster_nodes": sorted(cfg["nodes"]),
                },
            }
        }
        lab.publish(self.name, env=env, inventory=inventory, dir=directory, host=host, port=port)

    def down(self, lab: Lab) -> None:
        directory = self._dir(lab)
        pid = read_pid(os.path.join(directory, "pve.pid"))
        if pid is not None:
            stop_pid(pid, SERVE)
        remove_guests(directory)
        shutil.rmtree(directory, ignore_errors=True)

    def status(self, lab: Lab) -> dict[str, Any]:
        cfg = lab.config["proxmox"]
        return {"up": self._running(lab), "url": "https://%s:%s" % (cfg["host"], cfg["port"])}


def remove_guests(state_dir: str) -> list[str]:
    """Remove the guest systems of this lab's API (the containers labelled with its owner id and their network
    namespaces): they are its VMs, and they outlive the API unless removed. Other owners' guests stay."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))
    from guests import LABEL, PREFIX, owner_of

    listed = subprocess.run(
        ["podman", "ps", "-a", "--filter", "label=%s=%s" % (LABEL, owner_of(state_dir)), "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    removed = []
    for name in listed.stdout.split():
        if not name.startswith(PREFIX):
            continue
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        removed.append(name)
    return removed
