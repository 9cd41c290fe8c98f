//! Attribute scoping filters as Entra defines them: operators, clauses ANDed
//! in a group, groups ORed, compiled once against an [`AttrTable`].
//!
//! Evaluation reads values by [`Slot`] and never allocates: integers are
//! rendered into a stack buffer when a string operator meets them.

use std::fmt::{self, Write as _};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{AttributeFilter, Clause, FilterValue, Multivalued, ScopeConfigError, ScopeErrorKind};
use crate::dn::Dn;
use crate::object::{AttrLookup, AttrName, AttrTable, Slot, Value};

/// The longest regular expression accepted in a clause, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;
/// The compiled size limit of one clause's regular expression, in bytes
/// (`regex::RegexBuilder::size_limit`); larger programs are refused.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// At most this many ORed groups in one filter.
pub const MAX_FILTER_GROUPS: usize = 64;
/// At most this many ANDed clauses in one group.
pub const MAX_GROUP_CLAUSES: usize = 64;

/// A scoping-filter operator, named exactly as Entra names it.
///
/// ```
/// use idsync::scope::Operator;
/// assert_eq!(Operator::parse("NOT REGEX MATCH"), Some(Operator::NotRegexMatch));
/// assert_eq!(Operator::parse("not regex match"), None); // names are exact
/// assert_eq!(Operator::BitNotAnd.as_str(), "!&");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// `EQUALS`: the value equals the clause value (case-sensitive).
    Equals,
    /// `NOT EQUALS`: the value differs from the clause value (case-sensitive).
    NotEquals,
    /// `IS TRUE`: a boolean true (`Value::Bool(true)` or the text `true`, any case).
    IsTrue,
    /// `IS FALSE`: a boolean false (`Value::Bool(false)` or the text `false`, any case).
    IsFalse,
    /// `IS NULL`: the attribute is absent or empty.
    IsNull,
    /// `IS NOT NULL`: the attribute has a non-empty value.
    IsNotNull,
    /// `REGEX MATCH`: the regular expression matches (case-sensitive, unanchored).
    RegexMatch,
    /// `NOT REGEX MATCH`: the regular expression does not match.
    NotRegexMatch,
    /// `Greater_Than`: integer comparison.
    GreaterThan,
    /// `Greater_Than_OR_EQUALS`: integer comparison.
    GreaterThanOrEquals,
    /// `Includes`: the value contains the clause value (case-sensitive).
    Includes,
    /// `ENDS_WITH`: the value ends with the clause value (case-sensitive).
    EndsWith,
    /// `&`: the value bitwise-ANDed with the clause value is non-zero.
    BitAnd,
    /// `!&`: the value bitwise-ANDed with the clause value is zero.
    BitNotAnd,
}

impl Operator {
    /// Every operator.
    pub const ALL: [Operator; 14] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::IsTrue,
        Operator::IsFalse,
        Operator::IsNull,
        Operator::IsNotNull,
        Operator::RegexMatch,
        Operator::NotRegexMatch,
        Operator::GreaterThan,
        Operator::GreaterThanOrEquals,
        Operator::Includes,
        Operator::EndsWith,
        Operator::BitAnd,
        Operator::BitNotAnd,
    ];

    /// The operator with this exact name (case matters: `Includes`, not `INCLUDES`).
    pub fn parse(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// The product's exact name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operator::Equals => "EQUALS",
            Operator::NotEquals => "NOT EQUALS",
            Operator::IsTrue => "IS TRUE",
            Operator::IsFalse => "IS FALSE",
            Operator::IsNull => "IS NULL",
            Operator::IsNotNull => "IS NOT NULL",
            Operator::RegexMatch => "REGEX MATCH",
            Operator::NotRegexMatch => "NOT REGEX MATCH",
            Operator::GreaterThan => "Greater_Than",
            Operator::GreaterThanOrEquals => "Greater_Than_OR_EQUALS",
            Operator::Includes => "Includes",
            Operator::EndsWith => "ENDS_WITH",
            Operator::BitAnd => "&",
            Operator::BitNotAnd => "!&",
        }
    }

    /// Whether the operator takes no value (`IS TRUE`, `IS FALSE`, `IS NULL`, `IS NOT NULL`).
    pub fn is_unary(&self) -> bool {
        matches!(
            self,
            Operator::IsTrue | Operator::IsFalse | Operator::IsNull | Operator::IsNotNull
        )
    }

    /// The closest operator name to a misspelt one, for the error message.
    pub(crate) fn suggest(name: &str) -> Option<&'static str> {
        let norm = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c == '_' {
                        ' '
                    } else {
                        c.to_ascii_uppercase()
                    }
                })
                .collect()
        };
        let wanted = norm(name);
        Operator::ALL
            .into_iter()
            .map(|op| (edit_distance(&wanted, &norm(op.as_str())), op))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d)
            .map(|(_, op)| op.as_str())
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operator {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Operator, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Operator::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown operator {s:?}")))
    }
}

