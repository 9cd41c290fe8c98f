//! Lexer, parser and printer: text to an [`Ast`] with byte spans, and an
//! [`Ast`] back to text that re-parses to the same tree. No meaning is given
//! to names here; the checker in `compile` does that.
//!
//! Grammar (see the module docs of [`crate::expr`]):
//! ```text
//! expr     := concat ( cmpop concat )?
//! concat   := primary ( "&" primary )*
//! primary  := string | number | "&H" hex | "[" name "]" | "%" name "%"
//!           | ident "(" [ arg ( "," arg )* ] ")" | ident
//! arg      := expr | <nothing>
//! ```
//! The parser recurses once per nesting level and stops at
//! [`ExprLimits::max_depth`](super::ExprLimits), so hostile input cannot
//! overflow the stack.

use std::fmt;

use super::ExprLimits;
use super::error::{ExprError, ExprErrorKind, Span};

/// A comparison operator (the forms IIF conditions use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// One node of a parsed expression with its byte span. Equality ignores
/// spans (two trees are equal when they mean the same text up to
/// whitespace), which is what the printer round trip checks.
#[derive(Debug, Clone)]
pub struct Ast {
    /// What the node is.
    pub kind: AstKind,
    /// Where it is in the source.
    pub span: Span,
}

impl PartialEq for Ast {
    fn eq(&self, other: &Ast) -> bool {
        self.kind == other.kind
    }
}

impl Eq for Ast {}

/// The kinds of [`Ast`] node. Equality ignores spans.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AstKind {
    /// A string constant, unescaped.
    Str(String),
    /// A decimal number, kept as written (`-10`, `42568.75`).
    Num(String),
    /// A VB hexadecimal literal `&HF7`: the digits after `&H`.
    Hex(String),
    /// An attribute reference `[name]`: the name as written.
    Attr(String),
    /// A configuration macro `%DomainFQDN%`: the name.
    Macro(String),
    /// A bare word (`true`, `vbTextCompare`, `UTF8`).
    Ident(String),
    /// A function call; `None` is an omitted (empty) argument.
    Call {
        /// The function name as written.
        name: String,
        /// The span of the name.
        name_span: Span,
        /// The arguments, in order.
        args: Vec<Option<Ast>>,
    },
    /// `a & b & c`: string concatenation (two or more parts).
    Concat(Vec<Ast>),
    /// `a = b` and the other comparisons.
    Compare {
        /// The operator.
        op: CmpOp,
        /// Left operand.
        lhs: Box<Ast>,
        /// Right operand.
        rhs: Box<Ast>,
    },
}

impl PartialEq for AstKind {
    fn eq(&self, other: &AstKind) -> bool {
        use AstKind::*;
        match (self, other) {
            (Str(a), Str(b)) | (Num(a), Num(b)) | (Hex(a), Hex(b)) => a == b,
            (Attr(a), Attr(b)) | (Macro(a), Macro(b)) | (Ident(a), Ident(b)) => a == b,
            (
                Call {
                    name: n1, args: a1, ..
                },
                Call {
                    name: n2, args: a2, ..
                },
            ) => n1 == n2 && a1 == a2,
            (Concat(a), Concat(b)) => a == b,
            (
                Compare {
                    op: o1,
                    lhs: l1,
                    rhs: r1,
                },
                Compare {
                    op: o2,
                    lhs: l2,
                    rhs: r2,
                },
            ) => o1 == o2 && l1 == l2 && r1 == r2,
            _ => false,
        }
    }
}

