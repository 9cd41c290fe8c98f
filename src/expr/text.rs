//! String helpers of the function library: NormalizeDiacritics (Microsoft's
//! mapping table, nothing more), PCase, .NET-style simple case mapping, and
//! the .NET regex dialect translated to the `regex` crate.

use std::collections::HashMap;
use std::sync::OnceLock;

#[path = "diacritics_table.rs"]
mod table;

struct Diacritics {
    /// Single code points and their replacement.
    single: HashMap<char, &'static str>,
    /// Base letters that map only when combining marks follow (`a` + U+0331).
    with_marks: HashMap<char, &'static str>,
}

fn diacritics() -> &'static Diacritics {
    static D: OnceLock<Diacritics> = OnceLock::new();
    D.get_or_init(|| {
        let mut single = HashMap::new();
        let mut with_marks = HashMap::new();
        for (keys, rep) in table::TABLE {
            for k in *keys {
                let mut cs = k.chars();
                if let Some(first) = cs.next() {
                    if cs.next().is_none() {
                        single.insert(first, *rep);
                    } else {
                        with_marks.entry(first).or_insert(*rep);
                    }
                }
            }
        }
        Diacritics { single, with_marks }
    })
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}')
}

/// Whether `s` equals `s.trim()`: its first and last characters are not
/// white space. An ASCII end is decided from its byte (most values); a
/// non-ASCII end by `str::trim`'s own rule.
pub(crate) fn is_trimmed(s: &str) -> bool {
    // `char::is_whitespace` for ASCII: U+0009..=U+000D and U+0020.
    let ascii_space = |b: u8| matches!(b, b'\t'..=b'\r' | b' ');
    match s.as_bytes() {
        [] => true,
        [a, .., z] | [a @ z] if a.is_ascii() && z.is_ascii() => {
            !ascii_space(*a) && !ascii_space(*z)
        }
        _ => s.trim().len() == s.len(),
    }
}

/// Replaces the characters of Microsoft's table (precomposed, or a base
/// letter followed by combining marks) with their plain equivalents; every
/// other character is kept. Returns `None` when nothing changes.
pub(crate) fn normalize_diacritics(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let d = diacritics();
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut changed = false;
    while let Some(c) = chars.next() {
        let marks_follow = chars.peek().is_some_and(|&n| is_combining(n));
        let rep = d.single.get(&c).or_else(|| {
            if marks_follow {
                d.with_marks.get(&c)
            } else {
                None
            }
        });
        match rep {
            Some(r) => {
                out.push_str(r);
                changed = true;
                while chars.peek().is_some_and(|&n| is_combining(n)) {
                    chars.next();
                }
            }
            None => out.push(c),
        }
    }
    changed.then_some(out)
}

/// .NET-like simple (one-to-one) case mapping: a character whose full
/// mapping is several characters (`ß` to upper, `İ` to lower) is kept.
/// `turkic` applies the Turkish/Azeri dotted and dotless i rules.
pub(crate) fn map_case(s: &str, upper: bool, turkic: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if turkic {
            match (c, upper) {
                ('i', true) => {
                    out.push('İ');
                    continue;
                }
                ('ı', true) => {
                    out.push('I');
                    continue;
                }
                ('I', false) => {
                    out.push('ı');
                    continue;
                }
                ('İ', false) => {
                    out.push('i');
                    continue;
                }
                _ => {}
            }
        }
        if c.is_ascii() {
            out.push(if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
            continue;
        }
        let mut m = if upper {
            c.to_uppercase().collect::<Vec<_>>()
        } else {
            c.to_lowercase().collect()
        };
        if m.len() == 1 {
            out.extend(m.pop());
        } else {
            out.push(c);
        }
    }
    out
}

