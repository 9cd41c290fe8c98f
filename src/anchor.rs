//! Identity of an object across the two directories: [`Guid`] (objectGUID),
//! [`ImmutableId`] (the cloud's copy of the anchor) and [`SourceAnchor`].
//!
//! The one fact everything here hangs on: Active Directory stores a GUID as
//! the 16 bytes of the .NET `Guid.ToByteArray()` order (the first three
//! fields little-endian), and the cloud's ImmutableId is the standard base64
//! of exactly those bytes. Base64 of the RFC 4122 (big-endian) bytes is a
//! different, wrong, anchor. This module never does I/O.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a GUID or an ImmutableId did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuidError {
    /// The text is not a GUID; `position` is the byte offset of the first
    /// character that does not fit.
    #[error("guid at byte {position}: {expected}")]
    Syntax {
        /// Byte offset in the input.
        position: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A binary GUID must be exactly 16 bytes.
    #[error("guid bytes: expected 16 bytes, found {len}")]
    Length {
        /// The length that was given.
        len: usize,
    },
    /// An ImmutableId that is not standard base64 of 16 bytes.
    #[error("immutable id at byte {position}: {reason}")]
    ImmutableId {
        /// Byte offset in the input where the problem was found.
        position: usize,
        /// What was wrong.
        reason: String,
    },
}

impl GuidError {
    /// The byte offset in the parsed text where the problem was found
    /// (`None` for [`GuidError::Length`], which has no text).
    pub fn position(&self) -> Option<usize> {
        match self {
            GuidError::Syntax { position, .. } | GuidError::ImmutableId { position, .. } => {
                Some(*position)
            }
            GuidError::Length { .. } => None,
        }
    }
}

/// A GUID (objectGUID, or the value of ms-DS-ConsistencyGuid).
///
/// Displays as lowercase hyphenated text; parses with or without braces, in
/// either case.
///
/// ```
/// use idsync::anchor::Guid;
/// let g = Guid::parse("{01234567-89AB-CDEF-0123-456789ABCDEF}")?;
/// assert_eq!(g.to_string(), "01234567-89ab-cdef-0123-456789abcdef");
/// assert_eq!(g.to_ad_bytes()[0], 0x67); // first field little-endian
/// assert_eq!(g.immutable_id().to_string(), "Z0UjAauJ780BI0VniavN7w==");
/// # Ok::<(), idsync::anchor::GuidError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(uuid::Uuid);

