"""The drivers' conformance suite: one package, so that its real backends are brought up once
for both of its modules (conftest.py)."""
