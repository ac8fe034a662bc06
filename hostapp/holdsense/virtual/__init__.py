"""The virtual roller: the firmware's own code (holdsense_fw) under CPython, with
`machine`/`micropython`/clock shims below the drivers and the simulator's body
behind fake HX711 and AS5600 chips. See docs/protocol.md and docs/virtual-device.md.

    from holdsense.virtual import spawn
    with spawn(scenario="standard", speed=10) as dev:     # runs `holdsense virtual-device`
        port = dev.port                                  # pty path or socket:// URL
        dev.control({"load_kg": 5})                      # the --control socket
"""
from .process import VirtualDeviceProcess, spawn

__all__ = ["VirtualDeviceProcess", "spawn"]
