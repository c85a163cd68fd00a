"""Checks of what the portal would send to AWX, shared by the unit and integration tests (no AWX server runs here).

- `argspec(module)`: the argument spec of an installed awx.awx module, captured by running its main() with
  AnsibleModule's constructor replaced (the spec each module builds, with the controller's connection options).
- `check_args(module, args)`: the arguments validated by ansible's own ArgumentSpecValidator against that spec
  (unknown options, types, choices, required, mutually exclusive ...), as the module would on the controller.
- `injected_env(credential_type, inputs, tmp)`: the environment AWX injects for a credential of the type: the
  type's `injectors` rendered the way AWX renders them (Jinja with the inputs, `tower.filename.<name>` for the
  files of `injectors.file`, written under tmp).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from collections.abc import Mapping
from typing import Any
from unittest import mock

import jinja2
import jinja2.sandbox
from ansible.module_utils import basic
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

VALIDATOR_KEYS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


class _Captured(Exception):
    pass


@functools.cache
def argspec(module: str) -> dict[str, Any]:
    namespace, collection, name = module.split(".")
    assert (namespace, collection) == ("awx", "awx"), module
    code = importlib.import_module("ansible_collections.awx.awx.plugins.modules." + name)
    captured: dict[str, Any] = {}

    def fake_init(self: Any, argument_spec: dict[str, Any] | None = None, **kwargs: Any) -> None:
        captured.update(kwargs, argument_spec=argument_spec)
        raise _Captured

    with mock.patch.object(basic.AnsibleModule, "__init__", fake_init), contextlib.suppress(_Captured):
        code.main()
    assert captured.get("argument_spec"), "%s: no argument spec captured" % module
    return captured


def check_args(module: str, args: Mapping[str, Any]) -> list[str]:
    """The errors the module would report for these arguments ([] when it accepts them)."""
    spec = argspec(module)
    validator = ArgumentSpecValidator(spec["argument_spec"], **{k: spec[k] for k in VALIDATOR_KEYS if spec.get(k)})
    result = validator.validate(dict(args))
    errors = [str(e) for e in result.errors]
    # The validator coerces types; a value it had to change (a list given as a string ...) is an error here.
    for key, value in args.items():
        option = spec["argument_spec"].get(key)
        if option and option.get("type") in ("list", "dict") and value is not None:
            wanted = list if option["type"] == "list" else dict
            if not isinstance(value, wanted):
                errors.append("%s: %s must be a %s, got %s" % (module, key, option["type"], type(value).__name__))
    return errors


def injected_env(credential_type: Mapping[str, Any], inputs: Mapping[str, Any], tmp: str) -> dict[str, str]:
    """AWX's injection (awx/main/models/credential: build_safe_env / _get_injectors): the file templates are
    rendered and written first, their paths given as tower.filename (one file: `template`) or tower.filename.<n>
    (`template.<n>`); then each env value is rendered with the inputs and tower."""
    env_jinja = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    injectors = credential_type.get("injectors") or {}
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    values = {k: inputs.get(k, fields[k].get("default", "")) for k in fields}
    files = injectors.get("file") or {}
    filenames: dict[str, str] = {}
    for key, template in files.items():
        path = os.path.join(tmp, "cred_" + key.replace(".", "_"))
        with open(path, "w", encoding="utf-8") as f:
            f.write(env_jinja.from_string(template).render(**values))
        os.chmod(path, 0o600)
        filenames[key] = path
    if list(filenames) == ["template"]:
        tower: dict[str, Any] = {"filename": filenames["template"]}
    else:
        tower = {"filename": {k.split(".", 1)[1]: v for k, v in filenames.items()}}
    return {
        var: env_jinja.from_string(template).render(tower=tower, **values)
        for var, template in (injectors.get("env") or {}).items()
    }
