"""ail_application."""
