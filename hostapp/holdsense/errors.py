"""Error types that map onto the CLI's exit codes (contracts.md §3)."""


class UserError(Exception):
    """Input the command cannot work with: one clear line on stderr, exit code 2."""

    exit_code = 2


class DeviceError(UserError):
    """No device answering, incompatible protocol, or a link that cannot be opened."""
