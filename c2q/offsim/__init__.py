"""Trained students off the simulator: finite shots, device noise, OpenQASM 3."""
