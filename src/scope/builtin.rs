//! The product's built-in exclusions: system and service objects that a
//! configuration never syncs unless it switches them off
//! (`builtin_exclusions = false`).
//!
//! Unlike user-defined filters, an absent attribute passes these rules, so an
//! ordinary user without `mailNickname` or `adminDescription` is synced.

use regex::Regex;
use serde::Serialize;

use super::filter::{Test, compile_regex};
use super::{ScopeConfigError, ScopeErrorKind};
use crate::dn::Dn;
use crate::object::{AttrLookup, AttrTable, ObjectKind, Slot, Value};

/// One built-in exclusion rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BuiltinExclusion {
    /// `isCriticalSystemObject IS FALSE` (every kind).
    CriticalSystemObject,
    /// `adminDescription NOT REGEX MATCH ^User_` (users written back by an
    /// older sync engine).
    AdminDescriptionUser,
    /// `sAMAccountName IS NOT NULL` (users). Absent passes, as for every
    /// built-in rule; a present but empty value fails.
    EmptySamAccountName,
    /// `sAMAccountName NOT EQUALS SUPPORT_388945a0` (the help-and-support account).
    SupportAccount,
    /// `mailNickname NOT REGEX MATCH ^SystemMailbox{` (Exchange system mailboxes).
    SystemMailbox,
    /// `sAMAccountName NOT REGEX MATCH ^AAD_` (sync service accounts).
    AadServiceAccount,
    /// `mailNickname NOT REGEX MATCH ^CAS_([^{]*){` (Exchange CAS mailboxes).
    CasMailNickname,
    /// `sAMAccountName NOT REGEX MATCH ^CAS_([^{]*){` (Exchange CAS accounts).
    CasSamAccountName,
    /// `sAMAccountName NOT REGEX MATCH ^MSOL_` (sync service accounts).
    MsolServiceAccount,
    /// `msExchRecipientTypeDetails !& 0x21C07000` (Exchange system, arbitration,
    /// discovery and monitoring mailboxes).
    ExchangeSystemRecipient,
    /// `distinguishedName NOT REGEX MATCH ^CN\s*=\s*([^\,]*)\0ACNF`
    /// (replication-conflict victims; every kind).
    ReplicationConflict,
    /// Contacts need `mail` (absent fails: a requirement, not an exclusion).
    ContactWithoutMail,
    /// Contacts need a primary SMTP address: when `proxyAddresses` is set, one
    /// value must start with `SMTP:`.
    ContactWithoutPrimarySmtp,
}

