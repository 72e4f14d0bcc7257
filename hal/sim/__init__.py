"""Simulated devices, MicroPython-compatible: shared by the emulator, the
HIL bridge and the tests."""
