"""Text as a person reads it: what every stored value goes through.

Two kinds of text are stored:

- **Identifiers** (work e-mail, employee ID, username) are compared to find
  duplicates, so two values a person reads as the same must be stored the
  same, and a value made to look like another is refused:
  invisible characters are removed, NFKC turns full-width and other
  compatibility forms into their plain letters, and combining marks,
  control characters and letters of mixed scripts are refused. Mixed means
  more than one script, except the mixes languages really write (Latin with
  Han and kana, Han with Bopomofo, Han with Hangul): Unicode's "highly
  restrictive" level (UTS #39), which stops a Cyrillic "а" in "аda@…".
- **Free text** (names, job title, department, location, phone) may be in
  any script. It is stored in NFC, without control characters, line or
  paragraph separators, direction overrides or invisible characters; the
  zero-width (non-)joiner is kept between letters, where Persian and Indic
  names need it.

Either way U+FFFD is refused: it stands for a character that a file's
encoding could not hold, so the real one is lost.

All checks start from `str.isascii()`: plain ASCII text, nearly every value
of a large import, skips the Unicode work.
"""
import unicodedata

import regex

# Default_Ignorable_Code_Point: soft hyphen, zero-width space and joiners,
# direction marks and overrides, word joiner, variation selectors, fillers, BOM.
INVISIBLE_RE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
# Never in stored text: C0/C1 controls, line/paragraph separators,
# surrogates (PostgreSQL cannot store them), U+FFFD.
FORBIDDEN_RE = regex.compile(r"[\p{Cc}\p{Zl}\p{Zp}\p{Cs}\uFFFD]")
ZERO_WIDTH_JOINERS = "\u200c\u200d"
ASCII_CONTROL_RE = regex.compile(r"[\x00-\x1f\x7f]")

# Every Unicode script that has letters, for telling which script a letter
# belongs to (the match's group name). Common and Inherited are left out:
# digits, punctuation and marks belong to every script.
SCRIPTS = (
    "Adlam", "Ahom", "Anatolian_Hieroglyphs", "Arabic", "Armenian", "Avestan", "Balinese", "Bamum",
    "Bassa_Vah", "Batak", "Bengali", "Bhaiksuki", "Bopomofo", "Brahmi", "Braille", "Buginese", "Buhid",
    "Canadian_Aboriginal", "Carian", "Caucasian_Albanian", "Chakma", "Cham", "Cherokee", "Chorasmian",
    "Coptic", "Cuneiform", "Cypriot", "Cypro_Minoan", "Cyrillic", "Deseret", "Devanagari", "Dives_Akuru",
    "Dogra", "Duployan", "Egyptian_Hieroglyphs", "Elbasan", "Elymaic", "Ethiopic", "Georgian", "Glagolitic",
    "Gothic", "Grantha", "Greek", "Gujarati", "Gunjala_Gondi", "Gurmukhi", "Han", "Hangul",
    "Hanifi_Rohingya", "Hanunoo", "Hatran", "Hebrew", "Hiragana", "Imperial_Aramaic",
    "Inscriptional_Pahlavi", "Inscriptional_Parthian", "Javanese", "Kaithi", "Kannada", "Katakana", "Kawi",
    "Kayah_Li", "Kharoshthi", "Khitan_Small_Script", "Khmer", "Khojki", "Khudawadi", "Lao", "Latin",
    "Lepcha", "Limbu", "Linear_A", "Linear_B", "Lisu", "Lycian", "Lydian", "Mahajani", "Makasar",
    "Malayalam", "Mandaic", "Manichaean", "Marchen", "Masaram_Gondi", "Medefaidrin", "Meetei_Mayek",
    "Mende_Kikakui", "Meroitic_Cursive", "Meroitic_Hieroglyphs", "Miao", "Modi", "Mongolian", "Mro",
    "Multani", "Myanmar", "Nabataean", "Nag_Mundari", "Nandinagari", "New_Tai_Lue", "Newa", "Nko", "Nushu",
    "Nyiakeng_Puachue_Hmong", "Ogham", "Ol_Chiki", "Old_Hungarian", "Old_Italic", "Old_North_Arabian",
    "Old_Permic", "Old_Persian", "Old_Sogdian", "Old_South_Arabian", "Old_Turkic", "Old_Uyghur", "Oriya",
    "Osage", "Osmanya", "Pahawh_Hmong", "Palmyrene", "Pau_Cin_Hau", "Phags_Pa", "Phoenician",
    "Psalter_Pahlavi", "Rejang", "Runic", "Samaritan", "Saurashtra", "Sharada", "Shavian", "Siddham",
    "SignWriting", "Sinhala", "Sogdian", "Sora_Sompeng", "Soyombo", "Sundanese", "Syloti_Nagri", "Syriac",
    "Tagalog", "Tagbanwa", "Tai_Le", "Tai_Tham", "Tai_Viet", "Takri", "Tamil", "Tangsa", "Tangut",
    "Telugu", "Thaana", "Thai", "Tibetan", "Tifinagh", "Tirhuta", "Toto", "Ugaritic", "Vai", "Vithkuqi",
    "Wancho", "Warang_Citi", "Yezidi", "Yi", "Zanabazar_Square",
)
SCRIPT_OF_LETTER_RE = regex.compile(
    "|".join(rf"(?P<{name}>\p{{Script={name}}})" for name in SCRIPTS) + r"|(?P<Unknown>\p{L})")