impl Guid {
    /// The all-zero GUID.
    pub const NIL: Guid = Guid(uuid::Uuid::nil());

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, optionally in braces, in
    /// either case.
    pub fn parse(text: &str) -> Result<Guid, GuidError> {
        let bytes = text.as_bytes();
        let (body, offset) = match bytes.first() {
            Some(b'{') => {
                if bytes.last() != Some(&b'}') || bytes.len() < 2 {
                    return Err(GuidError::Syntax {
                        position: text.len(),
                        expected: "closing brace",
                    });
                }
                (&bytes[1..bytes.len() - 1], 1)
            }
            _ => (bytes, 0),
        };
        let mut out = [0u8; 16];
        let mut nibble = 0usize;
        for (i, &c) in body.iter().enumerate() {
            let hyphen_here = matches!(i, 8 | 13 | 18 | 23);
            if hyphen_here {
                if c != b'-' {
                    return Err(GuidError::Syntax {
                        position: offset + i,
                        expected: "hyphen",
                    });
                }
                continue;
            }
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => {
                    return Err(GuidError::Syntax {
                        position: offset + i,
                        expected: "hexadecimal digit",
                    });
                }
            };
            if nibble >= 32 {
                return Err(GuidError::Syntax {
                    position: offset + i,
                    expected: "end of guid",
                });
            }
            out[nibble / 2] |= if nibble % 2 == 0 { v << 4 } else { v };
            nibble += 1;
        }
        if nibble != 32 || body.len() != 36 {
            return Err(GuidError::Syntax {
                position: offset + body.len(),
                expected: "36 characters: 8-4-4-4-12 hexadecimal digits",
            });
        }
        Ok(Guid(uuid::Uuid::from_bytes(out)))
    }

    /// Decodes the 16 bytes of objectGUID as Active Directory stores them
    /// (the .NET `Guid.ToByteArray()` order).
    pub fn from_ad_bytes(bytes: &[u8]) -> Result<Guid, GuidError> {
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| GuidError::Length { len: bytes.len() })?;
        Ok(Guid(uuid::Uuid::from_bytes_le(arr)))
    }

    /// The 16 bytes as Active Directory stores them.
    pub fn to_ad_bytes(&self) -> [u8; 16] {
        self.0.to_bytes_le()
    }

    /// The RFC 4122 (big-endian) bytes, the order of the text form.
    pub fn as_rfc_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Builds a GUID from RFC 4122 (big-endian) bytes.
    pub const fn from_rfc_bytes(bytes: [u8; 16]) -> Guid {
        Guid(uuid::Uuid::from_bytes(bytes))
    }

    /// Builds a GUID from a 128-bit number (handy for generated test data).
    pub const fn from_u128(v: u128) -> Guid {
        Guid(uuid::Uuid::from_u128(v))
    }

    /// The ImmutableId for this GUID: base64 of [`Guid::to_ad_bytes`].
    pub fn immutable_id(&self) -> ImmutableId {
        ImmutableId(self.to_ad_bytes())
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = GuidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Guid::parse(s)
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Guid::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The cloud's immutable id: the base64 form of a source anchor's 16 bytes.
///
/// ```
/// use idsync::anchor::{Guid, ImmutableId};
/// let id: ImmutableId = "/xmWb4aLEdC0LQDAT8lk/w==".parse()?;
/// assert_eq!(id.guid(), Guid::parse("6f9619ff-8b86-d011-b42d-00c04fc964ff")?);
/// # Ok::<(), idsync::anchor::GuidError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImmutableId([u8; 16]);

impl ImmutableId {
    /// The anchor bytes (AD order).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The GUID these bytes encode.
    pub fn guid(&self) -> Guid {
        Guid(uuid::Uuid::from_bytes_le(self.0))
    }

    /// Builds an ImmutableId from anchor bytes (AD order).
    pub fn from_bytes(bytes: [u8; 16]) -> ImmutableId {
        ImmutableId(bytes)
    }

    /// Parses the base64 text form: exactly 24 characters of standard base64
    /// (with its `==` padding) encoding 16 bytes.
    pub fn parse(text: &str) -> Result<ImmutableId, GuidError> {
        if text.len() != 24 {
            return Err(GuidError::ImmutableId {
                position: text.len().min(24),
                reason: format!(
                    "expected 24 base64 characters (16 bytes), found {} bytes of text",
                    text.len()
                ),
            });
        }
        let mut buf = [0u8; 18];
        let n = BASE64
            .decode_slice(text.as_bytes(), &mut buf)
            .map_err(|e| {
                use base64::{DecodeError, DecodeSliceError};
                let position = match e {
                    DecodeSliceError::DecodeError(
                        DecodeError::InvalidByte(at, _) | DecodeError::InvalidLastSymbol(at, _),
                    ) => at,
                    // padding and length problems sit at the end
                    _ => 22,
                };
                GuidError::ImmutableId {
                    position,
                    reason: format!("not standard base64 of 16 bytes: {e}"),
                }
            })?;
        if n != 16 {
            return Err(GuidError::ImmutableId {
                position: 22,
                reason: format!("expected 16 bytes ('==' padding at the end), found {n}"),
            });
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&buf[..16]);
        Ok(ImmutableId(out))
    }
}

impl fmt::Display for ImmutableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 24];
        // 16 bytes always encode to exactly 24 base64 characters.
        let n = BASE64
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ImmutableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImmutableId({self})")
    }
}

impl FromStr for ImmutableId {
    type Err = GuidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImmutableId::parse(s)
    }
}

impl Serialize for ImmutableId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImmutableId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ImmutableId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where an object's source anchor came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AnchorSource {
    /// The object's ms-DS-ConsistencyGuid.
    ConsistencyGuid,
    /// The object's objectGUID (no ms-DS-ConsistencyGuid set).
    ObjectGuid,
}

/// The anchor that ties a source object to its target object for life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceAnchor {
    /// The anchor value as an ImmutableId.
    pub immutable_id: ImmutableId,
    /// Which attribute supplied it.
    pub from: AnchorSource,
}

/// An object whose ms-DS-ConsistencyGuid cannot be an anchor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// ms-DS-ConsistencyGuid must hold 16 bytes.
    #[error("object {object}: ms-DS-ConsistencyGuid has {len} bytes, expected 16")]
    ConsistencyGuidLength {
        /// The objectGUID of the object.
        object: Guid,
        /// The length found.
        len: usize,
    },
    /// ms-DS-ConsistencyGuid holds more than one value.
    #[error("object {object}: ms-DS-ConsistencyGuid has {count} values, expected 1")]
    ConsistencyGuidMultiValued {
        /// The objectGUID of the object.
        object: Guid,
        /// How many values were found.
        count: usize,
    },
    /// ms-DS-ConsistencyGuid holds something other than bytes or a GUID.
    #[error("object {object}: ms-DS-ConsistencyGuid is not binary")]
    ConsistencyGuidType {
        /// The objectGUID of the object.
        object: Guid,
    },
}

