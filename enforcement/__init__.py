"""enforcement package."""
