"""dialer package."""
