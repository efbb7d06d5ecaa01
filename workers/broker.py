"""The embedded broker: kombu's filesystem transport, made safe for a web and a worker on one folder.

kombu's transport creates a message file and then writes it, while a worker
polling every few milliseconds may already have moved and read it: an empty or
half-written file, a JSON error, and the worker stopped with an "Unrecoverable
error" (seen in the fault tests). Here a message is written under a name no
queue matches and renamed into place when complete (a rename is atomic on one
file system), and a file that still cannot be decoded is set aside in
``<queue folder>/unreadable/`` with a log line instead of stopping the worker.

Selected with the broker URL ``streetshop-fs://`` (webapp/settings.py); the
alias is registered when this module is imported (workers.app imports it).
"""
from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)
SCHEME = "streetshop-fs"
PARTIAL = ".partial"  # suffix of a message still being written: "<...>.<queue>.msg.partial" matches no queue


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as error:
            raise ChannelError(f"Cannot add file {final!r} to directory") from error

    def _get(self, queue):
        queue_find = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != queue_find:
                continue
            taken = os.path.join(self.data_folder_in, f"{name}.taken-{uuid.uuid4().hex}")
            try:
                os.replace(os.path.join(self.data_folder_in, name), taken)  # only one consumer gets it
            except OSError:
                continue  # another worker took it
            try:
                payload = Path(taken).read_bytes()
            except OSError as error:
                raise ChannelError(f"Cannot read file {name!r} from queue.") from error
            try:
                message = loads(payload.decode("utf-8"))
            except ValueError:
                self._set_aside(taken, name)
                continue
            os.remove(taken)
            return message
        raise filesystem.Empty()

    def _set_aside(self, path: str, name: str) -> None:
        folder = os.path.join(self.data_folder_in, "unreadable")
        os.makedirs(folder, exist_ok=True)
        shutil.move(path, os.path.join(folder, name))
        log.error("broker message %s could not be decoded; moved to %s", name, folder)


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault(SCHEME, "workers.broker:Transport")
