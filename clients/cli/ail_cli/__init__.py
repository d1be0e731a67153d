"""ail: the agencies command line."""
