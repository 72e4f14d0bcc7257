"""Real Linux drivers: evdev keypad and touch, fbdev display, ESC/POS
printer, AT modem and card-reader module on serial lines, system clock.

Each takes its device paths as arguments (tests run them on ptys, FIFOs and
plain files) and runs under CPython and MicroPython; interpreter
differences stay in hal/compat.py. docs/DRIVERS.md is the reference.
"""
