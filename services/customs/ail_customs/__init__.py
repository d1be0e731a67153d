"""ail_customs."""
