"""Tokenizer for the alert-rule language, and the error type every stage raises.

Columns are 1-based and count characters (not bytes) within the line. Everything here is a
plain character scanner: no `eval`, no regex backtracking on user input beyond simple classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from agentcost_cli.errors import InvalidInput

MAX_RULE_LENGTH = 2000
MAX_DEPTH = 32
SNIPPET_WIDTH = 72

KEYWORDS = frozenset({"and", "or", "not", "in", "per", "over"})
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_.:/-]*)?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}


class RuleSyntaxError(InvalidInput):
    """A rule that does not parse or type-check. `column` is 1-based; `line` too.

    The message reads `column N: what went wrong`, followed by the offending source line and a
    caret under column N (prefixed by `line L, ` only when the rule spans several lines).
    """

    title = "invalid alert rule"

    def __init__(self, text: str, offset: int, problem: str, *, hint: str | None = None) -> None:
        offset = max(0, min(offset, len(text)))
        line_start = text.rfind("\n", 0, offset) + 1
        line_end = text.find("\n", offset)
        if line_end == -1:
            line_end = len(text)
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - line_start + 1
        self.problem = problem
        where = f"line {self.line}, column {self.column}" if "\n" in text else f"column {self.column}"
        source, caret = _snippet(text[line_start:line_end], self.column - 1)
        super().__init__(f"{where}: {problem}\n  {source}\n  {caret}", hint=hint)


def _snippet(line: str, index: int) -> tuple[str, str]:
    """The source line (cut to a window around `index` when long) and a caret line under it."""
    line = "".join(" " if ch in "\t\r" else ch for ch in line)
    if len(line) <= SNIPPET_WIDTH:
        return line, " " * index + "^"
    start = max(0, min(index - SNIPPET_WIDTH // 2, len(line) - SNIPPET_WIDTH))
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + SNIPPET_WIDTH < len(line) else ""
    return prefix + line[start : start + SNIPPET_WIDTH] + suffix, " " * (len(prefix) + index - start) + "^"


@dataclass(frozen=True, slots=True)
class Token:
    """kind: 'ident' | 'keyword' | 'number' | 'string' | 'op' | 'eof'. `value` is the lower-cased
    keyword, the identifier as written, the operator, the decoded string or the Decimal."""

    kind: str
    value: object
    offset: int
    dollar: bool = False  # number written as `$50`

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of rule"
        if self.kind == "string":
            return f"string {_quote(str(self.value))}"
        if self.kind == "number":
            return f"number {'$' if self.dollar else ''}{self.value}"
        return f"'{self.value}'"


def _quote(value: str) -> str:
    from agentcost_cli.alerts.rules_ast import quote

    return quote(value)


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with one 'eof' token.

    Raises:
        RuleSyntaxError: over-long input, an unexpected character, a bad number or string.
    """
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(text, MAX_RULE_LENGTH, f"rule is longer than {MAX_RULE_LENGTH} characters")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in "\"'":
            value, i_next = _read_string(text, i)
            tokens.append(Token("string", value, i))
            i = i_next
        elif ch == "$" or ch.isdigit():
            start = i
            if ch == "$":
                i += 1
            match = _NUMBER.match(text, i) if i < n and text[i].isascii() else None
            if match is None:
                raise RuleSyntaxError(text, i, "expected digits after '$'")
            end = match.end()
            if end < n and (text[end].isalnum() or text[end] in "._$"):
                bad_end = end
                while bad_end < n and (text[bad_end].isalnum() or text[bad_end] in "._$"):
                    bad_end += 1
                raise RuleSyntaxError(
                    text,
                    start,
                    f"malformed number {text[start:bad_end]!r}",
                    hint="numbers look like 50 or 12.5 (optionally $50 for cost)",
                )
            tokens.append(Token("number", Decimal(match.group()), start, dollar=ch == "$"))
            i = end
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            match = _IDENT.match(text, i)
            assert match is not None  # the first character always matches
            word = match.group()
            lowered = word.lower()
            if lowered in KEYWORDS:
                tokens.append(Token("keyword", lowered, i))
            else:
                tokens.append(Token("ident", word, i))
            i = match.end()
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(Token("op", op, i))
                    i += len(op)
                    break
            else:
                hint = "use == for equality" if ch == "=" else None
                if ch == "!":
                    hint = "use != for inequality, or 'not'"
                raise RuleSyntaxError(text, i, f"unexpected character {ch!r}", hint=hint)
    tokens.append(Token("eof", None, n))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote_char = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote_char:
            return "".join(out), i + 1
        if ch == "\n":
            break
        if ch == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt in _ESCAPES and nxt:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                    out.append(chr(int(digits, 16)))
                    i += 6
                    continue
                raise RuleSyntaxError(text, i, "\\u needs four hex digits, e.g. \\u00e9")
            raise RuleSyntaxError(
                text, i, f"unknown escape {text[i : i + 2]!r}", hint="escapes are \\\\ \\\" \\' \\n \\t \\r and \\uXXXX"
            )
        out.append(ch)
        i += 1
    raise RuleSyntaxError(text, start, "unterminated string", hint=f"close it with {quote_char}")
