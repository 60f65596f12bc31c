"""Domain dataclasses shared by every layer: what sources yield and what the store returns."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Link:
    """A link a paper carries: its page, PDF, code or DOI."""

    href: str
    rel: str = "alternate"  # alternate | pdf | code | doi | related
    type: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """One paper as a source reports it, before the store gives it a key.

    ``authors`` are the visible display names in order; ``authors_truncated``
    says the source cut the list short ("et al."). ``line`` is where the
    record starts in its source, for error messages.
    """

    title: str
    authors: tuple[str, ...] = ()
    authors_truncated: bool = False
    abstract: str = ""
    category: str | None = None
    categories: tuple[str, ...] = ()
    published: date | None = None
    has_code: bool = False
    code_url: str | None = None
    arxiv_id: str | None = None  # without version, e.g. "2304.01234"
    arxiv_version: int | None = None
    doi: str | None = None
    links: tuple[Link, ...] = ()
    comment: str | None = None
    journal_ref: str | None = None
    line: int | None = None
    # Only a restore from an export sets these: the key, first sighting, the
    # owners once inferred, and the names of the sources the paper came from.
    key: str | None = None
    first_seen_at: datetime | None = None
    inferred_authors: tuple[str, ...] = ()
    restore_sources: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[type[PaperRecord], tuple[object, ...]]:
        # A long listing's records cross from its parse workers in pickles. A frozen
        # dataclass's own pickling sets each field through Python-level state
        # methods: 6.5 us a record to pickle and 5.6 to unpickle at a million papers.
        # Rebuilding through the constructor from a plain tuple costs about a third.
        return PaperRecord, _record_values(self)


_record_values = operator.attrgetter(*(f.name for f in fields(PaperRecord)))


def only_listing_fields(record: PaperRecord) -> bool:
    """Whether every field a listing has no place for (ids, links, notes, a restore's) keeps its default."""
    return (
        record.arxiv_version is None and record.arxiv_id is None and record.doi is None
        and record.comment is None and record.journal_ref is None and record.key is None
        and record.first_seen_at is None
        and record.links == () and record.inferred_authors == () and record.restore_sources == ()
    )


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A record a parser skipped: where it was and why."""

    line: int
    field: str
    message: str
    source: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:" if self.source else "line "
        return f"{where}{self.line}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What a parser made of one document: the good records and the skipped ones."""

    records: list[PaperRecord] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Paper:
    """A paper as the store keeps it."""

    id: int
    key: str
    title: str
    authors: tuple[str, ...]
    authors_truncated: bool
    abstract: str
    category: str | None
    published: date | None
    has_code: bool
    code_url: str | None
    first_seen_at: datetime
    updated_at: datetime
    links: tuple[Link, ...] = ()
    categories: tuple[str, ...] = ()
    arxiv_id: str | None = None
    doi: str | None = None
    comment: str | None = None
    journal_ref: str | None = None
    inferred_authors: tuple[str, ...] = ()  # linked by a source's owner, not listed
    sources: tuple[str, ...] = ()

    @property
    def url(self) -> str | None:
        """The paper's main page, if any source gave one."""
        for link in self.links:
            if link.rel == "alternate":
                return link.href
        if self.arxiv_id:
            return f"https://arxiv.org/abs/{self.arxiv_id}"
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return None

    @property
    def pdf_url(self) -> str | None:
        for link in self.links:
            if link.rel == "pdf":
                return link.href
        if self.arxiv_id:
            return f"https://arxiv.org/pdf/{self.arxiv_id}"
        return None


@dataclass(frozen=True, slots=True)
class AuthorMatch:
    """An author found by a fuzzy look-up."""

    key: str
    name: str
    papers: int
    score: float


@dataclass(frozen=True, slots=True)
class AuthorProfile:
    key: str
    name: str
    papers: list[Paper]
    coauthors: list[tuple[str, int]]
    years: tuple[int, int] | None
    topics: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Topic:
    """A keyphrase or acronym learnt from the corpus, or a category."""

    slug: str
    name: str
    kind: str  # acronym | phrase | category
    papers: int
    expansion: str | None = None  # for an acronym, the phrase it stands for


@dataclass(frozen=True, slots=True)
class Source:
    id: int
    name: str
    kind: str
    location: str | None
    owner: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    papers: int = 0


@dataclass(frozen=True, slots=True)
class PollValidators:
    """What the last successful poll of a source recorded, for the next one to skip an unchanged document."""

    etag: str | None
    last_modified: str | None
    content_hash: str | None


@dataclass(frozen=True, slots=True)
class IngestReport:
    """Counts of one ingest batch, and the records it skipped."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[ParseProblem] = field(default_factory=list)
    new_keys: list[str] = field(default_factory=list)
    queued_deliveries: int = 0
    # Where the batch's time went, in seconds by step (INGEST_STEPS).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated)

    def describe_steps(self) -> str:
        """The steps that took a measurable time, in order: "storing papers 0.25 s, linking topics 0.31 s"."""
        return ", ".join(f"{label} {self.seconds[step]:.2f} s" for step, label in INGEST_STEPS.items()
                         if self.seconds.get(step, 0.0) >= 0.005)


# The steps of an ingest batch as IngestReport.seconds keys them, in the order it takes them,
# with the words a log line uses. storage/ingest.py times the first five inside the
# transaction; Store.ingest adds the last two.
INGEST_STEPS = {
    "records": "reading records",  # waiting on the records themselves: a streamed file's parse
    "papers": "storing papers",
    "topics": "learning topics",  # other writers' new topics first, then the batch's own
    "links": "linking topics",  # the batch's papers to every topic they name
    "rest": "other writes",  # deliveries, indexes rebuilt after a bulk load, folding recent links
    "commit": "committing",  # waiting for the write lock, and the transaction's start and commit
    "index": "search index",
}


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    guild_id: int | None
    channel_id: int | None
    webhook_url: str | None
    target: str  # all | author | topic | category
    value: str | None
    created_at: datetime
    paused_reason: str | None = None  # broken: set by the announcer (deleted channel, lost permission)
    digest: int = 0  # days per digest: 0 = post as they arrive, 1 = daily, 7 = weekly
    mention_role_id: int | None = None
    include: str = ""  # filter text as the admin typed it (see storage/subscriptions.py)
    exclude: str = ""
    paused_at: datetime | None = None  # paused by a person with /subscription pause
    paused_by: int | None = None

    @property
    def held(self) -> bool:
        """True when deliveries wait: paused by a person or broken."""
        return self.paused_at is not None or self.paused_reason is not None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscription_id: int
    paper_id: int
    status: str  # pending | sent | failed
    attempts: int
    nonce: str
    created_at: datetime
    message_id: int | None = None
    last_error: str | None = None
