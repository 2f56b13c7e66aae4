"""The import worker: RQ's Worker, which waits for Valkey when it cannot
reach it at its start, instead of exiting.

RQ retries a lost connection while it waits for jobs, but not while the
worker registers itself: a worker started while Valkey restarts, or in the
seconds of a Sentinel failover, would exit with a traceback and leave the
queue without a worker until something restarts it."""
import logging
import os
import socket
import time
import uuid

from redis.exceptions import ConnectionError as ValkeyConnectionError
from redis.exceptions import TimeoutError as ValkeyTimeoutError
from rq import Worker

log = logging.getLogger(__name__)

FIRST_WAIT = 0.5  # seconds before the second try; doubled up to LONGEST_WAIT
LONGEST_WAIT = 5.0
VALKEY_UNREACHABLE = (ValkeyConnectionError, ValkeyTimeoutError)


class ImportWorker(Worker):
    def __init__(self, *args, **kwargs):
        # RQ would name its connection in Valkey here (CLIENT SETNAME), where
        # a failure cannot be retried; bootstrap() does it instead.
        super().__init__(*args, prepare_for_work=False, **kwargs)

    def bootstrap(self, *args, **kwargs) -> None:
        wait = FIRST_WAIT
        while True:
            try:
                self.hostname, self.pid = socket.gethostname(), os.getpid()
                self._set_ip_address(self.connection)
                return super().bootstrap(*args, **kwargs)
            except VALKEY_UNREACHABLE as error:
                log.warning("The import worker cannot reach Valkey to start (%s: %s); trying again in %.1f s.",
                            type(error).__name__, error, wait)
                self._forget_the_failed_start()
                time.sleep(wait)
                wait = min(wait * 2, LONGEST_WAIT)

    def _forget_the_failed_start(self) -> None:
        """The failed try may have registered this worker's name, or
        subscribed to its channel: the next try starts under a new name,
        without that subscription, and the old name is marked dead if
        Valkey answers (else its registration expires by itself)."""
        try:
            self.register_death()
        except VALKEY_UNREACHABLE:
            pass
        if self.pubsub_thread is not None:
            self.pubsub_thread.stop()  # it closes its connection when it next wakes
        elif self.pubsub is not None:
            self.pubsub.close()  # subscribed, or tried to, without a thread yet
        self.pubsub_thread = self.pubsub = None
        self.name = uuid.uuid4().hex
