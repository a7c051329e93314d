"""leakage-audit: expectations."""
