"""Run the lab's Proxmox API: LabPve on the configured loopback address, TLS from the lab CA.

    python tests/lab/pve/serve.py --state-dir .lab/pve --config tests/lab/lab.yml --cert C --key K

Reads the admin password and the API token secret from <state-dir>/secrets.json, writes its pid to
<state-dir>/pve.pid, records requests to <state-dir>/requests.jsonl and listens for control calls on
<state-dir>/control.sock. Started and stopped by tests/lab/layers/pve.py. The VMs' guest systems
(guests.py) are labelled with an owner id made from <state-dir>, and their NoCloud seeds are kept in
<state-dir>/guests; --keep-legacy-guests leaves the bare network namespaces of the earlier stand-in guests in
the nodes alone (for a second API next to the lab's own, e.g. to try a change of tests/lab/pve).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guests import owner_of
from labpve import LabPve


async def serve(args: argparse.Namespace) -> None:
    with open(args.config, encoding="utf-8") as f:
        config = yaml.safe_load(f)["proxmox"]
    with open(os.path.join(args.state_dir, "secrets.json"), encoding="utf-8") as f:
        secrets = json.load(f)
    pve = LabPve(config, password=secrets["password"], host=config["host"], port=int(config["port"]))
    pve.apitokens["%s!%s" % (config["user"], config["token_name"])] = secrets["token_secret"]
    pve.request_log = os.path.join(args.state_dir, "requests.jsonl")
    pve.max_requests = 1000
    pve.guest_owner = owner_of(args.state_dir)
    pve.guest_dir = os.path.join(os.path.abspath(args.state_dir), "guests")
    # A fresh fake owns no VM: guests an earlier run left in the hypervisor containers go first.
    await pve.clear_stale_guests(sorted(config["nodes"]), legacy=not args.keep_legacy_guests)
    await pve.start(args.cert, args.key)
    await pve.start_control(os.path.join(args.state_dir, "control.sock"))
    with open(os.path.join(args.state_dir, "pve.pid"), "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))
    print("lab pve listening on %s" % pve.url, flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--keep-legacy-guests", action="store_true")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
