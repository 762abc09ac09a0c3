"""streams/bus package."""
