import os
import socket


def test_stack_env():
    assert os.environ["AIL_PROFILE"] == "test"
    port = int(os.environ["AIL_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
