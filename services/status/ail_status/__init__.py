"""ail_status."""