impl Eq for AstKind {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Num(String),
    Hex(String),
    Attr(String),
    Macro(String),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Amp,
    Cmp(CmpOp),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Str(_) => "a string".into(),
            Tok::Num(n) => format!("number {n}"),
            Tok::Hex(h) => format!("&H{h}"),
            Tok::Attr(a) => format!("[{a}]"),
            Tok::Macro(m) => format!("%{m}%"),
            Tok::Ident(i) => format!("{i:?}"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Amp => "'&'".into(),
            Tok::Cmp(op) => format!("'{}'", op.as_str()),
            Tok::Eof => "end of expression".into(),
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..)?.chars().next()
    }

    fn peek_char_at(&self, off: usize) -> Option<char> {
        self.src.get(self.pos + off..)?.chars().next()
    }

    fn err(&self, span: Span, kind: ExprErrorKind) -> ExprError {
        ExprError::new(self.src, span, kind)
    }

    fn next(&mut self) -> Result<(Tok, Span), ExprError> {
        while let Some(c) = self.peek_char() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok((Tok::Eof, Span::new(start, start)));
        };
        let single = |me: &mut Self, t: Tok| {
            me.pos += 1;
            Ok((t, Span::new(start, start + 1)))
        };
        match c {
            '(' => single(self, Tok::LParen),
            ')' => single(self, Tok::RParen),
            ',' => single(self, Tok::Comma),
            '=' => single(self, Tok::Cmp(CmpOp::Eq)),
            '<' => match self.peek_char_at(1) {
                Some('>') => {
                    self.pos += 2;
                    Ok((Tok::Cmp(CmpOp::Ne), Span::new(start, start + 2)))
                }
                Some('=') => {
                    self.pos += 2;
                    Ok((Tok::Cmp(CmpOp::Le), Span::new(start, start + 2)))
                }
                _ => single(self, Tok::Cmp(CmpOp::Lt)),
            },
            '>' => match self.peek_char_at(1) {
                Some('=') => {
                    self.pos += 2;
                    Ok((Tok::Cmp(CmpOp::Ge), Span::new(start, start + 2)))
                }
                _ => single(self, Tok::Cmp(CmpOp::Gt)),
            },
            '&' => self.amp(start),
            '"' => self.string(start),
            '\'' => Err(self.err(Span::new(start, start + 1), ExprErrorKind::SingleQuoted)),
            '[' => {
                let rest = self.src.get(start + 1..).unwrap_or("");
                match rest.find(']') {
                    Some(0) => {
                        Err(self.err(Span::new(start, start + 2), ExprErrorKind::EmptyAttribute))
                    }
                    Some(n) => {
                        self.pos = start + 1 + n + 1;
                        Ok((Tok::Attr(rest[..n].to_owned()), Span::new(start, self.pos)))
                    }
                    None => Err(self.err(
                        Span::new(start, start + 1),
                        ExprErrorKind::UnterminatedAttribute,
                    )),
                }
            }
            '%' => {
                let rest = self.src.get(start + 1..).unwrap_or("");
                let n = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
                if n == 0 || !rest[n..].starts_with('%') {
                    return Err(self.err(Span::new(start, start + 1 + n), ExprErrorKind::BadMacro));
                }
                self.pos = start + 1 + n + 1;
                Ok((Tok::Macro(rest[..n].to_owned()), Span::new(start, self.pos)))
            }
            '-' | '0'..='9' => self.number(start),
            c if is_ident_start(c) => {
                let rest = &self.src[start..];
                let n = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
                self.pos = start + n;
                Ok((Tok::Ident(rest[..n].to_owned()), Span::new(start, self.pos)))
            }
            other => Err(self.err(
                Span::new(start, start + other.len_utf8()),
                ExprErrorKind::UnexpectedChar { found: other },
            )),
        }
    }

    /// `&H` followed by hex digits (and no further word character) is a VB
    /// hex literal; any other `&` is concatenation.
    fn amp(&mut self, start: usize) -> Result<(Tok, Span), ExprError> {
        let rest = self.src.get(start + 1..).unwrap_or("");
        if let Some(digits) = rest.strip_prefix(['H', 'h']) {
            let n = digits
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(digits.len());
            let next = digits[n..].chars().next();
            if n > 0 && !next.is_some_and(is_ident_char) {
                self.pos = start + 2 + n;
                return Ok((Tok::Hex(digits[..n].to_owned()), Span::new(start, self.pos)));
            }
        }
        self.pos = start + 1;
        Ok((Tok::Amp, Span::new(start, start + 1)))
    }

    fn number(&mut self, start: usize) -> Result<(Tok, Span), ExprError> {
        let b = self.src.as_bytes();
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let mut ok = i > int_start;
        if ok && b.get(i) == Some(&b'.') {
            i += 1;
            let frac = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            ok = i > frac;
        }
        // A number glued to a word (`12ab`) is a typo, not two tokens.
        if self
            .src
            .get(i..)
            .and_then(|r| r.chars().next())
            .is_some_and(is_ident_char)
        {
            ok = false;
        }
        let text = &self.src[start..i.max(start + 1).min(self.src.len())];
        if !ok {
            return Err(self.err(
                Span::new(start, i.max(start + 1)),
                ExprErrorKind::BadNumber {
                    text: text.to_owned(),
                },
            ));
        }
        self.pos = i;
        Ok((Tok::Num(text.to_owned()), Span::new(start, i)))
    }

    /// `\"` is a quote and `\\` a backslash; any other backslash is kept
    /// with the character after it, so .NET regex escapes (`\+`, `\d`)
    /// pass through whether or not the author doubled them.
    fn string(&mut self, start: usize) -> Result<(Tok, Span), ExprError> {
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = start + 1 + i + 1;
                    return Ok((Tok::Str(out), Span::new(start, self.pos)));
                }
                '\\' => match chars.next() {
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.err(
            Span::new(start, start + 1),
            ExprErrorKind::UnterminatedString,
        ))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok,
    span: Span,
    limits: &'a ExprLimits,
}

