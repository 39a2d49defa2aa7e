"""No Textual, no Rich: settings, job records and states, the polling engine, the watchlist store, hints."""
