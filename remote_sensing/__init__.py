"""remote_sensing package."""
