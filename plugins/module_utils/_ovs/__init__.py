# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open vSwitch: the ovs-vsctl/ovs-ofctl runner (vsctl), the pure overlay model (model), the modules' logic."""
