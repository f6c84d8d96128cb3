"""The declared format: one YAML document per enterprise, or several that add up to one.

These pydantic models are the single source of the format: ``schemas/enterprise.schema.json``
is generated from them and the catalogue (``make schemas``), and a test fails when the two
drift apart.
Titles and descriptions travel into the schema, where editors show them as hover help.

Fields that may be left out are typed ``X | SkipJsonSchema[None]``: the schema then says
"optional" without also allowing an explicit ``null``, which a reviewer would misread.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

# Quality and service codes are text here: which codes exist is the effective catalogue's
# business (shipped plus the user's file), known only at run time.  ``schema.enterprise_schema``
# adds the enumerations and the per-quality constraints to the schema built from these models,
# and documents are validated against that schema before they become models.
QualityCode = Annotated[str, StringConstraints(min_length=1)]
ServiceCode = Annotated[str, StringConstraints(min_length=1)]
Channel = Literal["ftp", "sftp", "soap", "rest"]
# The languages of the portal; pages, letters and e-mails are written in each.
Language = Literal["nl", "fr", "de", "en"]
# What each channel carries (and it carries nothing else): stated in the schema and rule H011.
CHANNEL_FIELDS: dict[str, frozenset[str]] = {
    "ftp": frozenset(),
    "sftp": frozenset({"ssh_public_key"}),
    "soap": frozenset({"certificate_fingerprint"}),
    "rest": frozenset({"certificate_fingerprint"}),
}

# The blanks an address may not hold, spelled out: what "\s" means differs between the regular
# expressions of the schema's validators (ECMAScript's lacks U+0085, has U+FEFF) and pydantic's, and the
# schema must refuse every address the model refuses (``DeclaredUser`` is made from what it let through).
_BLANKS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
Email = Annotated[str, StringConstraints(pattern=rf"^[^@{_BLANKS}]+@[^@{_BLANKS}]+\.[^@{_BLANKS}]+$")]
SenderNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$")]
SshKey = Annotated[
    str, StringConstraints(pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$")
]
Text = Annotated[str, StringConstraints(min_length=1)]
# A date as people write it, quoted: "2026-12-31" (rule H023 refuses a day that does not exist).
IsoDate = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
# A profile's name: a word people use for a bundle of services ("payroll", "hr-light").
ProfileName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")]
Handle = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:/[A-Za-z0-9._-]+)*$")]


def _distinct(items: list[str]) -> list[str]:
    """Pydantic's side of the schema's ``uniqueItems``."""
    if len(set(items)) != len(items):
        raise ValueError("lists the same item twice")
    return items


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Person(_Declared):
    """A natural person, identified by their SSIN. The same person may hold several roles."""

    model_config = ConfigDict(title="Person")

    ssin: Text = Field(
        title="SSIN (INSZ / NISS)",
        description="Social-security identification number: the national register number or the "
        'BIS number, 11 digits with valid check digits. Quote it, e.g. "85073003328" or '
        '"85.07.30-033.28".',
    )
    name: Text = Field(title="Name", description="Full name as it appears on the identity card.")
    email: Email = Field(title="E-mail address", description="Where the portal sends this person's messages.")
    github: Handle | SkipJsonSchema[None] = Field(
        default=None,
        title="GitHub handle",
        description="GitHub user name, without @; `reconciler codeowners` makes this person a reviewer "
        "of the files they may approve.",
    )
    gitlab: Handle | SkipJsonSchema[None] = Field(
        default=None,
        title="GitLab handle",
        description="GitLab user name, without @; used by `reconciler codeowners --platform gitlab`.",
    )
    language: Language | SkipJsonSchema[None] = Field(
        default=None,
        title="Language (taal / langue / Sprache)",
        description="nl, fr, de or en: the language of this person's pages, letters and e-mails. "
        "Without it, the enterprise's language, then the browser's, decide.",
    )


_UNTIL = (
    'Last day but one of this grant, quoted: "2026-12-31" means the grant ends when 31 December 2026 '
    "starts (Belgian time). From that day on it counts as not declared: a plan removes it, and the "
    "account is deactivated when the person has no role left."
)


class Manager(Person):
    """A quality's access manager: one person, appointed until further notice or until a date."""

    model_config = ConfigDict(title="Access manager")

    until: IsoDate | SkipJsonSchema[None] = Field(default=None, title="Until", description=_UNTIL)


