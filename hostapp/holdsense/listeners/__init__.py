"""Listeners on the sample stream (holdsense.listener.Listener) beyond the core ones."""
