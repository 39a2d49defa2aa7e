"""An embedded simulator of the VCLM API's server side, in-process or on a loopback port.

It shares the models and the signer with the client (tui.api), never the client's state.
"""
