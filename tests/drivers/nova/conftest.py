"""The Nova lab fixtures of tests/lab, for the nova driver's tests against real Nova."""

from lab.conftest import hv, nova_lab

__all__ = ["hv", "nova_lab"]
