"""Opens a runspace pool on a named PSRP configuration and closes it.

usage: psrp_config.py HOST PORT USER PASSWORD CA_PEM CONFIGURATION
"""
import sys

from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

host, port, user, password, ca, config = sys.argv[1:7]
w = WSMan(host, port=int(port), username=user, password=password, ssl=True,
          auth="basic", cert_validation=ca, operation_timeout=5)
with RunspacePool(w, configuration_name=config) as pool:
    print("OPENED", pool.state)
