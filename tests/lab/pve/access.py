"""Users, groups, API tokens and ACLs, as pve-access-control keeps them, mapped onto fakepve's permissions.

fakepve answers /access/* from the schema and stores nothing. This mixin stores users (with their groups),
groups, tokens (the secret, returned once, goes into fakepve's `apitokens`, so the token then logs in) and ACL
entries (path, user/group/token, role). fakepve's `acl` (userid -> [(path, privileges)]) is rebuilt from the
entries after every change, a user holding what its own and its groups' entries give. A privilege-separated
token (privsep=1, PVE's default) holds the intersection of its user's privileges and its own entries.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fakepve.model import PveError
from fakepve.routing import die, param_error, split_list
from fakepve.shapes import PRIVILEGES

_VM_ADMIN = (
    "VM.Allocate VM.Audit VM.Backup VM.Clone VM.Config.CDROM VM.Config.CPU VM.Config.Cloudinit "
    "VM.Config.Disk VM.Config.HWType VM.Config.Memory VM.Config.Network VM.Config.Options VM.Console "
    "VM.GuestAgent.Audit VM.GuestAgent.FileRead VM.GuestAgent.FileSystemMgmt VM.GuestAgent.FileWrite "
    "VM.GuestAgent.Unrestricted VM.Migrate VM.PowerMgmt VM.Replicate VM.Snapshot VM.Snapshot.Rollback"
)
# The built-in roles of PVE 9 (pve-access-control src/PVE/AccessControl.pm $privgroups / $special_roles).
ROLES: dict[str, tuple[str, ...]] = {
    "Administrator": tuple(PRIVILEGES),
    "NoAccess": (),
    "PVEAdmin": tuple(
        p
        for p in PRIVILEGES
        if p
        not in ("Permissions.Modify", "Realm.Allocate", "Sys.Modify", "Sys.PowerMgmt", "Sys.Incoming", "Sys.Console")
    ),
    "PVEAuditor": (
        "Datastore.Audit",
        "Mapping.Audit",
        "Pool.Audit",
        "SDN.Audit",
        "Sys.Audit",
        "VM.Audit",
        "VM.GuestAgent.Audit",
    ),
    "PVEDatastoreAdmin": (
        "Datastore.Allocate",
        "Datastore.AllocateSpace",
        "Datastore.AllocateTemplate",
        "Datastore.Audit",
    ),
    "PVEDatastoreUser": ("Datastore.AllocateSpace", "Datastore.Audit"),
    "PVEMappingAdmin": ("Mapping.Audit", "Mapping.Modify", "Mapping.Use"),
    "PVEMappingUser": ("Mapping.Audit", "Mapping.Use"),
    "PVEPoolAdmin": ("Pool.Allocate", "Pool.Audit"),
    "PVEPoolUser": ("Pool.Audit",),
    "PVESDNAdmin": ("SDN.Allocate", "SDN.Audit"),
    "PVESDNUser": ("SDN.Audit", "SDN.Use"),
    "PVESysAdmin": ("Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Syslog"),
    "PVETemplateUser": ("VM.Audit", "VM.Clone"),
    "PVEUserAdmin": ("Group.Allocate", "Realm.AllocateUser", "User.Modify"),
    "PVEVMAdmin": tuple(_VM_ADMIN.split()),
    "PVEVMUser": (
        "VM.Audit",
        "VM.Backup",
        "VM.Config.CDROM",
        "VM.Config.Cloudinit",
        "VM.Console",
        "VM.GuestAgent.Audit",
        "VM.PowerMgmt",
    ),
}
ACL_PATH = re.compile(
    r"^/(|access(/groups(/[^/]+)?|/realm/[^/]+)?|vms(/\d+)?|storage(/[^/]+)?|pool/[^/]+(/[^/]+)*|"
    r"nodes(/[^/]+)?|sdn(/.*)?|mapping(/.*)?|pool)$"
)


class AccessMixin:
    """/access/users, /access/groups, /access/users/{userid}/token, /access/acl, /access/roles."""

    def _access_state(self) -> dict[str, Any]:
        state = getattr(self, "_access", None)
        if state is None:
            state = self._access = {"users": {}, "groups": {}, "tokens": {}, "acl": []}
        return state

    def _routes_access_store(self):
        users, user = "/access/users", "/access/users/{userid}"
        tokens, token = user + "/token", user + "/token/{tokenid}"
        groups, group = "/access/groups", "/access/groups/{groupid}"
        return [
            ("GET", users, self._ac_users),
            ("POST", users, self._ac_user_create),
            ("GET", user, self._ac_user_read),
            ("PUT", user, self._ac_user_update),
            ("DELETE", user, self._ac_user_delete),
            ("GET", tokens, self._ac_tokens),
            ("GET", token, self._ac_token_read),
            ("POST", token, self._ac_token_create),
            ("DELETE", token, self._ac_token_delete),
            ("GET", groups, self._ac_groups),
            ("POST", groups, self._ac_group_create),
            ("GET", group, self._ac_group_read),
            ("DELETE", group, self._ac_group_delete),
            ("GET", "/access/acl", self._ac_acl),
            ("PUT", "/access/acl", self._ac_acl_update),
            ("GET", "/access/roles", self._ac_roles),
        ]

    # ------------------------------------------------------------ permissions

    def allowed(self, user, path, priv):
        if user and "!" in user and self.acl is not None and user.split("!")[0] != "root@pam":
            token = self._access_state()["tokens"].get(user)
            if token is not None and token.get("privsep", 1):
                return super().allowed(user.split("!")[0], path, priv) and self._holds(user, path, priv)
        return super().allowed(user, path, priv)

    def _holds(self, ugid: str, path: str, priv: str) -> bool:
        """Whether the ACL entries of ugid alone (not its user's) give priv on path (fakepve's path rules)."""
        paths = [path]
        if path.startswith("/vms/"):
            vmid = int(path.split("/")[2])
            paths += ["/vms"] + ["/pool/" + name for name, ids in self.pools.items() if vmid in ids]
        elif path.startswith("/storage/"):
            sid = path.split("/")[2]
            paths += ["/pool/" + name for name, meta in self.pool_info.items() if sid in meta["storage"]]
        for granted, privs in (self.acl or {}).get(ugid, []):
            if priv in privs and (granted == "/" or any(p == granted or p.startswith(granted + "/") for p in paths)):
                return True
        return False

    def _rebuild_acl(self) -> None:
        st = self._access_state()
        acl: dict[str, list[tuple[str, set[str]]]] = {}
        for entry in st["acl"]:
            privs = set(ROLES.get(entry["roleid"], ()))
            if entry["type"] == "group":
                members = [u for u, info in st["users"].items() if entry["ugid"] in info["groups"]]
            else:
                members = [entry["ugid"]]
            for member in members:
                acl.setdefault(member, []).append((entry["path"], privs))
        self.acl = acl

    # ------------------------------------------------------------------ users

    def _ac_user(self, userid: str) -> dict[str, Any]:
        info = self._access_state()["users"].get(userid)
        if info is None:
            raise die(f"no such user ('{userid}')")
        return info

    def _ac_groups_param(self, value: Any) -> list[str]:
        names = split_list(",".join(value) if isinstance(value, list) else value)
        for name in names:
            if name not in self._access_state()["groups"]:
                raise die(f"no such group '{name}'")
        return names

    def _ac_user_view(self, userid: str, info: dict[str, Any], full: bool = False) -> dict[str, Any]:
        out = {
            "userid": userid,
            "enable": info["enable"],
            "expire": info["expire"],
            "realm-type": userid.rpartition("@")[2],
            "groups": ",".join(sorted(info["groups"])),
        }
        if info.get("comment"):
            out["comment"] = info["comment"]
        if full:
            out["tokens"] = [
                dict(self._ac_token_view(t), tokenid=t.split("!")[1])
                for t in sorted(self._access_state()["tokens"])
                if t.split("!")[0] == userid
            ]
        return out

    async def _ac_users(self, v, user):
        st = self._access_state()
        out = [self._ac_user_view(uid, info, bool(v.get("full"))) for uid, info in sorted(st["users"].items())]
        if v.get("enabled"):
            out = [u for u in out if u["enable"]]
        return out

    async def _ac_user_create(self, v, user):
        userid = v["userid"]
        st = self._access_state()
        if userid in st["users"] or userid == self.user:
            raise die(f"create user failed: user '{userid}' already exists")
        groups = self._ac_groups_param(v.get("groups") or "")
        st["users"][userid] = {
            "enable": 1 if v.get("enable", 1) else 0,
            "expire": int(v.get("expire") or 0),
            "groups": set(groups),
            "comment": v.get("comment"),
        }
        if v.get("password"):
            self.users[userid] = v["password"]
        self._rebuild_acl() if self.acl is not None else None
        return None

    async def _ac_user_read(self, v, user):
        info = self._ac_user(v["userid"])
        out = self._ac_user_view(v["userid"], info)
        out["groups"] = sorted(info["groups"])
        out["tokens"] = {
            t.split("!")[1]: self._ac_token_view(t)
            for t in self._access_state()["tokens"]
            if t.split("!")[0] == v["userid"]
        }
        out.pop("userid")
        out.pop("realm-type")
        return out

    async def _ac_user_update(self, v, user):
        info = self._ac_user(v["userid"])
        if "groups" in v:
            groups = set(self._ac_groups_param(v["groups"]))
            info["groups"] = info["groups"] | groups if v.get("append") else groups
        elif v.get("append"):
            raise param_error(append="parameter 'append' requires 'groups'")
        for key in ("comment", "expire", "enable"):
            if key in v:
                info[key] = v[key]
        if self.acl is not None:
            self._rebuild_acl()
        return None

    async def _ac_user_delete(self, v, user):
        st = self._access_state()
        userid = v["userid"]
        self._ac_user(userid)
        del st["users"][userid]
        self.users.pop(userid, None)
        for tokenid in [t for t in st["tokens"] if t.split("!")[0] == userid]:
            del st["tokens"][tokenid]
            self.apitokens.pop(tokenid, None)
        st["acl"] = [e for e in st["acl"] if e["ugid"] != userid and e["ugid"].split("!")[0] != userid]
        if self.acl is not None:
            self._rebuild_acl()
        return None

    # ----------------------------------------------------------------- tokens

    def _ac_token_view(self, tokenid: str) -> dict[str, Any]:
        token = self._access_state()["tokens"][tokenid]
        out = {"privsep": token["privsep"], "expire": token["expire"]}
        if token.get("comment"):
            out["comment"] = token["comment"]
        return out

    async def _ac_tokens(self, v, user):
        self._ac_user(v["userid"])
        st = self._access_state()
        return [
            dict(self._ac_token_view(t), tokenid=t.split("!")[1])
            for t in sorted(st["tokens"])
            if t.split("!")[0] == v["userid"]
        ]

    async def _ac_token_read(self, v, user):
        tokenid = "{}!{}".format(v["userid"], v["tokenid"])
        self._ac_user(v["userid"])
        if tokenid not in self._access_state()["tokens"]:
            raise die("no such token '{}' for user '{}'".format(v["tokenid"], v["userid"]))
        return self._ac_token_view(tokenid)

    async def _ac_token_create(self, v, user):
        self._ac_user(v["userid"])
        tokenid = "{}!{}".format(v["userid"], v["tokenid"])
        st = self._access_state()
        if tokenid in st["tokens"]:
            raise param_error(tokenid="Token already exists.")
        privsep = 1 if v.get("privsep", 1) in (1, True, "1") else 0
        st["tokens"][tokenid] = {"privsep": privsep, "expire": int(v.get("expire") or 0), "comment": v.get("comment")}
        secret = str(uuid.uuid4())
        self.apitokens[tokenid] = secret
        return {"full-tokenid": tokenid, "info": self._ac_token_view(tokenid), "value": secret}

    async def _ac_token_delete(self, v, user):
        tokenid = "{}!{}".format(v["userid"], v["tokenid"])
        st = self._access_state()
        if tokenid not in st["tokens"]:
            raise die("no such token '{}' for user '{}'".format(v["tokenid"], v["userid"]))
        del st["tokens"][tokenid]
        self.apitokens.pop(tokenid, None)
        st["acl"] = [e for e in st["acl"] if e["ugid"] != tokenid]
        if self.acl is not None:
            self._rebuild_acl()
        return None

    # ----------------------------------------------------------------- groups

    async def _ac_groups(self, v, user):
        st = self._access_state()
        out = []
        for name, info in sorted(st["groups"].items()):
            members = sorted(u for u, i in st["users"].items() if name in i["groups"])
            entry = {"groupid": name, "users": ",".join(members)}
            if info.get("comment"):
                entry["comment"] = info["comment"]
            out.append(entry)
        return out

    async def _ac_group_create(self, v, user):
        st = self._access_state()
        if v["groupid"] in st["groups"]:
            raise die("create group failed: group '{}' already exists".format(v["groupid"]))
        st["groups"][v["groupid"]] = {"comment": v.get("comment")}
        return None

    async def _ac_group_read(self, v, user):
        st = self._access_state()
        info = st["groups"].get(v["groupid"])
        if info is None:
            raise die("group '{}' does not exist".format(v["groupid"]))
        out = {"members": sorted(u for u, i in st["users"].items() if v["groupid"] in i["groups"])}
        if info.get("comment"):
            out["comment"] = info["comment"]
        return out

    async def _ac_group_delete(self, v, user):
        st = self._access_state()
        if v["groupid"] not in st["groups"]:
            raise die("delete group failed: group '{}' does not exist".format(v["groupid"]))
        del st["groups"][v["groupid"]]
        for info in st["users"].values():
            info["groups"].discard(v["groupid"])
        st["acl"] = [e for e in st["acl"] if not (e["type"] == "group" and e["ugid"] == v["groupid"])]
        if self.acl is not None:
            self._rebuild_acl()
        return None

    # -------------------------------------------------------------------- ACL

    async def _ac_acl(self, v, user):
        return [
            {
                "path": e["path"],
                "type": e["type"],
                "ugid": e["ugid"],
                "roleid": e["roleid"],
                "propagate": e["propagate"],
            }
            for e in self._access_state()["acl"]
        ]

    async def _ac_acl_update(self, v, user):
        st = self._access_state()
        path = v["path"]
        if not ACL_PATH.match(path):
            raise param_error(path=f"invalid ACL path '{path}'")
        roles = split_list(v.get("roles"))
        for role in roles:
            if role not in ROLES:
                raise die(f"role '{role}' does not exist")
        targets: list[tuple[str, str]] = []
        for name in split_list(v.get("users")):
            if name not in st["users"] and name != self.user:
                raise die(f"user '{name}' does not exist")
            targets.append(("user", name))
        for name in split_list(v.get("groups")):
            if name not in st["groups"]:
                raise die(f"group '{name}' does not exist")
            targets.append(("group", name))
        for name in split_list(v.get("tokens")):
            if name not in st["tokens"]:
                raise die("no such token '{}' for user '{}'".format(name.partition("!")[2], name.partition("!")[0]))
            targets.append(("token", name))
        propagate = 0 if v.get("propagate") in (0, False, "0") else 1
        for kind, ugid in targets:
            for role in roles:
                st["acl"] = [
                    e
                    for e in st["acl"]
                    if not (e["path"] == path and e["type"] == kind and e["ugid"] == ugid and e["roleid"] == role)
                ]
                if not v.get("delete"):
                    st["acl"].append({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": propagate})
        self._rebuild_acl()
        return None

    async def _ac_roles(self, v, user):
        return [
            {"roleid": name, "special": 1, "privs": ",".join(sorted(privs))} for name, privs in sorted(ROLES.items())
        ]


__all__ = ["AccessMixin", "ROLES", "PveError"]
