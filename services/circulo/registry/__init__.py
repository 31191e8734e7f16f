"""The device registry: co-ops, members, devices and their broker credentials."""
