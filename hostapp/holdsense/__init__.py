"""holdsense host app: transports, protocol, recorder, player, live view and CLI."""
__version__ = "0.1.0"
