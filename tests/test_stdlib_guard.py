"""Guards the packaging trap: nothing in the repo may shadow the standard library's `signal`."""
import signal


def test_stdlib_signal_not_shadowed() -> None:
    assert hasattr(signal, "SIGINT")
    assert "rollsignal" not in signal.__file__