impl SourceAnchor {
    /// The anchor of an object: `consistency_guid` (the raw bytes of
    /// ms-DS-ConsistencyGuid) when it is set, else the objectGUID.
    ///
    /// ```
    /// use idsync::anchor::{Guid, SourceAnchor, AnchorSource};
    /// let g = Guid::parse("6f9619ff-8b86-d011-b42d-00c04fc964ff")?;
    /// let a = SourceAnchor::resolve(g, None)?;
    /// assert_eq!(a.from, AnchorSource::ObjectGuid);
    /// assert_eq!(a.immutable_id.to_string(), "/xmWb4aLEdC0LQDAT8lk/w==");
    /// assert!(SourceAnchor::resolve(g, Some(&[0u8; 15])).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(
        object_guid: Guid,
        consistency_guid: Option<&[u8]>,
    ) -> Result<SourceAnchor, AnchorError> {
        match consistency_guid {
            None => Ok(SourceAnchor {
                immutable_id: object_guid.immutable_id(),
                from: AnchorSource::ObjectGuid,
            }),
            Some(bytes) => {
                let arr: [u8; 16] =
                    bytes
                        .try_into()
                        .map_err(|_| AnchorError::ConsistencyGuidLength {
                            object: object_guid,
                            len: bytes.len(),
                        })?;
                Ok(SourceAnchor {
                    immutable_id: ImmutableId(arr),
                    from: AnchorSource::ConsistencyGuid,
                })
            }
        }
    }
}

/// Tenant settings that change matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchingSettings {
    /// Soft match on userPrincipalName (on by default for new tenants).
    #[serde(default = "yes")]
    pub soft_match_on_upn: bool,
    /// The tenant blocks soft match (`BlockSoftMatchEnabled`).
    #[serde(default)]
    pub block_soft_match: bool,
}

fn yes() -> bool {
    true
}

impl Default for MatchingSettings {
    fn default() -> MatchingSettings {
        MatchingSettings {
            soft_match_on_upn: true,
            block_soft_match: false,
        }
    }
}

/// What matching knows of a source object on its first export.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput<'a> {
    /// Its kind.
    pub kind: crate::object::ObjectKind,
    /// Its source anchor.
    pub anchor: ImmutableId,
    /// The userPrincipalName it will have in the target.
    pub user_principal_name: Option<&'a str>,
    /// Its primary SMTP address (without `SMTP:`).
    pub primary_smtp: Option<&'a str>,
}

/// The outcome of matching.
#[derive(Debug, Clone, PartialEq)]
pub enum MatchOutcome {
    /// A target object carries this anchor.
    Hard(crate::target::TargetObject),
    /// A target object without an anchor has the same primary SMTP address
    /// (`on` = `smtp`) or userPrincipalName (`upn`).
    Soft {
        /// The object.
        target: crate::target::TargetObject,
        /// `smtp` or `upn`.
        on: &'static str,
    },
    /// No candidate: create the object.
    Create,
    /// A candidate that must not be taken over; the product's error name.
    Conflict {
        /// `InvalidSoftMatch`, `ObjectTypeMismatch`,
        /// `Existing Admin Role Conflict`, `BlockSoftMatchEnabled`.
        code: &'static str,
        /// What happened, for the log.
        message: String,
    },
}

