//! The LDIF reader against RFC 2849's own examples (tests/data/ldif), its
//! errors with line:column, streaming and limits, and entries as source
//! objects. Public API only.

use std::io::{BufRead, BufReader, Read};

use idsync::anchor::{Guid, SourceAnchor};
use idsync::dn::Dn;
use idsync::ldif::{
    self, AttrValue, AttributeDescription, LdifChange, LdifChangeRecord, LdifControl, LdifEntry,
    LdifError, LdifErrorKind, LdifObjectError, LdifReader, LdifRecord, LdifValue, ModOp,
    Modification,
};
use idsync::object::{ObjectKind, Value};

fn example(n: u32) -> String {
    let path = format!(
        "{}/tests/data/ldif/example-{n}.ldif",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn desc(d: &str) -> AttributeDescription {
    AttributeDescription::parse(d).unwrap()
}

fn av(d: &str, value: &str, line: u64) -> AttrValue {
    AttrValue {
        attr: desc(d),
        value: LdifValue::Text(value.to_owned()),
        line,
    }
}

fn b64(d: &str, value: &str, line: u64) -> AttrValue {
    AttrValue {
        attr: desc(d),
        value: LdifValue::Base64(value.as_bytes().to_vec()),
        line,
    }
}

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

fn entry(d: &str, line: u64, attributes: Vec<AttrValue>) -> LdifRecord {
    LdifRecord::Content(LdifEntry {
        dn: dn(d),
        line,
        attributes,
    })
}

fn change(d: &str, line: u64, change: LdifChange) -> LdifRecord {
    LdifRecord::Change(LdifChangeRecord {
        dn: dn(d),
        line,
        controls: vec![],
        change,
    })
}

/// Every result of reading `text`, errors as `line:column kind-debug`.
fn results(text: &str) -> Vec<Result<LdifRecord, String>> {
    ldif::records(text)
        .map(|r| r.map_err(|e| format!("{}:{} {}", e.line, e.column, e.kind)))
        .collect()
}

fn only_error(text: &str) -> LdifError {
    let mut errors: Vec<LdifError> = ldif::records(text).filter_map(Result::err).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

fn at(text: &str) -> (u64, usize) {
    let e = only_error(text);
    (e.line, e.column)
}

#[test]
fn rfc_example_1_two_entries() {
    let records = ldif::parse(&example(1)).unwrap();
    let person = |line| {
        vec![
            av("objectclass", "top", line),
            av("objectclass", "person", line + 1),
            av("objectclass", "organizationalPerson", line + 2),
        ]
    };
    let mut barbara = person(3);
    barbara.extend([
        av("cn", "Barbara Jensen", 6),
        av("cn", "Barbara J Jensen", 7),
        av("cn", "Babs Jensen", 8),
        av("sn", "Jensen", 9),
        av("uid", "bjensen", 10),
        av("telephonenumber", "+1 408 555 1212", 11),
        av("description", "A big sailing fan.", 12),
    ]);
    let mut bjorn = person(15);
    bjorn.extend([
        av("cn", "Bjorn Jensen", 18),
        av("sn", "Jensen", 19),
        av("telephonenumber", "+1 408 555 1212", 20),
    ]);
    assert_eq!(
        records,
        vec![
            entry(
                "cn=Barbara Jensen,ou=Product Development,dc=airius,dc=com",
                2,
                barbara
            ),
            entry("cn=Bjorn Jensen,ou=Accounting,dc=airius,dc=com", 14, bjorn),
        ]
    );
    assert_eq!(
        records[0].dn().as_str(),
        "cn=Barbara Jensen,ou=Product Development,dc=airius,dc=com"
    );
    let text = example(1);
    let mut reader = LdifReader::new(text.as_bytes());
    assert_eq!(reader.version(), None);
    assert!(reader.next().is_some());
    assert_eq!(reader.version(), Some(1));
}

#[test]
fn rfc_example_2_folded_value_without_spaces_after_colons() {
    let records = ldif::parse(&example(2)).unwrap();
    assert_eq!(
        records,
        vec![entry(
            "cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com",
            2,
            vec![
                av("objectclass", "top", 3),
                av("objectclass", "person", 4),
                av("objectclass", "organizationalPerson", 5),
                av("cn", "Barbara Jensen", 6),
                av("cn", "Barbara J Jensen", 7),
                av("cn", "Babs Jensen", 8),
                av("sn", "Jensen", 9),
                av("uid", "bjensen", 10),
                av("telephonenumber", "+1 408 555 1212", 11),
                av(
                    "description",
                    "Babs is a big sailing fan, and travels extensively in search of perfect sailing conditions.",
                    12
                ),
                av("title", "Product Manager, Rod and Reel Division", 14),
            ]
        )]
    );
}

#[test]
fn rfc_example_3_base64_value_with_a_carriage_return() {
    let records = ldif::parse(&example(3)).unwrap();
    assert_eq!(
        records,
        vec![entry(
            "cn=Gern Jensen, ou=Product Testing, dc=airius, dc=com",
            2,
            vec![
                av("objectclass", "top", 3),
                av("objectclass", "person", 4),
                av("objectclass", "organizationalPerson", 5),
                av("cn", "Gern Jensen", 6),
                av("cn", "Gern O Jensen", 7),
                av("sn", "Jensen", 8),
                av("uid", "gernj", 9),
                av("telephonenumber", "+1 408 555 1212", 10),
                b64(
                    "description",
                    "What a careful reader you are!  This value is base-64-encoded because it has a control character in it (a CR).\r  By the way, you should really get out more.",
                    11
                ),
            ]
        )]
    );
}

#[test]
fn rfc_example_4_utf8_dns_and_language_options() {
    let records = ldif::parse(&example(4)).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0],
        entry(
            "ou=営業部,o=Airius",
            2,
            vec![
                av("objectclass", "top", 4),
                av("objectclass", "organizationalUnit", 5),
                b64("ou", "営業部", 6),
                b64("ou;lang-ja", "営業部", 8),
                b64("ou;lang-ja;phonetic", "えいぎょうぶ", 10),
                av("ou;lang-en", "Sales", 12),
                av("description", "Japanese office", 13),
            ]
        )
    );
    assert_eq!(
        records[1],
        entry(
            "uid=rogasawara,ou=営業部,o=Airius",
            15,
            vec![
                av("userpassword", "{SHA}O3HSv1MusyL4kTjP+HKI5uxuNoM=", 17),
                av("objectclass", "top", 18),
                av("objectclass", "person", 19),
                av("objectclass", "organizationalPerson", 20),
                av("objectclass", "inetOrgPerson", 21),
                av("uid", "rogasawara", 22),
                av("mail", "rogasawara@airius.co.jp", 23),
                b64("givenname;lang-ja", "ロドニー", 24),
                b64("sn;lang-ja", "小笠原", 26),
                b64("cn;lang-ja", "小笠原 ロドニー", 28),
                b64("title;lang-ja", "営業部 部長", 30),
                av("preferredlanguage", "ja", 32),
                b64("givenname", "ロドニー", 33),
                b64("sn", "小笠原", 35),
                b64("cn", "小笠原 ロドニー", 37),
                b64("title", "営業部 部長", 39),
                b64("givenname;lang-ja;phonetic", "ろどにー", 41),
                b64("sn;lang-ja;phonetic", "おがさわら", 44),
                b64("cn;lang-ja;phonetic", "おがさわら ろどにー", 46),
                b64("title;lang-ja;phonetic", "えいぎょうぶ ぶちょう", 48),
                av("givenname;lang-en", "Rodney", 51),
                av("sn;lang-en", "Ogasawara", 52),
                av("cn;lang-en", "Rodney Ogasawara", 53),
                av("title;lang-en", "Sales, Director", 54),
            ]
        )
    );
    let LdifRecord::Content(rodney) = &records[1] else {
        panic!()
    };
    let phonetic = &rodney.attributes[16].attr;
    assert_eq!(phonetic.attr_type(), "givenname");
    assert_eq!(
        phonetic.options().collect::<Vec<_>>(),
        ["lang-ja", "phonetic"]
    );
    // the password hash never shows in Debug output
    let debug = format!("{records:?}");
    assert!(!debug.contains("O3HSv1Mu"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn rfc_example_5_url_value_is_reported_not_fetched() {
    let all = results(&example(5));
    assert_eq!(
        all,
        vec![Err(
            "11:11 attribute jpegphoto: values given by url (':<') are not supported, \
             file:///usr/local/directory/photos/hjensen.jpg was not fetched"
                .to_owned()
        )]
    );
    let e = only_error(&example(5));
    assert!(matches!(&e.kind, LdifErrorKind::UrlValue { attribute, url }
            if attribute == "jpegphoto" && url == "file:///usr/local/directory/photos/hjensen.jpg"));
}

#[test]
fn rfc_example_6_change_records() {
    let all = results(&example(6));
    let paula = "cn=Paula Jensen, ou=Product Development, dc=airius, dc=com";
    let expected = vec![
        Err(
            "12:11 attribute jpegphoto: values given by url (':<') are not supported, \
             file:///usr/local/directory/photos/fiona.jpg was not fetched"
                .to_owned(),
        ),
        Ok(change(
            "cn=Robert Jensen, ou=Marketing, dc=airius, dc=com",
            15,
            LdifChange::Delete,
        )),
        Ok(change(
            "cn=Paul Jensen, ou=Product Development, dc=airius, dc=com",
            19,
            LdifChange::ModDn {
                new_rdn: dn("cn=Paula Jensen"),
                delete_old_rdn: true,
                new_superior: None,
            },
        )),
        Ok(change(
            "ou=PD Accountants, ou=Product Development, dc=airius, dc=com",
            26,
            LdifChange::ModDn {
                new_rdn: dn("ou=Product Development Accountants"),
                delete_old_rdn: false,
                new_superior: Some(dn("ou=Accounting, dc=airius, dc=com")),
            },
        )),
        Ok(change(
            paula,
            36,
            LdifChange::Modify(vec![
                Modification {
                    op: ModOp::Add,
                    attr: desc("postaladdress"),
                    values: vec![LdifValue::Text(
                        "123 Anystreet $ Sunnyvale, CA $ 94086".to_owned(),
                    )],
                    line: 38,
                },
                Modification {
                    op: ModOp::Delete,
                    attr: desc("description"),
                    values: vec![],
                    line: 41,
                },
                Modification {
                    op: ModOp::Replace,
                    attr: desc("telephonenumber"),
                    values: vec![
                        LdifValue::Text("+1 408 555 1234".to_owned()),
                        LdifValue::Text("+1 408 555 5678".to_owned()),
                    ],
                    line: 43,
                },
                Modification {
                    op: ModOp::Delete,
                    attr: desc("facsimiletelephonenumber"),
                    values: vec![LdifValue::Text("+1 408 555 9876".to_owned())],
                    line: 47,
                },
            ]),
        )),
        Ok(change(
            "cn=Ingrid Jensen, ou=Product Support, dc=airius, dc=com",
            56,
            LdifChange::Modify(vec![
                Modification {
                    op: ModOp::Replace,
                    attr: desc("postaladdress"),
                    values: vec![],
                    line: 58,
                },
                Modification {
                    op: ModOp::Delete,
                    attr: desc("description"),
                    values: vec![],
                    line: 60,
                },
            ]),
        )),
    ];
    assert_eq!(all, expected);
    let Ok(LdifRecord::Change(moved)) = &all[3] else {
        panic!()
    };
    assert_eq!(
        moved.new_dn().unwrap(),
        dn("ou=Product Development Accountants,ou=Accounting,dc=airius,dc=com")
    );
    let Ok(LdifRecord::Change(renamed)) = &all[2] else {
        panic!()
    };
    assert_eq!(renamed.new_dn().unwrap(), dn(paula));
}

#[test]
fn rfc_example_7_control() {
    let records = ldif::parse(&example(7)).unwrap();
    assert_eq!(
        records,
        vec![LdifRecord::Change(LdifChangeRecord {
            dn: dn("ou=Product Development, dc=airius, dc=com"),
            line: 6,
            controls: vec![LdifControl {
                oid: "1.2.840.113556.1.4.805".to_owned(),
                critical: true,
                value: None,
                line: 7,
            }],
            change: LdifChange::Delete,
        })]
    );
}

#[test]
fn the_published_rfc_defects_are_errors_with_positions() {
    // Example 3 as printed: continuation lines without their space.
    let published3 = example(3)
        .replace("\n IGlz", "\nIGlz")
        .replace("\n VyIG", "\nVyIG")
        .replace("\n b3V0", "\nb3V0");
    assert_eq!(
        results(&published3),
        vec![Err("12:71 expected ':' after the attribute name".to_owned())]
    );
    // Example 4 as printed: a wrapped comment line without '#'.
    let published4 = example(4).replace(
        "# <JapaneseGivenname_in_phonetic",
        "<JapaneseGivenname_in_phonetic",
    );
    let r = results(&published4);
    assert_eq!(r.len(), 2);
    assert!(r[0].is_ok());
    assert_eq!(r[1], Err("43:1 expected an attribute name".to_owned()));
    // Example 5 as printed: a page break splits the entry.
    let published5 = example(5).replace("Jensen\ncn: Horatio N", "Jensen\n\ncn: Horatio N");
    let r = results(&published5);
    assert_eq!(r.len(), 2);
    assert!(matches!(&r[0], Ok(LdifRecord::Content(e)) if e.attributes.len() == 4));
    assert_eq!(
        r[1],
        Err("8:1 expected 'dn:' at the start of a record".to_owned())
    );
    // Example 6 as printed: a page break inside a modify record.
    let published6 = example(6).replace("94086\n-\n", "94086\n-\n\n");
    let r = results(&published6);
    assert_eq!(r.len(), 7);
    assert!(
        matches!(&r[4], Ok(LdifRecord::Change(c)) if matches!(&c.change, LdifChange::Modify(m) if m.len() == 1))
    );
    assert_eq!(
        r[5],
        Err("42:1 expected 'dn:' at the start of a record".to_owned())
    );
}

#[test]
fn syntax_errors_carry_line_and_column() {
    assert_eq!(at("dn: cn=a,dc=x\ncn: a\nbad line\n"), (3, 4));
    assert_eq!(at("dn: cn=a,dc=x\n;cn: a\n"), (2, 1));
    assert_eq!(at("dn: cn=a,dc=x\ncn;: a\n"), (2, 4));
    assert_eq!(at("dn: cn=a,dc=x\n2.5..4: a\n"), (2, 5));
    // base64: the offending character
    assert_eq!(at("dn: cn=a,dc=x\ncn:: QUJD*A==\n"), (2, 10));
    // a DN error points into the DN
    assert_eq!(at("dn: cn=a,=x\ncn: a\n"), (1, 10));
    assert_eq!(at("dn:   cn=a,dc=x,\ncn: a\n"), (1, 17));
    // values that must be base64
    assert_eq!(at("dn: cn=a,dc=x\ncn: :a\n"), (2, 5));
    assert_eq!(at("dn: cn=a,dc=x\ncn: a\0b\n"), (2, 6));
    // records must start with dn:, and be separated by blank lines
    assert_eq!(at("cn: a\n"), (1, 1));
    assert_eq!(at("dn: cn=a,dc=x\ncn: a\ndn: cn=b,dc=x\n"), (3, 1));
    // a dn with nothing after it
    assert_eq!(at("dn: cn=a,dc=x\n\n"), (1, 14));
    // continuation with nothing to continue
    assert_eq!(at("\n cn: a\n"), (2, 1));
    // UTF-8 in a plain value is accepted (the grammar says ASCII), invalid
    // UTF-8 is not
    assert_eq!(
        ldif::parse("dn: cn=a,dc=x\ncn: \u{e9}t\u{e9}\n").unwrap(),
        vec![entry("cn=a,dc=x", 1, vec![av("cn", "\u{e9}t\u{e9}", 2)])]
    );
    let bytes = b"dn: cn=a,dc=x\ncn: ab\xffc\n";
    let e = LdifReader::new(&bytes[..]).find_map(Result::err).unwrap();
    assert!(matches!(e.kind, LdifErrorKind::NotUtf8));
    assert_eq!((e.line, e.column), (2, 7));
}

#[test]
fn columns_follow_folding_and_count_characters() {
    // the error is on the continuation line, after its leading space
    assert_eq!(at("dn: cn=a,dc=x\ncn:: QUJD\n RE*=\n"), (3, 4));
    assert_eq!(at("dn: cn=a,\n dc=x,\ncn: a\n"), (2, 7));
    // columns count characters, not bytes
    assert_eq!(at("dn: cn=é,dc=x\ncné: a\n"), (2, 3));
    // CRLF line ends are accepted
    let records = ldif::parse("version: 1\r\ndn: cn=a,dc=x\r\ncn: a\r\n b\r\n\r\n").unwrap();
    assert_eq!(
        records,
        vec![entry("cn=a,dc=x", 2, vec![av("cn", "ab", 3)])]
    );
}

#[test]
fn change_record_errors() {
    let e = only_error("dn: cn=a,dc=x\nchangetype: rename\n");
    assert_eq!(
        e.to_string(),
        "ldif 2:13: unknown changetype \"rename\", expected add, delete, modify, modrdn or moddn"
    );
    let e = only_error("dn: cn=a,dc=x\nchangetype: modify\nreplace: sn\ncn: b\n-\n");
    assert_eq!(
        e.to_string(),
        "ldif 4:1: attribute \"cn\" inside the modification of \"sn\""
    );
    assert_eq!(at("dn: cn=a,dc=x\nchangetype: delete\ncn: a\n"), (3, 1));
    assert_eq!(
        at("dn: cn=a,dc=x\nchangetype: modify\nmodify: cn\n-\n"),
        (3, 1)
    );
    assert_eq!(
        at("dn: cn=a,dc=x\nchangetype: modrdn\nnewrdn: cn=b\n"),
        (3, 13)
    );
    assert_eq!(
        at("dn: cn=a,dc=x\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 2\n"),
        (4, 15)
    );
    let e = only_error("dn: cn=a,dc=x\nchangetype: moddn\nnewrdn: cn=b,dc=y\ndeleteoldrdn: 1\n");
    assert!(matches!(e.kind, LdifErrorKind::NewRdn { found: 2 }));
    assert_eq!((e.line, e.column), (3, 9));
    assert_eq!(at("dn: cn=a,dc=x\ncontrol: 1.2.3 true\ncn: a\n"), (2, 20));
    assert_eq!(
        at("dn: cn=a,dc=x\ncontrol: 1.2.x\nchangetype: delete\n"),
        (2, 14)
    );
    assert_eq!(at("dn: cn=a,dc=x\nchangetype: add\n"), (2, 16));
    assert_eq!(
        at("dn: cn=a,dc=x\ncontrol: 1.2.3:< file:///x\nchangetype: delete\n"),
        (2, 16)
    );
}

#[test]
fn controls_with_values_and_case_insensitive_keywords() {
    let text = "DN: cn=a,dc=x\nControl: 1.2.3 false: some text\ncontrol: 1.2.4:: AAEC\n\
                ChangeType: MODIFY\nADD: cn\ncn: b\n";
    let records = ldif::parse(text).unwrap();
    assert_eq!(
        records,
        vec![LdifRecord::Change(LdifChangeRecord {
            dn: dn("cn=a,dc=x"),
            line: 1,
            controls: vec![
                LdifControl {
                    oid: "1.2.3".to_owned(),
                    critical: false,
                    value: Some(LdifValue::Text("some text".to_owned())),
                    line: 2,
                },
                LdifControl {
                    oid: "1.2.4".to_owned(),
                    critical: false,
                    value: Some(LdifValue::Base64(vec![0, 1, 2])),
                    line: 3,
                },
            ],
            // the closing '-' may be missing at the end of the record
            change: LdifChange::Modify(vec![Modification {
                op: ModOp::Add,
                attr: desc("cn"),
                values: vec![LdifValue::Text("b".to_owned())],
                line: 5,
            }]),
        })]
    );
}

#[test]
fn version_other_than_one_stops_the_reader() {
    let all: Vec<_> =
        ldif::records("version: 2\ndn: cn=a,dc=x\ncn: a\n\ndn: cn=b,dc=x\ncn: b\n").collect();
    assert_eq!(all.len(), 1);
    let e = all[0].as_ref().unwrap_err();
    assert!(e.is_fatal());
    assert_eq!(
        e.to_string(),
        "ldif 1:10: ldif version 2 is not supported, expected 1"
    );
    assert_eq!(at("version: one\ndn: cn=a,dc=x\ncn: a\n"), (1, 10));
}

#[test]
fn a_bad_record_fails_alone() {
    let text = "version: 1\n\ndn: cn=a,dc=x\ncn: a\n\ndn: cn=b,dc=x\ncn:: !!!\nsn: b\n\n\
                # a comment\n#  folded\n  over lines\n\ndn: cn=c,dc=x\ncn: c\n";
    let all = results(text);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], Ok(entry("cn=a,dc=x", 3, vec![av("cn", "a", 4)])));
    assert!(
        all[1]
            .as_ref()
            .unwrap_err()
            .starts_with("7:6 invalid base64")
    );
    assert_eq!(all[2], Ok(entry("cn=c,dc=x", 14, vec![av("cn", "c", 15)])));
}

#[test]
fn limits_are_typed_errors_and_the_reader_goes_on() {
    let long = format!(
        "dn: cn=a,dc=x\ncn: {}\n\ndn: cn=b,dc=x\ncn: b\n",
        "x".repeat(100)
    );
    let all: Vec<_> = LdifReader::with_limits(long.as_bytes(), 64, 1024).collect();
    assert_eq!(all.len(), 2);
    let e = all[0].as_ref().unwrap_err();
    assert!(matches!(e.kind, LdifErrorKind::LineTooLong { limit: 64 }));
    assert_eq!((e.line, e.column), (2, 65));
    assert!(!e.is_fatal());
    assert_eq!(all[1].as_ref().unwrap().dn(), &dn("cn=b,dc=x"));

    let big: String = (0..50).map(|i| format!("cn: value number {i}\n")).collect();
    let text = format!("dn: cn=a,dc=x\n{big}\ndn: cn=b,dc=x\ncn: b\n");
    let all: Vec<_> = LdifReader::with_limits(text.as_bytes(), 64, 300).collect();
    assert_eq!(all.len(), 2);
    assert!(matches!(
        all[0].as_ref().unwrap_err().kind,
        LdifErrorKind::RecordTooLarge { limit: 300 }
    ));
    assert!(all[1].is_ok());

    // exactly at the limit is fine, with or without a CRLF line end
    let exact = format!("dn: cn=a,dc=x\ncn: {}\r\n", "y".repeat(60));
    assert_eq!(
        LdifReader::with_limits(exact.as_bytes(), 64, 1024).count(),
        1
    );
    assert!(LdifReader::with_limits(exact.as_bytes(), 64, 1024).all(|r| r.is_ok()));
}

/// An input that makes up `n` records as it is read, so a test can stream
/// far more than it could hold.
struct Generated {
    n: usize,
    next: usize,
    pending: Vec<u8>,
    pos: usize,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.pending.len() {
            if self.next == self.n {
                return Ok(0);
            }
            let i = self.next;
            self.next += 1;
            let guid = Guid::from_u128(i as u128 + 1);
            self.pending = format!(
                "dn: CN=User {i},OU=Staff,DC=corp,DC=com\nchangetype: add\nobjectClass: user\n\
                 objectGUID:: {}\ndescription: a description long enough to be folded at\n  seventy-six columns\n\n",
                guid.immutable_id()
            )
            .into_bytes();
            self.pos = 0;
        }
        let n = out.len().min(self.pending.len() - self.pos);
        out[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn streams_records_from_any_bufread() {
    let n = 20_000;
    let input = BufReader::with_capacity(
        64,
        Generated {
            n,
            next: 0,
            pending: Vec::new(),
            pos: 0,
        },
    );
    fn count<R: BufRead>(reader: LdifReader<R>) -> (usize, Option<Guid>) {
        let mut seen = 0;
        let mut last = None;
        for record in reader {
            let object = record.unwrap().to_source_object().unwrap();
            assert_eq!(object.kind, ObjectKind::User);
            assert_eq!(
                object.attributes.first("description"),
                Some(&Value::str(
                    "a description long enough to be folded at seventy-six columns"
                ))
            );
            last = Some(object.guid);
            seen += 1;
        }
        (seen, last)
    }
    // records of ~200 bytes read through a 64-byte buffer and a 1 KiB record limit
    let (seen, last) = count(LdifReader::with_limits(input, 128, 1024));
    assert_eq!(seen, n);
    assert_eq!(last, Some(Guid::from_u128(n as u128)));
}

#[test]
fn entries_become_source_objects() {
    let guid = Guid::parse("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap();
    let consistency = Guid::from_u128(7);
    let text = format!(
        "dn: CN=Bob Smith,OU=Sales,DC=corp,DC=com\nchangetype: add\nobjectClass: top\n\
         objectClass: person\nobjectClass: user\nobjectGUID:: {}\nms-DS-ConsistencyGuid:: {}\n\
         member: CN=Ann,OU=Sales,DC=corp,DC=com\nmember: CN=Cid,OU=Sales,DC=corp,DC=com\n\
         manager:: Q049QW5uLE9VPVNhbGVzLERDPWNvcnAsREM9Y29t\ngivenName: Bob\nsn:: U23DrXRo\n\
         objectSid:: AQUAAAAAAAU=\nuserCertificate;binary:: MIIB\ncn;lang-en: Bob\n\
         unicodePwd:: c2VjcmV0\n",
        guid.immutable_id(),
        consistency.immutable_id()
    );
    let record = ldif::parse(&text).unwrap().remove(0);
    let bob = record.to_source_object().unwrap();
    assert_eq!(bob.guid, guid);
    assert_eq!(bob.dn, dn("CN=Bob Smith,OU=Sales,DC=corp,DC=com"));
    assert_eq!(bob.kind, ObjectKind::User);
    let a = &bob.attributes;
    assert_eq!(
        a.get("member"),
        &[
            Value::Dn(dn("CN=Ann,OU=Sales,DC=corp,DC=com")),
            Value::Dn(dn("CN=Cid,OU=Sales,DC=corp,DC=com"))
        ]
    );
    assert_eq!(
        a.first("manager"),
        Some(&Value::Dn(dn("cn=ann,ou=sales,dc=corp,dc=com")))
    );
    assert_eq!(a.first("GIVENNAME"), Some(&Value::str("Bob")));
    assert_eq!(a.first("sn"), Some(&Value::str("Smíth")));
    assert_eq!(
        a.first("objectSid"),
        Some(&Value::bytes(&[1, 5, 0, 0, 0, 0, 0, 5]))
    );
    assert_eq!(
        a.first("userCertificate"),
        Some(&Value::bytes(&[0x30, 0x82, 0x01]))
    );
    assert_eq!(a.first("cn;lang-en"), Some(&Value::str("Bob")));
    assert!(!a.contains("cn"));
    assert!(matches!(a.first("unicodePwd"), Some(Value::Secret(s)) if s.expose() == b"secret"));
    assert!(!format!("{bob:?}").contains("secret"));
    // the consistency guid stays bytes and wins as the source anchor
    let cg = a
        .first("ms-ds-consistencyguid")
        .unwrap()
        .as_bytes()
        .unwrap();
    let anchor = SourceAnchor::resolve(bob.guid, Some(cg)).unwrap();
    assert_eq!(anchor.immutable_id, consistency.immutable_id());
    assert_eq!(
        a.first("objectGUID").and_then(Value::as_bytes),
        Some(&guid.to_ad_bytes()[..])
    );
}

#[test]
fn source_object_errors_name_the_line() {
    let records = ldif::parse(
        "dn: cn=a,dc=x\nobjectClass: group\ncn: a\n\n\
         dn: cn=b,dc=x\nobjectClass: group\nobjectGUID:: AAEC\n\n\
         dn: cn=c,dc=x\nobjectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\nmember: not a dn\n\n\
         dn: cn=d,dc=x\nchangetype: delete\n\n\
         dn: cn=e,dc=x\nobjectClass: contact\nobjectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\nobjectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\n",
    )
    .unwrap();
    let errors: Vec<String> = records
        .iter()
        .map(|r| r.to_source_object().unwrap_err().to_string())
        .collect();
    assert_eq!(
        errors,
        [
            "ldif record at line 1 (cn=a,dc=x): no objectGUID",
            "ldif line 7 (cn=b,dc=x): objectGUID must be one base64 value of 16 bytes, found 3 bytes",
            "ldif line 11 (cn=c,dc=x): member value is not a dn: dn at byte 4: '=' after attribute type",
            "ldif record at line 13 (cn=d,dc=x): a delete change record is not an entry",
            "ldif line 19 (cn=e,dc=x): objectGUID must be one base64 value of 16 bytes, found more than one value",
        ]
    );
    assert!(matches!(
        records[0].to_source_object(),
        Err(LdifObjectError::MissingObjectGuid { line: 1, .. })
    ));
}

#[test]
fn unsupported_kinds_are_objects_too() {
    let record = ldif::parse(
        "dn: cn=pc,dc=x\nobjectClass: computer\nobjectClass: user\nobjectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\n",
    )
    .unwrap()
    .remove(0);
    assert_eq!(
        record.to_source_object().unwrap().kind,
        ObjectKind::Unsupported
    );
}
