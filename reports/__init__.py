"""leakage-audit: reports."""
