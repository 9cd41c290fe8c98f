//! Errors of the expression language: [`ExprError`] for text that does not
//! parse or check (always with a position), [`EvalError`] for an evaluation
//! that fails on one object's values.

use std::fmt;

/// A byte range of the expression text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (bytes).
    pub const fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// What was wrong with an expression's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprErrorKind {
    /// The text is longer than [`ExprLimits::max_length`](super::ExprLimits).
    #[error("expression is {length} characters long; the limit is {max}")]
    TooLong {
        /// Its length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// Calls nest deeper than the limit.
    #[error("expression nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A call has more arguments than the limit.
    #[error("call has more than {max} arguments")]
    TooManyArguments {
        /// The limit.
        max: usize,
    },
    /// A character that starts no token.
    #[error("unexpected character {found:?}")]
    UnexpectedChar {
        /// The character.
        found: char,
    },
    /// A string literal with no closing quote.
    #[error("string literal is not closed; expected a closing '\"'")]
    UnterminatedString,
    /// A single-quoted literal (not part of the language).
    #[error("strings are written in double quotes, not single quotes")]
    SingleQuoted,
    /// `[` without `]`.
    #[error("attribute reference is not closed; expected ']'")]
    UnterminatedAttribute,
    /// `[]`.
    #[error("attribute reference has no name")]
    EmptyAttribute,
    /// `%` without a closing `%` or with no name.
    #[error("macro is not closed; expected %name%")]
    BadMacro,
    /// A malformed number (`-x`, `1.`, `&H` without digits).
    #[error("malformed number {text:?}")]
    BadNumber {
        /// The text.
        text: String,
    },
    /// A token where another was expected.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the parser wanted.
        expected: &'static str,
        /// What it found.
        found: String,
    },
    /// A call to a function the language does not have.
    #[error("unknown function {name:?}{}", suggestion_text(suggestion))]
    UnknownFunction {
        /// The name as written.
        name: String,
        /// The closest known name.
        suggestion: Option<&'static str>,
    },
    /// A function that only makes sense for app provisioning to SaaS apps.
    #[error("function {name:?} is not supported: {reason}")]
    Unsupported {
        /// The function.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The wrong number of arguments.
    #[error("{function} takes {expected} arguments, found {found}")]
    Arity {
        /// The function.
        function: &'static str,
        /// What it takes, in words (`2`, `3 or 4`, `at least 2`, `an even number (at least 4)`).
        expected: String,
        /// How many were given.
        found: usize,
    },
    /// An argument that can never work (a missing required argument, a bad
    /// enum word, a bad regex, a Replace without a usable mode).
    #[error("{function} argument {position}: {message}")]
    BadArgument {
        /// The function.
        function: &'static str,
        /// 1-based argument position.
        position: usize,
        /// What was wrong.
        message: String,
    },
    /// A bare word that is neither `true`/`false` nor an accepted enum value.
    #[error("unexpected word {word:?}; string constants are written in double quotes")]
    BareWord {
        /// The word.
        word: String,
    },
    /// A `%macro%` the configuration does not define.
    #[error("unknown macro %{name}%")]
    UnknownMacro {
        /// The macro name.
        name: String,
    },
    /// SelectUniqueValue somewhere else than the top level.
    #[error("SelectUniqueValue must be the whole expression; it cannot be nested")]
    NestedSelectUniqueValue,
    /// More distinct attributes than an attribute table holds.
    #[error("too many distinct attributes: {0}")]
    TooManyAttributes(String),
}

fn suggestion_text(s: &Option<&'static str>) -> String {
    match s {
        Some(s) => format!("; did you mean {s:?}?"),
        None => String::new(),
    }
}

/// An expression that does not parse or check: what, and where (byte span,
/// 1-based line and column in characters).
///
/// ```
/// use idsync::expr::Expression;
/// let src = "Jion(\" \", [givenName], [sn])";
/// let err = Expression::parse(src).unwrap_err();
/// assert_eq!(err.to_string(), "expression 1:1: unknown function \"Jion\"; did you mean \"Join\"?");
/// assert!(err.render(src).contains("^^^^"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expression {line}:{column}: {kind}")]
#[non_exhaustive]
pub struct ExprError {
    /// What was wrong.
    pub kind: ExprErrorKind,
    /// Where, in bytes of the source.
    pub span: Span,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column (in characters) of `span.start`.
    pub column: usize,
}

impl ExprError {
    #[cold]
    pub(crate) fn new(src: &str, span: Span, kind: ExprErrorKind) -> ExprError {
        let (line, column) = line_col(src, span.start);
        ExprError {
            kind,
            span,
            line,
            column,
        }
    }

    /// The message with the offending line of `src` and a caret under the
    /// span: `1:6: unknown function ...`, then the line, then `^^^`.
    pub fn render(&self, src: &str) -> String {
        // Long lines are shown as a window around the error, so an error in
        // a huge expression stays a short message.
        const CONTEXT: usize = 40;
        let line_text = src.lines().nth(self.line.saturating_sub(1)).unwrap_or("");
        let line_start: usize = src
            .split_inclusive('\n')
            .take(self.line.saturating_sub(1))
            .map(str::len)
            .sum();
        let rel_end = self
            .span
            .end
            .saturating_sub(line_start)
            .min(line_text.len());
        let rel_start = self.span.start.saturating_sub(line_start).min(rel_end);
        let width = line_text
            .get(rel_start..rel_end)
            .map_or(1, |s| s.chars().count().clamp(1, CONTEXT));
        let chars: Vec<char> = line_text
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        let col = self.column.saturating_sub(1).min(chars.len());
        let from = col.saturating_sub(CONTEXT);
        let to = (col + width + CONTEXT).min(chars.len());
        let prefix = if from > 0 { "..." } else { "" };
        let suffix = if to < chars.len() { "..." } else { "" };
        let shown: String = chars[from..to].iter().collect();
        format!(
            "{}:{}: {}\n  {prefix}{shown}{suffix}\n  {}{}",
            self.line,
            self.column,
            self.kind,
            " ".repeat(col - from + prefix.len()),
            "^".repeat(width)
        )
    }
}

/// 1-based line and character column of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in src.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// An evaluation that failed on one object's values: which function, which
/// argument, and what was wrong. `Error("...")` in an expression gives
/// [`EvalError::Raised`] with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// An argument's value does not fit the function.
    #[error("{function} argument {argument}: {message}")]
    BadArgument {
        /// The function.
        function: &'static str,
        /// 1-based argument position.
        argument: usize,
        /// What was wrong.
        message: String,
    },
    /// The function failed for another reason (every SelectUniqueValue
    /// candidate taken, no default domain).
    #[error("{function}: {message}")]
    Failed {
        /// The function.
        function: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The expression called `Error(message)`.
    #[error("expression raised an error: {message}")]
    Raised {
        /// The message it gave.
        message: String,
    },
}

impl EvalError {
    #[cold]
    pub(crate) fn arg(function: &'static str, argument: usize, message: impl fmt::Display) -> Self {
        EvalError::BadArgument {
            function,
            argument,
            message: message.to_string(),
        }
    }

    #[cold]
    pub(crate) fn failed(function: &'static str, message: impl fmt::Display) -> Self {
        EvalError::Failed {
            function,
            message: message.to_string(),
        }
    }
}
