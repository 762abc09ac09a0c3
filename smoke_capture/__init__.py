"""smoke_capture package."""
