# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The Proxmox VE API connection options (plugins/module_utils/_proxmox/client.py proxmox_argument_spec).
    DOCUMENTATION = r"""
options:
  api_host:
    description:
      - The Proxmox VE API host (any node of the cluster).
      - If not set, the value of the E(PROXMOX_HOST) environment variable is used.
    type: str
    required: true
  api_port:
    description:
      - The API port.
      - If not set, the value of the E(PROXMOX_PORT) environment variable is used, else V(8006).
    type: int
  api_user:
    description:
      - The user to log in as with O(api_password), for example V(root@pam).
      - If not set, the value of the E(PROXMOX_USER) environment variable is used.
    type: str
  api_password:
    description:
      - The password of O(api_user). An API token (O(api_token_id), O(api_token_secret)) is preferred.
      - If not set, the value of the E(PROXMOX_PASSWORD) environment variable is used.
    type: str
  api_token_id:
    description:
      - The API token, as V(user@realm!tokenname).
      - If not set, the value of the E(PROXMOX_TOKEN_ID) environment variable is used.
    type: str
  api_token_secret:
    description:
      - The secret of O(api_token_id).
      - If not set, the value of the E(PROXMOX_TOKEN_SECRET) environment variable is used.
    type: str
  validate_certs:
    description:
      - Verify the API's TLS certificate. Leave it on; point O(ca_path) at your cluster's CA instead.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle (PEM) to verify the API's certificate against, instead of the system's CAs.
      - It is passed with every request, so it wins over E(REQUESTS_CA_BUNDLE).
      - If not set, the value of the E(PROXMOX_CA_PATH) environment variable is used.
    type: path
  api_timeout:
    description:
      - Seconds to wait for an answer to one API request.
    type: int
    default: 30
requirements:
  - proxmoxer >= 2.3
  - requests
notes:
  - The option names and environment variables are those of C(community.proxmox), so inventories can switch.
  - Set the options once for a play with C(module_defaults) and the action group C(group/ironcloud.stack.proxmox).
"""

    # The same connection options for plugins (the inventory plugin ironcloud.stack.cloud): plugins read
    # environment variables through their option definitions (env:), not through an argument spec.
    PLUGINS = r"""
options:
  api_host:
    description:
      - The Proxmox VE API host (any node of the cluster). Required.
    type: str
    env:
      - name: PROXMOX_HOST
  api_port:
    description:
      - The API port.
    type: int
    default: 8006
    env:
      - name: PROXMOX_PORT
  api_user:
    description:
      - The user to log in as with O(api_password), for example V(root@pam).
    type: str
    env:
      - name: PROXMOX_USER
  api_password:
    description:
      - The password of O(api_user). An API token (O(api_token_id), O(api_token_secret)) is preferred.
      - May be a template, for example a lookup or a vaulted variable.
    type: str
    env:
      - name: PROXMOX_PASSWORD
  api_token_id:
    description:
      - The API token, as V(user@realm!tokenname).
    type: str
    env:
      - name: PROXMOX_TOKEN_ID
  api_token_secret:
    description:
      - The secret of O(api_token_id).
      - May be a template, for example a lookup or a vaulted variable.
    type: str
    env:
      - name: PROXMOX_TOKEN_SECRET
  validate_certs:
    description:
      - Verify the API's TLS certificate. Leave it on; point O(ca_path) at your cluster's CA instead.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle (PEM) to verify the API's certificate against, instead of the system's CAs.
      - It is passed with every request, so it wins over E(REQUESTS_CA_BUNDLE).
    type: path
    env:
      - name: PROXMOX_CA_PATH
  api_timeout:
    description:
      - Seconds to wait for an answer to one API request.
    type: int
    default: 30
requirements:
  - proxmoxer >= 2.3
  - requests
notes:
  - The option names and environment variables are those of the modules (and of C(community.proxmox)'s modules).
"""

    # A module of the action group ironcloud.stack.proxmox (meta/runtime.yml).
    ACTION_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/ironcloud.stack.proxmox) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - ironcloud.stack.proxmox
"""
