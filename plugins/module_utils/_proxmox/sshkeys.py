# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check PVE makes of cloud-init `sshkeys`, made before anything is sent.

PVE (pve-common PVE::Tools::validate_ssh_public_keys, called by qemu-server's create and config handlers) runs
`ssh-keygen -l -f` on each line that is not blank, and refuses the request with "SSH public key validation error"
if one fails. ssh-keygen takes `[one word of authorized_keys options or known_hosts names] type base64 [comment]`
and parses the key blob, whose first field must name the same type. A line holding only a `# comment` is not a
key to ssh-keygen, so PVE refuses it too; blank lines are skipped.

Here each line is parsed the same way, in pure Python: the type must be one PVE 9's OpenSSH takes (DSA is gone
from OpenSSH 10), the base64 must decode, and the blob must hold exactly the fields of that type (an Ed25519 key
of 32 bytes, an ECDSA point on the named curve's length, an RSA modulus of at least 1024 bits).
"""

from __future__ import annotations

import base64
import binascii
import struct

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

ED25519 = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com")
# ECDSA types: (curve name in the blob, bytes of an uncompressed point).
ECDSA = {
    "ecdsa-sha2-nistp256": ("nistp256", 65),
    "ecdsa-sha2-nistp384": ("nistp384", 97),
    "ecdsa-sha2-nistp521": ("nistp521", 133),
    "sk-ecdsa-sha2-nistp256@openssh.com": ("nistp256", 65),
}
KEY_TYPES = ("ssh-rsa",) + ED25519 + tuple(ECDSA)
# OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE.
RSA_MIN_BITS = 1024


class _Blob:
    """SSH wire format reader (RFC 4251 strings and mpints)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def string(self) -> bytes:
        if self.at + 4 > len(self.data):
            raise ValueError("the key data ends early")
        (size,) = struct.unpack(">I", self.data[self.at : self.at + 4])
        if self.at + 4 + size > len(self.data):
            raise ValueError("the key data ends early")
        self.at += 4 + size
        return self.data[self.at - size : self.at]

    def end(self) -> None:
        if self.at != len(self.data):
            raise ValueError("the key data has %d bytes too many" % (len(self.data) - self.at))


def _check_blob(kind: str, blob: bytes) -> None:
    """ValueError unless blob is a public key of type kind."""
    reader = _Blob(blob)
    inner = reader.string().decode("ascii", "replace")
    if inner != kind:
        raise ValueError("the key data is a %s key, not %s" % (inner, kind))
    if kind == "ssh-rsa":
        exponent, modulus = reader.string(), reader.string()
        bits = int.from_bytes(modulus, "big").bit_length()
        if not exponent or bits < RSA_MIN_BITS:
            raise ValueError("an RSA key of %d bits (OpenSSH takes %d and more)" % (bits, RSA_MIN_BITS))
    elif kind in ED25519:
        if len(reader.string()) != 32:
            raise ValueError("an Ed25519 key is 32 bytes")
    else:
        curve, size = ECDSA[kind]
        if reader.string() != curve.encode():
            raise ValueError("the key data is not on curve %s" % curve)
        point = reader.string()
        if len(point) != size or point[:1] != b"\x04":
            raise ValueError("the key data is no point of curve %s" % curve)
    if kind.startswith("sk-"):
        reader.string()  # the FIDO application, e.g. ssh:
    reader.end()


def check_line(line: str, where: str) -> None:
    """ValidationError unless line is blank or one OpenSSH public key as PVE's ssh-keygen takes it."""
    words = line.split()
    if not words:
        return
    start = next((i for i in (0, 1) if len(words) > i and words[i] in KEY_TYPES), None)
    if start is None:
        shown = line if len(line) <= 40 else line[:37] + "..."
        raise ValidationError(
            "%s: %r is not an OpenSSH public key: a key starts with its type (%s); PVE refuses any other line "
            "but a blank one" % (where, shown, ", ".join(KEY_TYPES))
        )
    kind = words[start]
    if len(words) <= start + 1:
        raise ValidationError("%s: the %s key has no key data after its type" % (where, kind))
    try:
        blob = base64.b64decode(words[start + 1], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "%s: the %s key's data is not base64 (is the key cut or wrapped?)" % (where, kind)
        ) from None
    try:
        _check_blob(kind, blob)
    except ValueError as e:
        raise ValidationError("%s: not a valid %s public key: %s" % (where, kind, e)) from None


def check_sshkeys(text: str, option: str = "sshkeys") -> None:
    """ValidationError naming the option and the line unless every line is blank or a public key."""
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        check_line(line, option if len(lines) == 1 else "%s line %d" % (option, n))
