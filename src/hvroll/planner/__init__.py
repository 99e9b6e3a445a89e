"""Campaign planning: canary wave, waves per cluster, placement, estimates, baselines."""
