"""obd_gateway package."""
