"""features domain."""
