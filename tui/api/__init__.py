"""The VCLM API and its wire format: signing, requests, responses, error codes.

Nothing in this package knows about polling, watchlists or screens.
"""
