"""The `push` client: sends a CSV or XLSX file to a server's
POST /api/v1/employees/batch, in batches, a few at once, retrying safely.

Safety comes from the server's Idempotency-Key: each batch gets its own key
once, and every retry of that batch sends the same key and the same bytes,
so a retry after a lost answer gets the first answer again, never a second
record or a false "duplicate". Only what cannot have been refused for its
records is retried: no connection, a timeout, 429, 502/503/504 (a proxy or
the app saying "not now"), and the 409 whose code is idempotency_key_in_use
(the first try of that batch is still running). Any other answer is final.

The file is read as the upload page reads it (services/importer: the same
readers, header aliases and date readings); rows those readers refuse are
listed as refused without being sent. Memory stays bounded: at most
concurrency x 2 batches are held at once.
"""
import csv
import itertools
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator

import click
import httpx

from .services.importer import mapping as mappings
from .services.importer.files import FileRefused, detect_format, estimate_xlsx_rows, read_records
from .services.spreadsheet import BOM, safe_cell

MAX_TOKEN_CHARS = 200  # a token is 47 characters; the server refuses longer headers
MAX_BATCH = 1000  # the batch endpoint's limit
# A batch's JSON body stays under the API's body limit (2 MB, docs/api.md):
# ordinary records make ~250 KB a thousand; long cells make smaller batches.
MAX_BODY_BYTES = 2 * 1024 * 1024 - 64 * 1024
BATCH_PATH = "/api/v1/employees/batch"
# Statuses retried with the same key and body (see the module's docstring).
RETRIED_STATUSES = {429, 502, 503, 504}
IN_USE_CODE = "idempotency_key_in_use"
SAMPLE_ROWS = 200  # records read ahead to estimate the total
PROGRESS_EVERY = 5.0  # seconds between progress lines when not on a terminal

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_GAVE_UP = 0, 1, 2, 3


class PushError(Exception):
    """Stops the push before or during sending: a message for the person
    and the exit code (2: the file, the options, the token or the URL)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (a random wait between 0 and
    base x 2^attempt, at most cap), never shorter than a Retry-After; a batch
    is given up after max_attempts tries or max_seconds since its first."""
    max_attempts: int = 10
    max_seconds: float = 300.0
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = random.uniform(0, min(self.cap, self.base * 2 ** attempt))
        return max(wait, retry_after or 0.0)


@dataclass
class Row:
    number: int  # the record's number in the file, as the import numbers them
    cells: list[str]
    record: dict | None = None  # the fields to send; None when refused here
    status: str | None = None  # created, duplicate, invalid, not_stored, unconfirmed
    reason: str = ""
    encoded: str = ""  # the record as JSON, once


@dataclass
class Batch:
    rows: list[Row]
    body: bytes
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # kept by every retry of this batch


@dataclass
class Summary:
    rows: int = 0
    created: int = 0
    duplicate: int = 0
    invalid: int = 0
    not_stored: int = 0
    unconfirmed: list[int] = field(default_factory=list)  # row numbers given up on (unconfirmed or unsent)
    unsent: int = 0  # of those, the ones the server certainly never stored
    stopped: str | None = None  # why the push stopped early (401/403, a wrong URL)
    not_sent: int = 0  # rows of batches stopped before they were sent
    first_not_sent: int | None = None  # the row from which on the file was not read, after a stop
    retries: Counter = field(default_factory=Counter)  # tries that were answered "again later" or not at all

    @property
    def refused(self) -> int:
        return self.duplicate + self.invalid + self.not_stored

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_USAGE
        if self.unconfirmed:
            return EXIT_GAVE_UP
        return EXIT_REFUSED if self.refused else EXIT_OK


@dataclass(frozen=True)
class PushOptions:
    url: str
    token: str
    batch_size: int = MAX_BATCH
    concurrency: int = 4
    atomic: bool = False
    timeout: float = 60.0
    retry: RetryPolicy = RetryPolicy()
    max_body_bytes: int = MAX_BODY_BYTES


