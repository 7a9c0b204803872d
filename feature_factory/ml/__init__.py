"""ml domain."""
