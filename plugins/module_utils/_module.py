# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One shape for every module of the collection: the layers it talks to, its own options, its logic.

A module's main() is one call::

    run_module(
        layers=[PROXMOX, STATE_STORE],            # each brings its options, its libraries, its client
        argument_spec=dict(name=dict(type="str", required=True), ...),
        logic=lambda ctx: ensure_something(ctx.client(PROXMOX), ctx.params, ctx.check_mode),
        requirements=[NETADDR],                    # libraries the logic needs beyond its layers'
        required_if=[...],                         # any other AnsibleModule keyword
    )

run_module merges the layers' argument specs with the module's, builds the AnsibleModule (check mode is always
supported), fails through the one missing_required_lib path when a library is absent, hands the logic a
ModuleContext that connects each layer's client on first use (and closes it afterwards), and turns what the logic
returns into the result:

- the logic returns a dict with ``changed``, the resource under one key, ``msg`` where it helps, and ``diff``
  ({"before", "after"}, built with _diff.Diff) whenever it changes or would change something;
- the module returns ``diff`` only when Ansible runs with --diff;
- an IroncloudError becomes ``fail_json(msg=<the sentence>, failure=<its details>)``; nothing else is caught,
  so a bug still shows its traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError

C = TypeVar("C")


def always(params: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Requirement:
    """A Python library a layer or a module needs: its name for users, whether it imported, and why not."""

    name: str
    available: bool
    error: object = None
    needed: Callable[[Mapping[str, Any]], bool] = always


@dataclass(frozen=True)
class Layer(Generic[C]):
    """A part of the cloud a module talks to: its shared options, its libraries and how to reach it."""

    name: str
    argument_spec: Callable[[], dict[str, Any]]
    connect: Callable[[AnsibleModule], C]
    requirements: Sequence[Requirement] = field(default_factory=tuple)

    def when(self, needed: Callable[[Mapping[str, Any]], bool]) -> Layer[C]:
        """The layer for a module that talks to it only when needed(params): its libraries are required then only.

        The logic asks for its client only in that case (clients are made on first use).
        """

        def gated(req: Requirement) -> Requirement:
            return replace(req, needed=lambda params: needed(params) and req.needed(params))

        return replace(self, requirements=tuple(gated(req) for req in self.requirements))


class ModuleContext:
    """What the logic of a module sees: its parameters, the run's modes and a client per layer, made on first use."""

    def __init__(self, module: AnsibleModule, layers: Iterable[Layer[Any]]) -> None:
        self.module = module
        self.layers = {layer.name for layer in layers}
        self.started = time.time()
        self._clients: dict[str, Any] = {}

    @property
    def params(self) -> dict[str, Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return bool(self.module.check_mode)

    @property
    def diff_mode(self) -> bool:
        return bool(self.module._diff)

    def client(self, layer: Layer[C]) -> C:
        """The layer's client for this run (one connection, reused by every call)."""
        if layer.name not in self.layers:
            raise ValueError("module does not declare layer %s" % layer.name)
        if layer.name not in self._clients:
            self._clients[layer.name] = layer.connect(self.module)
        return self._clients[layer.name]

    def close(self) -> None:
        for client in reversed(list(self._clients.values())):
            close = getattr(client, "close", None)
            if close is not None:
                close()
        self._clients.clear()


def merged_argument_spec(layers: Iterable[Layer[Any]], argument_spec: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for layer in layers:
        spec.update(layer.argument_spec())
    spec.update(argument_spec)
    return spec


def missing_requirements(requirements: Iterable[Requirement], params: Mapping[str, Any]) -> list[Requirement]:
    return [req for req in requirements if not req.available and req.needed(params)]


def module_result(result: Mapping[str, Any], diff_mode: bool) -> dict[str, Any]:
    """The logic's result as the module returns it: the diff only with --diff."""
    out = dict(result)
    diff = out.pop("diff", None)
    if diff_mode and diff is not None:
        out["diff"] = diff
    return out


def failure_result(error: IroncloudError) -> dict[str, Any]:
    """fail_json's keyword arguments for an error: msg is the sentence, the details nest under failure."""
    out: dict[str, Any] = {"msg": error.message}
    if error.details:
        out["failure"] = dict(error.details)
    return out


def run_module(
    logic: Callable[[ModuleContext], Mapping[str, Any]],
    argument_spec: Mapping[str, Any],
    layers: Sequence[Layer[Any]] = (),
    requirements: Sequence[Requirement] = (),
    **module_kwargs: Any,
) -> None:
    """Build the module from its layers and options, run its logic and exit with the result (see the top)."""
    module = AnsibleModule(
        argument_spec=merged_argument_spec(layers, argument_spec), supports_check_mode=True, **module_kwargs
    )
    wanted = [req for layer in layers for req in layer.requirements] + list(requirements)
    for req in missing_requirements(wanted, module.params):
        module.fail_json(msg=missing_required_lib(req.name), exception=str(req.error))
    context = ModuleContext(module, layers)
    try:
        result = logic(context)
    except IroncloudError as e:
        module.fail_json(**failure_result(e))
    finally:
        context.close()
    module.exit_json(**module_result(result, context.diff_mode))
