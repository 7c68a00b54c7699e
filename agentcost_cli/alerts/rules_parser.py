"""Recursive-descent parser and type checker for the alert-rule language.

Grammar (EBNF; keywords, field names and window units are case-insensitive, tag names are not):

    rule       = expr [ window ] EOF ;
    expr       = and_expr { "or" and_expr } ;
    and_expr   = not_expr { "and" not_expr } ;
    not_expr   = "not" not_expr | primary ;
    primary    = "(" expr ")" | comparison ;
    comparison = operand ( cmp_op operand | [ "not" ] "in" list ) ;
    cmp_op     = "==" | "!=" | "<" | "<=" | ">" | ">=" ;
    operand    = field | number | string ;
    field      = "cost" | "tokens" | "events" | "provider" | "model" | "project" | "key" | "user"
               | "tag." tag_name ;
    tag_name   = ( letter | digit | "_" ) { letter | digit | "_" | "." | ":" | "/" | "-" } ;
    list       = "[" string { "," string } "]" ;
    number     = [ "$" ] digit { digit } [ "." digit { digit } ] ;
    string     = '"' { char | escape } '"' | "'" { char | escape } "'" ;
    escape     = "\\" ( "\\" | '"' | "'" | "n" | "t" | "r" | "u" hex hex hex hex ) ;
    window     = "per" ( "hour" | "day" | "week" | "month" )
               | "over" digit { digit } ( "hour" | "hours" | "day" | "days" ) ;

Type rules (checked here, so evaluation cannot fail on types): a comparison needs at least one
field; both sides are numeric (cost, tokens, events, numbers) or both text (the other fields, tags,
strings); text allows only `==` and `!=`; `in`/`not in` take a text field on the left; `$` amounts
compare only with `cost`. Nesting (parentheses plus `not`) is capped at MAX_DEPTH.
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import cast

from agentcost_cli.alerts.rules_ast import (
    DEFAULT_WINDOW,
    FIELDS,
    And,
    Compare,
    CompareOp,
    Expr,
    Field,
    In,
    Not,
    Number,
    Operand,
    Or,
    String,
    Tag,
    Window,
    WindowUnit,
)
from agentcost_cli.alerts.rules_lexer import MAX_DEPTH, RuleSyntaxError, Token, tokenize

COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")
MAX_OVER = {"hour": 24 * 366, "day": 366}
_FIELD_HINT = "fields: " + ", ".join(FIELDS) + ", tag.<name>"


def parse(text: str) -> tuple[Expr, Window]:
    """Parse and type-check `text`; return the expression and its window (default `per day`).

    Raises:
        RuleSyntaxError: with the 1-based column of the first problem.
    """
    return _Parser(text).parse_rule()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    def at_keyword(self, word: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value == word

    def at_op(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.value == op

    def ident_word(self) -> str | None:
        """The current identifier, lower-cased; None when the token is not an identifier."""
        return str(self.tok.value).lower() if self.tok.kind == "ident" else None

    def error(self, token: Token, problem: str, hint: str | None = None) -> RuleSyntaxError:
        return RuleSyntaxError(self.text, token.offset, problem, hint=hint)

    def expected(self, what: str, hint: str | None = None) -> RuleSyntaxError:
        return self.error(self.tok, f"expected {what}, got {self.tok.describe()}", hint)

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(token, f"rule nests deeper than {MAX_DEPTH} levels of parentheses and 'not'")

    # -- grammar -------------------------------------------------------------------------------
    def parse_rule(self) -> tuple[Expr, Window]:
        if self.tok.kind == "eof":
            raise self.error(self.tok, "empty rule", hint='e.g. cost > 50 and provider == "openai" per day')
        expr = self.parse_or()
        window = DEFAULT_WINDOW
        if self.at_keyword("per") or self.at_keyword("over"):
            window = self.parse_window()
        if self.tok.kind != "eof":
            after = "end of rule" if window is not DEFAULT_WINDOW else "'and', 'or', a window or end of rule"
            raise self.expected(after)
        return expr, window

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_not()]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Expr:
        if self.at_keyword("not"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_not()
            self.depth -= 1
            return Not(operand)
        return self.parse_primary()

    def parse_primary(self) -> Expr:
        if self.at_op("("):
            token = self.advance()
            self.enter(token)
            expr = self.parse_or()
            if not self.at_op(")"):
                raise self.expected("')' or 'and'/'or'" if self.tok.kind != "eof" else "')'")
            self.advance()
            self.depth -= 1
            return expr
        return self.parse_comparison()

    def parse_comparison(self) -> Expr:
        left_tok = self.tok
        left = self.parse_operand()
        if left is None:
            raise self.expected("a field, a value, 'not' or '('")
        if self.at_keyword("in") or self.at_keyword("not"):
            return self.parse_in(left_tok, left)
        if self.tok.kind != "op" or self.tok.value not in COMPARE_OPS:
            raise self.expected("a comparison operator (== != < <= > >= in, not in)")
        op_tok = self.advance()
        op = cast(CompareOp, op_tok.value)
        right_tok = self.tok
        right = self.parse_operand()
        if right is None:
            if isinstance(left, Number | String):
                raise self.expected("a field", hint="a comparison needs at least one field")
            raise self.expected("a number or a field" if left.numeric else "a string or a field")
        self.check_compare(left_tok, left, op_tok, right_tok, right)
        return Compare(left, op, right)

    def parse_operand(self) -> Operand | None:
        """Read a field or literal; None (nothing consumed) when the token is neither."""
        token = self.tok
        if token.kind == "number":
            self.advance()
            return Number(cast(Decimal, token.value))
        if token.kind == "string":
            self.advance()
            return String(cast(str, token.value))
        if token.kind == "ident":
            self.advance()
            return self.field(token)
        return None

    def field(self, token: Token) -> Field | Tag:
        word = cast(str, token.value)
        lowered = word.lower()
        if lowered.startswith("tag."):
            name = word[4:]
            if not name:
                raise self.error(token, "expected a tag name after 'tag.'", hint="e.g. tag.team")
            return Tag(name)
        if lowered in FIELDS:
            return Field(lowered)
        close = difflib.get_close_matches(lowered, FIELDS, n=1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        raise self.error(token, f"unknown field '{word}'{suggestion}", hint=_FIELD_HINT)

    def check_compare(self, left_tok: Token, left: Operand, op_tok: Token, right_tok: Token, right: Operand) -> None:
        if isinstance(left, Number | String) and isinstance(right, Number | String):
            raise self.error(
                right_tok, f"expected a field, got {right_tok.describe()}", hint="a comparison needs at least one field"
            )
        for tok, other in ((left_tok, right), (right_tok, left)):
            if tok.dollar and not (isinstance(other, Field) and other.name == "cost"):
                raise self.error(tok, "'$' amounts compare only with cost")
        field, other_tok, other = (left, right_tok, right) if isinstance(left, Field | Tag) else (right, left_tok, left)
        assert isinstance(field, Field | Tag)
        name = _name(field)
        other_numeric = isinstance(other, Number) or (isinstance(other, Field) and other.numeric)
        if field.numeric and not other_numeric:
            what = "a string" if isinstance(other, String) else f"text field {_name(other)}"
            raise self.error(other_tok, f"{name} is a number; it cannot be compared with {what}")
        if not field.numeric and other_numeric:
            what = "a number" if isinstance(other, Number) else f"numeric field {_name(other)}"
            hint = f'quote it: "{format(other.value, "f")}"' if isinstance(other, Number) else None
            raise self.error(other_tok, f"{name} is text; it cannot be compared with {what}", hint=hint)
        if not field.numeric and op_tok.value not in ("==", "!="):
            raise self.error(op_tok, f"'{op_tok.value}' does not apply to text ({name}); use ==, !=, in or not in")

    def parse_in(self, left_tok: Token, left: Operand) -> Expr:
        op_tok = self.tok
        negated = self.at_keyword("not")
        if negated:
            self.advance()
            if not self.at_keyword("in"):
                raise self.expected("'in' after 'not'")
        self.advance()
        if not isinstance(left, Field | Tag):
            raise self.error(left_tok, f"'{'not in' if negated else 'in'}' needs a text field on the left")
        if left.numeric:
            raise self.error(
                op_tok, f"'{'not in' if negated else 'in'}' applies to text fields only, not {_name(left)}"
            )
        if not self.at_op("["):
            raise self.expected("'[' to start a list of strings")
        self.advance()
        values: list[str] = []
        while True:
            if self.tok.kind != "string":
                raise self.expected("a string")
            values.append(cast(str, self.advance().value))
            if self.at_op("]"):
                self.advance()
                return In(left, tuple(values), negated)
            if not self.at_op(","):
                raise self.expected("',' or ']'")
            self.advance()

    def parse_window(self) -> Window:
        keyword = cast(str, self.advance().value)
        if keyword == "per":
            unit = self.ident_word()
            if unit not in ("hour", "day", "week", "month"):
                raise self.expected("hour, day, week or month after 'per'")
            self.advance()
            return Window(cast(WindowUnit, unit))
        count_tok = self.tok
        if count_tok.kind != "number" or count_tok.dollar:
            raise self.expected("a whole number after 'over'", hint="e.g. over 3 days")
        count = cast(Decimal, count_tok.value)
        if count != count.to_integral_value() or count < 1:
            raise self.error(count_tok, f"window length must be a whole number of 1 or more, got {count}")
        self.advance()
        unit = {"hour": "hour", "hours": "hour", "day": "day", "days": "day"}.get(self.ident_word() or "")
        if unit is None:
            raise self.expected("hours or days")
        if count > MAX_OVER[unit]:
            raise self.error(count_tok, f"window is longer than {MAX_OVER[unit]} {unit}s")
        self.advance()
        return Window(cast(WindowUnit, unit), int(count), rolling=True)


def _name(operand: Operand) -> str:
    if isinstance(operand, Field):
        return operand.name
    if isinstance(operand, Tag):
        return f"tag.{operand.name}"
    return repr(operand)
