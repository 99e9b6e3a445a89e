"""Real libvirt hosts on one machine, and a tiny canary guest, for tests and rehearsals."""