impl BuiltinExclusion {
    /// The rule as the product writes it.
    pub fn rule(&self) -> &'static str {
        match self {
            BuiltinExclusion::CriticalSystemObject => "isCriticalSystemObject IS FALSE",
            BuiltinExclusion::AdminDescriptionUser => "adminDescription NOT REGEX MATCH ^User_",
            BuiltinExclusion::EmptySamAccountName => "sAMAccountName IS NOT NULL",
            BuiltinExclusion::SupportAccount => "sAMAccountName NOT EQUALS SUPPORT_388945a0",
            BuiltinExclusion::SystemMailbox => "mailNickname NOT REGEX MATCH ^SystemMailbox{",
            BuiltinExclusion::AadServiceAccount => "sAMAccountName NOT REGEX MATCH ^AAD_",
            BuiltinExclusion::CasMailNickname => "mailNickname NOT REGEX MATCH ^CAS_([^{]*){",
            BuiltinExclusion::CasSamAccountName => "sAMAccountName NOT REGEX MATCH ^CAS_([^{]*){",
            BuiltinExclusion::MsolServiceAccount => "sAMAccountName NOT REGEX MATCH ^MSOL_",
            BuiltinExclusion::ExchangeSystemRecipient => {
                "msExchRecipientTypeDetails !& 566259712 (0x21C07000)"
            }
            BuiltinExclusion::ReplicationConflict => {
                "distinguishedName NOT REGEX MATCH ^CN\\s*=\\s*([^\\,]*)\\0ACNF"
            }
            BuiltinExclusion::ContactWithoutMail => "mail IS NOT NULL",
            BuiltinExclusion::ContactWithoutPrimarySmtp => "proxyAddresses has an SMTP: value",
        }
    }

    /// The attribute the rule reads.
    pub fn attribute(&self) -> &'static str {
        match self {
            BuiltinExclusion::CriticalSystemObject => "isCriticalSystemObject",
            BuiltinExclusion::AdminDescriptionUser => "adminDescription",
            BuiltinExclusion::EmptySamAccountName
            | BuiltinExclusion::SupportAccount
            | BuiltinExclusion::AadServiceAccount
            | BuiltinExclusion::CasSamAccountName
            | BuiltinExclusion::MsolServiceAccount => "sAMAccountName",
            BuiltinExclusion::SystemMailbox | BuiltinExclusion::CasMailNickname => "mailNickname",
            BuiltinExclusion::ExchangeSystemRecipient => "msExchRecipientTypeDetails",
            BuiltinExclusion::ReplicationConflict => "distinguishedName",
            BuiltinExclusion::ContactWithoutMail => "mail",
            BuiltinExclusion::ContactWithoutPrimarySmtp => "proxyAddresses",
        }
    }

    /// What objects the rule keeps out, in words.
    pub fn description(&self) -> &'static str {
        match self {
            BuiltinExclusion::CriticalSystemObject => "critical system object",
            BuiltinExclusion::AdminDescriptionUser => "user written back by a sync engine",
            BuiltinExclusion::EmptySamAccountName => "user with an empty sAMAccountName",
            BuiltinExclusion::SupportAccount => "help and support service account",
            BuiltinExclusion::SystemMailbox => "exchange system mailbox",
            BuiltinExclusion::AadServiceAccount | BuiltinExclusion::MsolServiceAccount => {
                "directory sync service account"
            }
            BuiltinExclusion::CasMailNickname | BuiltinExclusion::CasSamAccountName => {
                "exchange client access server mailbox"
            }
            BuiltinExclusion::ExchangeSystemRecipient => "exchange system recipient",
            BuiltinExclusion::ReplicationConflict => "replication-conflict victim",
            BuiltinExclusion::ContactWithoutMail => "contact without mail",
            BuiltinExclusion::ContactWithoutPrimarySmtp => "contact without a primary smtp address",
        }
    }
}

/// How a rule treats a missing attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Absent passes; present values must all pass (an all-empty value
    /// passes, except for `IS NOT NULL`).
    Exclusion,
    /// Absent or empty fails.
    Required,
    /// Absent passes; when present, one value must pass.
    AnyIfPresent,
}

#[derive(Debug, Clone)]
struct Rule {
    exclusion: BuiltinExclusion,
    slot: Slot,
    test: Test,
    mode: Mode,
}

/// The compiled rules per kind.
#[derive(Debug, Clone)]
pub(crate) struct Builtins {
    user: Vec<Rule>,
    group: Vec<Rule>,
    contact: Vec<Rule>,
}

/// Why a built-in rule failed: the rule and the index of the offending value
/// (`None` when the attribute is missing or the rule read the DN).
pub(crate) type BuiltinFail = (BuiltinExclusion, Option<usize>);

impl Builtins {
    pub(crate) fn compile(table: &mut AttrTable) -> Result<Builtins, ScopeConfigError> {
        use BuiltinExclusion as B;
        let mut rule = |exclusion: B, test: Test, mode: Mode| -> Result<Rule, ScopeConfigError> {
            let slot = table.intern(exclusion.attribute()).map_err(|e| {
                ScopeConfigError::new(
                    "scope.builtin_exclusions".to_owned(),
                    ScopeErrorKind::TooManyAttributes(e),
                )
            })?;
            Ok(Rule {
                exclusion,
                slot,
                test,
                mode,
            })
        };
        let re = |p: &str| -> Result<Regex, ScopeConfigError> {
            compile_regex(p)
                .map_err(|k| ScopeConfigError::new("scope.builtin_exclusions".to_owned(), k))
        };
        let critical = rule(B::CriticalSystemObject, Test::IsFalse, Mode::Exclusion)?;
        let user = vec![
            critical.clone(),
            rule(
                B::AdminDescriptionUser,
                Test::NotRegex(re("^User_")?),
                Mode::Exclusion,
            )?,
            rule(B::EmptySamAccountName, Test::IsNotNull, Mode::Exclusion)?,
            rule(
                B::SupportAccount,
                Test::NotEquals("SUPPORT_388945a0".into()),
                Mode::Exclusion,
            )?,
            rule(
                B::SystemMailbox,
                Test::NotRegex(re(r"^SystemMailbox\{")?),
                Mode::Exclusion,
            )?,
            rule(
                B::AadServiceAccount,
                Test::NotRegex(re("^AAD_")?),
                Mode::Exclusion,
            )?,
            rule(
                B::CasMailNickname,
                Test::NotRegex(re(r"^CAS_([^{]*)\{")?),
                Mode::Exclusion,
            )?,
            rule(
                B::CasSamAccountName,
                Test::NotRegex(re(r"^CAS_([^{]*)\{")?),
                Mode::Exclusion,
            )?,
            rule(
                B::MsolServiceAccount,
                Test::NotRegex(re("^MSOL_")?),
                Mode::Exclusion,
            )?,
            rule(
                B::ExchangeSystemRecipient,
                Test::BitNotAnd(0x21C0_7000),
                Mode::Exclusion,
            )?,
        ];
        let group = vec![critical.clone()];
        let contact = vec![
            critical,
            rule(B::ContactWithoutMail, Test::IsNotNull, Mode::Required)?,
            rule(
                B::ContactWithoutPrimarySmtp,
                Test::Regex(re("^SMTP:")?),
                Mode::AnyIfPresent,
            )?,
        ];
        Ok(Builtins {
            user,
            group,
            contact,
        })
    }