def read_token(from_stdin: bool, path: str | None, stdin) -> str:
    """The token from standard input or a file (never from the command
    line, where `ps` and shell histories would show it)."""
    if from_stdin == bool(path):
        raise PushError("Give the API token with --token-stdin or --token-file (one of them).")
    try:
        if path:
            with open(path, encoding="utf-8") as f:
                text = f.readline(MAX_TOKEN_CHARS + 2)
        else:
            text = stdin.readline(MAX_TOKEN_CHARS + 2)
    except (OSError, UnicodeDecodeError) as error:
        raise PushError(f"The token could not be read: {getattr(error, 'strerror', None) or error}") from None
    token = text.strip()
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable() or " " in token:
        raise PushError("That is not an API token (one line of visible characters, as "
                        "create-token or the tokens page printed it).")
    return token


def check_url(url: str) -> str:
    """The server's base address; PushError for anything but http(s)://host."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise PushError(f"--url must be the server's address, such as https://hr.example.com (got {url[:100]!r}).")
    base = str(parsed.copy_with(query=None, fragment=None)).rstrip("/")
    return base.removesuffix("/api/v1")


# --- the file ---------------------------------------------------------------

@dataclass
class SourceFile:
    header: list[str]
    mapping: list[str]
    records: Iterator[tuple[int, list[str], str | None]]  # after the header
    ignored: list[str]  # headers of columns not sent
    estimate: int | None  # rows after the header, for the progress bar only


def open_file(path: str) -> SourceFile:
    """The file's header, its automatic mapping (the upload page's) and its
    records; PushError if it cannot be read or mapped without a person
    choosing columns (the upload page's mapping step)."""
    try:
        file_format = detect_format(path)
        records = read_records(path, file_format)
        first = next(records, None)
        sample = list(itertools.islice(records, SAMPLE_ROWS))
    except FileRefused as refused:
        raise PushError(f"{path}: {refused.message}") from None
    except OSError as error:
        raise PushError(f"{path}: {error.strerror or error}") from None
    if first is None:
        raise PushError(f"{path}: the file is empty: there are no rows to send.")
    _, header, problem = first
    if problem or not mappings.looks_like_header(header):
        raise PushError(f"{path}: the first row is not a header naming the fields (employee_id, first_name, "
                        "last_name, email, ...): name the columns, or import the file through the upload page, "
                        "which lets you map them.")
    mapping = mappings.suggest_mapping(header, [], True)
    problems = mappings.mapping_problems(mapping)
    codes = [header[index] for index, target in enumerate(mapping) if target in mappings.CODE_TARGETS]
    if codes:
        problems.append(f"The column(s) {', '.join(codes)} hold list codes; the API takes names "
                        "(department, job_title): send names, or use the upload page.")
    if problems:
        raise PushError(f"{path}: the columns cannot be used as they are: " + " ".join(problems))
    ignored = [cell for cell, target in zip(header, mapping) if target == mappings.IGNORE
               and mappings.normalize_header(cell) not in mappings.REPORT_COLUMNS]
    return SourceFile(header, mapping, itertools.chain(sample, records), ignored,
                      _estimate(path, file_format.kind, sample))


def _estimate(path: str, kind: str, sample: list) -> int | None:
    if len(sample) < SAMPLE_ROWS:
        return len(sample)
    if kind == "xlsx":
        return estimate_xlsx_rows(path)
    sampled = sum(len(",".join(cells)) + 2 for _, cells, _ in sample)
    return int(os.path.getsize(path) / max(sampled / len(sample), 1))


def file_rows(source: SourceFile) -> Iterator[Row]:
    """Each record as a Row: its fields to send, or refused here with the
    reason the import would give (a record past a size limit, a date that
    is not one)."""
    for number, cells, problem in source.records:
        if problem:
            yield Row(number, cells, status="invalid", reason=problem)
            continue
        record, errors = mappings.mapped_record(cells, source.mapping)
        if errors:
            yield Row(number, cells, status="invalid", reason=_reason(errors))
        else:
            yield Row(number, cells, record=record)


def batches(rows: Iterator[Row], size: int, max_body_bytes: int) -> Iterator[tuple[list[Row], Batch | None]]:
    """(rows refused here, the batch to send or None) in file order: up to
    `size` records a batch, its body under max_body_bytes."""
    refused: list[Row] = []
    pending: list[Row] = []
    pending_bytes = 0
    for row in rows:
        if row.record is None:
            refused.append(row)
            continue
        row.encoded = _encode(row.record)
        if pending and (len(pending) >= size or pending_bytes + len(row.encoded) + 1 > max_body_bytes):
            yield refused, _batch(pending)
            refused, pending, pending_bytes = [], [], 0
        pending.append(row)
        pending_bytes += len(row.encoded) + 1
    if pending or refused:
        yield refused, _batch(pending) if pending else None


# ASCII (\\uXXXX escapes): a record's length in characters is its length in bytes.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _batch(rows: list[Row]) -> Batch:
    """The body of a batch, from its records encoded once each (for their
    sizes): {"employees":[...]}, as json.dumps would write it."""
    body = ('{"employees":[' + ",".join(row.encoded for row in rows) + "]}").encode()
    return Batch(rows, body)


# --- sending ------------------------------------------------------------------

class _Stop(Exception):
    """An answer that ends the whole push (401, 403, a URL with no API)."""


class Sender:
    """Sends batches over one pooled httpx client (thread-safe)."""

    def __init__(self, options: PushOptions):
        self.options = options
        self.stopped = threading.Event()
        self.retries: Counter[str] = Counter()  # why tries were repeated: "HTTP 503", "ConnectError", ...
        self.retries_lock = threading.Lock()
        self.client = httpx.Client(
            base_url=options.url.rstrip("/"), timeout=options.timeout,
            limits=httpx.Limits(max_connections=options.concurrency, max_keepalive_connections=options.concurrency),
            headers={"Authorization": f"Bearer {options.token}", "Content-Type": "application/json",
                     "Accept": "application/json", "User-Agent": "employee_app-push"})
        self.params = {"atomic": "true"} if options.atomic else {}

    def close(self) -> None:
        self.client.close()

    def send(self, batch: Batch) -> None:
        """Sends one batch until it has a final answer, and sets each of
        its rows' status; _Stop for an answer that ends the push."""
        if self.stopped.is_set():
            return  # its rows stay without a status: not sent
        policy = self.options.retry
        started = time.monotonic()
        attempt, last = 0, ""
        maybe_stored = False  # did any try reach the app without an answer that says "nothing stored"?
        while True:
            try:
                response = self.client.post(BATCH_PATH, content=batch.body, params=self.params,
                                            headers={"Idempotency-Key": batch.key})
            except httpx.TransportError as error:  # refused, reset, timed out: the key makes a resend safe
                retry_after = None
                last = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                maybe_stored |= not isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
            else:
                if not _retried(response):
                    self._settle(batch, response)
                    return
                last = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
                maybe_stored |= response.status_code not in (429, 503)  # those two store nothing
            attempt += 1
            with self.retries_lock:
                self.retries[last.split(":")[0]] += 1
            wait = policy.delay(attempt, retry_after)
            over = attempt >= policy.max_attempts or time.monotonic() - started + wait > policy.max_seconds
            # Stopped (another batch gave up, or the token was refused): at once, even mid-wait.
            if over or self.stopped.is_set() or self.stopped.wait(wait):
                status, then = ("unconfirmed", "it may or may not be stored") if maybe_stored else \
                    ("unsent", "the server never took it: nothing was stored")
                for row in batch.rows:
                    row.status, row.reason = status, f"gave up after {attempt} tries (last: {last}); {then}"
                self.stopped.set()  # the next batches would fare no better: none is started
                return

    def _settle(self, batch: Batch, response: httpx.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            self.stopped.set()
            raise _Stop(f"The server refused the token (HTTP {status}): {_message(response)}")
        if status == 413 and len(batch.rows) > 1:  # too big for this server: in halves, each with its own key
            half = len(batch.rows) // 2
            for part in (batch.rows[:half], batch.rows[half:]):
                self.send(_batch(part))
            return
        if status == 413:
            batch.rows[0].status, batch.rows[0].reason = "invalid", f"too large for the server: {_message(response)}"
            return
        body = _json(response)
        if status in (200, 201, 409, 422) and isinstance(body, dict) and isinstance(body.get("results"), list):
            _apply_results(batch.rows, body["results"])
            return
        if status in (400, 404, 405, 415):  # no batch endpoint here, or it speaks another contract
            self.stopped.set()
            raise _Stop(f"{BATCH_PATH} answered HTTP {status}: {_message(response)} (is --url the app's address?)")
        for row in batch.rows:  # a 500 or an answer we cannot read: not retried, not confirmed
            row.status, row.reason = "unconfirmed", f"HTTP {status}: {_message(response)}"


def _retried(response: httpx.Response) -> bool:
    if response.status_code in RETRIED_STATUSES:
        return True
    if response.status_code == 409:  # only the key in use; a duplicate is final
        body = _json(response)
        return isinstance(body, dict) and body.get("code") == IN_USE_CODE
    return False


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers.get("Retry-After", "")), 3600.0)
    except ValueError:
        return None


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:500]
    return response.reason_phrase or "no message"