/// Levenshtein distance over chars, bounded input (operator names are short;
/// the caller's name is capped before it gets here).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The test one compiled clause applies to each value.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Equals(Box<str>),
    NotEquals(Box<str>),
    IsTrue,
    IsFalse,
    IsNull,
    IsNotNull,
    Regex(Regex),
    NotRegex(Regex),
    GreaterThan(i64),
    GreaterThanOrEquals(i64),
    Includes(Box<str>),
    EndsWith(Box<str>),
    BitAnd(i64),
    BitNotAnd(i64),
}

/// Why a clause was false, cheap enough for the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClauseFail {
    /// The attribute is absent or all its values are empty (every operator
    /// but `IS NULL` is then false).
    Null,
    /// `IS NULL` on an attribute with a value.
    NotNull,
    /// Multivalued `all`: the value at this index does not satisfy the test.
    Value(usize),
    /// Multivalued `any`: no value satisfies the test.
    NoValue,
}

/// A clause compiled against a slot.
#[derive(Debug, Clone)]
pub(crate) struct CompiledClause {
    pub(crate) slot: Slot,
    pub(crate) attribute: AttrName,
    pub(crate) operator: Operator,
    pub(crate) values: Vec<String>,
    pub(crate) test: Test,
    /// The clause reads `distinguishedName`: when the object's values do
    /// not carry it, the object's own DN is used.
    pub(crate) reads_dn: bool,
}

impl CompiledClause {
    /// Calls `f` with the values the clause reads.
    pub(crate) fn with_values<R>(
        &self,
        attrs: &dyn AttrLookup,
        dn: &Dn,
        f: impl FnOnce(&[Value]) -> R,
    ) -> R {
        let values = attrs.values(self.slot);
        if values.is_empty() && self.reads_dn {
            f(&[Value::Dn(dn.clone())])
        } else {
            f(values)
        }
    }

    /// Evaluates the clause on an attribute's values with the product's null
    /// rule: absent or empty makes it false unless the operator is `IS NULL`.
    pub(crate) fn eval(&self, values: &[Value], mv: Multivalued) -> Result<(), ClauseFail> {
        let non_empty = || values.iter().enumerate().filter(|(_, v)| !v.is_empty());
        let is_null = non_empty().next().is_none();
        match (&self.test, is_null) {
            (Test::IsNull, true) => return Ok(()),
            (Test::IsNull, false) => return Err(ClauseFail::NotNull),
            (_, true) => return Err(ClauseFail::Null),
            (Test::IsNotNull, false) => return Ok(()),
            _ => {}
        }
        match mv {
            Multivalued::All => match non_empty().find(|(_, v)| !self.test.holds(v)) {
                Some((i, _)) => Err(ClauseFail::Value(i)),
                None => Ok(()),
            },
            Multivalued::Any => {
                if non_empty().any(|(_, v)| self.test.holds(v)) {
                    Ok(())
                } else {
                    Err(ClauseFail::NoValue)
                }
            }
        }
    }
}

