"""streams/warehouse package."""
