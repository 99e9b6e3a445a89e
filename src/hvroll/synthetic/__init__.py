"""Synthetic fleets, deterministic by seed (``hvroll fleet generate``): the generator and its
presets (``small``, ``enterprise``, ``public``).

Above ``compat`` because a host-model guest's CPU is the one its host's profile exposes
(:func:`hvroll.compat.exposure.host_model_cpu`); the fleets are written in the inventory
format and read back by :mod:`hvroll.inventory`.
"""
