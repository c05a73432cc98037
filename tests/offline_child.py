"""Code a test prepends to a `python -c` child so that any network access in it raises at once."""

import textwrap

BLOCK_NETWORK = textwrap.dedent(
    """
    import socket, sys

    def _no_network(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    class _NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            _no_network()

    socket.socket = _NoSocket
    socket.create_connection = _no_network
    socket.getaddrinfo = _no_network
    """
)
