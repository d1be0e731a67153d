"""ail_sandbox."""
