"""Text frontend: text -> normalized text -> phones -> model ids, for Chinese and English (v2 phone set).

`text_to_phones` is the one entry point; `UserDictionary` holds the user's fixed readings. Importing this
package loads no dictionary or model: everything is loaded on first use.
"""

from core.text.frontend import (
    LANGUAGES,
    PhoneResult,
    Segment,
    check_text_length,
    language_frontends,
    text_to_phones,
)
from core.text.symbols import phones_to_ids, symbols
from core.text.userdict import UserDictionary

__all__ = [
    "LANGUAGES",
    "PhoneResult",
    "Segment",
    "UserDictionary",
    "check_text_length",
    "language_frontends",
    "phones_to_ids",
    "symbols",
    "text_to_phones",
]
