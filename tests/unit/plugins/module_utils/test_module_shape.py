"""The one module shape (plugins/module_utils/_module.py): layers, requirements, the result contract."""

from __future__ import annotations

import glob
import json
import os
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ironcloud.stack.plugins.module_utils import _module
from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError, ValidationError


class FakeClient:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        log.append("connect")

    def close(self) -> None:
        self.log.append("close")


def layer(log: list[str], name: str = "fake", requirements: tuple[_module.Requirement, ...] = ()) -> _module.Layer:
    return _module.Layer(
        name=name,
        argument_spec=lambda: {"endpoint": {"type": "str", "default": "lab"}},
        connect=lambda module: FakeClient(log),
        requirements=requirements,
    )


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kwargs: Any) -> dict[str, Any]:
    """run_module as Ansible runs it: arguments on stdin, the JSON result on stdout, SystemExit at the end."""
    with patch_module_args(args), pytest.raises(SystemExit):
        _module.run_module(**kwargs)
    return json.loads(capsys.readouterr().out)


def changed_logic(ctx: _module.ModuleContext) -> dict[str, Any]:
    diff = Diff()
    diff.compare("size", 1, ctx.params["size"])
    return {"changed": diff.changed, "thing": {"size": ctx.params["size"]}, "diff": diff.as_dict()}


def test_layers_bring_their_options_and_the_result_has_the_diff_only_with_diff(capsys):
    log: list[str] = []
    spec = {"size": {"type": "int"}}
    plain = run({"size": 2}, capsys, logic=changed_logic, layers=[layer(log)], argument_spec=spec)
    assert plain["changed"] is True and plain["thing"] == {"size": 2}
    assert "diff" not in plain
    shown = run(
        {"size": 2, "_ansible_diff": True}, capsys, logic=changed_logic, layers=[layer(log)], argument_spec=spec
    )
    assert shown["diff"] == {"before": {"size": 1}, "after": {"size": 2}}


def test_a_client_is_made_once_on_first_use_and_closed_after_the_logic(capsys):
    log: list[str] = []
    fake = layer(log)

    def logic(ctx: _module.ModuleContext) -> dict[str, Any]:
        assert log == []
        assert ctx.client(fake) is ctx.client(fake)
        assert ctx.params["endpoint"] == "lab"
        return {"changed": False}

    run({}, capsys, logic=logic, layers=[fake], argument_spec={})
    assert log == ["connect", "close"]


def test_an_error_fails_with_its_sentence_and_details_under_failure_and_closes_the_client(capsys):
    log: list[str] = []
    fake = layer(log)

    def logic(ctx: _module.ModuleContext) -> dict[str, Any]:
        ctx.client(fake)
        raise ValidationError("size: must be at least 1", option="size")

    result = run({}, capsys, logic=logic, layers=[fake], argument_spec={})
    assert result["failed"] is True
    assert result["msg"] == "size: must be at least 1"
    assert result["failure"] == {"option": "size"}
    assert log == ["connect", "close"]


def test_an_error_without_details_has_no_failure_key():
    assert _module.failure_result(IroncloudError("no")) == {"msg": "no"}


def test_a_missing_library_fails_through_missing_required_lib_before_the_logic_runs(capsys):
    log: list[str] = []
    absent = _module.Requirement("frobnicate", False, ImportError("No module named 'frobnicate'"))

    def logic(ctx: _module.ModuleContext) -> dict[str, Any]:
        raise AssertionError("the logic must not run")

    result = run({}, capsys, logic=logic, layers=[layer(log, requirements=(absent,))], argument_spec={})
    assert result["failed"] is True
    assert "frobnicate" in result["msg"]
    assert log == []


def test_a_requirement_is_checked_only_where_the_parameters_need_it():
    only_for_pg = _module.Requirement("psycopg", False, None, needed=lambda p: p["url"].startswith("postgresql:"))
    assert _module.missing_requirements([only_for_pg], {"url": "sqlite:///x.db"}) == []
    assert _module.missing_requirements([only_for_pg], {"url": "postgresql://h/db"}) == [only_for_pg]


def test_the_module_options_override_the_layer_options():
    log: list[str] = []
    spec = _module.merged_argument_spec([layer(log)], {"endpoint": {"type": "str", "required": True}})
    assert spec == {"endpoint": {"type": "str", "required": True}}


def test_a_client_of_a_layer_the_module_did_not_declare_is_a_bug():
    log: list[str] = []
    ctx = _module.ModuleContext(module=None, layers=[layer(log)])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ctx.client(layer(log, name="other"))


def test_whole_diff_of_created_and_removed_resources():
    assert whole(None, {"a": 1}) == {"before": {}, "after": {"a": 1}}
    assert whole({"a": 1}, None) == {"before": {"a": 1}, "after": {}}


def test_every_module_uses_run_module_and_builds_no_ansible_module_itself():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    modules = sorted(glob.glob(os.path.join(root, "plugins", "modules", "*.py")))
    assert modules
    for path in modules:
        with open(path, encoding="utf-8") as f:
            code = f.read()
        action = os.path.join(root, "plugins", "action", os.path.basename(path))
        if os.path.exists(action):  # the documentation of an action plugin (portal_object): no code of its own
            assert "import" not in code.replace("from __future__ import annotations", ""), path
            continue
        assert "run_module(" in code, path
        assert "AnsibleModule(" not in code and "missing_required_lib" not in code, path


def test_a_layer_used_only_when_asked_requires_its_libraries_only_then():
    log: list[str] = []
    absent = _module.Requirement("rados", False, ImportError("No module named 'rados'"))
    optional = layer(log, requirements=(absent,)).when(lambda params: params["storage_usage"])
    assert _module.missing_requirements(optional.requirements, {"storage_usage": False}) == []
    assert [r.name for r in _module.missing_requirements(optional.requirements, {"storage_usage": True})] == ["rados"]
