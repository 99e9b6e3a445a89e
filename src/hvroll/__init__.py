"""hvroll: upgrade the hosts of a KVM cloud wave by wave without stopping a VM."""

__version__ = "0.1.0"
