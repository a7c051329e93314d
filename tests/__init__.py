"""leakage-audit tests."""
