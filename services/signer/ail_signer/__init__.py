"""ail_signer."""