    fn rules(&self, kind: ObjectKind) -> &[Rule] {
        match kind {
            ObjectKind::User => &self.user,
            ObjectKind::Group => &self.group,
            ObjectKind::Contact => &self.contact,
            ObjectKind::Unsupported => &[],
        }
    }

    /// How many rules apply to a kind (the DN rule included).
    pub(crate) fn count(&self, kind: ObjectKind) -> usize {
        self.rules(kind).len() + 1
    }

    /// Checks every rule for the kind; the first that fails excludes the object.
    pub(crate) fn check(
        &self,
        kind: ObjectKind,
        dn: &Dn,
        attrs: &dyn AttrLookup,
    ) -> Result<(), BuiltinFail> {
        for r in self.rules(kind) {
            r.check(attrs.values(r.slot))
                .map_err(|i| (r.exclusion, i))?;
        }
        if is_conflict_victim(dn) {
            return Err((BuiltinExclusion::ReplicationConflict, None));
        }
        Ok(())
    }

    /// The slot a rule reads, for explain.
    pub(crate) fn slot(&self, kind: ObjectKind, exclusion: BuiltinExclusion) -> Option<Slot> {
        self.rules(kind)
            .iter()
            .find(|r| r.exclusion == exclusion)
            .map(|r| r.slot)
    }
}

impl Rule {
    fn check(&self, values: &[Value]) -> Result<(), Option<usize>> {
        let present = || values.iter().enumerate().filter(|(_, v)| !v.is_empty());
        let all_empty = present().next().is_none();
        match self.mode {
            Mode::Exclusion if values.is_empty() => Ok(()),
            Mode::Exclusion if all_empty => match self.test {
                Test::IsNotNull => Err(Some(0)),
                _ => Ok(()),
            },
            Mode::Exclusion => match present().find(|(_, v)| !self.test.holds(v)) {
                Some((i, _)) => Err(Some(i)),
                None => Ok(()),
            },
            Mode::Required if all_empty => Err(None),
            Mode::Required => Ok(()),
            Mode::AnyIfPresent if values.is_empty() => Ok(()),
            Mode::AnyIfPresent => {
                if present().any(|(_, v)| self.test.holds(v)) {
                    Ok(())
                } else {
                    Err(None)
                }
            }
        }
    }
}

