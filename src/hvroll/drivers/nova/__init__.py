"""OpenStack through openstacksdk: connection, discovery of a cloud into an inventory, and the
``nova`` driver that moves VMs through Nova's API (never behind its back)."""