impl Test {
    /// Whether one non-empty value satisfies the test.
    pub(crate) fn holds(&self, v: &Value) -> bool {
        match self {
            Test::Equals(want) => with_text(v, |s| s == &**want).unwrap_or(false),
            Test::NotEquals(want) => with_text(v, |s| s != &**want).unwrap_or(false),
            Test::IsTrue => as_bool(v) == Some(true),
            Test::IsFalse => as_bool(v) == Some(false),
            Test::IsNull => false,
            Test::IsNotNull => true,
            Test::Regex(re) => with_text(v, |s| re.is_match(s)).unwrap_or(false),
            Test::NotRegex(re) => with_text(v, |s| !re.is_match(s)).unwrap_or(false),
            Test::GreaterThan(n) => as_int(v).is_some_and(|x| x > *n),
            Test::GreaterThanOrEquals(n) => as_int(v).is_some_and(|x| x >= *n),
            Test::Includes(want) => with_text(v, |s| s.contains(&**want)).unwrap_or(false),
            Test::EndsWith(want) => with_text(v, |s| s.ends_with(&**want)).unwrap_or(false),
            Test::BitAnd(mask) => as_int(v).is_some_and(|x| x & mask != 0),
            Test::BitNotAnd(mask) => as_int(v).is_some_and(|x| x & mask == 0),
        }
    }
}

/// A fixed buffer that integers are rendered into, so comparing an integer
/// attribute with a string operator does not allocate.
struct StackText {
    buf: [u8; 24],
    len: usize,
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Calls `f` with the text form of a value: strings as they are, integers
/// in decimal, booleans `True` / `False`, DNs in canonical text, binary when
/// it is UTF-8. Secrets and other binary have no text form (`None`): no
/// string operator ever looks at them.
pub(crate) fn with_text<R>(v: &Value, f: impl FnOnce(&str) -> R) -> Option<R> {
    match v {
        Value::Str(s) => Some(f(s)),
        Value::Int(i) => {
            let mut t = StackText {
                buf: [0; 24],
                len: 0,
            };
            write!(t, "{i}").ok()?;
            std::str::from_utf8(t.buf.get(..t.len)?).ok().map(f)
        }
        Value::Bool(true) => Some(f("True")),
        Value::Bool(false) => Some(f("False")),
        Value::Dn(d) => Some(f(d.as_str())),
        Value::Bytes(b) => std::str::from_utf8(b).ok().map(f),
        _ => None,
    }
}

/// A boolean from `Value::Bool` or the text `true` / `false` in any case
/// (AD sends `TRUE` / `FALSE`).
pub(crate) fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// An integer from `Value::Int` or decimal text (AD sends integers as text).
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Str(s) => s.parse().ok(),
        _ => None,
    }
}

/// Parses a clause's integer: decimal, or `0x` hexadecimal for the bitwise
/// operators (masks such as `0x21C07000` are written in hex in the docs).
fn parse_int(text: &str, allow_hex: bool) -> Option<i64> {
    let t = text.trim();
    if allow_hex {
        if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            return u64::from_str_radix(h, 16).ok().map(|u| u as i64);
        }
    }
    t.parse().ok()
}

/// Whether a name is a valid LDAP attribute description: a letter then
/// letters, digits and hyphens, or a numeric OID.
pub(crate) fn valid_attribute_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() => {
            b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        Some(c) if c.is_ascii_digit() => {
            b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
                && !name.ends_with('.')
                && !name.contains("..")
        }
        _ => false,
    }
}

/// Compiles a regular expression with the size limits.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, ScopeErrorKind> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(ScopeErrorKind::RegexTooLong {
            len: pattern.len(),
            max: MAX_PATTERN_LEN,
        });
    }
    // Filters come from Entra, whose patterns are .NET regular expressions.
    let translated = crate::expr::translate_dotnet_regex(pattern).map_err(|message| {
        ScopeErrorKind::BadRegex {
            pattern: pattern.to_owned(),
            message,
        }
    })?;
    RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| ScopeErrorKind::BadRegex {
            pattern: pattern.to_owned(),
            message: regex_message(&e),
        })
}

