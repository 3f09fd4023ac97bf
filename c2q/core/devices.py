"""The offline fake devices a student can be run on (qiskit-ibm-runtime's fake provider).

Names and sizes only, so that params can be checked without importing Qiskit.
Each carries a real device's calibration data: gate and readout errors,
native gates and coupling map.
"""

from __future__ import annotations

from typing import NamedTuple


class Device(NamedTuple):
    fake_class: str
    qubits: int


DEVICES = {
    "fake_manila": Device("FakeManilaV2", 5),
    "fake_nairobi": Device("FakeNairobiV2", 7),
    "fake_guadalupe": Device("FakeGuadalupeV2", 16),
    "fake_cairo": Device("FakeCairoV2", 27),
    "fake_washington": Device("FakeWashingtonV2", 127),
}
