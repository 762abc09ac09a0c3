"""fuel_vapor package."""
