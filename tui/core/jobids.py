"""Finding job ids in what people paste: one id, many, or free text from logs and JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tui.api.models import JOB_ID_RE

# 32 hex characters not glued to more hex (a 64-hex hash is not a job id).
_EMBEDDED_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")
# A token that looks like someone meant it as an id: long-ish hex-and-dash runs.
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F][0-9a-fA-F\-]{15,}(?![0-9A-Za-z])")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class Extracted:
    ids: list[str] = field(default_factory=list)  # canonical, in first-seen order, unique
    duplicates: list[str] = field(default_factory=list)  # repeated within the text
    malformed: list[str] = field(default_factory=list)  # tokens that look meant as ids but are not


def extract_job_ids(text: str, *, strict: bool = False) -> Extracted:
    """Pull job ids out of `text`.

    strict=True treats the text as a list of ids separated by white space or commas: every
    token must be an id, and the others are reported as malformed. Otherwise ids are found
    anywhere in free text, and hex runs that are nearly ids (wrong length) are reported, but
    RequestIds (UUIDs) and longer hashes are ignored as what they are.
    """
    result = Extracted()
    seen: set[str] = set()

    def take(candidate: str) -> None:
        canonical = candidate.lower()
        if canonical in seen:
            result.duplicates.append(canonical)
        else:
            seen.add(canonical)
            result.ids.append(canonical)

    if strict:
        for token in re.split(r"[\s,;]+", text.strip()):
            if not token:
                continue
            if JOB_ID_RE.match(token):
                take(token)
            else:
                result.malformed.append(token[:80])
        return result

    for match in _EMBEDDED_ID.finditer(text):
        take(match.group(0))
    for match in _ID_LIKE.finditer(text):
        token = match.group(0).strip("-")
        if JOB_ID_RE.match(token) or _UUID.match(token) or "-" in token:
            continue
        if 24 <= len(token) <= 40:  # near-misses: a truncated or over-long copy of an id
            result.malformed.append(token[:80])
    return result
