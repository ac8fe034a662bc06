"""Error types that map onto the CLI's exit codes (contracts.md §3)."""


def one_line(message: str) -> str:
    """`message` as one line: line breaks (a file name may hold one) shown as \\n, so one error is one line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


class UserError(Exception):
    """Input the command cannot work with: one clear line on stderr, exit code 2."""

    exit_code = 2


class DeviceError(UserError):
    """No device answering, incompatible protocol, or a link that cannot be opened."""
