"""Imports started by a program (POST /api/v1/imports): the upload page's
steps without a person at the mapping step.

The file goes through importer.jobs.create_import, the page's own path
(size limit, file checks, header detection, automatic mapping); a mapping
the caller sends goes through jobs.confirm_mapping, the mapping page's. What
the page would stop at the mapping step for (columns it cannot match, a
file without a header row) is refused here with the columns it saw, and
the refused upload leaves nothing behind: no file, no import row."""
import os
from dataclasses import dataclass

from ..extensions import db
from ..models import ImportJob, User
from .errors import InvalidInput
from .importer import jobs, mapping as mappings


class NeedsMapping(Exception):
    """The file's columns could not all be matched to fields and no mapping
    was sent: what a person would confirm on the mapping page."""

    def __init__(self, message: str, columns: list[dict], problems: list[str]):
        super().__init__(message)
        self.message = message
        self.columns = columns  # each: column (1 = first), letter, header, suggested field
        self.problems = problems  # what stops the suggested mapping, in words


@dataclass(frozen=True)
class ApiImport:
    """What the caller chose on the form the page would show."""
    mode: str
    on_existing: str
    has_header: bool | None  # None: detected, as on the page
    mapping: list[str] | None  # None: the page's automatic mapping


def start_import(stream, filename: str, choice: ApiImport, user: User) -> ImportJob:
    """Store and queue an import as the upload page does. Raises FileRefused
    (the page's refusals), InvalidInput (a mapping that cannot work) or
    NeedsMapping; in every case nothing is kept."""
    if choice.mapping is not None and (problems := mappings.mapping_problems(choice.mapping)):
        raise InvalidInput({"mapping": " ".join(problems)})
    job = jobs.create_import(stream, filename, mode=choice.mode, on_existing=choice.on_existing, user=user,
                             has_header=choice.has_header, hold=choice.mapping is not None)
    try:
        if choice.mapping is not None:
            _confirm(job, choice.mapping)
        elif job.status == "mapping":
            raise _needs_mapping(job)
    except BaseException:
        discard(job)
        raise
    return job


def _confirm(job: ImportJob, mapping: list[str]) -> None:
    width = len(jobs.preview(job).columns)
    if len(mapping) != width:
        raise InvalidInput({"mapping": f"The file has {width:,} columns; the mapping names {len(mapping):,}. "
                                       "Name a field (or ignore) for each column, in order."})
    jobs.confirm_mapping(job, mapping, job.has_header)


def _needs_mapping(job: ImportJob) -> NeedsMapping:
    preview = jobs.preview(job)
    columns = [{"column": c.number, "letter": c.letter, "header": c.header, "suggested": c.target}
               for c in preview.columns]
    problems = mappings.mapping_problems([c.target for c in preview.columns])
    if not job.has_header:
        message = ("The file has no header row, so its columns cannot be matched by name: send `mapping`, "
                   "a field (or ignore) for each column, in order.")
    else:
        unknown = [c.header or c.letter for c in preview.columns
                   if mappings.unmatched(c.target, c.header or "", bool(c.samples))]
        message = ("Some columns could not be matched to a field"
                   + (f" ({', '.join(unknown)})" if unknown else "")
                   + ": send `mapping`, a field (or ignore) for each column, in order.")
    return NeedsMapping(" ".join([message, *problems]), columns, problems)


def discard(job: ImportJob) -> None:
    """Forget an import that never started: its stored file and its row."""
    db.session.rollback()
    path = job.stored_path
    removed = db.session.query(ImportJob).filter_by(id=job.id, status="mapping").delete()
    db.session.commit()
    if removed and os.path.exists(path):
        os.unlink(path)


def visible_import(import_id: int) -> ImportJob | None:
    """The import, for a token of a role that may import (admin, hr): as on
    the import pages, every such account sees every import; None if there
    is none. Its liveness is checked first, as the page does."""
    job = db.session.get(ImportJob, import_id)
    if job is not None:
        jobs.reconcile(job)
    return job
