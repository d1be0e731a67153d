"""ail_shared."""
