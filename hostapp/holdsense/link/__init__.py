"""The link to the roller: byte transports (`transport` base, `serial`, `ble`), the wire codec
(`frames`: framing and sample unpacking; `commands`: command building and reply parsing), and the
device client (`device`) that turns a link into `holdsense.messages`.

Rule (tests/host/layout/test_import_rules.py): link never imports io, listeners, coaching or commands.
Nothing is imported here, so `import holdsense.link.frames` pays only for the codec.
"""
