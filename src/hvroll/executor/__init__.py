"""The campaign executor: state machines, the migration ladder, reconciliation."""