/// A replication-conflict victim's RDN carries a line feed and `CNF:`
/// (`CN=Bob\0ACNF:<guid>`); the canonical DN text escapes the line feed as
/// `\0A`, which is what the product's regex looks for.
fn is_conflict_victim(dn: &Dn) -> bool {
    dn.rdn().is_some_and(|rdn| {
        let b = rdn.as_bytes();
        b.len() >= 2 && b[..2].eq_ignore_ascii_case(b"CN") && rdn.contains("\\0ACNF")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Row;

    fn check(kind: ObjectKind, dn: &str, attrs: &[(&str, Value)]) -> Result<(), BuiltinExclusion> {
        let mut t = AttrTable::new();
        let b = Builtins::compile(&mut t).unwrap();
        let mut row = Row::default();
        for (name, v) in attrs {
            row.set(t.intern(name).unwrap(), [v.clone()].into_iter().collect());
        }
        b.check(kind, &Dn::parse(dn).unwrap(), &row)
            .map_err(|(e, _)| e)
    }

    const DN: &str = "CN=Ann,OU=Staff,DC=corp";

    #[test]
    fn ordinary_user_without_optional_attributes_passes() {
        assert_eq!(check(ObjectKind::User, DN, &[]), Ok(()));
        assert_eq!(
            check(ObjectKind::User, DN, &[("sAMAccountName", "ann".into())]),
            Ok(())
        );
    }

    #[test]
    fn each_user_rule_excludes() {
        use BuiltinExclusion as B;
        let cases: &[(&str, Value, B)] = &[
            (
                "isCriticalSystemObject",
                "TRUE".into(),
                B::CriticalSystemObject,
            ),
            (
                "isCriticalSystemObject",
                Value::Bool(true),
                B::CriticalSystemObject,
            ),
            (
                "adminDescription",
                "User_abc".into(),
                B::AdminDescriptionUser,
            ),
            ("sAMAccountName", "".into(), B::EmptySamAccountName),
            (
                "sAMAccountName",
                "SUPPORT_388945a0".into(),
                B::SupportAccount,
            ),
            (
                "mailNickname",
                "SystemMailbox{1f05a927}".into(),
                B::SystemMailbox,
            ),
            ("sAMAccountName", "AAD_1234".into(), B::AadServiceAccount),
            ("mailNickname", "CAS_{abc}".into(), B::CasMailNickname),
            ("sAMAccountName", "CAS_x{abc}".into(), B::CasSamAccountName),
            (
                "sAMAccountName",
                "MSOL_abcdef".into(),
                B::MsolServiceAccount,
            ),
            (
                "msExchRecipientTypeDetails",
                Value::Int(0x0040_0000),
                B::ExchangeSystemRecipient,
            ),
            (
                "msExchRecipientTypeDetails",
                "8388608".into(),
                B::ExchangeSystemRecipient,
            ),
        ];
        for (attr, value, want) in cases {
            assert_eq!(
                check(ObjectKind::User, DN, &[(attr, value.clone())]),
                Err(*want),
                "{attr} = {value:?}"
            );
        }
        // near misses pass
        for (attr, value) in [
            ("isCriticalSystemObject", Value::from("FALSE")),
            ("adminDescription", "user_abc".into()),
            ("sAMAccountName", "support_388945a0".into()),
            ("mailNickname", "SystemMailbox".into()),
            ("msExchRecipientTypeDetails", Value::Int(1)),
            ("adminDescription", "".into()),
        ] {
            assert_eq!(
                check(ObjectKind::User, DN, &[(attr, value.clone())]),
                Ok(()),
                "{attr} = {value:?}"
            );
        }
    }

    #[test]
    fn conflict_victims_are_excluded_for_every_kind() {
        let victim = "CN=Ann\\0ACNF:0f2c4c2b-4bbd-4f4c-8a2c-2c0b6c1f7d41,OU=Staff,DC=corp";
        for kind in [ObjectKind::User, ObjectKind::Group] {
            assert_eq!(
                check(kind, victim, &[]),
                Err(BuiltinExclusion::ReplicationConflict)
            );
        }
        assert_eq!(check(ObjectKind::User, "CN=Ann CNF,DC=corp", &[]), Ok(()));
    }

    #[test]
    fn contacts_need_mail_and_a_primary_smtp_address() {
        use BuiltinExclusion as B;
        let mail = ("mail", Value::from("c@example.com"));
        assert_eq!(
            check(ObjectKind::Contact, DN, &[]),
            Err(B::ContactWithoutMail)
        );
        assert_eq!(
            check(ObjectKind::Contact, DN, std::slice::from_ref(&mail)),
            Ok(())
        );
        assert_eq!(
            check(
                ObjectKind::Contact,
                DN,
                &[mail.clone(), ("proxyAddresses", "smtp:c@x.com".into())]
            ),
            Err(B::ContactWithoutPrimarySmtp)
        );
        assert_eq!(
            check(
                ObjectKind::Contact,
                DN,
                &[mail, ("proxyAddresses", "SMTP:c@x.com".into())]
            ),
            Ok(())
        );
    }
}
