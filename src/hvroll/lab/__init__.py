"""Labs: real cloud control planes on this machine, for tests and operators' rehearsals.

``nova`` runs OpenStack Nova (API, conductor, scheduler, placement, glance and N fake-virt
computes) on loopback; see ``docs/nova.md``.
"""
