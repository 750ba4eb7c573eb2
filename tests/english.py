"""English left in a translated text: the check behind "no English in a German email, page or report".

``english_words_in(text)`` strips HTML tags, URLs and email addresses and returns the common English words it
finds, in order of first appearance. The word list is curated: English function words and the words this service
writes to customers (request, data, delete, kept, days...). Words that are also German are left out ("will",
"was", "also", "an", "in", "die", "so", "man", "Link", "Team", "Service", "Details", "Information", "Name",
"Status", "Download", "legal", "personal", "still", "April", "August", "September"), so correct German is never
reported; a word written in capitals ("US", "IT") is taken for an abbreviation and skipped. Strings the caller knows are not English prose (the brand's
name, the customer's email, a reason typed by an operator) are removed by the caller before the check.
"""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+")
# A whole word of letters: "be" in an id such as "4b19-be12" is not a word.
_WORD = re.compile(r"\b[^\W\d_]+(?:'[^\W\d_]+)?\b")

ENGLISH_WORDS: frozenset[str] = frozenset(
    """
    the of and or to for from with without by at on into onto about above after before until within
    during since because if when where which who whom whose what why how than then there here these those
    this that it its is are were be been being has have had having does did done can could would should
    shall may might must not no yes any all some each every other more most only just yet once again
    very same such both either neither nor our ours we us you your yours they them their theirs he she his
    her hers my me mine i'm we're you're it's don't doesn't didn't won't can't isn't aren't yourself
    anything something everything
    dear hello hi thanks thank regards sincerely faithfully wishes please sorry
    request requests requested data deleted delete deletion erase erased erasure removed remove kept keep
    keeps record records entry entries copy access ready expires expired expiry expire
    confirm confirmed confirmation confirming received receive sent send asked ask need needs needed new
    due date deadline extended extension declined refused refusal completed complete found nothing
    law laws requires required require reason reasons right rights complain complaint authority court
    remedy judicial supervisory contact address protection officer controller privacy policy
    pseudonymised anonymised anonymized pseudonymized below following file files package processed
    process contains contain includes include period end ends failed error overdue soon
    day days hour hours week weeks month months year years today tomorrow
    january february march june july october december
    monday tuesday wednesday thursday friday saturday sunday
    click opens valid used use uses using ignore happened happen happens made make take taken give given
    know want wish like view
    account order orders invoice invoices customer customers purpose purposes recipients retention
    contract consent legitimate interest interests obligation
        """.split()
)


def english_words_in(text: str) -> list[str]:
    """The common English words in ``text`` (tags, URLs and email addresses removed), each once, in order of
    first appearance, as written. ``[]`` means no English word was found."""
    plain = html.unescape(_TAG.sub(" ", text))
    plain = _EMAIL.sub(" ", _URL.sub(" ", plain))
    found: list[str] = []
    seen: set[str] = set()
    for match in _WORD.finditer(plain):
        word = match.group(0)
        if len(word) > 1 and word.isupper():
            continue
        key = word.lower()
        if key in ENGLISH_WORDS and key not in seen:
            seen.add(key)
            found.append(word)
    return found
