"""The embedded broker: a message is never read half-written, and an unreadable one never stops a worker."""
from __future__ import annotations

import os
import threading

from kombu import Connection

import workers.broker  # noqa: F401


def connection(folder):
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "polling_interval": 0.001,
               "control_folder": str(folder / "control")}
    return Connection("streetshop-fs://", transport_options=options)


def test_messages_written_while_a_consumer_polls_arrive_whole_and_once(tmp_path):
    sent, received = 300, []
    with connection(tmp_path) as producer_connection, connection(tmp_path) as consumer_connection:
        queue = consumer_connection.SimpleQueue("gpu")
        producer = producer_connection.SimpleQueue("gpu")

        def produce():
            for n in range(sent):
                producer.put({"n": n, "padding": "x" * 20_000})  # big enough to be caught mid-write

        thread = threading.Thread(target=produce)
        thread.start()
        while len(received) < sent:
            message = queue.get(timeout=20)
            received.append(message.payload["n"])
            message.ack()
        thread.join()
    assert sorted(received) == list(range(sent))
    assert not [name for name in os.listdir(tmp_path) if name.endswith((".msg", ".partial"))]


def test_an_unreadable_message_is_set_aside_and_the_next_one_delivered(tmp_path):
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("default")
        (tmp_path / "0_broken.default.msg").write_bytes(b"")  # what a crashed writer could leave
        queue.put({"ok": True})
        message = queue.get(timeout=5)
        assert message.payload == {"ok": True}
        message.ack()
    assert (tmp_path / "unreadable" / "0_broken.default.msg").exists()
