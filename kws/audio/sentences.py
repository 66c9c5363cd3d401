"""Keyword-free text for negative speech: ../shared/data/text/sentences_without_keywords.txt
(9,916 public-domain LJ Speech transcripts) when present, else a small built-in list.

Sentences that contain a keyword as a word (for custom `data.keywords`) are dropped, and so are
those outside the word-count limits (a very long sentence costs synthesis time and says little
more). Their words are also a vocabulary of other words to speak as `_unknown_` (vocabulary()).
"""
from __future__ import annotations

import re
from pathlib import Path

from kws.errors import KwsError

SHARED_TEXT = "text/sentences_without_keywords.txt"      # under paths.shared_data
_WORD = re.compile(r"[a-z']+")
VOCABULARY_MIN_LETTERS = 3
# A keyword with one of these endings is the keyword still ("stops", "going", "stopped"):
# never _unknown_. A compound ("downtown") is another word.
_INFLECTIONS = ("", "s", "es", "ed", "d", "ing", "'s")
_DOUBLED = ("ed", "ing")                 # after a doubled last consonant

# Written for this project (no source to credit); none contains the default keywords.
BUILTIN = (
    "The kettle whistled while we waited for the rain to pass.",
    "Please bring the blue folder to the meeting room.",
    "My neighbour planted tomatoes along the garden fence.",
    "The train to the city was late again this morning.",
    "She painted the kitchen a pale shade of green.",
    "We watched the boats drift slowly across the harbour.",
    "The library closes early every Friday in winter.",
    "He forgot his umbrella at the bakery near the station.",
    "A small dog barked at the postman all week.",
    "The children built a castle out of sand and shells.",
    "Could you pass the salt and the pepper, please?",
    "The museum has a new exhibition about ancient maps.",
    "Their flight was delayed by the thick fog.",
    "I think the soup needs a little more garlic.",
    "The old clock in the hall chimes every hour.",
    "We should water the plants before the weekend.",
    "The market sells fresh bread and local cheese.",
    "A cold wind swept across the empty beach.",
    "The printer is out of paper again.",
    "Grandmother told us stories about her childhood village.",
    "The bus driver waved as we crossed the street.",
    "Several birds were singing in the tall oak tree.",
    "The recipe calls for two cups of flour and an egg.",
    "This jacket is warm enough for the mountains.",
    "The teacher asked the class to read the first chapter.",
    "A parcel arrived for you while you were at work.",
    "We painted the fence white last summer.",
    "The coffee shop smells of cinnamon and toast.",
    "The river was calm and the water was clear.",
    "Remember to lock the back door when you leave.",
    "The film was longer than I expected.",
    "Her brother plays the violin in an orchestra.",
    "The garden looks beautiful after the storm.",
    "They moved to a quiet town by the sea.",
    "The lamp in the study needs a new bulb.",
    "I found an old photograph inside the book.",
    "The soup was too hot to eat straight away.",
    "A light snow fell over the sleeping village.",
    "The farmer sold apples and pears at the fair.",
    "We spent the afternoon walking through the forest.",
    "The phone rang twice and then fell silent.",
    "His car is parked behind the supermarket.",
    "The cat sleeps by the window every afternoon.",
    "Their house has a red roof and a tall chimney.",
    "The doctor said the results look fine.",
    "She keeps her keys in a small wooden box.",
    "The concert tickets sold out within an hour.",
    "The bridge was closed for repairs all month.",
    "Fresh flowers stood in a vase by the bed.",
    "The wind carried the smell of the sea inland.",
    "He reads the newspaper every morning with breakfast.",
    "The shop assistant wrapped the gift in silver paper.",
    "We heard thunder far away across the hills.",
    "The sandwiches are in the basket with the fruit.",
    "A strange noise came from the attic at night.",
    "The students waited quietly for the exam to begin.",
    "The lighthouse shone brightly through the mist.",
    "This path leads through the fields to the church.",
    "The baker rises early to prepare the dough.",
    "Their wedding took place in a small chapel.",
    "The orange cat chased a leaf across the yard.",
    "We ordered pizza and watched an old film.",
    "The engineer checked every cable twice.",
    "The hotel room had a view of the mountains.",
    "My sister collects stamps from distant countries.",
    "The soup kitchen feeds hundreds of people each week.",
    "Heavy clouds gathered over the valley.",
    "The pianist bowed and the audience clapped.",
    "The gardener trimmed the hedges by the gate.",
    "The pilot announced that we would land soon.",
    "A warm breeze drifted through the open window.",
    "The butcher's shop is across from the bank.",
    "The scientists measured the temperature every hour.",
    "The ferry crossed the bay in forty minutes.",
    "We cleaned the whole house before the guests arrived.",
    "The baby laughed at the puppet show.",
    "The hikers rested beside a cold mountain stream.",
    "Our team finished the project ahead of schedule.",
    "The shelves were full of jars of honey.",
    "The streetlights flickered as evening fell.",
)


def load_sentences(shared_dir: Path | None, keywords, min_words: int, max_words: int
                   ) -> tuple[list[str], str]:
    """(sentences, where they came from): the shared file's when present, else BUILTIN."""
    path = shared_dir / SHARED_TEXT if shared_dir is not None else None
    if path is not None and path.is_file():
        lines, source = path.read_text(encoding="utf-8").splitlines(), str(path)
    else:
        lines, source = list(BUILTIN), "built-in"
    banned = {k.lower() for k in keywords}
    out = []
    for line in dict.fromkeys(line.strip() for line in lines):
        words = _WORD.findall(line.lower())
        if min_words <= len(words) <= max_words and not banned.intersection(words):
            out.append(line)
    if not out:
        raise KwsError(f"{source}: no sentence of {min_words}-{max_words} words without a "
                       "keyword (data.synthetic.sentence_words_min/max)")
    return out, source


def vocabulary(sentences: list[str], keywords) -> list[str]:
    """The sentences' distinct words, sorted: letters only, at least VOCABULARY_MIN_LETTERS of
    them, and neither a keyword nor a keyword with an inflection ending (_INFLECTIONS, or
    _DOUBLED after its last letter doubled: "stopped")."""
    banned = {k.lower() + end for k in keywords for end in _INFLECTIONS}
    banned |= {k.lower() + k[-1].lower() + end for k in keywords for end in _DOUBLED}
    words = {w for line in sentences for w in _WORD.findall(line.lower())}
    return sorted(w for w in words if w.isalpha() and len(w) >= VOCABULARY_MIN_LETTERS
                  and w not in banned)