def _apply_results(rows: list[Row], results: list) -> None:
    by_index = {item.get("index"): item for item in results if isinstance(item, dict)}
    for index, row in enumerate(rows):
        item = by_index.get(index)
        if item is None:
            row.status, row.reason = "unconfirmed", "the server's answer did not list this record"
            continue
        status = item.get("status")
        if status == "created":
            row.status = "created"
        elif status == "valid":  # atomic: it would have been created, but its batch was refused
            row.status, row.reason = "not_stored", "its batch was refused as a whole (--atomic)"
        elif status == "duplicate":
            row.status, row.reason = "duplicate", _reason(item.get("errors"), _holder(item, rows))
        else:
            row.status, row.reason = "invalid", _reason(item.get("errors"))


def _holder(item: dict, rows: list[Row]) -> str:
    """Which record holds the value: a stored one (its URL) or an earlier row."""
    parts = []
    for name, url in (item.get("existing") or {}).items():
        parts.append(f"{name} held by {url}")
    for name, index in (item.get("earlier") or {}).items():
        held = rows[index].number if isinstance(index, int) and 0 <= index < len(rows) else index
        parts.append(f"{name} same as row {held}")
    return "; ".join(parts)


def _reason(errors, extra: str = "") -> str:
    text = "; ".join(f"{name}: {message}" for name, message in (errors or {}).items()) if isinstance(errors, dict) \
        else str(errors or "")
    return f"{text} ({extra})" if extra else text