LETTER_RE = regex.compile(r"\p{L}")
# The script mixes real writing uses (UTS #39, "highly restrictive").
ALLOWED_MIXES = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)


class TextProblem(ValueError):
    """Why a value cannot be stored, as the end of a sentence that starts with
    the field's label: "First name" + " contains ..."."""


def describe(char: str) -> str:
    """U+202E RIGHT-TO-LEFT OVERRIDE: a character named the way Unicode does."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _refuse_forbidden(value: str) -> None:
    bad = FORBIDDEN_RE.search(value)
    if bad is None:
        return
    if bad.group() == "\ufffd":
        raise TextProblem("contains U+FFFD, a character the file's encoding could not hold: "
                          "check the file's encoding (save it as UTF-8).")
    raise TextProblem(f"contains a control character ({describe(bad.group())}).")


def free_text(value: str) -> str:
    """A name or other free text, checked and in NFC."""
    if value.isascii():
        if ASCII_CONTROL_RE.search(value):
            raise TextProblem(f"contains a control character ({describe(ASCII_CONTROL_RE.search(value).group())}).")
        return value
    _refuse_forbidden(value)
    for match in INVISIBLE_RE.finditer(value):
        char, at = match.group(), match.start()
        if char in ZERO_WIDTH_JOINERS and _between_letters(value, at):
            continue
        raise TextProblem(f"contains an invisible or direction-changing character ({describe(char)}).")
    return unicodedata.normalize("NFC", value)


def entry_name_text(value: str) -> str:
    """A department or job name: free text, with compatibility forms made
    plain (full-width ＳＡＬＥＳ is SALES, as in identifiers) and a word that
    mixes scripts refused (Sаles with a Cyrillic а). Such a look-alike would
    be a second department beside Sales, splitting its headcount; a name in
    one script, or in two languages word by word ('Sales Продажи'), is kept."""
    value = free_text(value)
    if value.isascii():
        return value
    value = unicodedata.normalize("NFKC", value)
    for word in value.split():
        _refuse_mixed_scripts(word)
    return value


def kept_as_is(value: str) -> bool:
    """True only if free_text(value) returns value itself: printable (so no
    control character, line or paragraph separator or surrogate), no U+FFFD,
    nothing invisible, already in NFC. A quick yes for nearly every name, in
    any script (a no only means free_text has something to do or refuse)."""
    return (value.isprintable() and "\ufffd" not in value and INVISIBLE_RE.search(value) is None
            and unicodedata.is_normalized("NFC", value))


def harmless(value: str) -> str:
    """Text to quote back to a person (a report, a "not found" page):
    characters that could hide or reorder what is around them (controls,
    direction overrides, invisible ones) as U+FFFD, the mark of a lost one."""
    return INVISIBLE_RE.sub("\ufffd", FORBIDDEN_RE.sub("\ufffd", value))


def _between_letters(value: str, at: int) -> bool:
    if not 0 < at < len(value) - 1:
        return False
    before, after = value[at - 1], value[at + 1]
    return (before.isalpha() or _is_mark(before)) and (after.isalpha() or _is_mark(after))


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def identifier_text(value: str) -> str:
    """An e-mail, employee ID or username as it is compared and stored (case
    is the caller's: e-mails and usernames lower, IDs upper)."""
    if value.isascii():
        if ASCII_CONTROL_RE.search(value):
            raise TextProblem(f"contains a control character ({describe(ASCII_CONTROL_RE.search(value).group())}).")
        return value.strip()
    value = INVISIBLE_RE.sub("", value)
    _refuse_forbidden(value)
    _refuse_marks(value)
    value = unicodedata.normalize("NFKC", value).strip()
    _refuse_marks(value)
    _refuse_mixed_scripts(value)
    return value


def _refuse_marks(value: str) -> None:
    for char in value:
        if not char.isascii() and _is_mark(char):
            raise TextProblem(f"contains a combining mark ({describe(char)}): type the letter itself.")


def scripts_of(value: str) -> set[str]:
    """The scripts of the value's letters (digits and punctuation have none)."""
    return {SCRIPT_OF_LETTER_RE.match(letter.group()).lastgroup for letter in LETTER_RE.finditer(value)}


def _refuse_mixed_scripts(value: str) -> None:
    scripts = scripts_of(value)
    if len(scripts) <= 1 or any(scripts <= mix for mix in ALLOWED_MIXES):
        return
    named = " and ".join(sorted(name.replace("_", " ") for name in scripts))
    raise TextProblem(f"mixes letters of different scripts ({named}), so it could pass for another one.")


def lower_identifier(value: str) -> str:
    """identifier_text, lower-cased; the case mapping can add a combining mark
    (a dotted capital I, U+0130, becomes i + U+0307), which is refused like
    any other, but named as what was typed: the person typed no mark."""
    plain = identifier_text(value)
    lowered = plain.lower()
    if not lowered.isascii():
        if len(lowered) != len(plain):
            grown = next(char for char in plain if len(char.lower()) > 1)
            raise TextProblem(f"contains {describe(grown)}, which lower-cased is two characters "
                              f"({grown.lower()[0]} and a combining mark): type {grown.lower()[0]} instead.")
        _refuse_marks(lowered)
    return lowered
