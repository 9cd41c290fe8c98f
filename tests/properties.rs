//! Property tests for the identity primitives, through the public API only:
//! DN format/parse round trips against generated RDNs, case-insensitive
//! equality, `is_under` against an RDN-list model, GUID and ImmutableId round
//! trips, and "any string gives a value or an error with a position, never a
//! panic" for every parser.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use idsync::anchor::{Guid, GuidError, ImmutableId};
use idsync::dn::Dn;
use proptest::prelude::*;

/// One generated attribute type and value.
#[derive(Debug, Clone)]
struct GenAva {
    attr_type: String,
    value: GenValue,
}

#[derive(Debug, Clone)]
enum GenValue {
    /// A string value (decoded form).
    Str(String),
    /// A BER value: the bytes, written `#` + hex in the given letter case.
    Hex(Vec<u8>, bool),
}

type GenRdn = Vec<GenAva>;

fn attr_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z][A-Za-z0-9-]{0,8}",
        1 => "(0|[1-9][0-9]{0,3})(\\.(0|[1-9][0-9]{0,3})){1,4}",
    ]
}

/// Characters that exercise every escaping rule.
fn value_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        1 => prop::char::range('0', '9'),
        3 => prop::sample::select(vec![
            ',', '+', '"', '\\', '<', '>', ';', '=', '#', ' ', ' ', '.', '-', '\'', '*',
        ]),
        1 => prop::sample::select(vec!['\0', '\n', '\t', '\x1f', '\x7f']),
        2 => prop::sample::select(vec![
            'é', 'č', 'Ć', 'ß', 'Σ', 'σ', 'ς', 'İ', 'ı', 'K', '日', '𝄞', '\u{a0}', '\u{2028}',
        ]),
        1 => any::<char>(),
    ]
}

fn string_value() -> impl Strategy<Value = String> {
    prop::collection::vec(value_char(), 1..12).prop_map(|cs| cs.into_iter().collect())
}

fn gen_value() -> impl Strategy<Value = GenValue> {
    prop_oneof![
        6 => string_value().prop_map(GenValue::Str),
        1 => (prop::collection::vec(any::<u8>(), 1..6), any::<bool>())
            .prop_map(|(b, upper)| GenValue::Hex(b, upper)),
    ]
}

fn gen_ava() -> impl Strategy<Value = GenAva> {
    (attr_type(), gen_value()).prop_map(|(attr_type, value)| GenAva { attr_type, value })
}

fn gen_rdn() -> impl Strategy<Value = GenRdn> {
    prop::collection::vec(gen_ava(), 1..4)
}

fn gen_rdns(max: usize) -> impl Strategy<Value = Vec<GenRdn>> {
    prop::collection::vec(gen_rdn(), 0..max)
}

fn hex_text(bytes: &[u8], upper: bool) -> String {
    let mut s = String::from("#");
    for b in bytes {
        if upper {
            s.push_str(&format!("{b:02X}"));
        } else {
            s.push_str(&format!("{b:02x}"));
        }
    }
    s
}

/// A second, independent writer: escapes every byte of every character that
/// is not an ASCII letter or digit as a `\XX` hex pair, and puts spaces
/// around `=`, `,` and `+` (the RFC 1779 leniency the parser accepts).
fn write_hex_escaped(rdns: &[GenRdn]) -> String {
    let mut out = String::new();
    for (i, rdn) in rdns.iter().enumerate() {
        if i > 0 {
            out.push_str(" , ");
        }
        for (j, ava) in rdn.iter().enumerate() {
            if j > 0 {
                out.push_str(" + ");
            }
            out.push_str(&ava.attr_type);
            out.push_str(" = ");
            match &ava.value {
                GenValue::Str(v) => {
                    for c in v.chars() {
                        if c.is_ascii_alphanumeric() {
                            out.push(c);
                        } else {
                            let mut buf = [0u8; 4];
                            for b in c.encode_utf8(&mut buf).as_bytes() {
                                out.push_str(&format!("\\{b:02x}"));
                            }
                        }
                    }
                }
                GenValue::Hex(b, upper) => out.push_str(&hex_text(b, *upper)),
            }
        }
    }
    out
}