# --- the whole push -------------------------------------------------------------

class RefusedWriter:
    """The refused rows as CSV: the file's own columns, then row, refused
    (duplicate, invalid, not_stored, or unsent/unconfirmed when given up) and error; cells made
    formula-safe as every download of the app (spreadsheet.safe_cell)."""

    def __init__(self, path: str, header: list[str]):
        self.path = path
        try:
            self.file = open(path, "w", newline="", encoding="utf-8")
        except OSError as error:
            raise PushError(f"The refused rows cannot be written to {path}: {error.strerror or error}") from None
        self.file.write(BOM)
        self.writer = csv.writer(self.file, lineterminator="\r\n")
        self.width = len(header)
        self._write([*header, "row", "refused", "error"])

    def add(self, row: Row) -> None:
        cells = (row.cells + [""] * self.width)[:max(self.width, len(row.cells))]
        self._write([*cells, row.number, row.status, row.reason])

    def _write(self, cells: list) -> None:
        self.writer.writerow([safe_cell(cell) for cell in cells])

    def close(self) -> None:
        self.file.close()


class Progress:
    """A bar on a terminal, a line every few seconds elsewhere (a log)."""

    def __init__(self, out=sys.stderr, total: int | None = None):
        self.out = out
        self.total = total
        self.tty = out.isatty()
        self.last = 0.0
        self.started = time.monotonic()

    def show(self, summary: Summary, done: bool = False) -> None:
        now = time.monotonic()
        if not done and now - self.last < (0.2 if self.tty else PROGRESS_EVERY):
            return
        self.last = now
        rate = summary.rows / max(now - self.started, 1e-6)
        text = (f"{summary.rows:,} rows: {summary.created:,} created, {summary.refused:,} refused"
                f"{f', {len(summary.unconfirmed):,} unconfirmed' if summary.unconfirmed else ''}"
                f" ({rate:,.0f} rows/s)")
        if self.tty:
            if self.total and not done:
                share = min(summary.rows / self.total, 1.0)
                text = f"[{'#' * int(share * 30):<30}] {share:4.0%} " + text
            self.out.write("\r\x1b[2K" + text + ("\n" if done else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()


def push(path: str, options: PushOptions, refused_path: str, *, progress: Progress | None = None,
         notice: Callable[[str], None] = lambda text: None) -> Summary:
    """Sends the file; returns what became of its rows. PushError before
    anything is sent for a file that cannot be read or mapped."""
    source = open_file(path)
    if source.ignored:
        notice(f"Columns not sent (no field of that name): {', '.join(source.ignored)}")
    summary = Summary()
    if progress:
        progress.total = source.estimate
    writer = RefusedWriter(refused_path, source.header)
    sender = Sender(options)
    window: deque[tuple[list[Row], Batch | None, Future | None]] = deque()
    try:
        with ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="push") as pool:
            for refused, batch in batches(file_rows(source), options.batch_size, options.max_body_bytes):
                if sender.stopped.is_set():
                    summary.first_not_sent = summary.first_not_sent or (refused or batch.rows)[0].number
                    break
                future = pool.submit(sender.send, batch) if batch else None
                window.append((refused, batch, future))
                while len(window) > options.concurrency * 2 or (window and _finished(window[0])):
                    _account(window.popleft(), summary, writer, progress)
            while window:
                _account(window.popleft(), summary, writer, progress)
    except (_Stop, FileRefused) as stop:  # FileRefused: a workbook found broken further on
        summary.stopped = stop.message if isinstance(stop, FileRefused) else str(stop)
        while window:  # the batches in flight finish, the rest stay unsent
            _account(window.popleft(), summary, writer, progress, stopping=True)
    finally:
        sender.close()
        writer.close()
        summary.retries = sender.retries
    if progress:
        progress.show(summary, done=True)
    return summary


def _finished(entry) -> bool:
    future = entry[2]
    return future is None or future.done()


def _account(entry, summary: Summary, writer: RefusedWriter, progress: Progress | None,
             stopping: bool = False) -> None:
    refused, batch, future = entry
    stop = None
    if future is not None:
        try:
            future.result()
        except _Stop as error:
            stop = error
    for row in [*refused, *(batch.rows if batch else [])]:
        summary.rows += 1
        if row.status is None:
            summary.not_sent += 1
            summary.first_not_sent = min(summary.first_not_sent or row.number, row.number)
        elif row.status == "created":
            summary.created += 1
        elif row.status in ("unconfirmed", "unsent"):
            summary.unconfirmed.append(row.number)
            summary.unsent += row.status == "unsent"
            writer.add(row)
        else:
            setattr(summary, row.status, getattr(summary, row.status) + 1)
            writer.add(row)
    if progress:
        progress.show(summary)
    if stop is not None and not stopping:
        raise stop


def describe(summary: Summary, refused_path: str) -> list[str]:
    """What happened, in lines for the person."""
    lines = [f"{summary.rows:,} rows read: {summary.created:,} created, {summary.duplicate:,} duplicate, "
             f"{summary.invalid:,} invalid"
             + (f", {summary.not_stored:,} not stored (their batch was refused as a whole)" if summary.not_stored
                else "") + "."]
    if summary.retries:
        reasons = ", ".join(f"{reason} x{count:,}" for reason, count in summary.retries.most_common())
        lines.append(f"Tries repeated: {summary.retries.total():,} ({reasons}), each with its batch's "
                     "Idempotency-Key.")
    if summary.refused or summary.unconfirmed:
        lines.append(f"Refused rows and why: {refused_path}")
    if summary.unconfirmed:
        given_up = len(summary.unconfirmed)
        lines.append(f"Gave up on {given_up:,} rows after retrying: rows {row_ranges(summary.unconfirmed)}.")
        if summary.unsent:
            lines.append(f"  {summary.unsent:,} of them never reached the server ('unsent' in the refused file): "
                         "nothing of them is stored; send them again.")
        if given_up > summary.unsent:
            lines.append(f"  {given_up - summary.unsent:,} may or may not be stored ('unconfirmed'): look them up "
                         "(GET /api/v1/employees/<id>) before sending them again.")
    if summary.stopped:
        lines.append(f"Stopped: {summary.stopped}")
    if summary.first_not_sent:
        lines.append(f"Not sent: row {summary.first_not_sent:,} and the rows after it (the push stopped"
                     + (")." if summary.stopped else " after giving up on a batch)."))
    return lines


def row_ranges(numbers: list[int]) -> str:
    """[2, 3, 4, 9] -> '2-4, 9'."""
    parts, numbers = [], sorted(numbers)
    start = previous = numbers[0] if numbers else None
    for number in numbers[1:] + [None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(f"{start}-{previous}" if start != previous else str(start))
        start = previous = number
    return ", ".join(parts)


# --- the command (flask --app employee_app push, or python -m employee_app.push_client) ---
@click.command("push")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--url", required=True, help="The server's address, e.g. https://hr.example.com")
@click.option("--token-stdin", is_flag=True, help="Read the API token from standard input (one line).")
@click.option("--token-file", type=click.Path(dir_okay=False), help="Read the API token from this file.")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=1000, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Batches sent at once.")
@click.option("--atomic", is_flag=True, help="Each batch stored whole or not at all.")
@click.option("--refused", "refused_path", type=click.Path(dir_okay=False),
              help="Where the refused rows go (default: FILE.refused.csv).")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True,
              help="Seconds to wait for one answer.")
@click.option("--max-attempts", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Tries of one batch before giving up on it.")
@click.option("--max-retry-time", type=click.FloatRange(0, 86400), default=300.0, show_default=True,
              help="Seconds after its first try after which a batch is given up.")
@click.option("--backoff-cap", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="The longest wait between two tries (exponential backoff, full jitter).")
def push_command(path, url, token_stdin, token_file, batch_size, concurrency, atomic, refused_path, timeout,
                 max_attempts, max_retry_time, backoff_cap) -> None:
    """Send a CSV or XLSX file to a server's API (POST /api/v1/employees/batch),
    retrying safely. Exit status: 0 every row created, 1 some refused (see the
    refused file), 2 a usage, file or token problem, 3 gave up on some rows.

    Also `python -m employee_app.push_client`, which needs none of the app's
    settings (for a machine that only sends)."""
    try:
        token = read_token(token_stdin, token_file, sys.stdin)
        options = PushOptions(url=check_url(url), token=token, batch_size=batch_size, concurrency=concurrency,
                              atomic=atomic, timeout=timeout,
                              retry=RetryPolicy(max_attempts=max_attempts, max_seconds=max_retry_time, cap=backoff_cap))
        refused_path = refused_path or f"{path}.refused.csv"
        summary = push(path, options, refused_path, progress=Progress(sys.stderr),
                       notice=lambda text: click.echo(text, err=True))
    except PushError as error:
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(error.exit_code)
    for line in describe(summary, refused_path):
        click.echo(line)
    sys.exit(summary.exit_code)



if __name__ == "__main__":
    push_command(prog_name="python -m employee_app.push_client")
