"""ail_stats."""