/// Checks that `dn` holds exactly the generated RDNs, decoded.
fn assert_decodes_to(dn: &Dn, rdns: &[GenRdn]) -> Result<(), TestCaseError> {
    prop_assert_eq!(dn.len(), rdns.len());
    for (i, rdn) in rdns.iter().enumerate() {
        let avas = dn.rdn_avas(i);
        prop_assert!(avas.is_some(), "rdn {} missing", i);
        let avas = avas.unwrap_or_default();
        prop_assert_eq!(avas.len(), rdn.len());
        for (got, want) in avas.iter().zip(rdn) {
            prop_assert_eq!(&got.attr_type, &want.attr_type);
            match &want.value {
                GenValue::Str(v) => {
                    prop_assert!(!got.hex);
                    prop_assert_eq!(&got.value, v);
                }
                GenValue::Hex(b, _) => {
                    prop_assert!(got.hex);
                    prop_assert_eq!(&got.value, &hex_text(b, false));
                }
            }
        }
    }
    Ok(())
}

fn hash_of(dn: &Dn) -> u64 {
    let mut h = DefaultHasher::new();
    dn.hash(&mut h);
    h.finish()
}

/// Changes the case of characters where the change is a case change and
/// nothing else: the upper (or lower) form is one character whose lowercase
/// is the original's lowercase.
fn flip_case(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().copied().cycle())
        .map(|(c, flip)| {
            if !flip {
                return c;
            }
            let lower: String = c.to_lowercase().collect();
            let candidates = [c.to_uppercase().collect::<String>(), lower.clone()];
            for cand in candidates {
                let mut it = cand.chars();
                if let (Some(u), None) = (it.next(), it.next()) {
                    if u != c && u.to_lowercase().collect::<String>() == lower {
                        return u;
                    }
                }
            }
            c
        })
        .collect()
}

/// The model's normal form of one RDN: lowercased types, values lowercased
/// character by character, hex values by their bytes, AVAs as a sorted list.
fn model_rdn(rdn: &GenRdn) -> Vec<(String, String)> {
    let mut key: Vec<(String, String)> = rdn
        .iter()
        .map(|a| {
            let v = match &a.value {
                GenValue::Str(s) => {
                    let mut out = String::from("s:");
                    out.extend(s.chars().flat_map(char::to_lowercase));
                    out
                }
                GenValue::Hex(b, _) => format!("h:{}", hex_text(b, false)),
            };
            (a.attr_type.to_ascii_lowercase(), v)
        })
        .collect();
    key.sort();
    key
}

/// Whether `child` is `ancestor` or in its subtree, in the RDN-list model.
fn model_is_under(child: &[GenRdn], ancestor: &[GenRdn]) -> bool {
    if ancestor.len() > child.len() {
        return false;
    }
    let tail = &child[child.len() - ancestor.len()..];
    tail.iter()
        .zip(ancestor)
        .all(|(a, b)| model_rdn(a) == model_rdn(b))
}

