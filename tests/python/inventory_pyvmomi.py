"""pyvmomi reads a host's hardware summary and each VM's configured
processors and memory, the figures tests/interop/inventory.rs compares
with what WMI, PowerShell, SMASH and Redfish report for the same chassis.

usage: inventory_pyvmomi.py HOST PORT USER PASSWORD CA_PEM
prints HOST <pkgs> <cores> <threads> <memorySize> <cpuMhz> <cpuModel>
and VM <name> <numCPU> <memoryMB> <summary numCpu> <summary memorySizeMB>
"""
import ssl
import sys

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

host, port, user, password, ca = sys.argv[1:6]
si = SmartConnect(host=host, port=int(port), user=user, pwd=password,
                  sslContext=ssl.create_default_context(cafile=ca))
content = si.RetrieveContent()
view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
for h in view.view:
    hw = h.summary.hardware
    print("HOST", hw.numCpuPkgs, hw.numCpuCores, hw.numCpuThreads, hw.memorySize, hw.cpuMhz, hw.cpuModel)
view.Destroy()
view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
for vm in sorted(view.view, key=lambda v: v.name):
    c = vm.summary.config
    print("VM", vm.name, vm.config.hardware.numCPU, vm.config.hardware.memoryMB, c.numCpu, c.memorySizeMB)
view.Destroy()
Disconnect(si)
