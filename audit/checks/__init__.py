"""leakage-audit: audit/checks."""
