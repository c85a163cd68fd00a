"""The ironcloud.stack lab: `up`, `down` and `status` of every layer, in order.

    python tests/lab/labctl.py up|down|status [LAYER ...]

Each layer (tests/lab/layers/<name>.py) brings up one part of the lab with real programs wherever
they run here: the Proxmox API (a fakepve subclass), the hypervisor hosts (podman containers),
PostgreSQL and Ceph. `up` is idempotent; `down` removes what `up` created and nothing else. What the
layers publish is written to .lab/env (shell exports), .lab/env.json and inventories/lab/.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from layers import LAYERS
from layers.base import Lab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("layers", nargs="*", help="only these layers (default: all)")
    args = parser.parse_args(argv)
    known = [layer.name for layer in LAYERS]
    unknown = [name for name in args.layers if name not in known]
    if unknown:
        parser.error("unknown layer(s) %s; known: %s" % (", ".join(unknown), ", ".join(known)))
    chosen = [layer for layer in LAYERS if not args.layers or layer.name in args.layers]
    lab = Lab.load()
    if args.action == "up":
        for layer in chosen:
            print("lab: %s up" % layer.name, flush=True)
            layer.up(lab)
            lab.save()
        lab.write_outputs()
        print("lab: up; environment in %s" % lab.env_file, flush=True)
    elif args.action == "down":
        for layer in reversed(chosen):
            print("lab: %s down" % layer.name, flush=True)
            layer.down(lab)
            lab.forget(layer.name)
            lab.save()
        lab.write_outputs()
        lab.remove_if_empty()
    else:
        ok = True
        for layer in chosen:
            state = layer.status(lab)
            ok = ok and state.get("up", False)
            print("%-10s %s" % (layer.name, " ".join("%s=%s" % kv for kv in sorted(state.items()))))
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
