"""Screening chunks for injected instructions: a weighted-pattern heuristic, run at ingestion.

A retrieved passage goes into the LLM's prompt; a document can carry text written for the model
rather than for the reader ("ignore the previous instructions", a fake ``</passage>``, a markdown
image whose URL would leak the conversation). Each rule below is one tell-tale sign with a
weight; a chunk's score is the sum of the weights of the rules it matches (each rule counts
once) and it is *flagged* at ``THRESHOLD``. Strong signs (overriding instructions, speaking to
the model, forged delimiters or role markers, exfiltration URLs) flag on their own; weaker ones
(keeping something from the user, a new persona, a scripted reply) only together.

Text is compared after NFKC folding (full-width letters), with zero-width characters removed and
case folded, and again with its hyphens removed ("i-g-n-o-r-e"). The heuristic reads English,
plus the override phrase in French, German, Spanish and Italian. It is a screen, not a proof:
bench/injection.py measures it on a labelled set (bench/fixtures/injection.jsonl) of injected
passages and benign ones that read like instructions (runbooks, policies, recipes);
docs/architecture/prompt-injection.md has the figures.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

THRESHOLD = 3.0

# Words for the model a document may address.
_AI = (
    r"(?:ai|a\.i\.|llms?|large language models?|language models?|chatbots?|chat ?gpt|gpt|bots?"
    r"|assistants?|models?|summari[sz]ers?|agents?)"
)
_VERB_REPLY = r"(?:say|reply|respond|answer|output|print|write|state|claim|tell)"
_SECRET = (
    r"(?:system prompt|initial prompt|hidden (?:prompt|instructions?|configuration|notes?)"
    r"|(?:your|the) instructions|internal notes|conversation(?: history)?|chat history"
    r"|environment variables|secret keys?|api keys?|raw text of (?:all )?(?:the )?passages)"
)


@dataclass(frozen=True)
class Rule:
    name: str
    weight: float
    pattern: re.Pattern[str]


def _rule(name: str, weight: float, *patterns: str) -> Rule:
    return Rule(name, weight, re.compile("|".join(f"(?:{p})" for p in patterns), re.M))


RULES = (
    # "Ignore all previous instructions", "forget everything you were told", in five languages.
    _rule(
        "override",
        3.0,
        r"\b(?:ignore|disregard|forget|override|bypass|discard|stop following|no longer follow)"
        r"\s+(?:\S+\s+){0,4}?(?:instructions?|prompts?|rules|guidelines|directions|directives"
        r"|programming|everything (?:you were told|above|before))\b",
        r"\bthe (?:previous|above|prior|earlier) (?:rules|instructions) (?:no longer|do not) apply",
        r"\bignor(?:ez|e|a|iere|ieren)\s+(?:\S+\s+){0,3}?(?:instructions|istruzioni"
        r"|instrucciones|anweisungen)\b",
        r"\bolvida\s+(?:\S+\s+){0,3}?instrucciones\b",
        r"\bvergiss\s+(?:\S+\s+){0,3}?anweisungen\b",
        r"\boubliez?\s+(?:\S+\s+){0,3}?instructions\b",
        r"\bsupersedes? your (?:\w+ )?(?:instructions|rules|prompt)\b",
    ),
    # Text written to the model reading it.
    _rule(
        "addresses the model",
        3.0,
        r"\b(?:if you are|as) an? (?:ai|large language model|language model|llm|chatbot"
        r"|ai (?:assistant|model|system)s?)\b",
        rf"\b(?:note|message|instructions?|new rules?|hidden note|attention)\s+(?:to|for)\s+"
        rf"(?:the |any |all )?(?:\w+ )?{_AI}\b",
        rf"^\W*(?:attention|hey|dear|note to)\s+{_AI}\b",
        rf"\b{_AI}(?: (?:reading|processing) this(?: \w+)?)?\s*[:,]\s*"
        r"(?:please |now |when |if |from )?(?:ignore|disregard|do not|don't|never|always|respond"
        r"|reply|answer|say|omit|stop|print|output|include|translate|treat|summari[sz]e|describe"
        r"|when|if|from now)\b",
        rf"\b(?:the|an?|any) {_AI} (?:must|should|shall|will|is required to|has to)"
        rf" (?:now |also |always |only )?(?:reply|respond|answer|say|state|output|include"
        rf"|print|claim|mention|omit|tell|describe)\b",
        rf"\bwhen (?:an? |the |any )?{_AI} (?:summari[sz]es|reads|processes|cites|answers"
        rf"|is asked)\b",
        rf"\b(?:instructions? to|for) (?:the )?{_AI}\b",
        rf"\b{_AI} systems? processing this\b",
    ),
    # A document closing its passage or opening a turn of its own.
    _rule(
        "forged delimiter",
        3.0,
        r"<\s*/?\s*(?:passage|context|documents?|system|instructions?|user|assistant)\b[^>]*>",
        r"\b(?:end|close) of (?:the )?(?:context|passages?|documents?|system prompt"
        r"|instructions)\b",
        r"\b(?:begin|start)(?: of)? new instructions\b",
        r"\bend document\b",
    ),
    _rule(
        "role marker",
        3.0,
        r"<\|[a-z_]+\|>",
        r"\[/?inst\]",
        r"<</?sys>>",
        r"^#+\s*(?:system|instruction)s?\b",
        r"\[system\]\(",
        r"^\s*system\s*:",
        r"^\s*assistant\s*:\s*\S",
    ),
    # Data leaving through a URL the reply would make the client fetch.
    _rule(
        "exfiltration",
        3.0,
        r"!\[[^\]]*\]\(\s*https?://[^)\s]*\?",
        r"<img\b[^>]*\bsrc\s*=\s*[\"']?https?://[^\"'\s>]*\?",
        r"https?://\S*[?&][\w-]+=(?:\{|%s|\$\w|user|<)",
        r"\b(?:send|post|append|add|encode)\s+(?:\S+\s+){0,6}?(?:to|into|in) (?:the )?(?:url|link"
        r"|https?://)",
        r"\b(?:tracking pixel|include (?:the |this )?(?:conversation|session))\b",
    ),
    _rule(
        "reveals secrets",
        3.0,
        rf"\b(?:reveal|print|output|repeat|show|display|disclose|leak|dump|include)\s+"
        rf"(?:\S+\s+){{0,4}}?{_SECRET}",
        r"\b(?:full |complete )?(?:text|contents?|copy) of your (?:instructions|\w* ?prompt)\b",
        r"\brévèle\b",
    ),
    _rule(
        "jailbreak",
        3.0,
        r"\b(?:jailbr[eo]ak|developer mode|dan mode|you are dan|i have been pwned|pwned)\b",
        r"\b(?:unfiltered|unrestricted|uncensored) (?:ai|model|assistant|mode)\b",
        r"\bwithout (?:any )?(?:restrictions|filters|guidelines)\b",
        r"\b(?:priority|system|safety) override\b",
        r"\bignore (?:the )?(?:content|safety) polic(?:y|ies)\b",
    ),
    _rule(
        "hides itself",
        3.0,
        r"\b(?:do not|don't|never) (?:reveal|mention|disclose|show|repeat) (?:this|these|the"
        r" following) (?:instructions?|messages? to you|prompts?|passages?)\b",
    ),
    # Weaker signs: they flag a chunk only together.
    _rule(
        "keeps it from the user",
        2.0,
        r"\b(?:do not|don't|never|must not) (?:tell|inform|reveal\w*|mention\w*|let|show)"
        r"(?: this| that| it)?(?: to)? (?:the )?(?:user|human|reader)s?\b",
        r"\bwithout (?:telling|informing) the user\b",
        r"\b(?:do not|don't|never) (?:reveal|mention|disclose) (?:this|that|these) "
        r"(?:document|text|source)\b",
        r"\bne dis pas à l'utilisateur\b",
    ),
    _rule(
        "new persona",
        2.0,
        r"\byou are (?:now|no longer) (?:an?|the|dan)\b",
        r"\bfrom (?:now on|here on)\b,? (?:you|answer|respond|reply|always|never)\b",
        r"\b(?:act|behave) as (?:an? )?(?:unfiltered|unrestricted|different|evil|new)\b",
        r"\bpretend (?:you are|to be)\b",
        r"\byour (?:new|real|true) (?:task|role|instructions?|purpose|goal|rules?)\b",
        r"\bnew instructions\s*:",
    ),
    _rule(
        "scripted reply",
        2.0,
        rf"\b{_VERB_REPLY}\s+(?:\S+\s+){{0,3}}?with\s+(?:the phrase|the words|[\"'])",
        rf"\b(?:{_VERB_REPLY}|say)(?: only)?\s*:?\s*[\"'][^\"']{{1,80}}[\"']\s*"
        r"(?:and nothing else|only)",
        rf"\binstead,? (?:{_VERB_REPLY})\b",
        r"\band nothing else\b",
        r"\bsupersedes? (?:all|the|any) (?:\w+ )?(?:instructions|rules)\b",
        r"\bmust not cite\b",
        r"\bréponds? (?:toujours|seulement|uniquement)\b",
    ),
    # Other passages of the prompt called false, or this one put above them.
    _rule(
        "discredits other passages",
        2.0,
        r"\bregardless of (?:any |the )?(?:other )?(?:sources|passages|documents|instructions)\b",
        r"\b(?:rely|use|trust) only (?:on )?this (?:passage|document|text)\b",
        r"\b(?:prioriti[sz]e|prefer) this (?:passage|document)\b",
        r"\b(?:passages?|documents?|sources?) (?:\[\d+\] |above )(?:is|are) (?:fake|wrong|false"
        r"|malicious|outdated)\b",
        r"\b(?:ignore|never mention) the other (?:passages|documents|sources)\b",
    ),
    _rule("names prompt passages", 2.0, r"\bpassages? \[\d+\]"),
    # Words about the reply the model is writing, or the user's turn in the chat.
    _rule(
        "speaks of the answer",
        2.0,
        r"\b(?:in|with|at the (?:start|end) of|before|after) (?:your|each|every) (?:answer|reply"
        r"|response)s?\b",
        r"\b(?:respond|reply|answer) to (?:the |every |each )?user'?s? (?:next )?"
        r"(?:question|message)s?\b",
    ),
    _rule(
        "asks for credentials",
        2.0,
        r"\bask (?:the )?(?:users?|them|him|her) (?:to|for) (?:\S+ ){0,3}?(?:password|one-time"
        r" code|otp|credentials|pin|verification code)",
        r"\b(?:re-?enter|confirm|verify) your (?:password|credentials) (?:at|on|via) ",
    ),
)

# Zero-width characters go; typographic quotes become plain ones.
_FOLD = str.maketrans(
    {
        **dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad")),
        **{"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'},
    }
)


@dataclass(frozen=True)
class Screening:
    score: float
    reasons: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return self.score >= THRESHOLD


def normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return re.sub(r"[ \t\f\v]+", " ", folded)


def screen(text: str) -> Screening:
    """The rules ``text`` matches and their summed weight."""
    folded = normalize(text)
    # Hyphens dropped too: "i-g-n-o-r-e the in-struc-tions".
    variants = (folded, folded.replace("-", ""))
    matched = [rule for rule in RULES if any(rule.pattern.search(v) for v in variants)]
    return Screening(sum(r.weight for r in matched), tuple(r.name for r in matched))


def screening_metadata(*parts: str | None) -> dict[str, float | bool]:
    """What the worker stores with a chunk: the score of its text (title and heading included,
    as the prompt shows them) and whether it is flagged."""
    screening = screen("\n".join(p for p in parts if p))
    return {"injection_score": screening.score, "injection_suspect": screening.flagged}
