"""A simulated cloud in virtual time: the driver campaigns are rehearsed on, at fleet scale.

See ``docs/simulator.md`` for the model and its numbers.
"""

from hvroll.drivers.sim.cloud import WORKAROUNDS, SimCloud
from hvroll.drivers.sim.engine import SimClock
from hvroll.drivers.sim.faults import Faults, SimulatedCrash
from hvroll.drivers.sim.state import VmView

__all__ = ["WORKAROUNDS", "Faults", "SimClock", "SimCloud", "SimulatedCrash", "VmView"]
