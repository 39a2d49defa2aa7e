"""An embedded simulator of the VCLM API's server side, in-process or on a loopback port.

It shares the models and the signer with the client (tui.api), never the client's state.
"""

from tui.simulator.demo import seed_demo
from tui.simulator.faults import FAULT_KINDS, Faults
from tui.simulator.server import SimulatorServer, run_in_thread, serve
from tui.simulator.service import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    Account,
    Lifecycle,
    SimAnswer,
    SimJob,
    SimStats,
    Simulator,
)
from tui.simulator.transport import SimulatorTransport

__all__ = [
    "DEFAULT_SECRET_ID",
    "DEFAULT_SECRET_KEY",
    "FAULT_KINDS",
    "Account",
    "Faults",
    "Lifecycle",
    "SimAnswer",
    "SimJob",
    "SimStats",
    "Simulator",
    "SimulatorServer",
    "SimulatorTransport",
    "run_in_thread",
    "seed_demo",
    "serve",
]
