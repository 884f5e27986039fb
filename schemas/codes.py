"""Closed vocabularies. Exclusion reasons and SEN needs are separate namespaces:
"DS" is "abuse relating to disability" as a reason but "Down syndrome" as a need.
Sources: domain.md §2.1 (reason codes, CBDS), §2.3 (SEN provision and need).
"""

from __future__ import annotations

from enum import StrEnum


class ExclusionReason(StrEnum):
    """DfE school-census suspension / permanent exclusion reason codes."""

    # in use since the autumn 2020 census (up to 3 per exclusion)
    PP = "PP"  # physical assault against a pupil
    PA = "PA"  # physical assault against an adult
    VP = "VP"  # verbal abuse / threatening behaviour against a pupil
    VA = "VA"  # verbal abuse / threatening behaviour against an adult
    OW = "OW"  # use or threat of use of an offensive weapon or prohibited item
    BU = "BU"  # bullying
    RA = "RA"  # racist abuse
    LG = "LG"  # abuse against sexual orientation and gender identity
    DS = "DS"  # abuse relating to disability
    SM = "SM"  # sexual misconduct
    DA = "DA"  # drug and alcohol related
    DM = "DM"  # damage to property
    TH = "TH"  # theft
    DB = "DB"  # persistent or general disruptive behaviour
    MT = "MT"  # inappropriate use of social media or online technology
    PH = "PH"  # wilful and repeated transgression of public-health measures
    # before 2020 ("other"); still found in historic returns
    OT = "OT"
    # extended CBDS list (May 2026 seed file)
    BW = "BW"  # brought a weapon or prohibited item into school
    TB = "TB"  # cyber-bullying or threatening behaviour online
    SB = "SB"  # harmful sexual behaviour
    MB = "MB"  # misogynistic behaviour
    AB = "AB"  # misandry behaviour
    DR = "DR"  # drug related
    AR = "AR"  # alcohol related
    SR = "SR"  # smoking related
    VR = "VR"  # vape related
    LD = "LD"  # persistent disruptive behaviour: low-level disruption
    CB = "CB"  # persistent disruptive behaviour: challenging behaviour
    MP = "MP"  # use of mobile phone
    OS = "OS"  # misbehaviour outside of school


class SenStatus(StrEnum):
    """SEN provision: E = EHC plan, K = SEN support, N = none."""

    E = "E"
    K = "K"
    N = "N"
    unknown = "unknown"


class SenNeed(StrEnum):
    """SEN primary need type (school census)."""

    SPLD = "SPLD"
    MLD = "MLD"
    SLD = "SLD"
    PMLD = "PMLD"
    SEMH = "SEMH"
    SLCN = "SLCN"
    HI = "HI"
    VI = "VI"
    MSI = "MSI"
    PD = "PD"
    ASD = "ASD"
    DS = "DS"  # Down syndrome (not the reason code DS)
    OTH = "OTH"
    NSA = "NSA"


def is_send(sen_status: str | None, suspected_send: bool, needs: object = ()) -> bool:
    """SEND for routing (contract: "E, K, suspected, or any recorded primary need"). The one definition."""
    return sen_status in (SenStatus.E, SenStatus.K) or bool(suspected_send) or bool(needs)


class Agency(StrEnum):
    ias = "ias"
    exclusions_officer = "exclusions_officer"
    reu = "reu"
    nas = "nas"
    # issue 11, items 4 and 7 (docs/rules.md): the Virtual School (looked-after children and those
    # with a social worker, R-SW-VSH) and the level-1 advice services for families without SEND
    # (R-INFORMAL: ACE, Coram Children's Legal Centre), the last two consent-gated like NAS
    virtual_school = "virtual_school"
    ace = "ace"
    coram = "coram"


class CallTaker(StrEnum):
    ias = "ias"
    exclusions_officer = "exclusions_officer"
    reu = "reu"
    nas = "nas"
    la_inclusion = "la_inclusion"


class CallerRole(StrEnum):
    parent = "parent"
    young_person = "young_person"
    professional = "professional"


class Concern(StrEnum):
    sent_home_informally = "sent_home_informally"
    part_time_timetable = "part_time_timetable"
    isolation = "isolation"
    suspension = "suspension"
    permanent_exclusion = "permanent_exclusion"
    ehe_pressure = "ehe_pressure"
    managed_move = "managed_move"
    off_rolling = "off_rolling"
    other = "other"


#: Concerns that make a call "a call with an exclusion concern" for routing: every concern but `other`.
EXCLUSION_CONCERNS = frozenset(Concern) - {Concern.other}

#: Concerns that report an informal (unlawful) exclusion.
INFORMAL_CONCERNS = frozenset({Concern.sent_home_informally, Concern.off_rolling})


class NoticeCategory(StrEnum):
    suspension = "suspension"
    lunchtime = "lunchtime"
    permanent = "permanent"


class ReturnRecordKind(StrEnum):
    suspension = "suspension"
    permanent_exclusion = "permanent_exclusion"
    part_time_timetable = "part_time_timetable"
    removal_from_roll = "removal_from_roll"
    ehe_registration = "ehe_registration"
    managed_move = "managed_move"
    alternative_provision = "alternative_provision"
    sent_home = "sent_home"


class PartTimeReason(StrEnum):
    """Why a part-time timetable was set (LA return, optional). Behaviour is never a lawful one
    (Working together to improve school attendance, 2024; domain.md §1.9, R-PTT)."""

    medical = "medical"
    reintegration = "reintegration"
    behaviour = "behaviour"
    other = "other"


YEAR_GROUPS = ("N1", "N2", "R", *(str(n) for n in range(1, 15)))
