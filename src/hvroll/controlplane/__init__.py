"""Control-plane upgrades: release catalogue, path planning, runbooks and their durable run."""
