//! The mirror ("connector space"): the last known value of every attribute
//! the configuration needs, for every source object, keyed by objectGUID,
//! with a DN index and the direct group memberships resolved to GUIDs.
//!
//! Deltas carry only what changed; the mirror supplies the rest. Moves and
//! renames keep the GUID, and the DNs of the children of a moved container
//! are rebased (Active Directory does not report them). Group members are
//! kept as GUIDs so a member's rename never makes a membership stale; a
//! member DN that names no known object yet is kept aside and resolved when
//! that object arrives.

use std::collections::{HashMap, HashSet};

use indexmap::IndexSet;
use serde::{Deserialize, Serialize};

use crate::anchor::Guid;
use crate::dn::Dn;
use crate::object::{AttrLookup, ObjectKind, Row, Slot, Value, Values};

/// One object in the mirror.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorEntry {
    /// The object's current DN.
    pub dn: Dn,
    /// Its kind.
    pub kind: ObjectKind,
    /// For an unsupported kind, its objectClass values, joined (to explain
    /// why it is skipped); empty for users, groups and contacts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub object_class: String,
    /// The configuration-needed attributes, by slot.
    pub row: Row,
    /// For groups: direct members by GUID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Guid>,
    /// For groups: member DNs that name no object in the mirror (yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved_members: Vec<Dn>,
}

/// How one attribute of a modify changes.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrEdit {
    /// Replace every value (empty: clear).
    Replace(Values),
    /// Add these values (incremental values: `member;range=1-1`).
    Add(Values),
    /// Remove these values (incremental values: `member;range=0-0`).
    Remove(Values),
}

/// The mirror.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Mirror {
    objects: HashMap<Guid, MirrorEntry>,
    #[serde(skip)]
    by_dn: HashMap<Dn, Guid>,
    /// member -> groups it is a direct member of.
    #[serde(skip)]
    member_of: HashMap<Guid, Vec<Guid>>,
    /// parent DN -> objects directly under it (for rebasing on moves). A
    /// set: an OU holds tens of thousands of users, and every add, move and
    /// delete under it links or unlinks one.
    #[serde(skip)]
    children: HashMap<Dn, IndexSet<Guid>>,
    /// member DN not yet known -> groups that list it.
    #[serde(skip)]
    waiting: HashMap<Dn, Vec<Guid>>,
    /// DN value -> objects whose rows hold it (`manager`, `member`, ...):
    /// when the object at that DN moves, AD changes the DN in the
    /// referrers' values without reporting them, and so does the mirror.
    #[serde(skip)]
    refs: HashMap<Dn, Vec<Guid>>,
    /// The slot of `member` in the configuration's table, if any.
    member_slot: Option<Slot>,
}

impl Mirror {
    /// An empty mirror; `member_slot` is where group members are read from.
    pub fn new(member_slot: Option<Slot>) -> Mirror {
        Mirror {
            member_slot,
            ..Mirror::default()
        }
    }

    /// Rebuilds the indexes after deserialization.
    pub fn reindex(&mut self) {
        self.by_dn = self
            .objects
            .iter()
            .map(|(g, e)| (e.dn.clone(), *g))
            .collect();
        self.member_of.clear();
        self.children.clear();
        self.waiting.clear();
        self.refs.clear();
        for (g, e) in &self.objects {
            index_refs(&mut self.refs, *g, &e.row);
            for m in &e.members {
                self.member_of.entry(*m).or_default().push(*g);
            }
            for d in &e.unresolved_members {
                self.waiting.entry(d.clone()).or_default().push(*g);
            }
            if let Some(p) = e.dn.parent() {
                self.children.entry(p).or_default().insert(*g);
            }
        }
    }

