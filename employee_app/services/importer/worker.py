"""The import worker: RQ's Worker, which outlasts a Valkey it cannot reach
instead of exiting.

RQ retries a lost connection while it waits for jobs, and nowhere else: a
worker started while Valkey restarts (or in the seconds of a Sentinel
failover) exited with a traceback, and so did a worker whose heartbeat met
Valkey away in the middle of an import, leaving its import to run on
unwatched and the queue without a worker. Here the start is tried again
until Valkey answers, and the worker's bookkeeping in Valkey (heartbeats,
the job's working time, its state, the registries' cleaning, the suspension
check, the record of how a job's horse ended) is skipped with a warning
while Valkey is away. An import's own liveness is kept in PostgreSQL
(jobs.Heartbeat), so a skipped heartbeat costs nothing; a job taken from
the queue that could not be started is failed there, to be started again."""
import logging
import os
import socket
import time
import uuid
from contextlib import contextmanager

from redis.exceptions import ConnectionError as ValkeyConnectionError
from redis.exceptions import TimeoutError as ValkeyTimeoutError
from rq import Worker

from . import jobs

log = logging.getLogger(__name__)

FIRST_WAIT = 0.5  # seconds before the second try; doubled up to LONGEST_WAIT
LONGEST_WAIT = 5.0
VALKEY_UNREACHABLE = (ValkeyConnectionError, ValkeyTimeoutError)


@contextmanager
def _skipped_while_valkey_is_away(what: str):
    try:
        yield
    except VALKEY_UNREACHABLE as error:
        log.warning("The import worker cannot reach Valkey (%s); %s skipped, the worker goes on.",
                    type(error).__name__, what)


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

    def fork_work_horse(self, job, queue) -> None:
        self._horse_forked = True
        super().fork_work_horse(job, queue)

    def execute_job(self, job, queue) -> None:
        self._horse_forked = False
        try:
            super().execute_job(job, queue)
        except VALKEY_UNREACHABLE as error:
            if self._horse_pid:
                raise  # its horse still runs: not to be passed over
            if not self._horse_forked:
                # Taken from the queue, never started: its page must say so.
                log.warning("The import worker cannot reach Valkey (%s); job %s was not started.",
                            type(error).__name__, job.id)
                jobs.fail_not_started(job)
                return
            # The horse has ended; only RQ's record of how it ended (kept in
            # Valkey) was lost. The import's own outcome is in PostgreSQL.
            log.warning("The import worker cannot reach Valkey (%s); job %s ended, its end not recorded there.",
                        type(error).__name__, job.id)

    # The bookkeeping that may meet Valkey away, between jobs or during one.

    def maintain_heartbeats(self, job) -> None:
        with _skipped_while_valkey_is_away("its heartbeat"):
            super().maintain_heartbeats(job)

    def heartbeat(self, *args, **kwargs) -> None:
        with _skipped_while_valkey_is_away("its heartbeat"):
            super().heartbeat(*args, **kwargs)

    def set_current_job_working_time(self, *args, **kwargs) -> None:
        with _skipped_while_valkey_is_away("the job's working time"):
            super().set_current_job_working_time(*args, **kwargs)

    def set_state(self, *args, **kwargs) -> None:
        with _skipped_while_valkey_is_away("its state"):
            super().set_state(*args, **kwargs)

    def check_for_suspension(self, burst: bool) -> None:
        with _skipped_while_valkey_is_away("the suspension check"):
            super().check_for_suspension(burst)

    def run_maintenance_tasks(self) -> None:
        with _skipped_while_valkey_is_away("cleaning the registries"):  # tried again on the next turn
            super().run_maintenance_tasks()
