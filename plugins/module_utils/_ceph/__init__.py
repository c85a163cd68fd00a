# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ceph logic of the storage modules (private: may change in any release).

client: the one librados connection of a module run and its JSON mon commands; common: the shared
connection options, sizes, names; pools, caps, images: desired-vs-current logic, pure where possible.
"""
