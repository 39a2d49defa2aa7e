"""The monitor's widgets: each renders what the engine reports and never calls the API."""