/// Parses expression text into an [`Ast`] (syntax only: no function or
/// attribute is looked up). Length, nesting and argument-count limits apply.
///
/// ```
/// use idsync::expr::{parse_ast, ExprLimits};
/// let ast = parse_ast("Join(\" \", [givenName], [sn])", &ExprLimits::default())?;
/// assert_eq!(ast.to_string(), "Join(\" \", [givenName], [sn])");
/// # Ok::<(), idsync::expr::ExprError>(())
/// ```
pub fn parse_ast(src: &str, limits: &ExprLimits) -> Result<Ast, ExprError> {
    let length = src.chars().count();
    if length > limits.max_length {
        return Err(ExprError::new(
            src,
            Span::new(0, 0),
            ExprErrorKind::TooLong {
                length,
                max: limits.max_length,
            },
        ));
    }
    let mut lex = Lexer { src, pos: 0 };
    let (tok, span) = lex.next()?;
    let mut p = Parser {
        lex,
        tok,
        span,
        limits,
    };
    let ast = p.expr(0)?;
    if p.tok != Tok::Eof {
        return Err(p.unexpected("an operator or end of expression"));
    }
    Ok(ast)
}

impl<'a> Parser<'a> {
    fn bump(&mut self) -> Result<(Tok, Span), ExprError> {
        let (tok, span) = self.lex.next()?;
        let old_tok = std::mem::replace(&mut self.tok, tok);
        let old_span = std::mem::replace(&mut self.span, span);
        Ok((old_tok, old_span))
    }

    fn unexpected(&self, expected: &'static str) -> ExprError {
        ExprError::new(
            self.lex.src,
            self.span,
            ExprErrorKind::Unexpected {
                expected,
                found: self.tok.describe(),
            },
        )
    }

