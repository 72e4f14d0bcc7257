"""Linux drivers of the handset's devices (MicroPython-compatible)."""