/// PCase: every character lower-cased, then the first letter of each word
/// upper-cased. Words are separated by `separators` when given, else by
/// white space, punctuation and symbols (as .NET ToTitleCase, which keeps an
/// apostrophe inside a word: `john's` -> `John's`).
pub(crate) fn pcase(s: &str, separators: Option<&str>) -> String {
    let lower = map_case(s, false, false);
    let mut out = String::with_capacity(lower.len());
    let mut at_start = true;
    for c in lower.chars() {
        let sep = match separators {
            Some(seps) => seps.contains(c),
            None => !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}' || is_combining(c)),
        };
        if sep {
            out.push(c);
            at_start = true;
        } else if at_start {
            out.push_str(&map_case(c.encode_utf8(&mut [0; 4]), true, false));
            at_start = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Translates a .NET regular expression to the `regex` crate's syntax, or
/// says which .NET construct has no equivalent (lookaround, backreferences,
/// atomic groups, conditionals, `\G`, `\Z`, character-class subtraction).
/// Named groups `(?<n>...)` and `(?'n'...)` are accepted.
pub fn translate_regex(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let b: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        let c = b[i];
        match c {
            '\\' => {
                let Some(&n) = b.get(i + 1) else {
                    return Err("pattern ends with a lone backslash".into());
                };
                match n {
                    '1'..='9' if !in_class => {
                        return Err(format!("backreference \\{n} is not supported"));
                    }
                    'k' if !in_class => {
                        return Err("named backreference \\k is not supported".into());
                    }
                    'G' => return Err("\\G is not supported".into()),
                    'Z' => {
                        out.push_str(r"(?:\n?\z)");
                        i += 2;
                        continue;
                    }
                    _ => {}
                }
                if n.is_alphanumeric() || n == '_' {
                    out.push(c);
                    out.push(n);
                } else {
                    // .NET: a backslash before any other character means
                    // that character; `regex` only accepts escapes of its
                    // own meta characters (`\<` is a word boundary there).
                    out.push_str(&regex::escape(n.encode_utf8(&mut [0; 4])));
                }
                i += 2;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                i += 1;
                // a leading `]` or `^]` is literal in .NET
                if b.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if b.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            '[' if in_class => {
                if out.ends_with('-') {
                    return Err("character class subtraction is not supported".into());
                }
                // a literal `[` inside a class must be escaped for `regex`
                out.push_str(r"\[");
                i += 1;
                continue;
            }
            ']' if in_class => in_class = false,
            // .NET takes a `{` that does not start a quantifier (`{n}`,
            // `{n,}`, `{n,m}`) literally; `regex` refuses it.
            '{' if !in_class && !starts_quantifier(&b[i..]) => {
                out.push_str(r"\{");
                i += 1;
                continue;
            }
            '(' if !in_class && b.get(i + 1) == Some(&'?') => {
                let rest: String = b[i + 2..].iter().take(2).collect();
                if rest.starts_with('=')
                    || rest.starts_with('!')
                    || rest.starts_with("<=")
                    || rest.starts_with("<!")
                {
                    return Err("lookaround ((?=, (?!, (?<=, (?<!) is not supported".into());
                }
                if rest.starts_with('>') {
                    return Err("atomic groups (?>...) are not supported".into());
                }
                if rest.starts_with('(') {
                    return Err("conditional groups (?(...)...) are not supported".into());
                }
                if rest.starts_with('#') {
                    return Err("inline comments (?#...) are not supported".into());
                }
                if rest.starts_with('\'') {
                    let close = b[i + 3..].iter().position(|&x| x == '\'');
                    let Some(close) = close else {
                        return Err("unterminated group name".into());
                    };
                    let name: String = b[i + 3..i + 3 + close].iter().collect();
                    out.push_str("(?<");
                    out.push_str(&name);
                    out.push('>');
                    i += 3 + close + 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// Whether `b` (starting at a `{`) is a quantifier `{n}`, `{n,}` or `{n,m}`.
fn starts_quantifier(b: &[char]) -> bool {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&',') {
        i += 1;
        digits(&mut i);
    }
    b.get(i) == Some(&'}')
}

/// Translates a .NET replacement string (`$1`, `${name}`, `$$`, `$&`) to
/// the `regex` crate's, where every group reference is braced so that
/// `$1a` means group 1 then `a`, as in .NET.
pub(crate) fn translate_replacement(rep: &str) -> Result<String, String> {
    let mut out = String::with_capacity(rep.len() + 4);
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('$') => {
                chars.next();
                out.push_str("$$");
            }
            Some('&') => {
                chars.next();
                out.push_str("${0}");
            }
            Some('{') => {
                chars.next();
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(x) => name.push(x),
                        None => return Err("unterminated ${name} in replacement".into()),
                    }
                }
                out.push_str("${");
                out.push_str(&name);
                out.push('}');
            }
            Some(d) if d.is_ascii_digit() => {
                let mut num = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    num.push(d);
                    chars.next();
                }
                out.push_str("${");
                out.push_str(&num);
                out.push('}');
            }
            Some('`' | '\'' | '+' | '_') => {
                return Err("the substitutions $`, $', $+ and $_ are not supported".into());
            }
            _ => out.push_str("$$"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diacritics_table() {
        assert_eq!(normalize_diacritics("Zoë").as_deref(), Some("Zoe"));
        assert_eq!(normalize_diacritics("Zoe\u{308}").as_deref(), Some("Zoe"));
        assert_eq!(
            normalize_diacritics("Łódź Øre Straße Æsir").as_deref(),
            Some("Lodz OEre Strasse AEsir")
        );
        assert_eq!(
            normalize_diacritics("ā\u{301}a\u{331}").as_deref(),
            Some("aa")
        );
        assert_eq!(
            normalize_diacritics("García-López").as_deref(),
            Some("Garcia-Lopez")
        );
        // not in the table: kept
        assert_eq!(normalize_diacritics("œ đ þ ǎ"), None);
        assert_eq!(normalize_diacritics("œ\u{304}").as_deref(), Some("oe"));
        assert_eq!(normalize_diacritics("plain"), None);
    }

    #[test]
    fn case_and_pcase() {
        assert_eq!(map_case("Straße", true, false), "STRAßE");
        assert_eq!(map_case("ÉCOLE", false, false), "école");
        assert_eq!(map_case("istanbul", true, true), "İSTANBUL");
        assert_eq!(map_case("ISPARTA", false, true), "ısparta");
        assert_eq!(
            pcase("PABLO GONSALVES (SECOND)", None),
            "Pablo Gonsalves (Second)"
        );
        assert_eq!(pcase("PINTO-DE'SILVA", Some(" '-")), "Pinto-De'Silva");
        assert_eq!(pcase("st john's hospital", None), "St John's Hospital");
        assert_eq!(pcase("jean-luc o_neil", None), "Jean-Luc O_Neil");
        assert_eq!(pcase("a-b c", Some("-")), "A-B c");
    }

    #[test]
    fn dotnet_regex_translation() {
        assert_eq!(translate_regex(r"(?<a>\d+)").unwrap(), r"(?<a>\d+)");
        assert_eq!(translate_regex(r"(?'a'\d+)").unwrap(), r"(?<a>\d+)");
        assert_eq!(translate_regex(r"[\/\\\[\]\:\<]").unwrap(), r"[/\\\[\]:<]");
        assert_eq!(translate_regex(r"[]a[]").unwrap(), r"[\]a\[]");
        assert!(
            translate_regex("a(?=b)")
                .unwrap_err()
                .contains("lookaround")
        );
        assert!(
            translate_regex("(?<!a)b")
                .unwrap_err()
                .contains("lookaround")
        );
        assert!(
            translate_regex(r"(a)\1")
                .unwrap_err()
                .contains("backreference")
        );
        assert!(translate_regex("(?>a)").unwrap_err().contains("atomic"));
        assert!(
            translate_regex("[a-z-[aeiou]]")
                .unwrap_err()
                .contains("subtraction")
        );
        assert_eq!(
            translate_replacement("${x}-$1a $$ $&").unwrap(),
            "${x}-${1}a $$ ${0}"
        );
        assert_eq!(translate_replacement("cost $").unwrap(), "cost $$");
        assert!(translate_replacement("$_").is_err());
    }
}

#[cfg(test)]
mod trimmed_tests {
    use super::is_trimmed;
    use proptest::prelude::*;

    #[test]
    fn ends_decide() {
        for (s, want) in [
            ("", true),
            ("a", true),
            (" a", false),
            ("a\t", false),
            ("a\u{b}", false),
            ("\u{a0}a", false),
            ("a\u{3000}", false),
            ("é b é", true),
            ("x", true),
            (" ", false),
        ] {
            assert_eq!(is_trimmed(s), want, "{s:?}");
            assert_eq!(is_trimmed(s), s.trim().len() == s.len(), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_trim(s in "[ \t\n\u{b}\u{c}\ra-zé\u{a0}\u{85}\u{2028}\u{3000}]{0,6}") {
            prop_assert_eq!(is_trimmed(&s), s.trim().len() == s.len());
        }
    }
}
