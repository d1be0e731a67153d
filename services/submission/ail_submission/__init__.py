"""ail_submission."""