/// A small pool of RDNs, so generated DNs share ancestors and nearly-equal
/// names (`OU=Sales` and `OU=Sales2`, an escaped comma) often.
fn pooled_rdn() -> impl Strategy<Value = GenRdn> {
    let ava = |t: &str, v: &str| GenAva {
        attr_type: t.to_owned(),
        value: GenValue::Str(v.to_owned()),
    };
    prop::sample::select(vec![
        vec![ava("OU", "Sales")],
        vec![ava("ou", "SALES")],
        vec![ava("OU", "Sales2")],
        vec![ava("OU", "Sales,DC=corp")],
        vec![ava("DC", "corp")],
        vec![ava("CN", "corp")],
        vec![ava("DC", "com")],
        vec![ava("CN", "a"), ava("OU", "Sales")],
        vec![ava("ou", "sales"), ava("cn", "A")],
        vec![ava("CN", "a")],
        vec![ava("CN", " a")],
        vec![ava("CN", "a+OU=Sales")],
    ])
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[CNOUDC=,+\\\\#\"<>; a-f0-9{}-]{0,40}",
        "[A-Za-z0-9+/=]{0,30}",
        "\\{?[0-9a-fA-F-]{30,40}\\}?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dn_format_parse_round_trips(rdns in gen_rdns(6)) {
        let text = write_hex_escaped(&rdns);
        let dn = Dn::parse(&text);
        prop_assert!(dn.is_ok(), "{:?} did not parse: {:?}", text, dn);
        let dn = dn.unwrap_or_else(|_| Dn::root());
        assert_decodes_to(&dn, &rdns)?;

        let canonical = dn.to_string();
        let again = Dn::parse(&canonical);
        prop_assert!(again.is_ok(), "canonical {:?} did not parse: {:?}", canonical, again);
        let again = again.unwrap_or_else(|_| Dn::root());
        prop_assert_eq!(&again, &dn);
        prop_assert_eq!(again.to_string(), canonical.clone());
        prop_assert_eq!(again.normalized(), dn.normalized());
        assert_decodes_to(&again, &rdns)?;
    }

    #[test]
    fn dn_equality_ignores_case(rdns in gen_rdns(5), flips in prop::collection::vec(any::<bool>(), 1..16)) {
        let dn = Dn::parse(&write_hex_escaped(&rdns));
        prop_assert!(dn.is_ok());
        let dn = dn.unwrap_or_else(|_| Dn::root());
        let flipped = flip_case(dn.as_str(), &flips);
        let other = Dn::parse(&flipped);
        prop_assert!(other.is_ok(), "{:?} did not parse", flipped);
        let other = other.unwrap_or_else(|_| Dn::root());
        prop_assert_eq!(&other, &dn, "{:?} vs {:?}", other.normalized(), dn.normalized());
        prop_assert_eq!(hash_of(&other), hash_of(&dn));
        prop_assert!(other.is_under(&dn) && dn.is_under(&other));
    }

    #[test]
    fn multi_valued_rdn_order_is_ignored(rdn in gen_rdn(), rest in gen_rdns(3)) {
        let mut reversed = rdn.clone();
        reversed.reverse();
        let mut a = vec![rdn];
        a.extend(rest.iter().cloned());
        let mut b = vec![reversed];
        b.extend(rest);
        let da = Dn::parse(&write_hex_escaped(&a));
        let db = Dn::parse(&write_hex_escaped(&b));
        prop_assert!(da.is_ok() && db.is_ok());
        prop_assert_eq!(da, db);
    }

    #[test]
    fn is_under_agrees_with_the_rdn_list_model(
        parent in prop::collection::vec(pooled_rdn(), 0..4),
        prefix in prop::collection::vec(pooled_rdn(), 0..3),
        other in prop::collection::vec(pooled_rdn(), 0..5),
    ) {
        let mut child_rdns = prefix.clone();
        child_rdns.extend(parent.iter().cloned());
        let child = Dn::parse(&write_hex_escaped(&child_rdns));
        let parent_dn = Dn::parse(&write_hex_escaped(&parent));
        let other_dn = Dn::parse(&write_hex_escaped(&other));
        prop_assert!(child.is_ok() && parent_dn.is_ok() && other_dn.is_ok());
        let (child, parent_dn, other_dn) = (
            child.unwrap_or_else(|_| Dn::root()),
            parent_dn.unwrap_or_else(|_| Dn::root()),
            other_dn.unwrap_or_else(|_| Dn::root()),
        );

        prop_assert!(child.is_under(&parent_dn));
        prop_assert!(child.is_under(&Dn::root()));
        prop_assert_eq!(child.is_under(&other_dn), model_is_under(&child_rdns, &other));
        prop_assert_eq!(other_dn.is_under(&child), model_is_under(&other, &child_rdns));
        prop_assert_eq!(parent_dn.is_under(&child), model_is_under(&parent, &child_rdns));

        // walking up with parent() reaches the parent after prefix.len() steps
        let mut up = child.clone();
        for _ in 0..prefix.len() {
            let p = up.parent();
            prop_assert!(p.is_some());
            up = p.unwrap_or_else(Dn::root);
        }
        prop_assert_eq!(&up, &parent_dn);
    }

    #[test]
    fn guid_ad_bytes_round_trip(v in any::<u128>()) {
        let g = Guid::from_u128(v);
        let bytes = g.to_ad_bytes();
        prop_assert_eq!(Guid::from_ad_bytes(&bytes), Ok(g));
        // the first three fields are little-endian, the rest as in the text
        let rfc = g.as_rfc_bytes();
        prop_assert_eq!(&bytes[..4], &[rfc[3], rfc[2], rfc[1], rfc[0]][..]);
        prop_assert_eq!(&bytes[4..6], &[rfc[5], rfc[4]][..]);
        prop_assert_eq!(&bytes[6..8], &[rfc[7], rfc[6]][..]);
        prop_assert_eq!(&bytes[8..], &rfc[8..]);
    }

    #[test]
    fn guid_immutable_id_round_trip(v in any::<u128>()) {
        let g = Guid::from_u128(v);
        let id = g.immutable_id();
        let text = id.to_string();
        prop_assert_eq!(text.len(), 24);
        let back = ImmutableId::parse(&text);
        prop_assert_eq!(back, Ok(id));
        prop_assert_eq!(id.guid(), g);
        prop_assert_eq!(text.parse::<ImmutableId>().map(|i| i.guid()), Ok(g));
    }

    #[test]
    fn guid_text_round_trips_in_every_form(v in any::<u128>(), upper in any::<bool>(), braces in any::<bool>()) {
        let g = Guid::from_u128(v);
        let mut text = g.to_string();
        if upper {
            text = text.to_uppercase();
        }
        if braces {
            text = format!("{{{text}}}");
        }
        prop_assert_eq!(Guid::parse(&text), Ok(g));
    }

    #[test]
    fn guid_parse_never_panics(s in arbitrary_text()) {
        match Guid::parse(&s) {
            Ok(g) => prop_assert_eq!(Guid::parse(&g.to_string()), Ok(g)),
            Err(GuidError::Syntax { position, .. }) => prop_assert!(position <= s.len()),
            Err(e) => prop_assert!(false, "unexpected error kind {:?}", e),
        }
    }

    #[test]
    fn immutable_id_parse_never_panics(s in arbitrary_text()) {
        match ImmutableId::parse(&s) {
            Ok(id) => prop_assert_eq!(id.to_string(), s),
            Err(e) => {
                let position = e.position();
                prop_assert!(position.is_some(), "{:?} has no position", e);
                prop_assert!(position.unwrap_or(usize::MAX) <= s.len(), "{:?} for {:?}", e, s);
            }
        }
    }

    #[test]
    fn dn_parse_never_panics(s in arbitrary_text()) {
        match Dn::parse(&s) {
            Ok(dn) => {
                let again = Dn::parse(dn.as_str());
                prop_assert_eq!(again.as_ref(), Ok(&dn));
            }
            Err(e) => prop_assert!(e.position <= s.len(), "{:?} for {:?}", e, s),
        }
    }
}

#[test]
fn final_sigma_does_not_break_case_insensitivity() {
    // The lowercase of "ΑΣ" as a whole string is "ας" (final sigma); a DN
    // must still equal the one written "ασ".
    let upper = Dn::parse("CN=ΑΣ,DC=x").unwrap();
    let lower = Dn::parse("cn=ασ,dc=x").unwrap();
    assert_eq!(upper, lower);
    assert_eq!(hash_of(&upper), hash_of(&lower));
}
