#!/bin/busybox sh
# /init of the virtual ARM handset (emulator/qemu/image.py puts it in the
# initramfs). It does what a handset's boot scripts do, in busybox sh:
# devices, the data disk, the network, then the payment app, restarted if
# it ever ends. Its output goes to the console (ttyAMA0), which the host
# side writes to console.log.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /data /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "pos-init: kernel up $(cut -d' ' -f1 /proc/uptime) s"

for module in $(cat /etc/modules); do
    insmod /lib/modules/$module || echo "pos-init: insmod $module failed"
done

# The kernel's text console draws a blinking cursor on fb0 and scrolls
# boot messages over the app: unbind fbcon from the framebuffer once the
# GPU has given us /dev/fb0 (docs/HANDSET.md).
for vt in /sys/class/vtconsole/vtcon*; do
    if grep -q "frame buffer" $vt/name 2>/dev/null; then echo 0 > $vt/bind; fi
done

# The data disk (ext4 replays its own journal after a power cut).
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
mount -t ext4 -o noatime /dev/vda /data || echo "pos-init: no data disk: /data is in RAM"

# The configuration the host side passed in (QEMU -fw_cfg), else the one in the image.
CONFIG=/sys/firmware/qemu_fw_cfg/by_name/opt/pos/config/raw
if [ -r $CONFIG ]; then cat $CONFIG > /etc/pos.json; fi

# User-mode networking: QEMU's gateway 10.0.2.2 is the host's loopback.
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2

echo "pos-init: uarts: $(dmesg | grep -o 'tty[SA][A-Z]*[0-9] at [^,]*' | tr '\n' ' ')"
echo "pos-init: devices up $(cut -d' ' -f1 /proc/uptime) s"
# The maintenance shell on the console, when the kernel command line asks for it.
if grep -q "pos.shell" /proc/cmdline; then ( setsid cttyhack sh -l < /dev/ttyAMA0 > /dev/ttyAMA0 2>&1 & ); fi

cd /data
while true; do
    if [ -r /data/image/boot.py ]; then
        # A handset with its firmware in slots on the data disk (pos-bundle
        # image, updated by pos-flash): its boot stage picks the slot and
        # rolls back a failed update (docs/FLASHING.md).
        micropython -X heapsize=16M /data/image/boot.py /etc/pos.json
    else
        MICROPYPATH=.frozen:/pos micropython -X heapsize=16M -m firmware.main /etc/pos.json
    fi
    echo "pos-init: firmware ended ($?), restarting"
    sleep 1
done
