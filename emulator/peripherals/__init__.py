"""Peer simulators for the handset's serial peripherals, on ptys.

The real drivers (hal/linux/) talk to these over a real tty, so the same
bytes cross the line as with the real part:

    EscPosPrinterSim   an ESC/POS printer: collects what it prints, answers DLE EOT
    AtModemSim         an AT modem: SIM, signal, registration, URCs
    CardModuleSim      the card-reader module (docs/DRIVERS.md protocol), cards from the test deck

Each either makes its own pty pair (`sim.path` is the tty to give the
driver) or attaches to a tty that exists (QEMU's `-chardev pty` gives one
per UART of the virtual handset): `Sim(path="/dev/pts/7")`.
"""
