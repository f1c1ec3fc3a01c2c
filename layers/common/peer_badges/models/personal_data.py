"""Personal data (SPEC 8.5): the export of everything stored about a person, erasure, and the
``MentorErased`` event."""

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, StringConstraints

from peer_badges.models import MAX_REASON_LENGTH, NonNegative, Record, RequestBody


class ExportedTable(Record):
    purpose: str
    retention: str
    on_erasure: Literal["delete", "pseudonymise"]
    rows: tuple[dict[str, Any], ...] = ()  # each row as stored, column by column


class PersonalDataExport(Record):
    """Everything this bundle stores about one person in one organisation."""

    schema_version: Literal[1] = 1
    org_id: UUID
    peer_mentor_id: UUID
    generated_at: AwareDatetime
    tables: dict[str, ExportedTable]
    # The app's own tables (activities, training completions, membership): not read here; the app's to
    # export and to erase.
    app_tables: dict[str, str]


class ErasureRequest(RequestBody):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON_LENGTH)
    ]


class ErasureReport(Record):
    """What an erasure did, as counts per table; the person's id is nowhere in this bundle afterwards."""

    org_id: UUID
    deleted: dict[str, NonNegative]  # rows only about them
    pseudonymised: dict[str, NonNegative]  # rows about them, kept under a random pseudonym
    actor_pseudonymised: dict[str, NonNegative]  # rows where they acted (awarded, approved, ...)
    free_text_cleared: dict[str, NonNegative]  # rows about them whose notes, reasons, references were cleared
    event: Literal["MentorErased"] = "MentorErased"
    not_erased_here: str  # what remains for the app to erase


class MentorErasedEvent(Record):
    """EventBridge detail for ``MentorErased``: the app and other consumers erase the person too."""

    org_id: UUID
    peer_mentor_id: UUID
    idempotency_key: UUID
