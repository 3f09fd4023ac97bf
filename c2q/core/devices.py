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
    line: int  # the most qubits in a line, each with a calibrated cx to the next (at most 10): a -chain student's


DEVICES = {
    "fake_manila": Device("FakeManilaV2", 5, 5),
    "fake_nairobi": Device("FakeNairobiV2", 7, 5),
    "fake_guadalupe": Device("FakeGuadalupeV2", 16, 10),
    "fake_cairo": Device("FakeCairoV2", 27, 6),
    "fake_washington": Device("FakeWashingtonV2", 127, 10),
}
