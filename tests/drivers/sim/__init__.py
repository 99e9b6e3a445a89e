"""Tests of the simulated cloud."""
