"""Upload retention: the stored files of finished imports past a given age
are deleted (flask prune-uploads). Each import keeps its counts, its
rejected rows and its history; its page says when its file was deleted, and
nothing that needs the file (Run it again) can start any more.

An upload left at the column mapping for as long is cancelled first (what
its Cancel button does): nobody came back to map it, and otherwise its file
would stay for ever and it would wait on the imports list and the home page.
"""
import logging
import os
import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, update

from ...extensions import db
from ...models import ImportJob
from ...models.imports import FINISHED_STATUSES

log = logging.getLogger(__name__)

UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# ASCII digits only (str.isdigit would take "３０"), a sane number of them.
RETENTION_RE = re.compile(r"([0-9]{1,6})([hdw])")
LONGEST = timedelta(days=100 * 365)


class BadRetention(ValueError):
    pass


def parse_retention(raw: str) -> timedelta:
    """'12h', '30d', '2w' -> a timedelta; anything else is refused in words."""
    match = RETENTION_RE.fullmatch((raw or "").strip().lower())
    if not match:
        raise BadRetention(f"'{raw}' is not a retention: write a whole number and a unit, "
                           "h (hours), d (days) or w (weeks), e.g. 30d.")
    retention = int(match.group(1)) * UNITS[match.group(2)]
    if retention < timedelta(hours=1):
        raise BadRetention("The retention must be at least 1h.")
    if retention > LONGEST:
        raise BadRetention("The retention can be at most 100 years.")
    return retention


# The reason an abandoned upload's page gives (job.error).
ABANDONED = "nobody mapped its columns within the upload retention, {retention}"


@dataclass
class Pruned:
    abandoned: int = 0  # uploads cancelled at the column mapping (counted in imports too)
    imports: int = 0
    files: int = 0  # files found and deleted (an import's file may be gone already)
    bytes: int = 0
    failed: int = 0  # files that could not be deleted (see the log)


def prune_uploads(retention: timedelta) -> Pruned:
    """Delete the uploaded files of imports that finished (done, checked,
    refused, cancelled, failed) more than `retention` ago.

    The imports are marked first, in one committed UPDATE, so that from then
    on nothing starts them again (jobs.start needs the file); then the files
    go. A file that cannot be deleted is logged and counted. Uploads left at
    the column mapping longer than `retention` are cancelled, their files
    deleted with the others (the status check makes a concurrent Cancel or
    mapping win or lose as a whole)."""
    abandoned = db.session.execute(
        update(ImportJob)
        .where(ImportJob.status == "mapping", ImportJob.created_at < func.now() - retention)
        .values(status="cancelled", finished_at=func.now(), upload_deleted_at=func.now(),
                error=ABANDONED.format(retention=_retention_text(retention)))
        .returning(ImportJob.id, ImportJob.stored_path)).all()
    claimed = db.session.execute(
        update(ImportJob)
        .where(ImportJob.status.in_(FINISHED_STATUSES), ImportJob.upload_deleted_at.is_(None),
               func.coalesce(ImportJob.finished_at, ImportJob.created_at) < func.now() - retention)
        .values(upload_deleted_at=func.now())
        .returning(ImportJob.id, ImportJob.stored_path)).all()
    db.session.commit()
    claimed += abandoned  # finished now, like the others
    result = Pruned(abandoned=len(abandoned), imports=len(claimed))
    upload_dir = os.path.realpath(current_app.config["UPLOAD_DIR"])
    for import_id, path in claimed:
        real = os.path.realpath(path)
        if os.path.dirname(real) != upload_dir:  # only ever a file the upload wrote
            log.warning("import %s: its stored file is outside UPLOAD_DIR; not deleted", import_id)
            result.failed += 1
            continue
        try:
            size = os.path.getsize(real)
            os.unlink(real)
        except FileNotFoundError:  # deleted already (a cancelled import's file is)
            continue
        except OSError as error:
            log.warning("import %s: its stored file could not be deleted: %s", import_id, error.strerror)
            result.failed += 1
            continue
        result.files += 1
        result.bytes += size
    return result


def _retention_text(retention: timedelta) -> str:
    """30 days, 12 hours: the retention in words."""
    if retention % timedelta(days=1):
        hours = retention // timedelta(hours=1)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return f"{retention.days} day{'' if retention.days == 1 else 's'}"
