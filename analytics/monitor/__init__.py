"""Monitoring: quality over time, alert rules, stored alerts (see the modules)."""