    fn expr(&mut self, depth: usize) -> Result<Ast, ExprError> {
        let lhs = self.concat(depth)?;
        if let Tok::Cmp(op) = self.tok {
            self.bump()?;
            let rhs = self.concat(depth)?;
            let span = lhs.span.to(rhs.span);
            return Ok(Ast {
                kind: AstKind::Compare {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            });
        }
        Ok(lhs)
    }

    fn concat(&mut self, depth: usize) -> Result<Ast, ExprError> {
        let first = self.primary(depth)?;
        if self.tok != Tok::Amp {
            return Ok(first);
        }
        let mut parts = vec![first];
        while self.tok == Tok::Amp {
            self.bump()?;
            if parts.len() >= self.limits.max_arguments {
                return Err(ExprError::new(
                    self.lex.src,
                    self.span,
                    ExprErrorKind::TooManyArguments {
                        max: self.limits.max_arguments,
                    },
                ));
            }
            parts.push(self.primary(depth)?);
        }
        let span = parts[0].span.to(parts[parts.len() - 1].span);
        Ok(Ast {
            kind: AstKind::Concat(parts),
            span,
        })
    }

    fn primary(&mut self, depth: usize) -> Result<Ast, ExprError> {
        let span = self.span;
        let kind = match &self.tok {
            Tok::Str(_) | Tok::Num(_) | Tok::Hex(_) | Tok::Attr(_) | Tok::Macro(_) => {
                match self.bump()?.0 {
                    Tok::Str(s) => AstKind::Str(s),
                    Tok::Num(s) => AstKind::Num(s),
                    Tok::Hex(s) => AstKind::Hex(s),
                    Tok::Attr(s) => AstKind::Attr(s),
                    Tok::Macro(s) => AstKind::Macro(s),
                    _ => return Err(self.unexpected("a value")),
                }
            }
            Tok::Ident(_) => {
                let Tok::Ident(name) = self.bump()?.0 else {
                    return Err(self.unexpected("a name"));
                };
                if self.tok != Tok::LParen {
                    return Ok(Ast {
                        kind: AstKind::Ident(name),
                        span,
                    });
                }
                return self.call(name, span, depth);
            }
            _ => {
                return Err(
                    self.unexpected("a value (a function call, [attribute], \"string\" or number)")
                );
            }
        };
        Ok(Ast { kind, span })
    }

    fn call(&mut self, name: String, name_span: Span, depth: usize) -> Result<Ast, ExprError> {
        if depth >= self.limits.max_depth() {
            return Err(ExprError::new(
                self.lex.src,
                name_span,
                ExprErrorKind::TooDeep {
                    max: self.limits.max_depth(),
                },
            ));
        }
        self.bump()?; // '('
        let mut args: Vec<Option<Ast>> = Vec::new();
        if self.tok == Tok::RParen {
            let (_, close) = self.bump()?;
            return Ok(Ast {
                kind: AstKind::Call {
                    name,
                    name_span,
                    args,
                },
                span: name_span.to(close),
            });
        }
        loop {
            if args.len() >= self.limits.max_arguments {
                return Err(ExprError::new(
                    self.lex.src,
                    self.span,
                    ExprErrorKind::TooManyArguments {
                        max: self.limits.max_arguments,
                    },
                ));
            }
            if matches!(self.tok, Tok::Comma | Tok::RParen) {
                args.push(None);
            } else {
                args.push(Some(self.expr(depth + 1)?));
            }
            match self.tok {
                Tok::Comma => {
                    self.bump()?;
                }
                Tok::RParen => {
                    let (_, close) = self.bump()?;
                    return Ok(Ast {
                        kind: AstKind::Call {
                            name,
                            name_span,
                            args,
                        },
                        span: name_span.to(close),
                    });
                }
                _ => return Err(self.unexpected("',' or ')'")),
            }
        }
    }
}

/// Prints the expression back as text that parses to an equal tree:
/// canonical spacing (`Name(a, , b)`, `a & b`, `a = b`), strings with `\"`
/// and `\\` escaped. (A call whose only argument is omitted cannot be
/// written: `F()` has no argument; the parser never builds one.)
impl fmt::Display for Ast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            AstKind::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            AstKind::Num(n) => f.write_str(n),
            AstKind::Hex(h) => write!(f, "&H{h}"),
            AstKind::Attr(a) => write!(f, "[{a}]"),
            AstKind::Macro(m) => write!(f, "%{m}%"),
            AstKind::Ident(i) => f.write_str(i),
            AstKind::Call { name, args, .. } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(a) = a {
                        write!(f, "{a}")?;
                    }
                }
                f.write_str(")")
            }
            AstKind::Concat(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" & ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            AstKind::Compare { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Ast, ExprError> {
        parse_ast(s, &ExprLimits::default())
    }

    #[test]
    fn tokens_and_shapes() {
        let a = p("IIF([country]=\"USA\", \"t-\" & [alias], )").unwrap();
        let AstKind::Call { name, args, .. } = &a.kind else {
            panic!("{a:?}")
        };
        assert_eq!(name, "IIF");
        assert_eq!(args.len(), 3);
        assert!(matches!(
            args[0].as_ref().unwrap().kind,
            AstKind::Compare { op: CmpOp::Eq, .. }
        ));
        assert!(matches!(args[1].as_ref().unwrap().kind, AstKind::Concat(_)));
        assert!(args[2].is_none());
        assert_eq!(
            p("BitAnd(&HF, &hf7)").unwrap().to_string(),
            "BitAnd(&HF, &Hf7)"
        );
        assert_eq!(p("[a]&Hallo()").unwrap().to_string(), "[a] & Hallo()");
        assert_eq!(p("Len(-42568.75)").unwrap().to_string(), "Len(-42568.75)");
        assert_eq!(
            p("[mS-DS-ConsistencyGuid]").unwrap().kind,
            AstKind::Attr("mS-DS-ConsistencyGuid".into())
        );
        assert_eq!(
            p("%DomainFQDN%").unwrap().kind,
            AstKind::Macro("DomainFQDN".into())
        );
        assert_eq!(
            p("Join (\"\", [a])").unwrap().to_string(),
            "Join(\"\", [a])"
        );
        assert_eq!(p("F(,)").unwrap().to_string(), "F(, )");
        assert_eq!(p("F()").unwrap().to_string(), "F()");
        assert_eq!(
            p("InStr(1,2,3,vbTextCompare) >= 0").unwrap().to_string(),
            "InStr(1, 2, 3, vbTextCompare) >= 0"
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            p(r#""Company name: \"Contoso\"""#).unwrap().kind,
            AstKind::Str("Company name: \"Contoso\"".into())
        );
        assert_eq!(
            p(r#""\\d \+ \\""#).unwrap().kind,
            AstKind::Str(r"\d \+ \".into())
        );
        let a = p(r#""a\\+b\"""#).unwrap();
        assert_eq!(p(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn errors_have_positions() {
        let e = p("Join(\" \", [a]").unwrap_err();
        assert_eq!((e.line, e.column), (1, 14));
        assert!(e.to_string().contains("expected ',' or ')'"), "{e}");
        let e = p("Left(\n  \"abc, 2)").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(e.kind, ExprErrorKind::UnterminatedString);
        assert_eq!(p("F([])").unwrap_err().kind, ExprErrorKind::EmptyAttribute);
        assert_eq!(p("'x'").unwrap_err().kind, ExprErrorKind::SingleQuoted);
        assert!(matches!(
            p("F(12ab)").unwrap_err().kind,
            ExprErrorKind::BadNumber { .. }
        ));
        assert!(matches!(
            p("F(-)").unwrap_err().kind,
            ExprErrorKind::BadNumber { .. }
        ));
        assert!(matches!(
            p("F(1.)").unwrap_err().kind,
            ExprErrorKind::BadNumber { .. }
        ));
        assert!(matches!(
            p("F(%x)").unwrap_err().kind,
            ExprErrorKind::BadMacro
        ));
        assert!(matches!(
            p("F(a b)").unwrap_err().kind,
            ExprErrorKind::Unexpected { .. }
        ));
        assert!(matches!(
            p("").unwrap_err().kind,
            ExprErrorKind::Unexpected { .. }
        ));
        assert!(matches!(
            p("a = b = c").unwrap_err().kind,
            ExprErrorKind::Unexpected { .. }
        ));
        assert!(matches!(
            p("F(#)").unwrap_err().kind,
            ExprErrorKind::UnexpectedChar { found: '#' }
        ));
    }

    #[test]
    fn limits_are_errors_not_overflows() {
        let deep = format!("{}1{}", "F(".repeat(100_000), ")".repeat(100_000));
        let limits = ExprLimits {
            max_length: usize::MAX,
            ..ExprLimits::default()
        };
        let e = parse_ast(&deep, &limits).unwrap_err();
        assert!(matches!(e.kind, ExprErrorKind::TooDeep { .. }));
        let e = p(&"x".repeat(10_001)).unwrap_err();
        assert!(matches!(
            e.kind,
            ExprErrorKind::TooLong {
                length: 10_001,
                max: 10_000
            }
        ));
        let many = format!("F({})", vec!["1"; 300].join(","));
        assert!(matches!(
            p(&many).unwrap_err().kind,
            ExprErrorKind::TooManyArguments { .. }
        ));
    }
}