    /// Rewrites the DN values naming `old` to `new` in every row that holds
    /// them; the referrers are due again (an expression may read the DN).
    fn rebase_refs(&mut self, old: &Dn, new: &Dn, touched: &mut HashSet<Guid>) {
        let Some(referrers) = self.refs.remove(old) else {
            return;
        };
        let (from, to) = (Value::Dn(old.clone()), Value::Dn(new.clone()));
        for r in &referrers {
            if let Some(e) = self.objects.get_mut(r) {
                e.row.replace_value(&from, &to);
                touched.insert(*r);
            }
        }
        let list = self.refs.entry(new.clone()).or_default();
        for r in referrers {
            if !list.contains(&r) {
                list.push(r);
            }
        }
    }

    fn link_parent(&mut self, dn: &Dn, guid: Guid) {
        if let Some(p) = dn.parent() {
            self.children.entry(p).or_default().insert(guid);
        }
    }

    fn unlink_parent(&mut self, dn: &Dn, guid: Guid) {
        if let Some(p) = dn.parent() {
            if let Some(list) = self.children.get_mut(&p) {
                list.swap_remove(&guid);
                if list.is_empty() {
                    self.children.remove(&p);
                }
            }
        }
    }

    /// Re-keys every row after the configuration's attribute table changed:
    /// `map[old slot]` is the new slot (or `None`: no longer needed).
    pub fn remap(&mut self, map: &[Option<Slot>], member_slot: Option<Slot>) {
        for e in self.objects.values_mut() {
            e.row = super::remap_row(&e.row, map);
        }
        self.member_slot = member_slot;
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The entry of an object.
    pub fn get(&self, guid: &Guid) -> Option<&MirrorEntry> {
        self.objects.get(guid)
    }

    /// The object at a DN.
    pub fn guid_at(&self, dn: &Dn) -> Option<Guid> {
        self.by_dn.get(dn).copied()
    }

    /// Every object's GUID.
    pub fn guids(&self) -> impl Iterator<Item = Guid> + '_ {
        self.objects.keys().copied()
    }

