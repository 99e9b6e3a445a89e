"""What libvirt says, read in one place: the binding loaded and silenced once
(:mod:`.binding`), facts of domain and capabilities XML and the power-state table
(:mod:`.domxml`), asking a daemon about its host and domains (:mod:`.discovery`), and
interface statistics normalized by libvirt version (:mod:`.iface`).

Used by the libvirt driver, the compatibility checks (libvirt's CPU API) and the testbed.
Importing this package does not import libvirt-python; asking libvirt does.
"""