class Appointee(Person):
    """A person in a role that can be removed: a co-main or co-access manager."""

    model_config = ConfigDict(title="Appointee")

    protected: bool | SkipJsonSchema[None] = Field(
        default=None,
        title="Protected",
        description="When true, reconciler refuses to remove this role, even after its block is deleted, "
        "unless apply is given --allow-protected-removal. Set it to false first to allow removal.",
    )
    until: IsoDate | SkipJsonSchema[None] = Field(default=None, title="Until", description=_UNTIL)


class User(Appointee):
    """A user account in one quality, granted online services that the quality offers."""

    model_config = ConfigDict(title="User")

    # A user's lists are checked for repeats by the schema's ``uniqueItems`` alone (rule S005), which
    # every document passes before it becomes a model: a check per user here cost a plan of a
    # million users several seconds of calls from pydantic's core into Python.
    services: list[ServiceCode] = Field(
        default_factory=list,
        title="Online services",
        description="Online services granted to this user; each must be offered by the quality.",
        json_schema_extra={"uniqueItems": True},
    )
    profiles: list[ProfileName] = Field(
        default_factory=list,
        title="Profiles",
        description="Named bundles of services declared under `profiles:` at the top of a file of the "
        "enterprise; the user gets every service of each, besides `services`. Each must be offered by "
        "the quality.",
        json_schema_extra={"uniqueItems": True},
    )


class TechnicalContact(_Declared):
    """The one person the portal contacts about a sender's structured messages."""

    name: Text = Field(title="Name", description="Name of the technical contact.")
    email: Email = Field(title="E-mail address", description="E-mail of the technical contact.")
    phone: Text | SkipJsonSchema[None] = Field(
        default=None, title="Phone", description="Phone number of the technical contact."
    )


class Sender(_Declared):
    """A sender of structured messages (batch files, SOAP or REST) for this quality."""

    number: SenderNumber = Field(
        title="Sender number (verzendernummer / numéro d'expéditeur)",
        description="Number the portal assigned to this sender; quote it.",
    )
    channel: Channel = Field(
        title="Channel",
        description="How messages travel: ftp or sftp (batch files), soap or rest (web services).",
    )
    ssh_public_key: SshKey | SkipJsonSchema[None] = Field(
        default=None,
        title="SSH public key",
        description="Required for sftp: the public key the sender logs in with.",
    )
    certificate_fingerprint: Fingerprint | SkipJsonSchema[None] = Field(
        default=None,
        title="Certificate fingerprint (SHA-256)",
        description="Required for soap and rest: SHA-256 fingerprint of the sender's X.509 certificate.",
    )
    technical_contact: TechnicalContact | SkipJsonSchema[None] = Field(
        default=None,
        title="Technical contact",
        description="Exactly one technical contact per sender.",
    )
    protected: bool | SkipJsonSchema[None] = Field(
        default=None,
        title="Protected",
        description="When true, reconciler refuses to remove this sender unless apply is given "
        "--allow-protected-removal.",
    )


class Route(_Declared):
    """A routing rule: which sender sends the structured messages of one online service."""

    service: ServiceCode = Field(
        title="Online service or message type", description="Service whose messages this rule routes."
    )
    sender: SenderNumber = Field(title="Sender number", description="A sender declared in the same quality; quote it.")


class DeclaredUser(NamedTuple):
    """A declared user as the tool keeps it: ``User``'s fields, in a named tuple rather than a model.

    A registry declares up to a million users; a pydantic model each cost a full plan seconds to
    build and free, for checks the schema had already made: every document passes the schema,
    which ``User`` generates (strict types, patterns, no other keys), before it becomes a model.
    ``declared.document_model`` makes these from the validated data; ``User`` stays the format's
    definition.  The lists are tuples.
    """

    ssin: str
    name: str
    email: str
    github: str | None
    gitlab: str | None
    language: str | None
    protected: bool | None
    until: str | None
    services: tuple[str, ...]
    profiles: tuple[str, ...]


