"""Everything Textual: the monitor App, its view model, screens, widgets and themes."""