    /// The groups `member` is a direct member of.
    pub fn groups_of(&self, member: &Guid) -> &[Guid] {
        self.member_of.get(member).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `member` is a direct member of `group`.
    pub fn is_direct_member(&self, group: &Guid, member: &Guid) -> bool {
        self.groups_of(member).contains(group)
    }

    /// Inserts or replaces a whole object; returns the GUIDs whose state
    /// changed because of it (the object, groups whose unresolved members
    /// it resolves, members added or removed).
    pub fn upsert(
        &mut self,
        guid: Guid,
        dn: Dn,
        kind: ObjectKind,
        object_class: String,
        row: Row,
        touched: &mut HashSet<Guid>,
    ) {
        touched.insert(guid);
        if let Some(old) = self.objects.get(&guid) {
            if old.dn != dn {
                let old_dn = old.dn.clone();
                self.move_to(guid, &old_dn, dn.clone(), touched);
            }
        }
        if !self.objects.contains_key(&guid) {
            self.link_parent(&dn, guid);
        }
        self.by_dn.insert(dn.clone(), guid);
        let entry = self.objects.entry(guid).or_insert_with(|| MirrorEntry {
            dn: dn.clone(),
            kind,
            object_class: String::new(),
            row: Row::default(),
            members: Vec::new(),
            unresolved_members: Vec::new(),
        });
        entry.dn = dn.clone();
        entry.kind = kind;
        entry.object_class = object_class;
        let old_row = std::mem::replace(&mut entry.row, row);
        entry.row.shrink_to_fit();
        unindex_refs(&mut self.refs, guid, &old_row);
        index_refs(&mut self.refs, guid, &entry.row);
        self.refresh_members(guid, touched);
        self.resolve_pending_for(&dn, guid, touched);
    }

    /// Applies attribute edits to an object already in the mirror.
    pub fn modify(
        &mut self,
        guid: Guid,
        edits: &[(Slot, AttrEdit)],
        touched: &mut HashSet<Guid>,
    ) -> bool {
        let Some(entry) = self.objects.get_mut(&guid) else {
            return false;
        };
        touched.insert(guid);
        unindex_refs(&mut self.refs, guid, &entry.row);
        let mut members_changed = false;
        for (slot, edit) in edits {
            let current = entry.row.values(*slot);
            let next: Values = match edit {
                AttrEdit::Replace(v) => v.clone(),
                AttrEdit::Add(v) => {
                    let mut next: Values = current.iter().cloned().collect();
                    for x in v {
                        if !next.contains(x) {
                            next.push(x.clone());
                        }
                    }
                    next
                }
                AttrEdit::Remove(v) => current.iter().filter(|x| !v.contains(x)).cloned().collect(),
            };
            if Some(*slot) == self.member_slot {
                members_changed = true;
            }
            entry.row.set(*slot, next);
        }
        index_refs(&mut self.refs, guid, &entry.row);
        if members_changed {
            self.refresh_members(guid, touched);
        }
        true
    }

    /// Moves or renames an object; its children's DNs are rebased.
    pub fn rename(&mut self, guid: Guid, new_dn: Dn, touched: &mut HashSet<Guid>) -> bool {
        let Some(old_dn) = self.objects.get(&guid).map(|e| e.dn.clone()) else {
            return false;
        };
        if old_dn != new_dn {
            self.move_to(guid, &old_dn, new_dn.clone(), touched);
            self.resolve_pending_for(&new_dn, guid, touched);
        }
        touched.insert(guid);
        true
    }

    fn move_to(&mut self, guid: Guid, old_dn: &Dn, new_dn: Dn, touched: &mut HashSet<Guid>) {
        self.unlink_parent(old_dn, guid);
        self.by_dn.remove(old_dn);
        if let Some(e) = self.objects.get_mut(&guid) {
            e.dn = new_dn.clone();
        }
        self.by_dn.insert(new_dn.clone(), guid);
        self.link_parent(&new_dn, guid);
        // Descendants get the new parent: AD does not report them. The
        // children index makes a leaf's move O(1) and a container's move
        // O(subtree).
        let mut stack: Vec<(Dn, Dn)> = vec![(old_dn.clone(), new_dn)];
        let mut moved_dns: Vec<(Dn, Dn)> = Vec::new();
        while let Some((from, to)) = stack.pop() {
            moved_dns.push((from.clone(), to.clone()));
            let Some(kids) = self.children.remove(&from) else {
                continue;
            };
            let mut moved = IndexSet::with_capacity(kids.len());
            for child in kids {
                let Some(e) = self.objects.get_mut(&child) else {
                    continue;
                };
                let Some(dn) = e.dn.rebase(&from, &to) else {
                    continue;
                };
                let old_child = std::mem::replace(&mut e.dn, dn.clone());
                self.by_dn.remove(&old_child);
                self.by_dn.insert(dn.clone(), child);
                touched.insert(child);
                moved.insert(child);
                stack.push((old_child, dn));
            }
            self.children.insert(to, moved);
        }
        for (from, to) in &moved_dns {
            self.rebase_refs(from, to, touched);
        }
    }

    /// Removes an object (deleted in the source); returns its last entry.
    pub fn remove(&mut self, guid: &Guid, touched: &mut HashSet<Guid>) -> Option<MirrorEntry> {
        let entry = self.objects.remove(guid)?;
        touched.insert(*guid);
        unindex_refs(&mut self.refs, *guid, &entry.row);
        if self.by_dn.get(&entry.dn) == Some(guid) {
            self.by_dn.remove(&entry.dn);
        }
        self.unlink_parent(&entry.dn, *guid);
        for d in &entry.unresolved_members {
            if let Some(list) = self.waiting.get_mut(d) {
                list.retain(|g| g != guid);
            }
        }
        // It is no longer anyone's member.
        if let Some(groups) = self.member_of.remove(guid) {
            for g in groups {
                if let Some(ge) = self.objects.get_mut(&g) {
                    ge.members.retain(|m| m != guid);
                    ge.unresolved_members.push(entry.dn.clone());
                    self.waiting.entry(entry.dn.clone()).or_default().push(g);
                    touched.insert(g);
                }
            }
        }
        // Its members are no longer its members.
        for m in &entry.members {
            if let Some(list) = self.member_of.get_mut(m) {
                list.retain(|g| g != guid);
            }
        }
        Some(entry)
    }

    /// Recomputes a group's member GUIDs from its `member` values.
    fn refresh_members(&mut self, guid: Guid, touched: &mut HashSet<Guid>) {
        let Some(slot) = self.member_slot else {
            return;
        };
        let Some(entry) = self.objects.get(&guid) else {
            return;
        };
        let mut members = Vec::new();
        let mut unresolved = Vec::new();
        for v in entry.row.values(slot) {
            let dn = match v {
                Value::Dn(d) => d.clone(),
                Value::Str(s) => match Dn::parse(s) {
                    Ok(d) => d,
                    Err(_) => continue,
                },
                _ => continue,
            };
            match self.by_dn.get(&dn) {
                Some(m) if !members.contains(m) => members.push(*m),
                Some(_) => {}
                None => unresolved.push(dn),
            }
        }
        let (old, old_unresolved) = match self.objects.get_mut(&guid) {
            Some(e) => (
                std::mem::take(&mut e.members),
                std::mem::take(&mut e.unresolved_members),
            ),
            None => return,
        };
        for d in &old_unresolved {
            if let Some(list) = self.waiting.get_mut(d) {
                list.retain(|g| *g != guid);
                if list.is_empty() {
                    self.waiting.remove(d);
                }
            }
        }
        for d in &unresolved {
            self.waiting.entry(d.clone()).or_default().push(guid);
        }
        for m in old.iter().filter(|m| !members.contains(m)) {
            if let Some(list) = self.member_of.get_mut(m) {
                list.retain(|g| *g != guid);
            }
            touched.insert(*m);
        }
        for m in members.iter().filter(|m| !old.contains(m)) {
            self.member_of.entry(*m).or_default().push(guid);
            touched.insert(*m);
        }
        if let Some(e) = self.objects.get_mut(&guid) {
            e.members = members;
            e.unresolved_members = unresolved;
        }
    }

    /// An object appeared at `dn`: groups waiting for that DN resolve it.
    fn resolve_pending_for(&mut self, dn: &Dn, guid: Guid, touched: &mut HashSet<Guid>) {
        let Some(groups) = self.waiting.remove(dn) else {
            return;
        };
        for g in groups {
            if let Some(e) = self.objects.get_mut(&g) {
                e.unresolved_members.retain(|d| d != dn);
                if !e.members.contains(&guid) {
                    e.members.push(guid);
                    self.member_of.entry(guid).or_default().push(g);
                }
                touched.insert(g);
                touched.insert(guid);
            }
        }
    }
}

/// Records the DN values of `row` as references from `guid`.
fn index_refs(refs: &mut HashMap<Dn, Vec<Guid>>, guid: Guid, row: &Row) {
    for (_, values) in row.iter() {
        for v in values {
            if let Value::Dn(d) = v {
                let list = refs.entry(d.clone()).or_default();
                if !list.contains(&guid) {
                    list.push(guid);
                }
            }
        }
    }
}

/// Forgets the DN values of `row` as references from `guid`.
fn unindex_refs(refs: &mut HashMap<Dn, Vec<Guid>>, guid: Guid, row: &Row) {
    for (_, values) in row.iter() {
        for v in values {
            if let Value::Dn(d) = v {
                if let Some(list) = refs.get_mut(d) {
                    list.retain(|g| *g != guid);
                    if list.is_empty() {
                        refs.remove(d);
                    }
                }
            }
        }
    }
}