/// regex's syntax errors are several lines with a caret; the last line
/// (`error: ...`) says what is wrong and fits in one-line errors.
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(text)
            .trim()
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => {
            format!("compiled regex exceeds the size limit of {limit} bytes")
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// A compiled attribute filter: groups of clauses, ANDed within, ORed across.
#[derive(Debug, Clone)]
pub(crate) struct CompiledFilter {
    pub(crate) groups: Vec<Vec<CompiledClause>>,
    pub(crate) multivalued: Multivalued,
}

impl CompiledFilter {
    /// The index of the first group whose clauses all hold, or `None`.
    pub(crate) fn matching_group(&self, attrs: &dyn AttrLookup, dn: &Dn) -> Option<usize> {
        self.groups.iter().position(|g| {
            g.iter()
                .all(|c| c.with_values(attrs, dn, |v| c.eval(v, self.multivalued).is_ok()))
        })
    }
}

/// Compiles one filter; `path` is where it sits (`scope.filters.user`).
pub(crate) fn compile_filter(
    filter: &AttributeFilter,
    path: &str,
    table: &mut AttrTable,
) -> Result<CompiledFilter, ScopeConfigError> {
    if filter.groups.len() > MAX_FILTER_GROUPS {
        return Err(ScopeConfigError::new(
            format!("{path}.groups"),
            ScopeErrorKind::TooMany {
                what: "clause groups",
                max: MAX_FILTER_GROUPS,
            },
        ));
    }
    let mut groups = Vec::with_capacity(filter.groups.len());
    for (gi, group) in filter.groups.iter().enumerate() {
        let gpath = format!("{path}.groups[{gi}]");
        if group.is_empty() {
            return Err(ScopeConfigError::new(gpath, ScopeErrorKind::EmptyGroup));
        }
        if group.len() > MAX_GROUP_CLAUSES {
            return Err(ScopeConfigError::new(
                gpath,
                ScopeErrorKind::TooMany {
                    what: "clauses in a group",
                    max: MAX_GROUP_CLAUSES,
                },
            ));
        }
        let mut clauses = Vec::with_capacity(group.len());
        for (ci, clause) in group.iter().enumerate() {
            clauses.push(compile_clause(clause, &format!("{gpath}[{ci}]"), table)?);
        }
        groups.push(clauses);
    }
    Ok(CompiledFilter {
        groups,
        multivalued: filter.multivalued,
    })
}

fn compile_clause(
    clause: &Clause,
    path: &str,
    table: &mut AttrTable,
) -> Result<CompiledClause, ScopeConfigError> {
    let at =
        |field: &str, kind: ScopeErrorKind| ScopeConfigError::new(format!("{path}.{field}"), kind);
    if !valid_attribute_name(&clause.attribute) {
        return Err(at(
            "attribute",
            ScopeErrorKind::BadAttribute {
                name: clause.attribute.clone(),
            },
        ));
    }
    let operator = Operator::parse(&clause.operator).ok_or_else(|| {
        at(
            "operator",
            ScopeErrorKind::UnknownOperator {
                name: clause.operator.clone(),
                suggestion: Operator::suggest(&clause.operator),
            },
        )
    })?;
    let values: Vec<String> = clause.values.iter().map(|v| v.0.clone()).collect();
    let want = usize::from(!operator.is_unary());
    if values.len() != want {
        return Err(at(
            "values",
            ScopeErrorKind::ValueCount {
                operator,
                expected: want,
                got: values.len(),
            },
        ));
    }
    let text = || values.first().map(String::as_str).unwrap_or_default();
    let int = |allow_hex: bool| {
        parse_int(text(), allow_hex).ok_or_else(|| {
            at(
                "values[0]",
                ScopeErrorKind::NotAnInteger {
                    operator,
                    value: text().to_owned(),
                },
            )
        })
    };
    let regex = || compile_regex(text()).map_err(|k| at("values[0]", k));
    let test = match operator {
        Operator::Equals => Test::Equals(text().into()),
        Operator::NotEquals => Test::NotEquals(text().into()),
        Operator::IsTrue => Test::IsTrue,
        Operator::IsFalse => Test::IsFalse,
        Operator::IsNull => Test::IsNull,
        Operator::IsNotNull => Test::IsNotNull,
        Operator::RegexMatch => Test::Regex(regex()?),
        Operator::NotRegexMatch => Test::NotRegex(regex()?),
        Operator::GreaterThan => Test::GreaterThan(int(false)?),
        Operator::GreaterThanOrEquals => Test::GreaterThanOrEquals(int(false)?),
        Operator::Includes => Test::Includes(text().into()),
        Operator::EndsWith => Test::EndsWith(text().into()),
        Operator::BitAnd => Test::BitAnd(int(true)?),
        Operator::BitNotAnd => Test::BitNotAnd(int(true)?),
    };
    let slot = table
        .intern(&clause.attribute)
        .map_err(|e| at("attribute", ScopeErrorKind::TooManyAttributes(e)))?;
    Ok(CompiledClause {
        slot,
        attribute: AttrName::new(&clause.attribute),
        operator,
        values,
        test,
        reads_dn: clause.attribute.eq_ignore_ascii_case("distinguishedName"),
    })
}

impl Clause {
    /// A clause from its parts (values as text).
    ///
    /// ```
    /// use idsync::scope::Clause;
    /// let c = Clause::new("department", "EQUALS", ["Sales"]);
    /// assert_eq!(c.operator, "EQUALS");
    /// ```
    pub fn new<'a>(
        attribute: &str,
        operator: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Clause {
        Clause {
            attribute: attribute.to_owned(),
            operator: operator.to_owned(),
            values: values
                .into_iter()
                .map(|v| FilterValue(v.to_owned()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(op: &str, value: Option<&str>) -> CompiledClause {
        let mut t = AttrTable::new();
        compile_clause(&Clause::new("a", op, value), "c", &mut t).unwrap()
    }

    fn eval(op: &str, value: Option<&str>, attr: &[Value], mv: Multivalued) -> bool {
        clause(op, value).eval(attr, mv).is_ok()
    }

    #[test]
    fn operator_names_round_trip_and_suggest() {
        for op in Operator::ALL {
            assert_eq!(Operator::parse(op.as_str()), Some(op));
        }
        assert_eq!(Operator::suggest("EQUAL"), Some("EQUALS"));
        assert_eq!(Operator::suggest("greater_than"), Some("Greater_Than"));
        assert_eq!(Operator::suggest("CONTAINS"), None);
        assert_eq!(Operator::parse("equals"), None);
    }

    #[test]
    fn integers_render_without_allocating_and_compare_as_text() {
        assert!(eval(
            "EQUALS",
            Some("-42"),
            &[Value::Int(-42)],
            Multivalued::All
        ));
        assert!(eval(
            "EQUALS",
            Some("True"),
            &[Value::Bool(true)],
            Multivalued::All
        ));
        assert_eq!(
            with_text(&Value::Int(i64::MIN), str::to_owned),
            Some(i64::MIN.to_string())
        );
    }

    #[test]
    fn secrets_are_never_compared() {
        let s = Value::Secret(crate::object::Secret::new(b"x".to_vec()));
        assert!(!eval(
            "NOT EQUALS",
            Some("y"),
            std::slice::from_ref(&s),
            Multivalued::All
        ));
        assert!(eval("IS NOT NULL", None, &[s], Multivalued::All));
    }

    #[test]
    fn hex_masks_for_bitwise_only() {
        assert!(eval(
            "&",
            Some("0x10"),
            &[Value::Int(0x30)],
            Multivalued::All
        ));
        let mut t = AttrTable::new();
        let err =
            compile_clause(&Clause::new("a", "Greater_Than", ["0x10"]), "c", &mut t).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.values[0]: operator Greater_Than needs an integer, got \"0x10\""
        );
    }

    #[test]
    fn attribute_names_are_checked() {
        assert!(valid_attribute_name("msDS-cloudExtensionAttribute1"));
        assert!(valid_attribute_name("1.2.840.113556.1.4.221"));
        assert!(!valid_attribute_name(""));
        assert!(!valid_attribute_name("dept name"));
        assert!(!valid_attribute_name("1..2"));
    }

    #[test]
    fn regex_errors_are_one_line() {
        let mut t = AttrTable::new();
        let err = compile_clause(&Clause::new("a", "REGEX MATCH", ["(unclosed"]), "c", &mut t)
            .unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(
            msg.starts_with("c.values[0]: invalid regex \"(unclosed\": "),
            "{msg}"
        );
        let huge = "a{1000}{1000}";
        let err =
            compile_clause(&Clause::new("a", "REGEX MATCH", [huge]), "c", &mut t).unwrap_err();
        assert!(err.to_string().contains("size limit"), "{err}");
    }
}