/// Matches a source object against the target (only for objects the
/// engine has not exported yet), following the product's rules: hard match
/// on the anchor; else soft match on the primary SMTP address and (when the
/// tenant allows) the UPN, only against an object of the same kind with no
/// immutable id of its own and no admin role; mail-disabled groups never
/// soft-match.
pub fn find_match<T: crate::target::TargetLookup + ?Sized>(
    input: &MatchInput<'_>,
    target: &T,
    settings: &MatchingSettings,
) -> MatchOutcome {
    use crate::object::ObjectKind;
    if let Some(t) = target.find_by_immutable_id(&input.anchor) {
        if t.kind != input.kind {
            return MatchOutcome::Conflict {
                code: "ObjectTypeMismatch",
                message: format!(
                    "target object {} with this anchor is a {}, the source object a {}",
                    t.id, t.kind, input.kind
                ),
            };
        }
        return MatchOutcome::Hard(t);
    }
    let mail_disabled_group = input.kind == ObjectKind::Group && input.primary_smtp.is_none();
    if mail_disabled_group {
        return MatchOutcome::Create;
    }
    let mut candidates: Vec<(crate::target::TargetObject, &'static str)> = Vec::new();
    if let Some(smtp) = input.primary_smtp {
        if let Some(t) = target.find_by_proxy_address(smtp) {
            // Only the candidate's primary address counts.
            if t.primary_smtp()
                .is_some_and(|p| p.eq_ignore_ascii_case(smtp))
            {
                candidates.push((t, "smtp"));
            }
        }
    }
    if settings.soft_match_on_upn && input.kind == ObjectKind::User {
        if let Some(upn) = input.user_principal_name {
            if let Some(t) = target.find_by_upn(upn) {
                if !candidates.iter().any(|(c, _)| c.id == t.id) {
                    candidates.push((t, "upn"));
                }
            }
        }
    }
    let Some((t, on)) = candidates.into_iter().next() else {
        return MatchOutcome::Create;
    };
    if settings.block_soft_match {
        return MatchOutcome::Conflict {
            code: "BlockSoftMatchEnabled",
            message: format!(
                "target object {} matches on {on} but the tenant blocks soft match",
                t.id
            ),
        };
    }
    if t.kind != input.kind {
        return MatchOutcome::Conflict {
            code: "ObjectTypeMismatch",
            message: format!(
                "target object {} matching on {on} is a {}, the source object a {}",
                t.id, t.kind, input.kind
            ),
        };
    }
    if let Some(other) = t.immutable_id {
        return MatchOutcome::Conflict {
            code: "InvalidSoftMatch",
            message: format!(
                "target object {} matching on {on} already has immutable id {other}",
                t.id
            ),
        };
    }
    if t.admin_role {
        return MatchOutcome::Conflict {
            code: "Existing Admin Role Conflict",
            message: format!(
                "target object {} matching on {on} holds an admin role",
                t.id
            ),
        };
    }
    if t.kind == ObjectKind::Group && !t.mail_enabled {
        return MatchOutcome::Create;
    }
    MatchOutcome::Soft { target: t, on }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example() {
        let g = Guid::parse("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap();
        assert_eq!(g.immutable_id().to_string(), "/xmWb4aLEdC0LQDAT8lk/w==");
        assert_eq!(
            ImmutableId::parse("/xmWb4aLEdC0LQDAT8lk/w==")
                .unwrap()
                .guid(),
            g
        );
    }

    #[test]
    fn bad_guids_have_positions() {
        assert_eq!(
            Guid::parse("0123456x-89ab-cdef-0123-456789abcdef"),
            Err(GuidError::Syntax {
                position: 7,
                expected: "hexadecimal digit"
            })
        );
        assert!(Guid::parse("{01234567-89ab-cdef-0123-456789abcdef").is_err());
        assert!(Guid::parse("").is_err());
        assert!(Guid::parse("{}").is_err());
        assert!(Guid::parse("01234567-89ab-cdef-0123-456789abcdef0").is_err());
        assert_eq!(
            Guid::from_ad_bytes(&[0; 15]),
            Err(GuidError::Length { len: 15 })
        );
    }

    #[test]
    fn immutable_id_rejects_wrong_lengths() {
        assert!(ImmutableId::parse("AAAA").is_err());
        assert!(ImmutableId::parse("AAAAAAAAAAAAAAAAAAAAAAAA").is_err());
        assert!(ImmutableId::parse("not base64!").is_err());
        let e = ImmutableId::parse("/xmWb4aLEdC0LQDAT8lk/w=A").unwrap_err();
        assert_eq!(e.position(), Some(22));
        let e = ImmutableId::parse("/xmWb4aLEdC0LQ*AT8lk/w==").unwrap_err();
        assert_eq!(e.position(), Some(14));
        assert_eq!(ImmutableId::parse("AAAA").unwrap_err().position(), Some(4));
    }

    #[test]
    fn consistency_guid_wins() {
        let g = Guid::from_u128(1);
        let cg = Guid::from_u128(2).to_ad_bytes();
        let a = SourceAnchor::resolve(g, Some(&cg)).unwrap();
        assert_eq!(a.from, AnchorSource::ConsistencyGuid);
        assert_eq!(a.immutable_id.guid(), Guid::from_u128(2));
    }
}
