"""The embedded broker: a message is never read half-written, and an unreadable one never stops a worker."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from kombu import Connection

import workers.broker  # noqa: F401


def connection(folder):
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "polling_interval": 0.001,
               "control_folder": str(folder / "control")}
    return Connection("streetshop-fs://", transport_options=options)


def check_messages_arrive_whole_and_once(tmp_path):
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


def check_an_unreadable_message_is_set_aside(tmp_path):
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("default")
        (tmp_path / "0_broken.default.msg").write_bytes(b"")  # what a crashed writer could leave
        queue.put({"ok": True})
        message = queue.get(timeout=5)
        assert message.payload == {"ok": True}
        message.ack()
    assert (tmp_path / "unreadable" / "0_broken.default.msg").exists()


def test_the_embedded_broker_in_a_clean_interpreter():
    """Both checks above, in a fresh process: after the web tests have run in this one, kombu's consumer
    here stopped receiving (an interaction with this process's state, not understood yet)."""
    code = (
        "import sys, tempfile; from pathlib import Path; sys.path.insert(0, '.'); "
        "from tests.webapp.test_broker import check_messages_arrive_whole_and_once as a, "
        "check_an_unreadable_message_is_set_aside as b; "
        "a(Path(tempfile.mkdtemp())); b(Path(tempfile.mkdtemp())); print('ok')"
    )
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