class Quality(_Declared):
    """An activated quality (hoedanigheid / qualité) and everything managed inside it.

    A quality may be declared in several blocks, for instance one file per team; the blocks
    are merged, and each single-valued field may be set by one block only.
    """

    code: QualityCode = Field(title="Quality", description="Code of the quality in the catalogue.")
    activated: bool | SkipJsonSchema[None] = Field(
        default=None,
        title="Activated",
        description="Whether the quality is activated (default true). A deactivated quality holds no people.",
    )
    default: bool | SkipJsonSchema[None] = Field(
        default=None,
        title="Default quality",
        description="True for the quality activated when the account was created; exactly one per enterprise.",
    )
    protected: bool | SkipJsonSchema[None] = Field(
        default=None,
        title="Protected",
        description="When true, reconciler refuses to remove this quality unless apply is given "
        "--allow-protected-removal; the protection is kept in the store, so deleting this block "
        "does not lift it.",
    )
    nsso_number: Text | SkipJsonSchema[None] = Field(
        default=None,
        title="NSSO registration number (RSZ-nummer / numéro ONSS)",
        description='Category, registration number and check digits, e.g. "123-4567890-12"; '
        "required for employer qualities. Quote it.",
    )
    notification_email: Email | SkipJsonSchema[None] = Field(
        default=None,
        title="Notification e-mail address",
        description="Where the portal sends notifications about this quality.",
    )
    access_manager: Manager | SkipJsonSchema[None] = Field(
        default=None,
        title="Access manager (Toegangsbeheerder / gestionnaire d'accès)",
        description="The one local administrator of this quality.",
    )
    co_access_managers: list[Appointee] = Field(
        default_factory=list,
        title="Co-access managers (co-Toegangsbeheerders / co-gestionnaires d'accès)",
        description="People who help the access manager of this quality.",
    )
    # The format's definition: ``declared.document_model`` validates a document with its users taken
    # out and keeps them here as ``DeclaredUser``s, which ``declared.users_of`` reads.
    users: list[User] = Field(
        default_factory=list, title="Users (gebruikers / utilisateurs)", description="User accounts of this quality."
    )
    senders: list[Sender] = Field(default_factory=list, title="Senders", description="Senders of structured messages.")
    routing: list[Route] = Field(
        default_factory=list,
        title="Routing rules (routeringsregels)",
        description="Which sender sends which service's messages.",
    )


class EnterpriseHeader(_Declared):
    """Which enterprise a file belongs to."""

    model_config = ConfigDict(title="Enterprise header")

    number: Text = Field(
        title="Enterprise number (KBO / BCE)",
        description='10 digits, first 0 or 1, e.g. "0403.019.261" or "BE0403019261". Quote it.',
    )
    name: Text | SkipJsonSchema[None] = Field(
        default=None, title="Name", description="Registered name; declared in one file at least."
    )
    language: Language | SkipJsonSchema[None] = Field(
        default=None,
        title="Default language",
        description="nl, fr, de or en: the language of the pages, letters and e-mails of people who declare none.",
    )
    offboard: bool | SkipJsonSchema[None] = Field(
        default=None,
        title="Off-board",
        description="True removes the whole enterprise from the store: every role, user, sender and "
        "routing rule, and the enterprise itself. The file then declares nothing else, and apply "
        "needs --allow-offboarding. Delete the file once it has been applied.",
    )


class EnterpriseDocument(_Declared):
    """An enterprise's account on the portal, or a part of it (an enterprise may span several files)."""

    model_config = ConfigDict(title="Enterprise account")

    enterprise: EnterpriseHeader = Field(title="Enterprise", description="The enterprise this file belongs to.")
    main_access_manager: Person | SkipJsonSchema[None] = Field(
        default=None,
        title="Main access manager (Hoofdtoegangsbeheerder / gestionnaire d'accès principal)",
        description="Exactly one per enterprise, declared in one file.",
    )
    co_main_access_managers: list[Appointee] = Field(
        default_factory=list,
        title="Co-main access managers (co-Hoofdtoegangsbeheerders / co-gestionnaires d'accès principaux)",
        description="People who help the main access manager.",
    )
    qualities: list[Quality] = Field(
        default_factory=list,
        title="Qualities (hoedanigheden / qualités)",
        description="Activated qualities and what is managed in them.",
    )
    profiles: dict[ProfileName, Annotated[list[ServiceCode], AfterValidator(_distinct)]] = Field(
        default_factory=dict,
        title="Profiles",
        description="Named bundles of online services, e.g. `payroll: [dimona, dmfa, drs]`, that users "
        "of any quality of the enterprise may list under `profiles:`. Each name is declared in one file.",
        json_schema_extra={"propertyNames": {"pattern": r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$"}},
    )
