"""The image's boot test (image/boot-test): QEMU, the image's disk, and a new owner's steps.

disk.py      the image's partitions and the boot partition's files, read and written
             without mounting (sfdisk, mtools, qemu-img)
guest.py     one QEMU process: power on, the serial log, QMP disk counters, power off
scenario.py  what the test does with the device: the wizard, a message, a reboot
"""
