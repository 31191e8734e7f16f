"""The pure core of the simulator: what devices measure, as functions of seed, site and time.

Nothing here touches a broker or a database. Each generator takes a site (plain, frozen
parameters derived from the registry and the seed) and a time window and yields records
(:mod:`circulo_sim.physics.records`) in time order; the same seed, site and window always
give the same records, and state that outlives a window (a meter's lifetime register, a
bin's contents) is a function of absolute time, so consecutive runs continue each other.
"""
